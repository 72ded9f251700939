"""RAF-DB, KDEF and RaFD sources on fixture trees written in their published layouts."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from released_layouts import (
    kdef_name,
    write_face,
    write_kdef_image,
    write_rafdb_attributes,
    write_rafdb_image,
)

from ferbias.data.schema import validate_manifest
from ferbias.data.sources import is_face_cropped, load_source


def _reasons(skipped: pd.DataFrame) -> dict[str, str]:
    """file name (or label-file line) -> reason."""
    names = skipped["path"].str.rsplit("/", n=1).str[1]
    return dict(zip(names, skipped["reason"], strict=True))


@pytest.fixture
def rafdb(tmp_path):
    """A RAF-DB release: the sic label file with a blank line and a bad line, attribute files with
    blank lines, an unsure gender, a listed image missing, an image not listed."""
    basic = tmp_path / "RAF-DB" / "basic"
    faces = [  # name, emotion, gender code, race code, age code
        ("train_00001.jpg", "surprise", "1", "2", "2"),
        ("train_00002.jpg", "angry", "0", "0", "3"),
        ("train_00003.jpg", "neutral", "2", "1", "4"),
        ("test_0001.jpg", "sad", "1", "0", "1"),
    ]
    for i, (name, emotion, gender, race, age) in enumerate(faces):
        write_rafdb_image(basic, name, emotion, i)
        stem = name.removesuffix(".jpg")
        write_rafdb_attributes(
            basic / "Annotation/manual" / f"{stem}_manu_attri.txt", gender, race, age
        )
    write_rafdb_image(basic, "train_00009.jpg", "happy", 9)  # on disk, not listed
    (basic / "EmoLabel").mkdir(parents=True)
    (basic / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 1\n\ntrain_00002.jpg 6\ntrain_00003.jpg 7\ntest_0001.jpg 5\n"
        "train_00004.jpg 4\ntrain_00005.jpg 9\n"
    )
    return basic.parent


def test_rafdb_reads_the_release_with_its_annotations(rafdb):
    result = load_source("rafdb", rafdb)
    m = result.manifest.set_index("sample_id")
    validate_manifest(result.manifest)
    assert list(m.index) == [
        "rafdb:Image/original/train_00001.jpg",
        "rafdb:Image/original/train_00002.jpg",
        "rafdb:Image/original/train_00003.jpg",
        "rafdb:Image/original/test_0001.jpg",
    ]
    assert list(m["emotion"]) == ["surprise", "angry", "neutral", "sad"]
    assert list(m["gender"]) == ["female", "male", "unknown", "female"]  # 2 = unsure
    assert set(m["gender_source"]) == {"annotation"}
    assert list(m["race"]) == ["asian", "caucasian", "african-american", "caucasian"]
    assert list(m["age_band"]) == ["20-39", "40-69", "70+", "4-19"]
    assert list(m["original_split"]) == ["train", "train", "train", "test"]
    assert m["subject_id"].isna().all()
    reasons = _reasons(result.skipped)
    assert "image file is missing" in reasons["train_00004.jpg"]
    assert "not listed in list_patition_label.txt" in reasons["train_00009.jpg"]
    assert "emotion code '9'" in reasons["list_patition_label.txt:7"]
    assert not is_face_cropped("rafdb")


def test_rafdb_inner_basic_folder_gives_the_same_rows(rafdb):
    outer = load_source("rafdb", rafdb).manifest
    inner = load_source("rafdb", rafdb / "basic").manifest
    pd.testing.assert_frame_equal(outer, inner)


def test_rafdb_aligned_reads_the_aligned_crops_without_detection(rafdb):
    m = load_source("rafdb-aligned", rafdb).manifest
    assert m["sample_id"].iat[0] == "rafdb-aligned:Image/aligned/train_00001_aligned.jpg"
    assert m["path"].iat[0].endswith("basic/Image/aligned/train_00001_aligned.jpg")
    assert is_face_cropped("rafdb-aligned")
    assert list(m["gender"]) == ["female", "male", "unknown", "female"]


def test_rafdb_unusable_attribute_files_keep_the_row_with_unknown_gender(rafdb, caplog):
    manual = rafdb / "basic" / "Annotation" / "manual"
    (manual / "train_00001_manu_attri.txt").unlink()
    (manual / "train_00002_manu_attri.txt").write_text("1 2\n\n3 4\n5\n")
    with caplog.at_level(logging.WARNING):
        m = load_source("rafdb", rafdb).manifest
    assert list(m["gender"][:2]) == ["unknown", "unknown"]
    assert m["gender_source"][:2].isna().all() and m["race"][:2].isna().all()
    assert "2 image(s) without usable demographics" in caplog.text


def test_rafdb_accepts_the_readme_spelling_and_refuses_other_layouts(rafdb, tmp_path):
    label = rafdb / "basic" / "EmoLabel" / "list_patition_label.txt"
    label.rename(label.with_name("list_partition_label.txt"))
    assert len(load_source("rafdb", rafdb).manifest) == 4
    kdef = tmp_path / "KDEF_and_AKDEF"
    write_kdef_image(kdef, "AF01AFS.JPG", "fear", 0)
    with pytest.raises(FileNotFoundError, match=r"no EmoLabel/list_patition_label.txt .*expected"):
        load_source("rafdb", kdef)


@pytest.fixture
def kdef(tmp_path):
    """KDEF_and_AKDEF with both sessions of one woman and one man, several angles, lower-case and
    mixed-case names, a misplaced file, a bad name and the AKDEF averages."""
    release = tmp_path / "KDEF_and_AKDEF"
    names = [
        ("AF01AFS.JPG", "fear"),
        ("AF01HAHL.JPG", "happy"),
        ("BF01HAS.JPG", "happy"),
        ("AM02NES.JPG", "neutral"),
        ("am02sas.jpg", "sad"),
        ("BM02SUfr.JPG", "surprise"),
    ]
    for i, (name, emotion) in enumerate(names):
        write_kdef_image(release, name, emotion, i)
    write_face(release / "KDEF" / "AM02" / "AF01DIS.JPG", "happy", 7)  # in the wrong folder
    write_face(release / "KDEF" / "BF01" / "BF01XXS.JPG", "happy", 8)
    write_face(release / "AKDEF" / "FHAS.JPG", "happy", 9)
    write_face(release / "AKDEF" / "MANHL.JPG", "angry", 10)
    return release


def test_kdef_frontal_by_default_with_subjects_across_sessions(kdef):
    result = load_source("kdef", kdef)
    m = result.manifest
    validate_manifest(m)
    assert list(m["sample_id"]) == [
        "kdef:KDEF/AF01/AF01AFS.JPG",
        "kdef:KDEF/AM02/AM02NES.JPG",
        "kdef:KDEF/AM02/am02sas.jpg",
        "kdef:KDEF/BF01/BF01HAS.JPG",
    ]
    assert list(m["emotion"]) == ["fear", "neutral", "sad", "happy"]
    assert list(m["subject_id"]) == ["F01", "M02", "M02", "F01"]  # sessions A and B: one person
    assert list(m["gender"]) == ["female", "male", "male", "female"]
    assert set(m["gender_source"]) == {"filename"}
    reasons = _reasons(result.skipped)
    assert "angle 'HL' not selected" in reasons["AF01HAHL.JPG"]
    assert "angle 'FR' not selected" in reasons["BM02SUfr.JPG"]
    assert "says person 'AF01' but the file is in folder 'AM02'" in reasons["AF01DIS.JPG"]
    assert "unknown expression code 'XX'" in reasons["BF01XXS.JPG"]
    assert "akdef=True" in reasons["FHAS.JPG"]


def test_kdef_angles_and_akdef_options(kdef):
    every = load_source("kdef", kdef / "KDEF", angles="all").manifest
    assert len(every) == 6 and "kdef:KDEF/BM02/BM02SUfr.JPG" in set(every["sample_id"])
    with_akdef = load_source("kdef", kdef, angles=["S", "HL"], akdef=True).manifest
    akdef = with_akdef[with_akdef["subject_id"].str.startswith("AKDEF")]
    assert list(akdef["sample_id"]) == ["kdef:AKDEF/FHAS.JPG", "kdef:AKDEF/MANHL.JPG"]
    assert list(akdef["gender"]) == ["female", "male"]
    with pytest.raises(ValueError, match=r"angles=\['Q'\]; expected 'all' or a list"):
        load_source("kdef", kdef, angles=["Q"])


def test_kdef_refuses_a_folder_without_person_folders(tmp_path):
    write_face(tmp_path / "photos" / "face.jpg")
    with pytest.raises(FileNotFoundError, match=r"neither KDEF/ nor person folders .*AF01ANS"):
        load_source("kdef", tmp_path / "photos")


def test_kdef_name_helper_matches_the_release():
    assert kdef_name("A", "F", 1, "angry") == "AF01ANS.JPG"


RAFD_NAMES = [
    "Rafd090_01_Caucasian_female_angry_frontal.jpg",
    "Rafd090_02_Caucasian_male_contemptuous_frontal.jpg",
    "Rafd090_73_Moroccan_male_surprised_frontal.jpg",  # ids are not contiguous
    "Rafd090_41_Kid_female_fearful_frontal.jpg",
    "Rafd090_01_Caucasian_female_happy_left.jpg",
    "Rafd045_01_Caucasian_female_sad_frontal.jpg",
    "Rafd090_05_Martian_male_sad_frontal.jpg",
    "portrait.jpg",
]


@pytest.fixture
def rafd(tmp_path):
    root = tmp_path / "RaFD"
    for i, name in enumerate(RAFD_NAMES):
        write_face(root / ("side" if name.startswith("Rafd045") else ".") / name, "happy", i)
    return root


def test_rafd_frontal_camera_and_gaze_by_default(rafd):
    result = load_source("rafd", rafd)
    m = result.manifest
    validate_manifest(m)
    assert list(m["subject_id"]) == ["01", "02", "41", "73"]
    assert list(m["emotion"]) == ["angry", "contempt", "fear", "surprise"]
    assert list(m["gender"]) == ["female", "male", "female", "male"]
    assert list(m["race"]) == ["caucasian", "caucasian", "caucasian", "moroccan"]
    assert list(m["age_band"]) == ["adult", "adult", "child", "adult"]
    reasons = _reasons(result.skipped)
    assert "gaze 'left' not selected" in reasons["Rafd090_01_Caucasian_female_happy_left.jpg"]
    assert "angle '045' not selected" in reasons["Rafd045_01_Caucasian_female_sad_frontal.jpg"]
    assert "unknown ethnicity 'martian'" in reasons["Rafd090_05_Martian_male_sad_frontal.jpg"]
    assert "does not match Rafd<angle>" in reasons["portrait.jpg"]


def test_rafd_angle_and_gaze_options(rafd):
    m = load_source("rafd", rafd, angles="all", gazes="all").manifest
    assert len(m) == 6
    assert "rafd:side/Rafd045_01_Caucasian_female_sad_frontal.jpg" in set(m["sample_id"])
    assert len(load_source("rafd", rafd, angles=[90, 45]).manifest) == 5
    with pytest.raises(ValueError, match=r"gazes='up'; expected 'all' or a list"):
        load_source("rafd", rafd, gazes="up")


def test_rafd_folder_without_rafd_names_names_the_layout(tmp_path):
    write_face(tmp_path / "other" / "face.jpg")
    with pytest.raises(ValueError, match=r"holds no images; expected Rafd<angle>_<id>"):
        load_source("rafd", tmp_path / "other")
