"""Unit tests for the CK+48, JAFFE, CFD, UTKFace, CelebA and trainingdata-fer sources."""

from __future__ import annotations

import pandas as pd
import pytest
from test_sources import write_image

from ferbias.data.sources import load_source
from ferbias.data.sources.cfd import parse_cfd_name
from ferbias.data.sources.utkface import duplicate_groups


def test_ckplus48_folders_and_subjects(tmp_path):
    root = tmp_path / "ckplus48" / "CK+48"
    write_image(root / "anger" / "S010_004_00000017.png")
    write_image(root / "sadness" / "S011_002_00000009.png")
    write_image(root / "sadness" / "frame.png")
    result = load_source("ckplus48", tmp_path / "ckplus48")
    m = result.manifest
    assert list(m["emotion"]) == ["angry", "sad"]
    assert list(m["subject_id"]) == ["S010", "S011"]
    assert m["sample_id"].iat[0] == "ckplus48:anger/S010_004_00000017.png"
    assert "does not match S<subject>" in result.skipped["reason"].iat[0]
    write_image(root / "neutral" / "S012_001_00000001.png")
    with pytest.raises(ValueError, match=r"unknown emotion folder .*neutral.*'anger'"):
        load_source("ckplus48", root)


def test_ckplus48_empty_folder(tmp_path):
    (tmp_path / "CK+48").mkdir()
    with pytest.raises(ValueError, match=r"CK\+48 is empty or holds no images; expected CK\+48/"):
        load_source("ckplus48", tmp_path)


def test_jaffe_codes(tmp_path):
    base = tmp_path / "jaffedbase"
    names = ["KA.AN1.39.tiff", "KL.SU2.3.tiff", "NM.NE1.90.tiff", "YM.XX1.1.tiff", "README.txt"]
    for name in names[:4]:
        write_image(base / name)
    (base / names[4]).write_text("x")
    result = load_source("jaffe", tmp_path)
    m = result.manifest
    assert list(m["emotion"]) == ["angry", "surprise", "neutral"]
    assert list(m["subject_id"]) == ["KA", "KL", "NM"]
    assert set(m["gender"]) == {"female"} and set(m["gender_source"]) == {"dataset"}
    reasons = dict(
        zip(
            result.skipped["path"].str.rsplit("/", n=1).str[1],
            result.skipped["reason"],
            strict=True,
        )
    )
    assert "unknown expression code 'XX'" in reasons["YM.XX1.1.tiff"]
    assert "not an image" in reasons["README.txt"]


def test_cfd_name_parsing():
    assert parse_cfd_name("CFD-WF-022-017-HO.jpg") == {
        "race": "white",
        "gender": "female",
        "subject_id": "WF-022",
        "emotion": "happy",
    }
    assert parse_cfd_name("CFD-IM-601-1-N.jpg")["race"] == "indian"
    assert parse_cfd_name("CFD-BM-010-001-F.jpg")["emotion"] == "fear"
    assert "unknown expression code 'Q'" in parse_cfd_name("CFD-BM-010-001-Q.jpg")
    assert "unknown race code 'Z'" in parse_cfd_name("CFD-ZM-010-001-A.jpg")
    assert "does not match" in parse_cfd_name("face.jpg")


def test_cfd_folder_disagreement_is_reported(tmp_path):
    write_image(tmp_path / "female" / "CFD-AF-202-122-N.jpg")
    write_image(tmp_path / "male" / "CFD-BM-001-010-A.jpg")
    write_image(tmp_path / "male" / "CFD-WF-003-010-HC.jpg")
    result = load_source("cfd", tmp_path)
    m = result.manifest
    assert list(m["gender"]) == ["female", "male"] and list(m["emotion"]) == ["neutral", "angry"]
    assert list(m["subject_id"]) == ["AF-202", "BM-001"]
    assert (
        "says gender 'female' but the file is in folder 'male'" in result.skipped["reason"].iat[0]
    )
    with pytest.raises(FileNotFoundError, match="neither female/ nor male/"):
        load_source("cfd", tmp_path / "female")


