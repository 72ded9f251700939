"""What both annotation modes share: loading a face and encoding it as PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

NO_ITEMS = "nothing to annotate: the source gave no images"


def load_face(path: str) -> np.ndarray:
    """Gray uint8 pixels of ``path`` (raises ``ImageReadError`` naming the file)."""
    from ferbias.data.images import load_gray

    return load_gray(path)


def face_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a gray uint8 face, with no metadata."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
