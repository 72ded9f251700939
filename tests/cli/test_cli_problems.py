"""`ferbias data summary` and `prepare` name odd files by reason, once, and save the full list."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferbias.cli import app
from synthetic import synthetic_face

runner = CliRunner()
WIDE = {"COLUMNS": "220"}


@pytest.fixture
def odd_fer(tmp_path, monkeypatch):
    """A FER-2013 folder subset: 4 good images, 12 undecodable ones, a link loop, a '::' name."""
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "fer" / "test" / "happy"
    folder.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(synthetic_face(48, seed=i)).save(folder / f"PublicTest_{i}.jpg")
    for i in range(12):
        (folder / f"PublicTest_bad{i}.jpg").write_bytes(b"not a jpeg")
    os.symlink(folder / "loop.jpg", folder / "loop.jpg")
    (folder / "PublicTest_a::b.jpg").write_bytes((folder / "PublicTest_0.jpg").read_bytes())
    return tmp_path / "fer"


def test_summary_of_a_subset_names_each_reason_once_and_saves_the_full_list(odd_fer):
    result = runner.invoke(app, ["data", "summary", "fer2013", "--path", str(odd_fer)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) < 80  # it printed ~71,000 lines before
    assert "│ subjects " in result.output and "no subject ids" in result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: labels file")]
    assert len(notes) == 1 and "35,887 of 35,887 row(s) name no image here" in notes[0]
    reasons = [line for line in result.output.splitlines() if "cannot decode image" in line]
    assert len(reasons) == 1 and "│    12 │" in reasons[0]
    assert "PublicTest_bad0.jpg" in reasons[0]  # an example
    assert "symbolic link loop" in result.output and "name contains '::'" in result.output
    listed = [line for line in result.output.splitlines() if line.startswith("full list of the")]
    assert listed == [listed[0]] and "14 files: " in listed[0]
    table = pd.read_csv(listed[0].split("files: ", 1)[1])
    assert list(table.columns) == ["step", "path", "reason"]
    assert table["step"].value_counts().to_dict() == {"prepare": 12, "load": 2}


def test_prepare_names_failed_files_by_reason(odd_fer):
    result = runner.invoke(app, ["data", "prepare", "fer2013", "--path", str(odd_fer)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "prepared: 4 of 16 images, 12 failures; 2 files skipped by the loader" in result.output
    assert "cannot decode image" in result.output and "PublicTest_bad" in result.output
    assert "full list of the 14 files: " in result.output


def test_prepare_of_fer2013_csv_mentions_rows_with_a_wrong_pixel_count(tmp_path, monkeypatch):
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    pixels = " ".join(["128"] * 2304)
    rows = [{"emotion": 3, "pixels": pixels, "Usage": "Training"}] * 3
    rows.append({"emotion": 3, "pixels": "1 2 3", "Usage": "Training"})
    csv = tmp_path / "fer2013.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    result = runner.invoke(app, ["data", "prepare", "fer2013", "--path", str(csv)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "prepared: 3 of 3 images, 0 failures; 1 files skipped by the loader" in result.output
    assert "3 pixel values; expected 2304" in result.output


def test_bad_rows_of_fer2013_csv_are_one_reason(tmp_path, monkeypatch):
    """Rows with pixel values outside 0-255 fail in prepare; their reasons name each row by its
    reference, which the summary folds into one reason with a count."""
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    good, bad = " ".join(["128"] * 2304), " ".join(["999"] * 2304)
    rows = [{"emotion": 3, "pixels": p, "Usage": "Training"} for p in [good] * 2 + [bad] * 3]
    csv = tmp_path / "fer2013.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    result = runner.invoke(app, ["data", "prepare", "fer2013", "--path", str(csv)], env=WIDE)
    assert result.exit_code == 0, result.output
    reasons = [line for line in result.output.splitlines() if "2304 values in [999, 999]" in line]
    assert len(reasons) == 1 and "│     3 │" in reasons[0], result.output
