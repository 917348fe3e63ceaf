"""Faces on a phone's camera frames: the function a mobile app calls for each frame.

Android cameras (CameraX ``ImageAnalysis``, Camera2) deliver YUV 4:2:0 frames in the sensor's orientation,
usually a quarter turn from upright; the app knows the turn (``imageInfo.rotationDegrees``). edgecv takes the
frame as it comes: ``format="nv21"`` and ``rotation=`` turn it upright inside one preparation pass, and the faces
come back in the coordinates of the frame as given, ready to draw over the preview.

The model files are converted once on a desktop (``edgecv fetch yunet_n_640 --engine ncnn`` puts them in the
cache; copy ``converted-ncnn/`` into the app) and loaded from a path: the phone needs no converter.

Run on a desktop to check the path end to end (``python examples/mobile/camera.py photo.jpg``): a photo is made
into the NV21 frame a sensor mounted a quarter turn clockwise would give, and the faces found on it are compared
with those found on the upright photo.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

import numpy as np

import edgecv
import edgecv.native

_model: Optional[Any] = None


def load(path: str = "yunet_n_640", engine: str = "ncnn", threads: int = 2) -> None:
    """Load the face model once (at app start): a model name, or the path of the converted ``.param`` file."""
    global _model
    _model = edgecv.load(path, engine=engine, threads=threads)


def on_frame(nv21: bytes, width: int, height: int, rotation: int) -> List[Dict[str, Any]]:
    """Faces on one NV21 frame (``width`` x ``height`` pixels, ``rotation`` degrees clockwise from upright).

    Returns one dict per face: ``box`` [x1, y1, x2, y2], ``score`` and ``landmarks`` (5 x [x, y]), in the frame's
    pixels. Bad frames raise an ``edgecv.EdgecvError`` subclass naming what is wrong.
    """
    if _model is None:
        load()
    frame = np.frombuffer(nv21, np.uint8).reshape(height * 3 // 2, width)
    faces = _model.detect(frame, format="nv21", rotation=rotation)
    return faces.to_dict()["faces"]


def nv21_from_bgr(bgr: np.ndarray) -> np.ndarray:
    """The NV21 array ((H*3/2, W) uint8) of an even-sized BGR image, as a camera would deliver it."""
    import cv2

    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y, u, v = i420[:h], i420[h:h + h // 4].reshape(-1), i420[h + h // 4:].reshape(-1)
    vu = np.empty(u.size * 2, np.uint8)
    vu[0::2], vu[1::2] = v, u
    return np.concatenate([y.reshape(-1), vu]).reshape(h * 3 // 2, w)


def main(argv: List[str]) -> int:
    import cv2

    if len(argv) != 1:
        print("usage: python camera.py PHOTO", file=sys.stderr)
        return 2
    upright = edgecv.read_image(argv[0])
    h, w = (upright.shape[0] // 2) * 2, (upright.shape[1] // 2) * 2
    upright = np.ascontiguousarray(upright[:h, :w])
    # A phone's back camera held upright: the sensor delivers the scene a quarter turn counter-clockwise, and
    # CameraX reports rotationDegrees = 90 (turn it 90 degrees clockwise to see it upright).
    sensor = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    frame = nv21_from_bgr(sensor)
    load()
    faces = on_frame(frame.tobytes(), sensor.shape[1], sensor.shape[0], rotation=90)
    reference = _model.detect(upright)
    print(f"{len(faces)} faces on the rotated NV21 frame, {len(reference)} on the upright photo "
          f"(core: {edgecv.native.KIND})")
    return 0 if len(faces) == len(reference) and faces else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
