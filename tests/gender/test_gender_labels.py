"""Labels files and abstention."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ferbias.gender import decide, labels


def _auto() -> pd.DataFrame:
    return labels.automatic_labels(
        ["a/1.jpg", "a/2.jpg", "b/3.jpg"],
        ["src:a/1.jpg", "src:a/2.jpg", "src:b/3.jpg"],
        np.array(["female", "unknown", "male"]),
        np.array([0.91, 0.55, 0.02]),
        labeller="ensemble",
        version="v1",
    )


def test_labels_round_trip(tmp_path):
    frame = labels.add_hand_label(
        _auto(),
        file="a/2.jpg",
        sample_id="src:a/2.jpg",
        gender="male",
        annotator="ann",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    path = labels.write_labels(tmp_path / "l.csv", frame)
    back = labels.read_labels(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back.loc[3, "labeller"] == "annotator:ann"
    assert back.loc[3, "annotated_at"].startswith("2026-01-01T00:00:00")


def test_compact_file_reads_back(tmp_path):
    path = labels.write_labels(
        tmp_path / "c.csv", _auto(), columns=["file", "sample_id", "gender", "p_female"]
    )
    assert pd.read_csv(path).columns.tolist() == ["file", "sample_id", "gender", "p_female"]
    back = labels.read_labels(path)
    assert back["labeller"].isna().all() and back["p_female"].tolist() == [0.91, 0.55, 0.02]


def test_hand_label_wins_and_undo_restores():
    frame = labels.add_hand_label(
        _auto(), file="a/1.jpg", sample_id="src:a/1.jpg", gender="male", annotator="x"
    )
    resolved = labels.resolve_labels(frame).set_index("file")
    assert resolved.at["a/1.jpg", "gender"] == "male"
    assert resolved.at["a/1.jpg", "p_female"] == 0.91  # automatic p kept
    assert resolved.at["a/1.jpg", "annotator"] == "x"
    undone = labels.resolve_labels(labels.remove_last_hand_label(frame, "a/1.jpg")).set_index(
        "file"
    )
    assert undone.at["a/1.jpg", "gender"] == "female" and pd.isna(undone.at["a/1.jpg", "annotator"])


def test_bad_gender_and_missing_columns_are_refused(tmp_path):
    with pytest.raises(ValueError, match="gender"):
        labels.add_hand_label(_auto(), file="a/1.jpg", sample_id="s", gender="woman", annotator="x")
    with pytest.raises(ValueError, match="annotator"):
        labels.add_hand_label(_auto(), file="a/1.jpg", sample_id="s", gender="male", annotator=" ")
    (tmp_path / "bad.csv").write_text("name,gender\nx,female\n")
    with pytest.raises(ValueError, match="missing column"):
        labels.read_labels(tmp_path / "bad.csv")


def test_decide_abstains_below_tau():
    p = np.array([0.99, 0.8, 0.5, 0.2, 0.01, np.nan])
    assert decide(p, 0.9).tolist() == ["female", "unknown", "unknown", "unknown", "male", "unknown"]
    assert decide(p, 0.5).tolist() == ["female", "female", "unknown", "male", "male", "unknown"]
    with pytest.raises(ValueError, match="threshold"):
        decide(p, 0.3)


def test_labels_join_onto_fer2013_source(tmp_path):
    from PIL import Image

    from ferbias.data.sources import load_source
    from synthetic import synthetic_face

    files = [
        "train/happy/Training_1.jpg",
        "train/sad/Training_2.jpg",
        "test/angry/PublicTest_3.jpg",
    ]
    for i, file in enumerate(files):
        (tmp_path / "fer" / file).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_face(seed=i)).save(tmp_path / "fer" / file)
    auto = labels.automatic_labels(
        files,
        [f"fer2013:{f}" for f in files],
        np.array(["female", "unknown", "male"]),
        np.array([0.95, 0.6, 0.1]),
        labeller="ensemble",
        version="v",
    )
    frame = labels.add_hand_label(
        auto, file=files[1], sample_id=f"fer2013:{files[1]}", gender="female", annotator="ann"
    )
    path = labels.write_labels(tmp_path / "labels.csv", frame)
    manifest = load_source("fer2013", tmp_path / "fer", gender_labels=path).manifest
    joined = manifest.set_index("sample_id")
    assert joined.loc[[f"fer2013:{f}" for f in files], "gender"].tolist() == [
        "female",
        "female",
        "male",
    ]
    assert joined.at[f"fer2013:{files[1]}", "gender_source"] == "annotator:ann"
    assert joined.at[f"fer2013:{files[0]}", "gender_source"] == "labels:ensemble"
    assert joined.at[f"fer2013:{files[2]}", "p_female"] == 0.1


def test_reads_what_the_labels_source_accepts(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("file,gender,p_female\na/1.jpg,F,0.9\na/2.jpg,m,\na/3.jpg,,0.5\n")
    back = labels.read_labels(path)
    assert back["gender"].tolist() == ["female", "male", "unknown"]
    assert back["p_female"].iloc[0] == 0.9 and pd.isna(back["p_female"].iloc[1])
    path.write_text("file,gender,p_female\na/1.jpg,female,1.5\n")
    with pytest.raises(ValueError, match=r"row 0: p_female '1.5'"):
        labels.read_labels(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        labels.read_labels(tmp_path / "missing.csv")
