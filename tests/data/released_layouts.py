"""Tiny fixture trees in the published layouts of RAF-DB, KDEF, RaFD, AffectNet, ExpW, FairFace.

Each writer lays files out exactly as the release does, with tiny synthetic images (the toy
images of ``experiment_toy``: a face with a bar whose position encodes the emotion, so a model can
learn from them in one epoch). The quirks of each release are the tests' business: they add them
with the lower-level writers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from experiment_toy import EMOTIONS as TOY_EMOTIONS
from experiment_toy import toy_image

# Canonical emotion -> RAF-DB label code.
RAFDB_CODES = {
    "surprise": 1,
    "fear": 2,
    "disgust": 3,
    "happy": 4,
    "sad": 5,
    "angry": 6,
    "neutral": 7,
}
KDEF_CODES = {
    "fear": "AF",
    "angry": "AN",
    "disgust": "DI",
    "happy": "HA",
    "neutral": "NE",
    "sad": "SA",
    "surprise": "SU",
}


def write_face(path: Path, emotion: str = "happy", seed: int = 0, *, size: int = 48) -> Path:
    """A toy face for ``emotion`` at ``path`` (format from the suffix), ``size`` pixels square."""
    index = TOY_EMOTIONS.index(emotion) if emotion in TOY_EMOTIONS else 0
    image = Image.fromarray(toy_image(index, seed))
    if size != 48:
        image = image.resize((size, size))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def write_rafdb_attributes(path: Path, gender: str, race: str = "0", age: str = "2") -> Path:
    """A ``*_manu_attri.txt``: five landmark lines, then gender, race and age, with the blank
    lines the release's files carry."""
    landmarks = "\n".join(f"{30 + 5 * i}.51\t{40 + 3 * i}.27" for i in range(5))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{landmarks}\n\n{gender}\n{race}\n\n{age}\n\n")
    return path


def write_rafdb_image(basic: Path, name: str, emotion: str, seed: int) -> None:
    """``Image/original/<name>`` (a larger photo) and ``Image/aligned/<stem>_aligned.jpg``."""
    stem = Path(name).stem
    write_face(basic / "Image" / "original" / name, emotion, seed, size=96)
    write_face(basic / "Image" / "aligned" / f"{stem}_aligned.jpg", emotion, seed)


def toy_rafdb(release: Path, *, per_cell: dict[str, int]) -> Path:
    """A RAF-DB release with ``per_cell[split]`` images per study emotion x gender."""
    basic = release / "basic"
    lines, seed = [], 0
    for split, count in per_cell.items():
        for gender in ("1", "0"):
            for emotion in TOY_EMOTIONS:
                for _ in range(count):
                    seed += 1
                    name = f"train_{seed:05d}.jpg" if split == "train" else f"test_{seed:04d}.jpg"
                    write_rafdb_image(basic, name, emotion, seed)
                    stem = Path(name).stem
                    write_rafdb_attributes(
                        basic / "Annotation" / "manual" / f"{stem}_manu_attri.txt", gender
                    )
                    lines.append(f"{name} {RAFDB_CODES[emotion]}")
    (basic / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (basic / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return release


def kdef_name(session: str, gender: str, person: int, emotion: str, angle: str = "S") -> str:
    return f"{session}{gender}{person:02d}{KDEF_CODES[emotion]}{angle}.JPG"


def write_kdef_image(release: Path, name: str, emotion: str, seed: int) -> Path:
    """``KDEF/<first four characters>/<name>`` under ``release`` (KDEF_and_AKDEF/)."""
    return write_face(release / "KDEF" / name[:4].upper() / name, emotion, seed)


def toy_kdef(release: Path, *, people: int = 4, angles: tuple[str, ...] = ("S",)) -> Path:
    """KDEF_and_AKDEF/KDEF with ``people`` women and men, both sessions, the study's emotions."""
    seed = 0
    for gender in ("F", "M"):
        for person in range(1, people + 1):
            for session in ("A", "B"):
                for emotion in TOY_EMOTIONS:
                    for angle in angles:
                        seed += 1
                        name = kdef_name(session, gender, person, emotion, angle)
                        write_kdef_image(release, name, emotion, seed)
    return release


def write_affectnet_list(path: Path, rows: list[dict], *, header: bool = True) -> Path:
    """A ``Manually_Annotated_file_lists`` CSV (``rows``: file, x, y, w, h, expression)."""
    columns = [
        "subDirectory_filePath",
        "face_x",
        "face_y",
        "face_width",
        "face_height",
        "facial_landmarks",
        "expression",
        "valence",
        "arousal",
    ]
    table = pd.DataFrame(
        [
            [
                r["file"],
                r["x"],
                r["y"],
                r["w"],
                r["h"],
                "1.0;2.0;3.0;4.0",
                r["expression"],
                0.1,
                0.2,
            ]
            for r in rows
        ],
        columns=columns,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, header=header)
    return path


def write_affectnet_exp(folder: Path, image_id: str, code, emotion: str = "happy") -> None:
    """``images/<id>.jpg`` and ``annotations/<id>_exp.npy`` holding ``code`` as released."""
    write_face(folder / "images" / f"{image_id}.jpg", emotion, int(image_id))
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    np.save(folder / "annotations" / f"{image_id}_exp.npy", np.array(code))


def write_photo(path: Path, faces: list[tuple[int, int]], *, size=(160, 120)) -> Path:
    """A gray photo of ``size`` (w, h) with a 48x48 toy face pasted at each (x, y)."""
    canvas = np.full((size[1], size[0]), 90, np.uint8)
    for i, (x, y) in enumerate(faces):
        canvas[y : y + 48, x : x + 48] = toy_image(i % 6, i)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path


def write_fairface_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """``fairface_label_<split>.csv`` from (file, age, gender, race) rows."""
    table = pd.DataFrame(rows, columns=["file", "age", "gender", "race"])
    table["service_test"] = "True"
    table.to_csv(path, index=False)
    return path
