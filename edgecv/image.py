"""Reading and checking input images (BGR ``uint8`` arrays, as OpenCV returns them).

Encoded images are untrusted: a 600-byte JPEG may declare 30000x30000 pixels (2.7 GB once decoded), and a
JPEG cut short with an end marker appended decodes "successfully" with grey where the data was missing.
:func:`decode_image` therefore

1. reads the declared size from the header with Pillow (lazily: no pixel is decoded) and refuses images over
   ``max_pixels`` (default 40 MP, ``EDGECV_MAX_PIXELS``) with :class:`ImageTooLargeError` before any pixel
   buffer is allocated;
2. decodes JPEG with libjpeg-turbo in strict mode (simplejpeg), so every corruption warning (premature end of
   data, bad Huffman code, extraneous bytes) is an error, and applies the EXIF orientation as OpenCV does;
   other formats with OpenCV, whose libpng build already fails on bad CRCs and short data;
3. refuses files over ``max_pixels * 8 bytes + 1 MiB`` unread (no image format needs more than 8 bytes a pixel).

Where simplejpeg has no wheel (armv7l, Android, iOS) JPEG falls back to OpenCV with a structural check (the end
marker must be present); ``strict_jpeg()`` says which is in use (``edgecv info`` prints it).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from .errors import ImageReadError, ImageTooLargeError, InvalidImageError, InvalidInputError

ImageLike = Union[np.ndarray, str, "os.PathLike[str]"]

#: Largest image decoded by default (pixels); ``EDGECV_MAX_PIXELS`` or ``max_pixels=`` override it.
MAX_PIXELS = 40_000_000
ENV_MAX_PIXELS = "EDGECV_MAX_PIXELS"
#: Upper bound of ``max_pixels`` (width and height are stored as 32-bit integers by every decoder here).
MAX_PIXELS_CEILING = 1 << 31
#: Bytes an encoded image may take per allowed pixel (16-bit RGBA, uncompressed), plus headers.
_BYTES_PER_PIXEL = 8
_HEADER_SLACK = 1 << 20


def pixel_limit(value: Optional[int] = None) -> int:
    """The pixel limit to apply: ``value`` when given, else ``EDGECV_MAX_PIXELS``, else :data:`MAX_PIXELS`."""
    source = "max_pixels"
    if value is None:
        text = os.environ.get(ENV_MAX_PIXELS, "").strip()
        if not text:
            return MAX_PIXELS
        source = ENV_MAX_PIXELS
        try:
            value = int(float(text))
        except ValueError:
            raise InvalidInputError(f"{ENV_MAX_PIXELS} must be a whole number of pixels, got {text!r:.40}") from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= int(value) < MAX_PIXELS_CEILING:
        raise InvalidInputError(f"{source} must be a whole number in [1, {MAX_PIXELS_CEILING - 1}], got {value!r:.40}")
    return int(value)


def strict_jpeg() -> bool:
    """Whether JPEG corruption warnings are errors here (simplejpeg installed)."""
    try:
        import simplejpeg  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class ImageHeader:
    """What an encoded image declares: Pillow's ``format`` name (JPEG, PNG, WEBP...), ``width`` x ``height`` in
    pixels as stored, and the EXIF ``orientation`` (1-8; 1 = as stored)."""

    format: str
    width: int
    height: int
    orientation: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: "bytes | np.ndarray", where: str = "image") -> ImageHeader:
    """The header of an encoded image (no pixel is decoded); ImageReadError when no decoder recognises it."""
    from PIL import Image, UnidentifiedImageError

    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    try:
        with Image.open(io.BytesIO(raw)) as im:
            width, height = (int(v) for v in im.size)
            fmt = str(im.format or "")
            orientation = 1
            if fmt == "JPEG":
                try:
                    orientation = int(im.getexif().get(0x0112, 1))
                except Exception:  # noqa: BLE001 - a damaged EXIF block: OpenCV ignores it too
                    orientation = 1
    except Image.DecompressionBombError as exc:
        import re

        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)) / 1e6:.0f} MP" if declared else "more pixels than Pillow opens"
        raise ImageTooLargeError(f"{where} declares {size}: a decompression bomb, or far over any limit "
                                 f"({ENV_MAX_PIXELS}, --max-pixels)") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"cannot decode {where}: not an image, or a format edgecv does not read") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise SyntaxError, struct.error, ValueError...
        raise ImageReadError(f"cannot decode {where}: damaged header ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:100]})") from None
    return ImageHeader(fmt, width, height, orientation if 1 <= orientation <= 8 else 1)


def check_pixels(width: int, height: int, where: str, limit: Optional[int] = None) -> None:
    """ImageTooLargeError when a ``width`` x ``height`` image is over the pixel limit."""
    cap = pixel_limit(limit)
    if width * height > cap:
        raise ImageTooLargeError(
            f"{where} is {width}x{height} ({width * height / 1e6:.1f} MP), over the limit of {cap / 1e6:g} MP; "
            f"resize it, or raise the limit (max_pixels=, --max-pixels, {ENV_MAX_PIXELS})")


def _truncated(data: np.ndarray) -> bool:
    """A JPEG without its end marker or a PNG without its IEND chunk: the decoder would fill the missing
    part with grey and only warn."""
    head = data[:8].tobytes()
    tail = data[-64:].tobytes().rstrip(b"\0\r\n ")
    if head[:3] == b"\xff\xd8\xff":
        return not tail.endswith(b"\xff\xd9")
    if head == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-32:].tobytes()
    return False


def _exif_oriented(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as EXIF ``orientation`` says (what OpenCV's IMREAD_COLOR does for JPEG)."""
    if orientation == 2:
        image = image[:, ::-1]
    elif orientation == 3:
        image = image[::-1, ::-1]
    elif orientation == 4:
        image = image[::-1]
    elif orientation == 5:
        image = image.transpose(1, 0, 2)
    elif orientation == 6:
        image = image.transpose(1, 0, 2)[:, ::-1]
    elif orientation == 7:
        image = image.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:
        image = image.transpose(1, 0, 2)[::-1]
    return np.ascontiguousarray(image)


