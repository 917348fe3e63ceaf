"""Image decoding (edgecv/image.py): the declared size is checked before any pixel is decoded, JPEG corruption is an
error, and what is decoded equals OpenCV's IMREAD_COLOR pixel for pixel (EXIF orientation included)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

import edgecv
from edgecv.errors import ImageReadError, ImageTooLargeError, InvalidInputError
from edgecv.image import ENV_MAX_PIXELS, MAX_PIXELS, decode_image, pixel_limit, read_header, strict_jpeg


def _cv2(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_shared_photos_decode_exactly_as_opencv(shared):
    assert strict_jpeg(), "simplejpeg is a dependency on this platform"
    files = sorted((shared / "images").glob("*.jpg")) + sorted((shared / "images" / "calib_faces").glob("*.jpg"))
    files += [shared / "images" / "portrait_tom_hanks.png"]
    for path in files:
        data = path.read_bytes()
        assert np.array_equal(decode_image(data), _cv2(data)), path.name


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_opencv(shared, orientation):
    from PIL import Image

    src = cv2.imread(str(shared / "images" / "street_6.jpg"))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(src[..., ::-1]).save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    data = buf.getvalue()
    assert read_header(data).orientation == orientation
    ours, theirs = decode_image(data), _cv2(data)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    if orientation >= 5:
        assert ours.shape[:2] == src.shape[1::-1]  # turned a quarter


@pytest.mark.parametrize("suffix", [".png", ".webp", ".bmp", ".tiff", ".ppm"])
def test_other_formats_as_opencv(shared, suffix):
    image = cv2.imread(str(shared / "images" / "street_9.jpg"))
    ok, buf = cv2.imencode(suffix, image)
    assert ok
    data = buf.tobytes()
    assert np.array_equal(decode_image(data), _cv2(data))


def test_grey_and_cmyk_jpegs_decode_like_opencv(shared):
    from PIL import Image

    rgb = Image.open(shared / "images" / "street_6.jpg")
    for mode in ("L", "CMYK"):
        buf = io.BytesIO()
        rgb.convert(mode).save(buf, "JPEG", quality=90)
        data = buf.getvalue()
        ours = decode_image(data)
        assert ours.shape == (330, 580, 3) and np.array_equal(ours, _cv2(data)), mode


def test_declared_size_is_refused_before_decoding(shared):
    data = (shared / "images" / "street_6.jpg").read_bytes()  # 580 x 330 = 191,400 pixels
    assert decode_image(data, max_pixels=191_400).shape == (330, 580, 3)
    with pytest.raises(ImageTooLargeError, match="580x330"):
        decode_image(data, max_pixels=191_399)
    with pytest.raises(ImageTooLargeError):
        edgecv.read_image(shared / "images" / "street_6.jpg", max_pixels=1000)


def test_limit_from_the_environment(shared, monkeypatch):
    path = shared / "images" / "street_6.jpg"
    monkeypatch.setenv(ENV_MAX_PIXELS, "1000")
    with pytest.raises(ImageTooLargeError, match=ENV_MAX_PIXELS):
        edgecv.read_image(path)
    with pytest.raises(ImageTooLargeError):  # a path given to detect() is read under the same limit
        edgecv.load("scrfd_500m_bnkps_640", threads=1).detect(str(path))
    monkeypatch.setenv(ENV_MAX_PIXELS, "many")
    with pytest.raises(InvalidInputError, match=ENV_MAX_PIXELS):
        edgecv.read_image(path)
    monkeypatch.delenv(ENV_MAX_PIXELS)
    assert pixel_limit() == MAX_PIXELS == 40_000_000
    for bad in (0, -1, 2**31, 1.5, True, "10"):
        with pytest.raises(InvalidInputError):
            pixel_limit(bad)


def test_files_larger_than_any_allowed_image_are_not_read(tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + bytes(2 << 20))
    with pytest.raises(ImageTooLargeError, match="bytes"):
        edgecv.read_image(big, max_pixels=1000)  # 1000 pixels never need 2 MB


def test_damaged_files_are_errors_not_grey(shared):
    jpeg = (shared / "images" / "group_t1.jpg").read_bytes()
    with pytest.raises(ImageReadError, match="damaged JPEG"):
        decode_image(jpeg[: len(jpeg) // 2] + b"\xff\xd9")  # an end marker appended: libjpeg only warns
    flipped = bytearray(jpeg)
    flipped[len(flipped) // 2: len(flipped) // 2 + 64] = bytes(64)
    with pytest.raises(ImageReadError):
        decode_image(bytes(flipped))
    ok, png = cv2.imencode(".png", cv2.imread(str(shared / "images" / "street_9.jpg")))
    png = png.tobytes()
    with pytest.raises(ImageReadError):
        decode_image(png[: len(png) // 2] + png[-12:])  # IEND appended to half a PNG
    for junk in (b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + bytes(40)):
        with pytest.raises(ImageReadError):
            decode_image(junk)
