"""Real-data tests: every source reads its shared folder and gives the counts of its SOURCE.md."""

from __future__ import annotations

import shutil

import pytest
from test_sources import write_image

from ferbias.data.schema import validate_manifest
from ferbias.data.sources import ferplus, load_source
from ferbias.data.sources.utkface import duplicate_groups

pytestmark = pytest.mark.realdata

FER_TRAIN = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "neutral": 4965,
    "sad": 4830,
    "surprise": 3171,
}
FER_TOTAL = {
    "angry": 4953,
    "disgust": 547,
    "fear": 5121,
    "happy": 8989,
    "neutral": 6198,
    "sad": 6077,
    "surprise": 4002,
}


def test_fer2013_folder_counts(data_root):
    result = load_source("fer2013", data_root / "fer2013")
    m = result.manifest
    validate_manifest(m)
    assert len(m) == 35887 and result.skipped.empty
    train = m[m["original_split"] == "train"]
    assert len(train) == 28709 and train["emotion"].value_counts().to_dict() == FER_TRAIN
    assert m["emotion"].value_counts().to_dict() == FER_TOTAL
    assert m["usage"].value_counts().to_dict() == {
        "Training": 28709,
        "PublicTest": 3589,
        "PrivateTest": 3589,
    }
    names = m["sample_id"].str.rsplit("/", n=1).str[1]
    assert names.nunique() == 35887 - 2  # two names sit in two emotion folders each


def test_folder_files_map_to_csv_rows_of_their_own_usage(data_root):
    """fer2013new.csv follows fer2013.csv's row order: a file's row lies in its Usage block."""
    folder = data_root / "fer2013" / "ferplus"
    votes = ferplus.read_votes(folder / ferplus.VOTE_FILE)
    assert votes["Usage"].value_counts().to_dict() == {
        "Training": 28709,
        "PublicTest": 3589,
        "PrivateTest": 3589,
    }
    starts = votes["Usage"].ne(votes["Usage"].shift())  # contiguous blocks, fer2013.csv's order
    assert votes["Usage"][starts].tolist() == ["Training", "PublicTest", "PrivateTest"]
    rows = ferplus.folder_to_csv_rows(votes, folder)
    assert (
        len(rows) == 32353 and rows.is_unique
    )  # 32,355 mapped, less 2 whose FER+ name 2 rows carry
    usage = votes["Usage"].to_numpy()[rows.to_numpy()]
    prefix = rows.index.str.rsplit("/", n=1).str[1].str.split("_").str[0]
    assert (usage == prefix).all()


def test_fer2013_ferplus_labels(data_root):
    result = load_source("fer2013", data_root / "fer2013", labels="ferplus")
    assert len(result.manifest) + len(result.skipped) == 35887
    assert result.skipped["reason"].str.contains("no one-to-one FER\\+ image").sum() == 3532
    assert set(result.manifest["emotion"]) <= {
        "angry",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
        "surprise",
        "contempt",
    }


def test_ckplus48_counts(data_root):
    m = load_source("ckplus48", data_root / "ckplus48").manifest
    assert len(m) == 981 and m["subject_id"].nunique() == 118
    assert m["emotion"].value_counts().to_dict() == {
        "surprise": 249,
        "happy": 207,
        "disgust": 177,
        "angry": 135,
        "sad": 84,
        "fear": 75,
        "contempt": 54,
    }


def test_jaffe_counts(data_root):
    m = load_source("jaffe", data_root / "jaffe").manifest
    assert len(m) == 213 and set(m["gender"]) == {"female"} and m["subject_id"].nunique() == 10
    assert m.groupby("subject_id").size()["KA"] == 23


def test_cfd_counts(data_root):
    result = load_source("cfd", data_root / "cfd_subset")
    m = result.manifest
    assert len(m) == 312 and result.skipped.empty
    assert m["gender"].value_counts().to_dict() == {"female": 161, "male": 151}
    assert m["emotion"].value_counts().to_dict() == {
        "neutral": 180,
        "happy": 71,
        "angry": 34,
        "fear": 27,
    }
    assert m["subject_id"].is_unique


def test_utkface_counts(data_root):
    result = load_source("utkface", data_root / "utkface")
    m = result.manifest
    assert len(m) == 9778 and len(result.skipped) == 2
    assert m["gender"].value_counts().to_dict() == {"female": 5406, "male": 4372}
    skipped = set(result.skipped["path"].str.rsplit("/", n=1).str[1])
    assert skipped == {"61_1_20170109142408075.jpg.chip.jpg", "61_3_20170109150557335.jpg.chip.jpg"}
    groups = duplicate_groups(data_root / "utkface")
    assert len(groups) == 206 and groups["group"].nunique() == 100
    assert groups.loc[groups["gender_conflict"], "group"].nunique() == 14


def test_celeba_counts(data_root):
    result = load_source("celeba", data_root / "celeba_gender5k")
    m = result.manifest
    assert len(m) == 5000 and len(result.skipped) == 17
    assert m["gender"].value_counts().to_dict() == {"female": 2953, "male": 2047}
    assert m["original_split"].value_counts().to_dict() == {"train": 4024, "test": 496, "val": 480}


def test_trainingdata_fer_real_csv(data_root, tmp_path):
    folder = data_root / "tapakah68_facial_emotion_recognition"
    with pytest.raises(FileNotFoundError, match="no images/ folder"):
        load_source("trainingdata-fer", folder)
    shutil.copy(folder / "facial-emotion-recognition-dataset.csv", tmp_path)
    for set_id in range(19):
        write_image(tmp_path / "images" / str(set_id) / "Happy.jpg", seed=set_id)
    m = load_source("trainingdata-fer", tmp_path).manifest
    assert m["gender"].value_counts().to_dict() == {"female": 14, "male": 5}
    assert m["subject_id"].nunique() == 19 and m.set_index("subject_id").loc["11", "age"] == 15
