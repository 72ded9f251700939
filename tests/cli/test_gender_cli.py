"""`ferbias gender label`: labels file, provenance sidecar and coverage tables."""

from __future__ import annotations

import json

import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from ferbias.cli import app
from synthetic import synthetic_face


def test_label_command_writes_labels_and_provenance(tmp_path):
    files = [
        "train/happy/Training_1.jpg",
        "train/sad/Training_2.jpg",
        "train/disgust/Training_3.jpg",
        "test/angry/PublicTest_4.jpg",
    ]
    for i, file in enumerate(files):
        (tmp_path / "fer" / file).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_face(seed=i)).save(tmp_path / "fer" / file)
    out = tmp_path / "labels" / "fer_gender.csv"
    args = [
        "gender",
        "label",
        "fer2013",
        "--path",
        str(tmp_path / "fer"),
        "--out",
        str(out),
        "--labeller",
        "onnx-cc0",
        "--tau",
        "0.6,0.7",
        "--compact",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    labels = pd.read_csv(out)
    assert labels.columns.tolist() == ["file", "gender", "p_female"]
    assert sorted(labels["file"]) == sorted(files)
    assert "coverage by emotion" in result.output and "coverage by usage" in result.output
    provenance = json.loads(out.with_suffix(".provenance.json").read_text())
    assert provenance["thresholds"] == {"female": 0.6, "male": 0.7}
    assert provenance["labeller"] == "onnx-cc0"
    assert provenance["labeller_versions"]["onnx-cc0"].startswith("gender-v1.onnx@")
    six = provenance["coverage"]["six_emotions"][0]
    assert six["female"] + six["male"] + six["unknown"] == 3  # disgust is not a study emotion
