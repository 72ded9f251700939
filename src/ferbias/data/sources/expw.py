"""ExpW (Expression in-the-Wild, Zhang, Luo, Loy & Tang, IJCV 2018), as released.

Layout, from the release's label description (project page
mmlab.ie.cuhk.edu.hk/projects/socialrelation; the description is quoted on public pages about the
set) and public loaders reading ``pd.read_csv('label.lst', sep=' ', header=None)``:
``label/label.lst``, one face per line::

    image_name face_id_in_image face_box_top face_box_left face_box_right face_box_bottom
    face_box_cofidence expression_label

with expressions 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral, and the
photos in ``image/origin/<image_name>``. A photo often holds several faces: each line is its own
row, cut from its box (``faces`` columns, sample id ``...#<face id>@<x>,<y>,<w>,<h>``), so no face
is detected. ExpW has no official split, no subjects and no gender: a labeller applies.

``path``: the folder holding ``image/`` and ``label/`` (the release's ``data/``) or its parent.
Lines that do not parse, unknown codes, empty boxes, repeated lines and photos missing on disk
are reported as skipped; so are photos that no line names.
"""

from __future__ import annotations

from pathlib import Path

from ferbias.data.sources.base import (
    LoadResult,
    dataset_root,
    empty_folder_error,
    finish,
    list_files,
    register_source,
    require_dir,
    require_file,
)
from ferbias.data.sources.faceboxes import box_problem, face_row

NAME = "expw"
LAYOUT = (
    "label/label.lst (image face_id top left right bottom confidence expression 0-6; a row per "
    "face, cropped from its box) and image/origin/<image>"
)
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LABEL_FILE = Path("label") / "label.lst"
IMAGES = Path("image") / "origin"

BAD_LINE = "{file}, line {line}: {n} fields; expected 8 (image face_id top left right bottom "
BAD_LINE += "confidence expression)"
BAD_NUMBER = "{file}, line {line}: {field} {value!r} is not a number"
BAD_CODE = "{file}, line {line}: expression {code!r}; expected 0-6 ({names})"
REPEATED = "{file}, line {line}: repeats line {first} (same image, face id and box)"
IMAGE_MISSING = "listed in {file} but the image file is missing"
NOT_LISTED = "no face of this image is listed in {file}"


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_expw(path: Path) -> LoadResult:
    """Load ExpW from ``path``; see the module docstring."""
    root = dataset_root(path, "data", source=NAME, layout=LAYOUT)
    labels = require_file(root / LABEL_FILE, source=NAME, layout=LAYOUT)
    images = require_dir(root / IMAGES, source=NAME, layout=LAYOUT)
    rows, skipped, seen, named = [], [], {}, set()
    on_disk = set(list_files(images, skipped))
    for line, text in enumerate(labels.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        face = parse_label_line(text, labels.name, line)
        if isinstance(face, str):
            skipped.append((f"{labels}:{line}", face))
            continue
        relative = (IMAGES / face["image"]).as_posix()
        named.add(face["image"])
        key = (face["image"], face["face_index"], face["box"])
        if key in seen:
            skipped.append(
                (
                    str(root / relative),
                    REPEATED.format(file=labels.name, line=line, first=seen[key]),
                )
            )
            continue
        seen[key] = line
        if face["image"] not in on_disk:
            skipped.append((str(root / relative), IMAGE_MISSING.format(file=labels.name)))
            continue
        rows.append(
            face_row(
                NAME,
                root,
                relative,
                face_index=face["face_index"],
                box=face["box"],
                emotion=face["emotion"],
            )
        )
    reason = NOT_LISTED.format(file=labels.name)
    skipped += [(str(images / name), reason) for name in sorted(on_disk - named)]
    if not rows:
        raise empty_folder_error(images, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)


def parse_label_line(text: str, file: str, line: int) -> dict | str:
    """image, face_index, box (x, y, w, h) and emotion of one ``label.lst`` line, or a reason."""
    parts = text.split()
    if len(parts) != 8:
        return BAD_LINE.format(file=file, line=line, n=len(parts))
    image, face_id, top, left, right, bottom, _confidence, code = parts
    numbers = {}
    for field, value in (
        ("face_id", face_id),
        ("face_box_top", top),
        ("face_box_left", left),
        ("face_box_right", right),
        ("face_box_bottom", bottom),
    ):
        try:
            numbers[field] = float(value)
        except ValueError:
            return BAD_NUMBER.format(file=file, line=line, field=field, value=value)
    if code not in {str(i) for i in range(len(EXPRESSIONS))}:
        return BAD_CODE.format(file=file, line=line, code=code, names=list(EXPRESSIONS))
    x, y = numbers["face_box_left"], numbers["face_box_top"]
    box = (x, y, numbers["face_box_right"] - x, numbers["face_box_bottom"] - y)
    problem = box_problem(*box)
    if problem:
        return f"{file}, line {line}: {problem}"
    return {
        "image": image,
        "face_index": int(numbers["face_id"]),
        "box": box,
        "emotion": EXPRESSIONS[int(code)],
    }
