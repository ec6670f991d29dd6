"""Opening street-view images: every way a file can fail is a :class:`DataError` naming it."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from geolib.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def load_image(path: str | Path) -> Image.Image:
    """The image at ``path`` as RGB, fully decoded (a truncated file fails here, not later)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise DataError("is a folder, expected an image file", source=str(path))
        if path.stat().st_size == 0:
            raise DataError("is an empty file, expected an image", source=str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return image.convert("RGB")
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError("is not an image PIL can read", source=str(path)) from None
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise DataError(f"cannot read the image: {reason}", source=str(path)) from None


def as_image(item) -> Image.Image:
    """A PIL image (converted to RGB) or a path to one."""
    if isinstance(item, Image.Image):
        return item if item.mode == "RGB" else item.convert("RGB")
    if isinstance(item, (str, Path)):
        return load_image(item)
    raise DataError(f"expected a PIL image or a path, got {type(item).__name__}")
