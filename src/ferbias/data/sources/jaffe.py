"""JAFFE: ``jaffedbase/<poser>.<EXPR><n>.<number>.tiff`` (256x256 gray, 23 palette TIFFs).

EXPR: AN angry, DI disgust, FE fear, HA happy, NE neutral, SA sad, SU surprise. Every poser is
female (gender_source "dataset"); subject_id is the poser code. Images are not tight face crops.
"""

from __future__ import annotations

import re
from pathlib import Path

from ferbias.data.sources.base import (
    LoadResult,
    dataset_root,
    empty_folder_error,
    finish,
    is_image_name,
    list_files,
    not_an_image_reason,
    register_source,
    row,
)

NAME = "jaffe"
LAYOUT = "jaffedbase/<poser>.<EXPR><n>.<number>.tiff (EXPR one of AN DI FE HA NE SA SU)"
CODES = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
FILE_NAME = re.compile(r"^([A-Z]+)\.([A-Z]{2})(\d+)\.(\d+)\.tiff?$", re.IGNORECASE)
BAD_NAME = "file name does not match <poser>.<EXPR><n>.<number>.tiff"
UNKNOWN_CODE = "unknown expression code {code!r}; allowed: {allowed}"


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_jaffe(path: Path) -> LoadResult:
    """Load JAFFE from ``path`` (the ``jaffedbase`` folder or the folder holding it)."""
    root = dataset_root(path, "jaffedbase", source=NAME, layout=LAYOUT)
    rows, skipped = [], []
    for name in list_files(root, skipped):
        match = FILE_NAME.match(name)
        where = str(root / name)
        if not is_image_name(name):
            skipped.append((where, not_an_image_reason(name)))
        elif match is None:
            skipped.append((where, BAD_NAME))
        elif match[2].upper() not in CODES:
            skipped.append((where, UNKNOWN_CODE.format(code=match[2], allowed=sorted(CODES))))
        else:
            emotion = CODES[match[2].upper()]
            rows.append(
                row(
                    NAME,
                    root,
                    name,
                    emotion=emotion,
                    gender="female",
                    gender_source="dataset",
                    subject_id=match[1].upper(),
                    race="asian",
                )
            )
    if not rows:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)