def test_utkface_malformed_names_counted(tmp_path):
    root = tmp_path / "crop_part1"
    good = ["25_1_2_20170116174525125.jpg.chip.jpg", "61_0_0_20170104183019385.jpg.chip.jpg"]
    bad = ["61_1_20170109142408075.jpg.chip.jpg", "x.jpg"]
    for name in good + bad:
        write_image(root / name)
    result = load_source("utkface", tmp_path)
    m = result.manifest
    assert list(m["gender"]) == ["female", "male"] and list(m["age"]) == [25, 61]
    assert list(m["race"]) == ["asian", "white"] and m["emotion"].isna().all()
    assert len(result.skipped) == 2 and result.skipped["reason"].str.contains("malformed").all()
    assert len(load_source("utkface", tmp_path, min_age=30).manifest) == 1


def test_utkface_duplicate_groups(tmp_path):
    (tmp_path / "crop_part1_md5_duplicate_groups.tsv").write_text(
        "md5\tn_files\tfiles\tgender_conflict\nabc\t2\ta.jpg,b.jpg\tyes\n"
    )
    groups = duplicate_groups(tmp_path)
    assert list(groups["file"]) == ["a.jpg", "b.jpg"] and groups["gender_conflict"].all()


def test_celeba_csv_index_and_unlisted_files(tmp_path):
    images = tmp_path / "Dataset" / "Images"
    for name in ["000051.jpg", "162773.jpg", "182793.jpg", "182793(1).jpg"]:
        write_image(images / name)
    pd.DataFrame({"Filename": ["000051.jpg"], "Male": [1], "Partition": [0]}).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame(
        {"Filename": ["162773.jpg", "999999.jpg"], "Male": [0, 1], "Partition": [1, 1]}
    ).to_csv(tmp_path / "validation.csv", index=False)
    pd.DataFrame({"Filename": ["182793.jpg"], "Male": [0], "Partition": [2]}).to_csv(
        tmp_path / "test.csv", index=False
    )
    result = load_source("celeba", tmp_path)
    m = result.manifest
    assert list(m["original_split"]) == ["train", "val", "test"]
    assert list(m["gender"]) == ["male", "female", "female"]
    skipped = dict(
        zip(
            result.skipped["path"].str.rsplit("/", n=1).str[1],
            result.skipped["reason"],
            strict=True,
        )
    )
    assert "missing" in skipped["999999.jpg"] and "not listed" in skipped["182793(1).jpg"]


def write_sets_csv(path):
    path.write_text("set_id;gender;age;country\n0;FEMALE;36;RU\n3;MALE;29;RU\n")
    return path


def test_trainingdata_fer_with_synthetic_images(tmp_path):
    write_sets_csv(tmp_path / "facial-emotion-recognition-dataset.csv")
    for set_id, emotion in [("0", "Anger"), ("0", "Surprised"), ("3", "Contempt"), ("3", "Smile")]:
        write_image(tmp_path / "images" / set_id / f"{emotion}.jpg")
    write_image(tmp_path / "images" / "7" / "Happy.png")
    result = load_source("trainingdata-fer", tmp_path)
    m = result.manifest.set_index("sample_id")
    assert m.loc["trainingdata-fer:images/0/Surprised.jpg", "emotion"] == "surprise"
    assert m.loc["trainingdata-fer:images/3/Contempt.jpg", "gender"] == "male"
    assert m.loc["trainingdata-fer:images/0/Anger.jpg", "age"] == 36
    assert m.loc["trainingdata-fer:images/7/Happy.png", "gender"] == "unknown"
    assert "'Smile' is not one of" in result.skipped["reason"].iat[0]


def test_trainingdata_fer_without_images_says_so(tmp_path):
    write_sets_csv(tmp_path / "sets.csv")
    with pytest.raises(FileNotFoundError, match=r"no images/ folder in .*holds the CSV only"):
        load_source("trainingdata-fer", tmp_path)
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no CSV"):
        load_source("trainingdata-fer", empty)
