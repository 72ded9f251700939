"""Unit tests for the generic manifest source and the labels join."""

from __future__ import annotations

import pandas as pd
import pytest
from test_sources import make_fer_folder, write_image

from ferbias.data.sources import join_labels, load_source


def write_manifest_images(root):
    for i, name in enumerate(["a.png", "b.png", "sub/c.png"]):
        write_image(root / name, seed=i)


def manifest_frame(root):
    return pd.DataFrame(
        {
            "path": ["a.png", "b.png", str(root / "sub" / "c.png"), "gone.png"],
            "emotion": ["anger", "Happy", "", "sad"],
            "gender": ["F", "male", "", "female"],
            "subject_id": ["p1", "p2", "", "p4"],
            "split": ["train", "validation", "test", "train"],
            "age": ["30", "", "41", "22"],
        }
    )


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_manifest_csv_and_parquet(tmp_path, suffix):
    write_manifest_images(tmp_path)
    frame, file = manifest_frame(tmp_path), tmp_path / f"my.{suffix}"
    frame.to_csv(file, index=False) if suffix == "csv" else frame.to_parquet(file)
    result = load_source("manifest", file, source="mydata")
    m = result.manifest
    assert list(m["emotion"].fillna("-")) == ["angry", "happy", "-"]
    assert list(m["gender"]) == ["female", "male", "unknown"]
    assert list(m["original_split"]) == ["train", "val", "test"]
    assert m["age"].iat[0] == 30 and pd.isna(m["age"].iat[1])
    assert m["sample_id"].iat[0] == "mydata:a.png" and set(m["source"]) == {"mydata"}
    assert m["path"].iat[0] == str(tmp_path / "a.png")
    assert list(result.skipped["path"]) == [str(tmp_path / "gone.png")]
    assert "row 3" in result.skipped["reason"].iat[0]


def test_manifest_bad_emotion_names_file_row_and_allowed(tmp_path):
    write_manifest_images(tmp_path)
    file = tmp_path / "bad.csv"
    pd.DataFrame({"path": ["a.png", "b.png"], "emotion": ["happy", "joy"]}).to_csv(
        file, index=False
    )
    with pytest.raises(ValueError, match=r"bad.csv, row 1: emotion 'joy' .* allowed: \['angry'"):
        load_source("manifest", file)


def test_manifest_needs_path_column_and_existing_file(tmp_path):
    file = tmp_path / "nopath.csv"
    pd.DataFrame({"emotion": ["happy"]}).to_csv(file, index=False)
    with pytest.raises(ValueError, match="needs a 'path' column"):
        load_source("manifest", file)
    with pytest.raises(FileNotFoundError, match="does not exist; expected a CSV or Parquet"):
        load_source("manifest", tmp_path / "absent.csv")


def fer_result(tmp_path):
    return load_source("fer2013", make_fer_folder(tmp_path / "fer"), gender_labels=None)


def test_labels_annotator_wins_over_automatic_rows(tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "file": ["train/angry/Training_1.jpg"] * 3 + ["test/sad/PublicTest_3.jpg"],
            "sample_id": ["", "", "", ""],
            "gender": ["male", "female", "male", "m"],
            "labeller": ["clf-a", "annotator:ana", "clf-b", "clf-a"],
            "p_female": ["0.1", "", "0.3", "0.05"],
        }
    ).to_csv(labels, index=False)
    result = join_labels(fer_result(tmp_path), labels)
    m = result.manifest.set_index("sample_id")
    first = m.loc["fer2013:train/angry/Training_1.jpg"]
    assert first["gender"] == "female" and first["gender_source"] == "annotator:ana"
    assert pd.isna(first["p_female"])
    second = m.loc["fer2013:test/sad/PublicTest_3.jpg"]
    assert second["gender"] == "male" and second["gender_source"] == "labels:clf-a"
    assert second["p_female"] == pytest.approx(0.05)
    assert result.skipped.empty


def test_labels_by_sample_id_and_unknown_keys_are_reported(tmp_path):
    labels = tmp_path / "by_id.csv"
    pd.DataFrame(
        {
            "sample_id": ["fer2013:test/neutral/PrivateTest_4.jpg", "fer2013:train/x.jpg"],
            "gender": ["female", "male"],
            "gender_source": ["annotator:bo", "labels:x"],
        }
    ).to_csv(labels, index=False)
    result = load_source(
        "labels",
        labels,
        source="fer2013",
        source_path=make_fer_folder(tmp_path / "fer"),
        gender_labels=None,
    )
    m = result.manifest.set_index("sample_id")
    assert m.loc["fer2013:test/neutral/PrivateTest_4.jpg", "gender_source"] == "annotator:bo"
    assert result.skipped.empty  # label rows are not files: one note counts them
    assert result.notes == (
        f"labels file {labels}: 1 of 2 row(s) name no image here, e.g. fer2013:train/x.jpg",
    )


def test_labels_bad_gender_and_missing_key(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"file": ["train/angry/Training_1.jpg"], "gender": ["woman?"]}).to_csv(
        bad, index=False
    )
    with pytest.raises(ValueError, match=r"bad.csv, row 0: gender 'woman\?' is not one of"):
        join_labels(fer_result(tmp_path), bad)
    nokey = tmp_path / "nokey.csv"
    pd.DataFrame({"name": ["x"], "gender": ["female"]}).to_csv(nokey, index=False)
    with pytest.raises(ValueError, match="needs a key column 'file' or 'sample_id'"):
        join_labels(fer_result(tmp_path), nokey)