def _decode_jpeg(raw: bytes, header: ImageHeader, where: str) -> Optional[np.ndarray]:
    """Strict libjpeg-turbo decoding, or None to leave the file to OpenCV (no simplejpeg, CMYK/YCCK)."""
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        colorspace = simplejpeg.decode_jpeg_header(raw)[2]
    except ValueError as exc:
        raise ImageReadError(f"cannot decode {where}: damaged JPEG ({' '.join(str(exc).split())[:120]})") from None
    if colorspace not in ("Gray", "YCbCr", "RGB", "YCC"):  # CMYK / YCCK: OpenCV converts those
        return None
    try:
        image = simplejpeg.decode_jpeg(raw, colorspace="BGR", fastdct=False, fastupsample=False, strict=True)
    except ValueError as exc:
        raise ImageReadError(f"cannot decode {where}: damaged JPEG ({' '.join(str(exc).split())[:120]})") from None
    return _exif_oriented(image, header.orientation)


def decode_image(data: "bytes | bytearray | memoryview | np.ndarray", where: str = "image",
                 max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an encoded image (JPEG, PNG, WebP, BMP, TIFF...) to BGR uint8 ``(H, W, 3)``.

    ``max_pixels``: the largest image accepted (default: ``EDGECV_MAX_PIXELS``, else 40 MP); checked on the
    declared size before decoding. Raises :class:`ImageTooLargeError` over it, :class:`ImageReadError` for empty,
    unrecognised, truncated or corrupt data (``where`` names the source in the message)."""
    import cv2

    limit = pixel_limit(max_pixels)
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise ImageReadError(f"cannot decode {where}: it is empty (0 bytes)")
    if buf.size > limit * _BYTES_PER_PIXEL + _HEADER_SLACK:
        raise ImageTooLargeError(f"{where} is {buf.size} bytes: larger than any image of at most {limit / 1e6:g} MP "
                                 f"({ENV_MAX_PIXELS}, --max-pixels)")
    header = read_header(buf, where)
    check_pixels(header.width, header.height, where, limit)
    if _truncated(buf):
        raise ImageReadError(f"cannot decode {where}: the file is truncated (no end marker)")
    image = None
    if header.format == "JPEG":
        image = _decode_jpeg(buf.tobytes(), header, where)
    if image is None:
        try:
            image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        except cv2.error as exc:
            raise ImageReadError(f"cannot decode {where}: {' '.join(str(exc).split())[-120:]}") from None
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise ImageReadError(f"cannot decode {where}: not an image, or a damaged one")
    check_pixels(image.shape[1], image.shape[0], where, limit)  # what was decoded, whatever the header said
    return image


def read_image(path: "str | os.PathLike[str]", max_pixels: Optional[int] = None) -> np.ndarray:
    """Read an image file as a BGR uint8 ``(H, W, 3)`` array (see :func:`decode_image`); raises
    :class:`ImageReadError`, or :class:`ImageTooLargeError` over ``max_pixels``."""
    p = os.fspath(path)
    where = f"image file {os.fsdecode(p)!r}"[:300]
    if not os.path.isfile(p):
        raise ImageReadError(f"image file not found: {os.fsdecode(p)}")
    limit = pixel_limit(max_pixels)
    try:
        size = os.path.getsize(p)
        if size > limit * _BYTES_PER_PIXEL + _HEADER_SLACK:
            raise ImageTooLargeError(f"{where} is {size} bytes: larger than any image of at most {limit / 1e6:g} MP "
                                     f"({ENV_MAX_PIXELS}, --max-pixels)")
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(f"cannot read {where}: {exc.strerror or exc}") from exc
    return decode_image(data, where, limit)


def as_bgr_image(image: ImageLike, max_pixels: Optional[int] = None) -> np.ndarray:
    """Return ``image`` as a checked BGR uint8 ``(H, W, 3)`` array (reading it if it is a path)."""
    if not isinstance(image, np.ndarray):  # arrays first: the path test is an ABC check, slow on detect()'s path
        if isinstance(image, (str, os.PathLike)):
            return read_image(image, max_pixels)
        if image is None:
            raise InvalidImageError("image is None (did cv2.imread fail to read the file?)")
        raise InvalidImageError(f"image must be a numpy array or a path, got {type(image).__name__}")
    if image.ndim == 2:
        raise InvalidImageError(
            f"image is 2-D {image.shape} (grayscale); expected (H, W, 3) BGR: "
            "convert with cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        hint = " (BGRA? use cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))" if image.ndim == 3 and image.shape[2] == 4 else ""
        raise InvalidImageError(f"image has shape {image.shape}; expected (H, W, 3) BGR{hint}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"image is empty: shape {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidImageError(f"image dtype is {image.dtype}; expected uint8 (0..255)")
    return image
