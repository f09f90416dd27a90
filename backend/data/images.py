"""Opening uploaded images safely: allow-listed formats, a pixel cap, re-encoded."""
from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from backend.errors import StudioError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
# Far below Pillow's default (~89 MP) so a decompression bomb is refused before
# any pixel is decoded; a phone photo is ~12-50 MP.
MAX_PIXELS = 40_000_000


class ImageError(StudioError, ValueError):
    """An upload that is not a usable image; the message says why."""


def open_checked(path: str | Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, check format and size from the header, then decode fully, as RGB."""
    try:
        with warnings.catch_warnings():
            # Our own pixel cap below is far lower; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=ALLOWED_FORMATS)
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"The image is {width}x{height} pixels; at most "
                    f"{max_pixels // 1_000_000} megapixels are accepted.")
            image.load()
            # A phone stores an upright photo as sideways pixels plus an EXIF
            # Orientation tag; the re-encoded copy keeps no EXIF, so turn the
            # pixels now or the model trains on a sideways image.
            return ImageOps.exif_transpose(image).convert("RGB")
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError("The image is far too large (a decompression bomb?); at most "
                         f"{max_pixels // 1_000_000} megapixels are accepted.") from error
    except UnidentifiedImageError as error:
        raise ImageError("This file is not an image in an accepted format "
                         f"({', '.join(ALLOWED_FORMATS)}).") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"The image could not be read: {error}") from error
    except FileNotFoundError as error:
        raise ImageError("The image file is missing.") from error


def save_normalized(image: Image.Image, target: Path) -> Path:
    """Store under a name we choose, re-encoded, so nothing of the upload's
    own file (name, metadata, trailing bytes) travels further."""
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, format="JPEG", quality=95)
    return target
