"""Gender labels keyed by image-folder files reach fer2013.csv rows through FER+'s row order."""

from __future__ import annotations

import pandas as pd
from test_sources import make_fer_folder, votes, write_fer_csv, write_ferplus

from ferbias.data.sources import load_source

# FER+ names are not row numbers: row 0 is fer0000002, row 1 has no image, rows 2 and 3 share one.
FERPLUS_ROWS = [
    ("Training", "fer0000002.png", votes(happiness=9, neutral=1)),
    ("Training", "", votes(NF=10)),
    ("PublicTest", "fer0000007.png", votes(sadness=9, neutral=1)),
    ("PublicTest", "fer0000007.png", votes(sadness=9, neutral=1)),
    ("PrivateTest", "fer0000001.png", votes(neutral=10)),
]
FOLDER_TO_FERPLUS = {
    "train/happy/Training_20.jpg": "fer0000002.png",
    "test/sad/PublicTest_30.jpg": "fer0000007.png",  # ambiguous: two rows carry this name
    "test/neutral/PrivateTest_40.jpg": "fer0000001.png",
    "train/angry/Training_50.jpg": "",  # no one-to-one FER+ image
}
GENDERS = {
    "train/happy/Training_20.jpg": "female",
    "test/sad/PublicTest_30.jpg": "male",
    "test/neutral/PrivateTest_40.jpg": "male",
    "train/angry/Training_50.jpg": "female",
}


def _write_csv_with_ferplus(folder):
    usages = [usage for usage, _, _ in FERPLUS_ROWS]
    csv = write_fer_csv(folder / "fer2013.csv", [(3, usage, 2304) for usage in usages])
    write_ferplus(folder / "ferplus" / "fer2013new.csv", FERPLUS_ROWS)
    join = pd.DataFrame(
        {"file": list(FOLDER_TO_FERPLUS), "ferplus_image": FOLDER_TO_FERPLUS.values()}
    )
    join.to_csv(folder / "ferplus" / "fer2013_folder_to_ferplus.csv", index=False)
    labels = folder / "fer2013_gender.csv"
    pd.DataFrame({"file": list(GENDERS), "gender": GENDERS.values()}).to_csv(labels, index=False)
    return csv, labels


def test_folder_keyed_labels_are_joined_onto_csv_rows(tmp_path):
    csv, labels = _write_csv_with_ferplus(tmp_path)
    result = load_source("fer2013", csv, gender_labels=labels)
    gender = result.manifest.set_index("sample_id")["gender"]
    assert gender["fer2013:fer2013.csv::0"] == "female"  # via fer0000002.png at row 0
    assert gender["fer2013:fer2013.csv::4"] == "male"  # via fer0000001.png at row 4
    assert (gender.drop(["fer2013:fer2013.csv::0", "fer2013:fer2013.csv::4"]) == "unknown").all()
    assert result.skipped.empty
    assert len(result.notes) == 1 and "2 of 4 row(s) name no image here" in result.notes[0]


def test_csv_keyed_labels_join_without_ferplus(tmp_path):
    csv = write_fer_csv(tmp_path / "fer2013.csv", [(3, "Training", 2304)] * 2)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"file": ["fer2013.csv::1"], "gender": ["female"]}).to_csv(labels, index=False)
    result = load_source("fer2013", csv, gender_labels=labels)
    assert list(result.manifest["gender"]) == ["unknown", "female"]
    assert result.notes == ()


def test_without_the_ferplus_files_the_load_says_no_gender_was_joined(tmp_path):
    csv = write_fer_csv(tmp_path / "fer2013.csv", [(3, "Training", 2304)] * 2)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"file": ["train/happy/Training_20.jpg"], "gender": ["female"]}).to_csv(
        labels, index=False
    )
    result = load_source("fer2013", csv, gender_labels=labels)
    assert set(result.manifest["gender"]) == {"unknown"}
    assert len(result.notes) == 1
    assert "names image-folder files" in result.notes[0]
    assert "fer2013new.csv was not found" in result.notes[0]


def test_a_subset_reports_the_label_rows_it_lacks_once(tmp_path):
    root = make_fer_folder(tmp_path / "fer")
    labels = tmp_path / "all.csv"
    files = [f"train/angry/Training_{i}.jpg" for i in range(100, 600)]
    pd.DataFrame({"file": ["test/sad/PublicTest_3.jpg", *files], "gender": "male"}).to_csv(
        labels, index=False
    )
    result = load_source("fer2013", root, gender_labels=labels)
    assert result.skipped.empty
    assert len(result.notes) == 1
    assert (
        "500 of 501 row(s) name no image here, e.g. train/angry/Training_100.jpg"
        in (result.notes[0])
    )
