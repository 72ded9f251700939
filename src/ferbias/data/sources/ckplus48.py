"""CK+48: ``CK+48/<emotion>/S<subject>_<sequence>_<frame>.png`` (48x48 face crops, no neutral).

Emotion from the folder (anger -> angry, sadness -> sad); subject_id ``S<subject>`` from the file
name (split by subject: each sequence gives 3 near-identical frames). No gender labels.
"""

from __future__ import annotations

import re
from pathlib import Path

from ferbias.data.sources.base import (
    LoadResult,
    dataset_root,
    emotion_for_folder,
    empty_folder_error,
    finish,
    is_image_name,
    list_files,
    not_an_image_reason,
    register_source,
    row,
    sub_folders,
)

NAME = "ckplus48"
LAYOUT = "CK+48/<emotion>/S<subject>_<sequence>_<frame>.png (emotion folders: anger, contempt, ...)"
FOLDER_EMOTIONS = {
    "anger": "angry",
    "contempt": "contempt",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
}
FILE_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.\w+$")
BAD_NAME = "file name does not match S<subject>_<sequence>_<frame>.png"


@register_source(NAME, face_cropped=True, layout=LAYOUT)
def load_ckplus48(path: Path) -> LoadResult:
    """Load CK+48 from ``path`` (the ``CK+48`` folder or the folder holding it)."""
    root = dataset_root(path, "CK+48", source=NAME, layout=LAYOUT)
    rows, skipped = [], []
    for folder in sub_folders(root, skipped):
        emotion = emotion_for_folder(folder, FOLDER_EMOTIONS, source=NAME)
        for name in list_files(folder, skipped):
            match = FILE_NAME.match(name)
            if not is_image_name(name):
                skipped.append((str(folder / name), not_an_image_reason(name)))
            elif match is None:
                skipped.append((str(folder / name), BAD_NAME))
            else:
                relative = f"{folder.name}/{name}"
                rows.append(row(NAME, root, relative, emotion=emotion, subject_id=match[1]))
    if not rows:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)
