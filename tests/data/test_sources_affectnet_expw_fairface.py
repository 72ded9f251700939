"""AffectNet, ExpW and FairFace sources on fixture trees written in their published layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from released_layouts import (
    write_affectnet_exp,
    write_affectnet_list,
    write_face,
    write_fairface_csv,
    write_photo,
)

from ferbias.data import images
from ferbias.data.schema import validate_manifest
from ferbias.data.sources import join_labels, load_source
from ferbias.data.sources.fairface import below_age


def _reasons(skipped: pd.DataFrame) -> dict[str, str]:
    names = skipped["path"].str.rsplit("/", n=1).str[1]
    return dict(zip(names, skipped["reason"], strict=True))


@pytest.fixture
def affectnet_csv(tmp_path):
    """The CSV release: training.csv with its header, validation.csv without one (as some copies
    circulate), codes 8-10, an empty box and a listed file missing on disk."""
    root = tmp_path / "AffectNet"
    images = root / "Manually_Annotated_Images"
    for file in ["689/a.jpg", "689/b.jpg", "12/c.png", "12/d.jpg", "3/e.jpg"]:
        write_photo(images / file, [(20, 10)], size=(120, 100))
    lists = root / "Manually_Annotated_file_lists"
    box = {"x": 20, "y": 10, "w": 48.4, "h": 48}
    write_affectnet_list(
        lists / "training.csv",
        [
            {"file": "689/a.jpg", **box, "expression": 1},
            {"file": "689/b.jpg", **box, "expression": 6},
            {"file": "12/c.png", **box, "expression": 8},
            {"file": "12/d.jpg", **box, "expression": 10},
            {"file": "12/missing.jpg", **box, "expression": 2},
            {"file": "3/e.jpg", **{**box, "w": 0}, "expression": 3},
        ],
    )
    write_affectnet_list(
        lists / "validation.csv",
        [
            {"file": "3/e.jpg", **box, "expression": 7},
            {"file": "689/a.jpg", **box, "expression": 9},
        ],
        header=False,
    )
    return root


def test_affectnet_csv_release_rows_carry_the_face_box(affectnet_csv):
    result = load_source("affectnet", affectnet_csv)
    m = result.manifest
    validate_manifest(m)
    assert list(m["sample_id"]) == [
        "affectnet:Manually_Annotated_Images/689/a.jpg#0@20,10,48,48",
        "affectnet:Manually_Annotated_Images/689/b.jpg#0@20,10,48,48",
        "affectnet:Manually_Annotated_Images/3/e.jpg#0@20,10,48,48",
    ]
    assert m["path"].iat[0].endswith("Manually_Annotated_Images/689/a.jpg")
    assert list(m["emotion"]) == ["happy", "angry", "contempt"]
    assert list(m["original_split"]) == ["train", "train", "test"]  # validation is the test split
    assert m["face_w"].iat[0] == pytest.approx(48.4) and list(m["face_index"]) == [0, 0, 0]
    assert str(m["face_x"].dtype) == "Float64" and str(m["face_index"].dtype) == "Int64"
    reasons = result.skipped["reason"].tolist()
    assert sum("expression 8 (none)" in r for r in reasons) == 1
    assert sum("expression 9 (uncertain)" in r for r in reasons) == 1
    assert sum("expression 10 (no-face)" in r for r in reasons) == 1
    assert "image file is missing" in _reasons(result.skipped)["missing.jpg"]
    assert any("width and height > 0" in r for r in reasons)


def test_affectnet_rows_are_cropped_from_the_given_box(affectnet_csv, tmp_path):
    m = load_source("affectnet", affectnet_csv).manifest
    prepared = images.prepare(m, cache_dir=tmp_path / "cache", workers=1)
    assert prepared.failures.empty and prepared.pixels.shape == (3, 48, 48)


def test_affectnet_per_image_release(tmp_path):
    root = tmp_path / "AffectNet"
    write_affectnet_exp(root / "train_set", "1", "3", "surprise")  # stored as text, as released
    write_affectnet_exp(root / "train_set", "2", np.int64(0), "neutral")
    write_affectnet_exp(root / "train_set", "3", "10")
    write_affectnet_exp(root / "val_set", "4", "6", "angry")
    write_face(root / "val_set" / "images" / "5.jpg")  # no annotation
    result = load_source("affectnet", root)
    m = result.manifest
    assert list(m["sample_id"]) == [
        "affectnet:train_set/images/1.jpg",
        "affectnet:train_set/images/2.jpg",
        "affectnet:val_set/images/4.jpg",
    ]
    assert list(m["emotion"]) == ["surprise", "neutral", "angry"]
    assert list(m["original_split"]) == ["train", "train", "test"]
    reasons = _reasons(result.skipped)
    assert "expression 10 (no-face)" in reasons["3.jpg"]
    assert "no annotation file 5_exp.npy" in reasons["5.jpg"]
    one_set = load_source("affectnet", root / "val_set").manifest
    assert list(one_set["sample_id"]) == ["affectnet:val_set/images/4.jpg"]


def test_affectnet_refuses_another_layout_naming_both(tmp_path):
    write_face(tmp_path / "x" / "face.jpg")
    with pytest.raises(FileNotFoundError, match=r"Manually_Annotated_file_lists.*_exp.npy"):
        load_source("affectnet", tmp_path / "x")


@pytest.fixture
def expw(tmp_path):
    """ExpW's data/ folder: a photo with two faces, a repeated line, a bad code, an empty box, a
    photo missing on disk and one that no line names."""
    data = tmp_path / "ExpW" / "data"
    write_photo(data / "image" / "origin" / "angry_actor_1.jpg", [(10, 20), (90, 30)])
    write_photo(data / "image" / "origin" / "happy_girl_2.jpg", [(40, 40)])
    write_photo(data / "image" / "origin" / "unlisted.jpg", [(0, 0)])
    (data / "label").mkdir(parents=True)
    (data / "label" / "label.lst").write_text(
        "angry_actor_1.jpg 0 20 10 58 68 71.4 0\n"
        "angry_actor_1.jpg 1 30 90 138 78 52.0 6\n"
        "angry_actor_1.jpg 1 30 90 138 78 52.0 6\n"
        "happy_girl_2.jpg 0 40 40 88 88 60.1 9\n"
        "happy_girl_2.jpg 0 40 40 88 88 60.1 3\n"
        "happy_girl_2.jpg 1 40 40 40 88 60.1 3\n"
        "gone.jpg 0 1 1 50 50 3.0 4\n"
        "short line\n"
    )
    return data


def test_expw_one_row_per_face_cut_from_its_box(expw):
    result = load_source("expw", expw.parent)
    m = result.manifest
    validate_manifest(m)
    assert list(m["sample_id"]) == [
        "expw:image/origin/angry_actor_1.jpg#0@10,20,48,48",
        "expw:image/origin/angry_actor_1.jpg#1@90,30,48,48",
        "expw:image/origin/happy_girl_2.jpg#0@40,40,48,48",
    ]
    assert m["path"].iat[0] == m["path"].iat[1]  # two faces, one photo
    assert list(m["emotion"]) == ["angry", "neutral", "happy"]
    assert list(m["face_index"]) == [0, 1, 0]
    assert list(m["face_x"]) == [10, 90, 40] and list(m["face_h"]) == [48, 48, 48]
    assert m["original_split"].isna().all() and set(m["gender"]) == {"unknown"}
    reasons = result.skipped["reason"].tolist()
    assert any("line 3: repeats line 2" in r for r in reasons)
    assert any("line 4: expression '9'" in r for r in reasons)
    assert any("line 6: face box" in r for r in reasons)
    assert any("line 8: 2 fields; expected 8" in r for r in reasons)
    named = _reasons(result.skipped)
    assert "image file is missing" in named["gone.jpg"]
    assert "no face of this image is listed" in named["unlisted.jpg"]
    assert load_source("expw", expw).manifest.equals(m)


def test_expw_faces_of_one_photo_are_prepared_from_their_own_boxes(expw, tmp_path):
    m = load_source("expw", expw).manifest
    prepared = images.prepare(m, cache_dir=tmp_path / "cache", workers=1)
    assert prepared.failures.empty and list(prepared.sample_ids) == list(m["sample_id"])
    first, second = prepared.pixels[:2].astype(float)
    assert np.abs(first - second).mean() > 5  # two faces, two crops of one photo


def test_labels_files_keep_the_faces_of_one_photo_apart(expw, tmp_path):
    result = load_source("expw", expw)
    files = result.manifest["sample_id"].str.split(":", n=1).str[1]
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"file": files[:2], "gender": ["female", "male"]}).to_csv(labels, index=False)
    m = join_labels(result, labels).manifest
    assert list(m["gender"]) == ["female", "male", "unknown"]
    assert list(m["gender_source"][:2]) == ["labels:labels", "labels:labels"]


def test_expw_missing_label_file_names_the_layout(tmp_path):
    write_photo(tmp_path / "image" / "origin" / "a.jpg", [(0, 0)])
    with pytest.raises(FileNotFoundError, match=r"label.lst does not exist; expected label/"):
        load_source("expw", tmp_path)


def _save_png(array: np.ndarray, path, level: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # PNG bytes under FairFace's .jpg names: Pillow sniffs
        Image.fromarray(array).save(handle, format="PNG", compress_level=level)


@pytest.fixture
def fairface(tmp_path):
    """Labels beside fairface-img-margin025-trainval/: val/2.jpg repeats train/1.jpg's pixels
    with other bytes, val/3.jpg is a byte copy of train/2.jpg, val/4.jpg is new."""
    root = tmp_path / "fairface"
    images = root / "fairface-img-margin025-trainval"
    faces = [write_face(images / "train" / f"{i}.jpg", "happy", i) for i in (1, 2)]
    first = np.asarray(Image.open(faces[0]).convert("L"))
    _save_png(first, images / "val" / "2.jpg", level=9)
    (images / "val" / "3.jpg").write_bytes(faces[1].read_bytes())
    write_face(images / "val" / "4.jpg", "sad", 40)
    write_fairface_csv(
        root / "fairface_label_train.csv",
        [("train/1.jpg", "20-29", "Male", "East Asian"), ("train/2.jpg", "3-9", "Female", "Black")],
    )
    write_fairface_csv(
        root / "fairface_label_val.csv",
        [
            ("val/2.jpg", "20-29", "Male", "East Asian"),
            ("val/3.jpg", "3-9", "Female", "Black"),
            ("val/4.jpg", "more than 70", "Female", "Latino_Hispanic"),
            ("val/5.jpg", "30-39", "Male", "White"),
        ],
    )
    return root


def test_fairface_drops_val_copies_of_train_images(fairface):
    result = load_source("fairface", fairface, workers=1)
    m = result.manifest
    validate_manifest(m)
    assert list(m["sample_id"]) == [
        "fairface:fairface-img-margin025-trainval/train/1.jpg",
        "fairface:fairface-img-margin025-trainval/train/2.jpg",
        "fairface:fairface-img-margin025-trainval/val/4.jpg",
    ]
    assert list(m["gender"]) == ["male", "female", "female"]
    assert set(m["gender_source"]) == {"annotation"} and m["emotion"].isna().all()
    assert list(m["race"]) == ["east_asian", "black", "latino_hispanic"]
    assert list(m["age_band"]) == ["20-29", "3-9", "70+"]
    assert list(m["original_split"]) == ["train", "train", "val"]
    reasons = _reasons(result.skipped)
    assert "exact pixel copy of train image" in reasons["2.jpg"]
    assert "train/1.jpg" in reasons["2.jpg"] and "train/2.jpg" in reasons["3.jpg"]
    assert "image file is missing" in reasons["5.jpg"]
    kept = load_source("fairface", fairface, drop_duplicates=False).manifest
    assert len(kept) == 5


def test_fairface_images_beside_the_labels_and_bad_layouts(fairface, tmp_path):
    (fairface / "fairface-img-margin025-trainval").rename(fairface / "unpacked")
    with pytest.raises(FileNotFoundError, match=r"no train/ or val/ images .*margin025"):
        load_source("fairface", fairface)
    for split in ("train", "val"):
        (fairface / "unpacked" / split).rename(fairface / split)
    assert len(load_source("fairface", fairface, workers=1).manifest) == 3
    with pytest.raises(ValueError, match=r"padding=0.5; expected one of \[0.25, 1.25\]"):
        load_source("fairface", fairface, padding=0.5)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no .*fairface_label_train\.csv"):
        load_source("fairface", tmp_path / "empty")


def test_below_age_reads_bands():
    bands = pd.Series(["0-2", "3-9", "10-19", "70+", None], dtype="string")
    assert below_age(bands, 13).tolist() == [True, True, False, False, False]
