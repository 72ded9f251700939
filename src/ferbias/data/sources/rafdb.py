"""RAF-DB basic (Real-world Affective Faces, Li, Deng & Du, CVPR 2017), as released.

Layout from the release's own README (version 1.1, "Real-world Affective Faces (RAF) Database"),
cross-checked with public loaders that read ``EmoLabel/list_patition_label.txt`` with
``sep=' '`` and ``Annotation/manual/<stem>_manu_attri.txt`` line by line:

- ``basic/EmoLabel/list_patition_label.txt`` (sic; the README's spelling ``list_partition_label``
  is accepted too): ``<image name> <code>`` per line, codes 1 surprise, 2 fear, 3 disgust,
  4 happy, 5 sad, 6 angry, 7 neutral. The name's prefix is the official split: ``train_`` /
  ``test_``.
- ``basic/Image/original/train_00001.jpg`` (in-the-wild photos: source ``rafdb``, faces are
  detected) or ``basic/Image/aligned/train_00001_aligned.jpg`` (100x100 crops aligned on the eyes
  and mouth: source ``rafdb-aligned``, already face crops, no detection).
- ``basic/Annotation/manual/train_00001_manu_attri.txt``: five landmark lines, then gender
  (0 male, 1 female, 2 unsure), race (0 Caucasian, 1 African-American, 2 Asian) and age band
  (0: 0-3, 1: 4-19, 2: 20-39, 3: 40-69, 4: 70+). Only non-empty lines count (the files carry
  blank lines). Gender comes with ``gender_source`` "annotation"; "unsure" is gender unknown.

``path`` is the release folder (holding ``basic/``) or ``basic/`` itself; sample ids are relative
to ``basic/`` either way. RAF-DB has no subject ids. A listed image missing on disk, an image not
listed, and a label line that does not parse are reported as skipped; an image whose attribute
file is missing or malformed keeps its row with gender unknown (counted in the log).
``Annotation/boundingbox`` is not read: the aligned crops need no box and the photos are detected.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ferbias.data.sources.base import (
    LoadResult,
    dataset_root,
    empty_folder_error,
    finish,
    list_files,
    register_source,
    require_dir,
    row,
)

log = logging.getLogger(__name__)

NAME, ALIGNED_NAME = "rafdb", "rafdb-aligned"
LAYOUT = (
    "basic/EmoLabel/list_patition_label.txt (<name> <code 1-7>), basic/Image/original/<name>, "
    "basic/Annotation/manual/<stem>_manu_attri.txt"
)
ALIGNED_LAYOUT = LAYOUT.replace("Image/original/<name>", "Image/aligned/<stem>_aligned.jpg")
LABEL_FILES = ("list_patition_label.txt", "list_partition_label.txt")  # the release's, the README's
EMOTIONS = {
    "1": "surprise",
    "2": "fear",
    "3": "disgust",
    "4": "happy",
    "5": "sad",
    "6": "angry",
    "7": "neutral",
}
GENDERS = {"0": "male", "1": "female", "2": "unknown"}  # 2: the annotators were unsure
RACES = {"0": "caucasian", "1": "african-american", "2": "asian"}
AGE_BANDS = {"0": "0-3", "1": "4-19", "2": "20-39", "3": "40-69", "4": "70+"}
SPLIT_PREFIXES = {"train": "train", "test": "test"}

NO_LABEL_FILE = "{source}: no EmoLabel/{names} in {path}; expected {layout}"
BAD_LINE = "{file}, line {line}: {text!r} is not '<image name> <emotion code 1-7>'"
BAD_CODE = "{file}, line {line}: emotion code {code!r}; expected one of {allowed}"
BAD_SPLIT = "{file}, line {line}: name {name!r} starts with neither train_ nor test_"
IMAGE_MISSING = "listed in {file} but the image file is missing"
NOT_LISTED = "not listed in {file}"
NO_ATTRIBUTES = "no attribute file {file}"
SHORT_ATTRIBUTES = "{file}: {n} non-empty lines; expected 5 landmark lines, gender, race, age"
BAD_ATTRIBUTE = "{file}: {what} code {code!r}; expected one of {allowed}"
ATTRIBUTES_UNUSABLE = "%s: %d image(s) without usable demographics, gender unknown (e.g. %s)"


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_rafdb(path: Path) -> LoadResult:
    """RAF-DB basic, original photos (faces are detected); see the module docstring."""
    return _load(path, aligned=False)


@register_source(ALIGNED_NAME, face_cropped=True, layout=ALIGNED_LAYOUT)
def load_rafdb_aligned(path: Path) -> LoadResult:
    """RAF-DB basic, the release's aligned 100x100 face crops; see the module docstring."""
    return _load(path, aligned=True)


