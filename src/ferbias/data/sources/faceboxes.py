"""Rows for faces that a data set gives as a box in a photo (AffectNet, ExpW).

The convention of ``ferbias.data.images``: the optional Manifest columns ``face_index`` and
``face_x``, ``face_y``, ``face_w``, ``face_h`` (pixels of the original image; x, y the top-left
corner); ``images.prepare`` crops such a row from its box instead of detecting a face. The row's
``path`` stays the photo; its ``sample_id`` is ``images.face_sample_id``
(``<source>:<relative path>#<face_index>@<x>,<y>,<w>,<h>``), so several faces of one photo are
separate rows, cache entries and labels-file keys.
"""

from __future__ import annotations

import math
from pathlib import Path

from ferbias.data.images import face_sample_id
from ferbias.data.sources.base import row

BAD_BOX = "face box x={x!r} y={y!r} w={w!r} h={h!r}: expected numbers with width and height > 0"


def box_problem(x: float, y: float, w: float, h: float) -> str | None:
    """Why ``(x, y, w, h)`` is not a usable face box, or None when it is."""
    values = (x, y, w, h)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values) or w <= 0 or h <= 0:
        return BAD_BOX.format(x=x, y=y, w=w, h=h)
    return None


def face_row(
    source: str,
    root: Path,
    relative: str,
    *,
    face_index: int,
    box: tuple[float, float, float, float],
    emotion: str | None,
    **fields,
) -> dict:
    """One Manifest row for face ``face_index`` of the photo ``root/relative``, cut by ``box``."""
    record = row(source, root, relative, emotion=emotion, **fields)
    x, y, w, h = (float(v) for v in box)
    record.update(
        sample_id=face_sample_id(source, relative, face_index, box),
        face_index=face_index,
        face_x=x,
        face_y=y,
        face_w=w,
        face_h=h,
    )
    return record
