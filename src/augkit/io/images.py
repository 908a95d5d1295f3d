"""Decode and encode 2D image files (PNG, TIFF, JPEG).

Decoding turns every decoder failure into a ``DataError`` naming the file. Encoding returns
bytes (the caller writes them atomically) and is byte-deterministic: no timestamps, no
library-version text beyond a fixed ``Software`` tag, fixed compression settings.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from augkit.errors import DataError

PNG_EXTS = (".png",)
TIFF_EXTS = (".tif", ".tiff")
JPEG_EXTS = (".jpg", ".jpeg")
IMAGE_EXTS = PNG_EXTS + TIFF_EXTS + JPEG_EXTS

#: what the decoders raise on damaged files (Pillow raises SyntaxError on broken PNG chunks)
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
                  IndexError, KeyError, TypeError, Image.DecompressionBombError)

_JPEG_QUALITY = 95


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


def read_image(path: Path, *, role: str = "image") -> np.ndarray:
    """Decode one 2D image file to an H×W or H×W×C array, as stored (no value changes).

    ``role="mask"`` keeps palette PNGs as their index values (the labels); images get their
    palette expanded to RGB(A).
    """
    ext = path.suffix.lower()
    try:
        if ext in TIFF_EXTS:
            array = _read_tiff(path)
        else:
            array = _read_pillow(path, role)
    except DataError:
        raise
    except _DECODE_ERRORS as exc:
        raise DataError(path, f"cannot decode {role} file ({type(exc).__name__}: {exc})",
                        "replace it with an intact copy or remove it with its pair") from None
    if array.size == 0 or array.ndim not in (2, 3):
        raise DataError(path, f"decoded {role} is empty or not 2D (shape {array.shape})",
                        "replace it with an intact 2D image")
    return array


def _read_pillow(path: Path, role: str) -> np.ndarray:
    with Image.open(path) as im:
        im.load()  # decode now, inside the caller's error handling
        if im.mode == "P" and role == "image":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode == "1":
            return np.asarray(im, dtype=np.uint8)
        return np.array(im)


class _CollectWarnings(logging.Filter):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.append(record.getMessage())
        return False  # the message goes into our DataError, not onto the console


@contextmanager
def _tifffile_warnings():
    collector = _CollectWarnings()
    logger = logging.getLogger("tifffile")
    logger.addFilter(collector)
    try:
        yield collector.messages
    finally:
        logger.removeFilter(collector)


def _read_tiff(path: Path) -> np.ndarray:
    with _tifffile_warnings() as warnings, tifffile.TiffFile(path) as tif:
        if not tif.series:
            detail = f" ({warnings[0]})" if warnings else ""
            raise DataError(path, f"TIFF file holds no readable image{detail}",
                            "replace it with an intact copy")
        series = tif.series[0]
        array = series.asarray()
        axes = series.axes
    if axes == "SYX":  # planar RGB: samples first
        array = np.moveaxis(array, 0, -1)
    elif axes not in ("YX", "YXS"):
        raise DataError(path, f"TIFF holds a stack with axes {axes!r} and shape {array.shape}; "
                        "expected one 2D image", "save each slice as its own file")
    return array


def encode_image(array: np.ndarray, ext: str) -> bytes:
    """Encode H×W or H×W×C ``array`` as ``ext`` (``.png``, ``.tif``, ``.jpg``...)."""
    ext = ext.lower()
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    array = np.ascontiguousarray(array)
    buf = io.BytesIO()
    if ext in TIFF_EXTS:
        channels = 1 if array.ndim == 2 else array.shape[-1]
        photometric = "rgb" if channels == 3 and array.dtype in (np.uint8, np.uint16) else "minisblack"
        # metadata=None: no JSON description; tifffile writes no DateTime unless asked.
        tifffile.imwrite(buf, array, photometric=photometric, metadata=None,
                         planarconfig="contig" if channels > 1 else None)
    elif ext in PNG_EXTS or ext in JPEG_EXTS:
        if array.dtype == bool:
            array = array.astype(np.uint8)
        if not png_compatible(array) or (ext in JPEG_EXTS and array.dtype != np.uint8):
            raise ValueError(f"cannot encode {array.dtype} array of shape {array.shape} as {ext}; "
                             "use .tif")
        im = Image.fromarray(array)
        if ext in PNG_EXTS:
            im.save(buf, format="PNG", compress_level=6)  # Pillow adds no tIME chunk
        else:
            im.save(buf, format="JPEG", quality=_JPEG_QUALITY)
    else:
        raise ValueError(f"unknown image extension {ext!r}; expected one of {IMAGE_EXTS}")
    return buf.getvalue()


def png_compatible(array: np.ndarray) -> bool:
    """Whether PNG (through Pillow) stores ``array`` losslessly."""
    channels = 1 if array.ndim == 2 else array.shape[-1]
    if array.dtype == np.uint8:
        return channels in (1, 2, 3, 4)
    return array.dtype == np.uint16 and channels == 1