def _load(path: Path, *, aligned: bool) -> LoadResult:
    source, layout = (ALIGNED_NAME, ALIGNED_LAYOUT) if aligned else (NAME, LAYOUT)
    root = dataset_root(path, "basic", source=source, layout=layout)
    labels = _label_file(root, source, layout)
    folder = "aligned" if aligned else "original"
    images = require_dir(root / "Image" / folder, source=source, layout=layout)
    rows, skipped, used, unusable = [], [], set(), []
    on_disk = set(list_files(images, skipped))
    for line, text in enumerate(labels.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        fields = _parse_label_line(text, labels, line)
        if isinstance(fields, str):
            skipped.append((f"{labels}:{line}", fields))
            continue
        name, emotion, split = fields
        stem = Path(name).stem
        image = f"{stem}_aligned.jpg" if aligned else name
        relative = f"Image/{folder}/{image}"
        if image not in on_disk:
            skipped.append((str(root / relative), IMAGE_MISSING.format(file=labels.name)))
            continue
        used.add(image)
        people = read_attributes(root / "Annotation" / "manual" / f"{stem}_manu_attri.txt")
        if isinstance(people, str):
            unusable.append(people)
            people = {}
        rows.append(row(source, root, relative, emotion=emotion, original_split=split, **people))
    skipped += [
        (str(images / name), NOT_LISTED.format(file=labels.name)) for name in sorted(on_disk - used)
    ]
    if unusable:
        log.warning(ATTRIBUTES_UNUSABLE, source, len(unusable), unusable[0])
    if not rows:
        raise empty_folder_error(images, source=source, layout=layout)
    return finish(rows, skipped)


def _label_file(root: Path, source: str, layout: str) -> Path:
    """``EmoLabel/list_patition_label.txt`` (or the README's spelling) under ``root``."""
    for name in LABEL_FILES:
        if (root / "EmoLabel" / name).is_file():
            return root / "EmoLabel" / name
    raise FileNotFoundError(
        NO_LABEL_FILE.format(
            source=source, names=" or ".join(LABEL_FILES), path=root, layout=layout
        )
    )


def _parse_label_line(text: str, file: Path, line: int) -> tuple[str, str, str] | str:
    """(image name, canonical emotion, official split) of one label line, or the reason not."""
    parts = text.split()
    if len(parts) != 2:
        return BAD_LINE.format(file=file.name, line=line, text=text)
    name, code = parts
    if code not in EMOTIONS:
        return BAD_CODE.format(file=file.name, line=line, code=code, allowed=sorted(EMOTIONS))
    split = SPLIT_PREFIXES.get(name.split("_", 1)[0])
    if split is None:
        return BAD_SPLIT.format(file=file.name, line=line, name=name)
    return name, EMOTIONS[code], split


def read_attributes(file: Path) -> dict[str, str] | str:
    """gender, gender_source, race, age_band of one ``*_manu_attri.txt``, or why not."""
    if not file.is_file():
        return NO_ATTRIBUTES.format(file=file.name)
    lines = [text.strip() for text in file.read_text(encoding="utf-8").splitlines() if text.strip()]
    if len(lines) < 8:
        return SHORT_ATTRIBUTES.format(file=file.name, n=len(lines))
    values = {}
    for what, code, table in (
        ("gender", lines[5], GENDERS),
        ("race", lines[6], RACES),
        ("age_band", lines[7], AGE_BANDS),
    ):
        if code not in table:
            return BAD_ATTRIBUTE.format(file=file.name, what=what, code=code, allowed=sorted(table))
        values[what] = table[code]
    return {**values, "gender_source": "annotation"}
