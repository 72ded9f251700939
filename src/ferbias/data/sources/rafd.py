"""RaFD (Radboud Faces Database, Langner et al., Cognition & Emotion 2010), as released.

File names ``Rafd<angle>_<id>_<ethnicity>_<gender>_<emotion>_<gaze>.jpg``, e.g.
``Rafd090_01_Caucasian_female_angry_frontal.jpg``, as the RaFD FAQ explains them
(rafd.socsci.ru.nl/FAQ.html); cross-checked with its overview page
(rafd.socsci.ru.nl/Overview.html: 67 models, 8 expressions, 3 gazes, 5 camera angles) and public
code: a pytorch-StarGAN README lists ``Rafd000_01_Caucasian_female_angry_frontal.jpg`` to
``Rafd180_73_Moroccan_male_surprised_right.jpg``; other loaders name children ``..._Kid_...``.

- angle: camera 000, 045, 090 (frontal), 135, 180; gaze: frontal, left, right. Frontal camera
  and frontal gaze by default; ``angles`` / ``gazes`` take others (or ``"all"``).
- id: the model's number, the subject_id. Ids are not contiguous (67 models, numbers up to 73).
- ethnicity ``Caucasian``, ``Moroccan`` or ``Kid`` (Caucasian children): kept in ``race``
  (caucasian / moroccan) with ``age_band`` adult / child.
- gender female / male (gender_source "filename"); emotions angry, contemptuous, disgusted,
  fearful, happy, neutral, sad, surprised (contemptuous -> contempt).

All 18 Moroccan models are male adults (the set: 20 Caucasian male and 19 female adults, 4 male
and 6 female children, 18 Moroccan male adults), so ethnicity and gender are confounded: a
male-vs-female comparison on RaFD is also partly a Moroccan-vs-Caucasian one. Compare within
``race == "caucasian"`` to separate them.

``path`` is the folder the images were unpacked to (searched recursively, e.g. one folder per
angle). Names that do not parse, unknown codes and images of angles or gazes not selected are
reported as skipped. Studio photos: faces are detected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ferbias.data.sources.base import (
    LoadResult,
    empty_folder_error,
    finish,
    is_image_name,
    not_an_image_reason,
    register_source,
    require_dir,
    row,
)

NAME = "rafd"
LAYOUT = "Rafd<angle>_<id>_<ethnicity>_<gender>_<emotion>_<gaze>.jpg files (any sub-folders)"
ANGLES = ("000", "045", "090", "135", "180")
GAZES = ("frontal", "left", "right")
EMOTIONS = {
    "angry": "angry",
    "contemptuous": "contempt",
    "disgusted": "disgust",
    "fearful": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprised": "surprise",
}
ETHNICITIES = {  # name token -> (race, age band)
    "caucasian": ("caucasian", "adult"),
    "moroccan": ("moroccan", "adult"),
    "kid": ("caucasian", "child"),
}
GENDERS = ("female", "male")
FILE_NAME = re.compile(
    r"^Rafd(\d{3})_(\d+)_([A-Za-z]+)_([A-Za-z]+)_([A-Za-z]+)_([A-Za-z]+)\.\w+$", re.IGNORECASE
)

BAD_NAME = "file name does not match Rafd<angle>_<id>_<ethnicity>_<gender>_<emotion>_<gaze>.jpg"
UNKNOWN_CODE = "unknown {what} {value!r}; allowed: {allowed}"
BAD_OPTION = "rafd: {option}={value!r}; expected 'all' or a list from {allowed}"
NOT_CHOSEN = "{what} {value!r} not selected ({option}={chosen})"


@register_source(NAME, face_cropped=False, layout=LAYOUT)
def load_rafd(
    path: Path,
    *,
    angles: str | list[str | int] = ("090",),
    gazes: str | list[str] = ("frontal",),
) -> LoadResult:
    """Load RaFD from ``path``; see the module docstring."""
    chosen_angles = _choice("angles", angles, ANGLES, lambda a: f"{int(a):03d}")
    chosen_gazes = _choice("gazes", gazes, GAZES, lambda g: str(g).lower())
    root = require_dir(path, source=NAME, layout=LAYOUT)
    rows, skipped = [], []
    for relative in _files(root):
        name, where = relative.rsplit("/", 1)[-1], str(root / relative)
        fields = parse_rafd_name(name) if is_image_name(name) else not_an_image_reason(name)
        if isinstance(fields, str):
            skipped.append((where, fields))
            continue
        angle, gaze = fields.pop("angle"), fields.pop("gaze")
        if angle not in chosen_angles:
            reason = NOT_CHOSEN.format(what="angle", value=angle, option="angles", chosen=angles)
            skipped.append((where, reason))
        elif gaze not in chosen_gazes:
            reason = NOT_CHOSEN.format(what="gaze", value=gaze, option="gazes", chosen=gazes)
            skipped.append((where, reason))
        else:
            rows.append(row(NAME, root, relative, gender_source="filename", **fields))
    if not rows:
        raise empty_folder_error(root, source=NAME, layout=LAYOUT)
    return finish(rows, skipped)


def _choice(option: str, value, allowed: tuple[str, ...], normalise) -> tuple[str, ...]:
    """The selected values of option ``angles`` or ``gazes``; a bad value raises naming it."""
    if value == "all":
        return allowed
    items = [value] if isinstance(value, str | int) else list(value)
    try:
        chosen = tuple(normalise(item) for item in items)
    except ValueError:
        chosen = ()
    if not chosen or any(item not in allowed for item in chosen):
        raise ValueError(BAD_OPTION.format(option=option, value=value, allowed=list(allowed)))
    return chosen


def _files(root: Path) -> list[str]:
    """POSIX paths, relative to ``root``, of the visible files below it (sorted)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        prefix = Path(folder).relative_to(root).as_posix()
        found += [
            name if prefix == "." else f"{prefix}/{name}"
            for name in sorted(files)
            if not name.startswith(".")
        ]
    return found


def parse_rafd_name(name: str) -> dict[str, str] | str:
    """emotion, gender, subject_id, race, age_band, angle and gaze of a RaFD name, or a reason."""
    match = FILE_NAME.match(name)
    if match is None:
        return BAD_NAME
    angle, model, ethnicity, gender, expression, gaze = match.groups()
    for what, value, allowed in (
        ("angle", angle, ANGLES),
        ("ethnicity", ethnicity.lower(), tuple(ETHNICITIES)),
        ("gender", gender.lower(), GENDERS),
        ("emotion", expression.lower(), tuple(EMOTIONS)),
        ("gaze", gaze.lower(), GAZES),
    ):
        if value not in allowed:
            return UNKNOWN_CODE.format(what=what, value=value, allowed=list(allowed))
    race, age_band = ETHNICITIES[ethnicity.lower()]
    return {
        "emotion": EMOTIONS[expression.lower()],
        "gender": gender.lower(),
        "subject_id": model,
        "race": race,
        "age_band": age_band,
        "angle": angle,
        "gaze": gaze.lower(),
    }
