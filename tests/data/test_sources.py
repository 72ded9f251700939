"""Unit tests for the FER-2013 source (folder export, fer2013.csv, FER+) on tiny synthetic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferbias.data.schema import validate_manifest
from ferbias.data.sources import SOURCES, is_face_cropped, load_source
from ferbias.data.sources.ferplus import VOTE_COLUMNS, majority_labels
from synthetic import synthetic_face

FER_FILES = {
    "train/angry/Training_1.jpg": "angry",
    "train/happy/Training_2.jpg": "happy",
    "train/surprise/Training_2.jpg": "surprise",  # same name in two folders, as in the release
    "test/sad/PublicTest_3.jpg": "sad",
    "test/neutral/PrivateTest_4.jpg": "neutral",
}


def write_image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(synthetic_face(48, seed=seed)).save(path)
    return path


def make_fer_folder(root: Path) -> Path:
    for i, relative in enumerate(FER_FILES):
        write_image(root / relative, seed=i)
    return root


def pixels_text(count: int = 48 * 48) -> str:
    return " ".join(str(v) for v in np.arange(count) % 256)


def write_fer_csv(path: Path, rows: list[tuple[int, str, int]]) -> Path:
    """``rows`` of (emotion code, Usage, pixel count)."""
    frame = pd.DataFrame([{"emotion": e, "pixels": pixels_text(n), "Usage": u} for e, u, n in rows])
    frame.to_csv(path, index=False)
    return path


def write_ferplus(path: Path, rows: list[tuple[str, str, list[int]]]) -> Path:
    """``rows`` of (Usage, Image name, 10 vote counts)."""
    frame = pd.DataFrame(
        [
            {"Usage": u, "Image name": n, **dict(zip(VOTE_COLUMNS, v, strict=True))}
            for u, n, v in rows
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def votes(**counts: int) -> list[int]:
    return [counts.get(c, 0) for c in VOTE_COLUMNS]


def test_registry_lists_every_source_and_face_crop_flags():
    assert SOURCES.names() == sorted(
        [
            "affectnet",
            "celeba",
            "cfd",
            "ckplus48",
            "expw",
            "fairface",
            "fer2013",
            "jaffe",
            "kdef",
            "labels",
            "manifest",
            "rafd",
            "rafdb",
            "rafdb-aligned",
            "trainingdata-fer",
            "utkface",
        ]
    )
    assert is_face_cropped("fer2013") and is_face_cropped("ckplus48")
    assert not is_face_cropped("cfd") and not SOURCES.get("jaffe").face_cropped
    assert not is_face_cropped("mydata")  # a user manifest's own source name counts as photos
    with pytest.raises(KeyError, match="valid names: affectnet, celeba"):
        load_source("nope", ".")


def test_fer2013_folder_layout(tmp_path):
    result = load_source("fer2013", make_fer_folder(tmp_path / "fer"), gender_labels=None)
    m = result.manifest
    validate_manifest(m)
    assert len(m) == 5 and result.skipped.empty
    assert m["sample_id"].is_unique  # Training_2.jpg in two folders stays two rows
    by_id = m.set_index("sample_id")
    assert by_id.loc["fer2013:train/surprise/Training_2.jpg", "emotion"] == "surprise"
    assert by_id.loc["fer2013:test/sad/PublicTest_3.jpg", "usage"] == "PublicTest"
    assert by_id.loc["fer2013:test/neutral/PrivateTest_4.jpg", "original_split"] == "test"
    assert set(m["gender"]) == {"unknown"}
    assert Path(by_id.loc["fer2013:train/angry/Training_1.jpg", "path"]).is_file()


def test_fer2013_unknown_emotion_folder_names_folder_and_allowed(tmp_path):
    root = make_fer_folder(tmp_path / "fer")
    write_image(root / "train" / "joy" / "Training_9.jpg")
    with pytest.raises(ValueError, match=r"unknown emotion folder .*joy.*allowed folder names"):
        load_source("fer2013", root, gender_labels=None)


def test_fer2013_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; expected a folder with train/"):
        load_source("fer2013", tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither train/ nor test/"):
        load_source("fer2013", tmp_path / "empty")
    (tmp_path / "bare" / "train" / "happy").mkdir(parents=True)
    with pytest.raises(ValueError, match="empty or holds no images"):
        load_source("fer2013", tmp_path / "bare")


def test_fer2013_non_image_file_is_a_reported_skip(tmp_path):
    root = make_fer_folder(tmp_path / "fer")
    (root / "train" / "happy" / "notes.txt").write_text("x")
    result = load_source("fer2013", root, gender_labels=None)
    assert len(result.manifest) == 5
    assert result.skipped["path"].str.endswith("notes.txt").all()
    assert "not an image file" in result.skipped["reason"].iat[0]


def test_fer2013_csv_format_and_wrong_pixel_count(tmp_path):
    csv = write_fer_csv(
        tmp_path / "fer2013.csv",
        [
            (0, "Training", 2304),
            (3, "PublicTest", 2304),
            (6, "PrivateTest", 2303),
            (9, "Training", 2304),
        ],
    )
    result = load_source("fer2013", csv, gender_labels=None)
    m = result.manifest
    assert list(m["emotion"]) == ["angry", "happy"]
    assert list(m["original_split"]) == ["train", "test"]
    assert list(m["usage"]) == ["Training", "PublicTest"]
    assert m["path"].iat[1] == f"{csv}::1"
    assert m["sample_id"].iat[1] == "fer2013:fer2013.csv::1"
    reasons = dict(zip(result.skipped["path"], result.skipped["reason"], strict=True))
    assert reasons[f"{csv}::2"] == "2303 pixel values; expected 2304"  # the path names the row
    assert "emotion code '9'" in reasons[f"{csv}::3"]


def test_ferplus_majority_rule():
    emotions, reasons = majority_labels(
        np.array(
            [
                votes(happiness=6, neutral=4),  # strict majority
                votes(happiness=5, neutral=5),  # tie -> no strict majority
                votes(anger=3, fear=1, sadness=1, disgust=1),  # single votes dropped -> anger
                votes(unknown=6, neutral=4),
                votes(NF=10),
                votes(contempt=7, neutral=3),
            ]
        )
    )
    assert emotions[0] == "happy" and emotions[2] == "angry" and emotions[5] == "contempt"
    assert pd.isna(emotions[1]) and "no strict majority" in reasons[1]
    assert "'unknown'" in reasons[3] and "not a face" in reasons[4]


def test_fer2013_csv_with_ferplus_aligns_by_row(tmp_path):
    csv = write_fer_csv(tmp_path / "fer2013.csv", [(0, "Training", 2304)] * 3)
    write_ferplus(
        tmp_path / "fer2013new.csv",
        [
            ("Training", "fer0000000.png", votes(happiness=8, neutral=2)),
            ("Training", "", votes(neutral=10)),
            ("Training", "fer0000001.png", votes(sadness=4, neutral=4, fear=2)),
        ],
    )
    result = load_source("fer2013", csv, labels="ferplus", gender_labels=None)
    assert list(result.manifest["emotion"]) == ["happy"]
    assert list(result.skipped["reason"]) == [
        "FER+ dropped this image (empty 'Image name' in fer2013new.csv)",
        "FER+ votes have no strict majority after dropping single votes",
    ]


def test_fer2013_csv_ferplus_length_mismatch_is_an_error(tmp_path):
    csv = write_fer_csv(tmp_path / "fer2013.csv", [(0, "Training", 2304)] * 2)
    write_ferplus(tmp_path / "ferplus" / "fer2013new.csv", [("Training", "a.png", votes(NF=9))])
    with pytest.raises(ValueError, match=r"has 1 rows but .* has 2; they align by row"):
        load_source("fer2013", csv, labels="ferplus")


def test_fer2013_folder_with_ferplus_join(tmp_path):
    root = make_fer_folder(tmp_path / "fer")
    write_ferplus(
        root / "ferplus" / "fer2013new.csv",
        [
            ("Training", "fer0000000.png", votes(fear=9, neutral=1)),
            ("PublicTest", "fer0000001.png", votes(unknown=9, neutral=1)),
        ],
    )
    pd.DataFrame(
        {
            "file": [
                "train/angry/Training_1.jpg",
                "test/sad/PublicTest_3.jpg",
                "train/happy/Training_2.jpg",
            ],
            "ferplus_image": ["fer0000000.png", "fer0000001.png", ""],
        }
    ).to_csv(root / "ferplus" / "fer2013_folder_to_ferplus.csv", index=False)
    result = load_source("fer2013", root, labels="ferplus", gender_labels=None)
    assert list(result.manifest["sample_id"]) == ["fer2013:train/angry/Training_1.jpg"]
    assert list(result.manifest["emotion"]) == ["fear"]
    assert len(result.skipped) == 4
    assert result.skipped["reason"].str.contains("'unknown'").sum() == 1


def test_fer2013_bad_labels_option(tmp_path):
    with pytest.raises(ValueError, match="expected 'fer' or 'ferplus'"):
        load_source("fer2013", tmp_path, labels="raf")


def test_fer2013_gender_labels_file_is_joined(tmp_path):
    root = make_fer_folder(tmp_path / "fer")
    labels = tmp_path / "fer2013_gender.csv"
    pd.DataFrame(
        {
            "file": ["train/angry/Training_1.jpg", "test/sad/PublicTest_3.jpg"],
            "gender": ["female", "male"],
            "p_female": ["0.9", "0.2"],
            "labeller": ["ensemble", "ensemble"],
        }
    ).to_csv(labels, index=False)
    m = load_source("fer2013", root, gender_labels=labels).manifest.set_index("sample_id")
    assert m.loc["fer2013:train/angry/Training_1.jpg", "gender"] == "female"
    assert m.loc["fer2013:test/sad/PublicTest_3.jpg", "gender_source"] == "labels:ensemble"
    assert m.loc["fer2013:test/sad/PublicTest_3.jpg", "p_female"] == pytest.approx(0.2)
    assert m.loc["fer2013:train/happy/Training_2.jpg", "gender"] == "unknown"


def test_fer2013_default_gender_labels_joined_when_present(tmp_path, monkeypatch):
    from ferbias.data.sources import fer2013

    root = make_fer_folder(tmp_path / "fer")
    default = tmp_path / "labels" / "fer2013_gender.csv"
    monkeypatch.setattr(fer2013, "DEFAULT_GENDER_LABELS", default)
    assert set(load_source("fer2013", root).manifest["gender"]) == {"unknown"}  # no file: no error
    default.parent.mkdir()
    pd.DataFrame({"file": ["test/sad/PublicTest_3.jpg"], "gender": ["female"]}).to_csv(
        default, index=False
    )
    m = load_source("fer2013", root).manifest.set_index("sample_id")
    assert m.loc["fer2013:test/sad/PublicTest_3.jpg", "gender"] == "female"
    assert m.loc["fer2013:test/sad/PublicTest_3.jpg", "gender_source"] == "labels:fer2013_gender"
