"""A generic manifest: a CSV or Parquet file a user writes to bring any data set.

Columns: ``path`` (required; relative paths are resolved against the file's folder), and
optionally ``emotion`` (canonical names or common spellings such as "anger", "happiness"),
``gender`` (female / male / unknown, or f / m), ``subject_id``, ``split`` (train / val / test;
"validation" is accepted), ``age``, ``race``, and a face box ``face_x``, ``face_y``, ``face_w``,
``face_h`` (pixels; the face is cropped from it instead of detected) with ``face_index`` (which
face of the photo; default 0). A bad emotion, gender, split or box value raises ``ValueError``
naming the file, the row and what is allowed; a listed file that does not exist is a reported
skip. sample_id is ``"<source>:<path as written in the file>"``, and
``"<source>:<path>#<face_index>@<x>,<y>,<w>,<h>"`` for a row with a box.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferbias.data.images import BOX_COLUMNS, FACE_INDEX, face_sample_id
from ferbias.data.schema import EMOTION_ALIASES
from ferbias.data.sources.base import (
    LoadResult,
    finish,
    name_problem,
    register_source,
    require_file,
)
from ferbias.data.sources.labels import GENDER_ALIASES, read_table

NAME = "manifest"
LAYOUT = "a CSV or Parquet file with columns path, emotion, gender, subject_id, split (+age, race)"
SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
NO_PATH_COLUMN = "manifest file {path}: needs a 'path' column; found {columns}"
BAD_VALUE = "manifest file {path}, row {row}: {column} {value!r} is not valid; allowed: {allowed}"
FILE_MISSING = "listed in {manifest} (row {row}) but the file does not exist"
BAD_PATH = "listed in {manifest} (row {row}); its {problem}"
EMPTY = "manifest file {path} has no rows; expected " + LAYOUT
BAD_BOX = "manifest file {path}, row {row}: {column} {value!r} is not a number; a face box needs "
BAD_BOX += "all of face_x, face_y, face_w, face_h (pixels), or none"


def _text(value: object) -> str:
    return "" if value is None or pd.isna(value) else str(value).strip()


def _lookup(value: object, table: dict, *, column: str, path: Path, row: int) -> str | None:
    """``table[value]`` (case-insensitive); empty -> None; unknown -> ``ValueError`` naming row."""
    text = _text(value).lower()
    if not text:
        return None
    if text not in table:
        allowed = sorted(set(table.values()))
        raise ValueError(
            BAD_VALUE.format(path=path, row=row, column=column, value=value, allowed=allowed)
        )
    return table[text]


def _fields(record: dict, path: Path, i: int) -> dict:
    where = {"path": path, "row": i}
    gender = _lookup(record.get("gender"), GENDER_ALIASES, column="gender", **where)
    age = _text(record.get("age"))
    return {
        "emotion": _lookup(record.get("emotion"), EMOTION_ALIASES, column="emotion", **where),
        "gender": gender or "unknown",
        "gender_source": "manifest" if gender in ("female", "male") else pd.NA,
        "subject_id": _text(record.get("subject_id")) or pd.NA,
        "original_split": _lookup(record.get("split"), SPLITS, column="split", **where) or pd.NA,
        "age": int(float(age)) if age else pd.NA,
        "race": _text(record.get("race")) or pd.NA,
    }


def _box(record: dict, path: Path, i: int) -> dict:
    """face_index and the four box columns of a row ({} when the row gives no box)."""
    texts = {c: _text(record.get(c)) for c in BOX_COLUMNS}
    if not any(texts.values()):
        return {}
    box = {}
    for column, text in {**texts, FACE_INDEX: _text(record.get(FACE_INDEX)) or "0"}.items():
        try:
            box[column] = float(text)
        except ValueError:
            raise ValueError(BAD_BOX.format(path=path, row=i, column=column, value=text)) from None
    box[FACE_INDEX] = int(box[FACE_INDEX])
    return box


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_manifest(path: Path, *, source: str = NAME) -> LoadResult:
    """Load a user manifest; rows keep ``source`` (default "manifest") as their source name."""
    path = require_file(path, source=NAME, layout=LAYOUT)
    table = read_table(path, expected=LAYOUT)
    if "path" not in table:
        raise ValueError(NO_PATH_COLUMN.format(path=path, columns=list(table.columns)))
    if table.empty:
        raise ValueError(EMPTY.format(path=path))
    rows, skipped = [], []
    for i, record in enumerate(table.to_dict("records")):
        fields = _fields(record, path, i)
        written = _text(record["path"])
        image = Path(written) if Path(written).is_absolute() else path.parent / written
        problem = name_problem(written)
        if problem is not None:
            skipped.append((written, BAD_PATH.format(manifest=path, row=i, problem=problem)))
            continue
        if not image.is_file():
            skipped.append((str(image), FILE_MISSING.format(manifest=path, row=i)))
            continue
        box = _box(record, path, i)
        sample_id = f"{source}:{written}"
        if box:
            corners = [box[c] for c in BOX_COLUMNS]
            sample_id = face_sample_id(source, written, box[FACE_INDEX], corners)
        rows.append({"sample_id": sample_id, "source": source, "path": str(image), **fields, **box})
    return finish(rows, skipped)
