"""The gold workflow end to end through the CLI on a tiny FER-2013-like folder: sample, export two
passes, fill the answers, import, build the gold file with its provenance."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferbias.cli import app
from ferbias.data.schema import STUDY_EMOTIONS

TRAIN_PER_EMOTION = 12


@pytest.fixture
def fer_root(tmp_path, monkeypatch):
    """train/<emotion>/Training_*.jpg (12 each), test/ faces; one test face copies a train face."""
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "fer2013"
    rows = []
    for emotion in (*STUDY_EMOTIONS, "disgust"):
        for split, prefix, n in (
            ("train", "Training", TRAIN_PER_EMOTION),
            ("test", "PublicTest", 2),
        ):
            folder = root / split / emotion
            folder.mkdir(parents=True)
            for i in range(n):
                name = f"{prefix}_{emotion}{i}.png"
                Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / name)
                p = rng.uniform()
                gender = "unknown" if abs(p - 0.5) < 0.1 else ("female" if p > 0.5 else "male")
                rows.append({"file": f"{split}/{emotion}/{name}", "gender": gender, "p_female": p})
    shutil.copy(root / "train/sad/Training_sad0.png", root / "test/sad/PublicTest_twin.png")
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return root, labels


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def fill_answers(folder, answer_of):
    index = pd.read_csv(folder / "index.csv").set_index(["sheet_id", "number"])["file"]
    paths = sorted((folder / "answers").glob("*.txt"))
    for path in paths:
        lines = path.read_text().splitlines()
        sheet_id = lines[0].split(":", 1)[1].strip()
        path.write_text(
            "\n".join(
                f"{n.strip()} {answer_of(index[(sheet_id, int(n))])}" if n.strip().isdigit() else n
                for n in lines
            )
        )
    return paths


def test_sample_sheets_import_build(fer_root, tmp_path):
    root, labels = fer_root
    plan = tmp_path / "plan.csv"
    out = invoke(
        "gender", "gold", "sample", "--path", root, "--labels", labels, "--out", plan,
        "--random", 36, "--targeted", 6, "--seed", 1, "--workers", 1,
    )  # fmt: skip
    assert "left out 1 duplicate(s) of PublicTest/PrivateTest faces" in out
    table = pd.read_csv(plan)
    assert len(table) == 42 and "train/sad/Training_sad0.png" not in set(table["file"])
    assert json.loads(plan.with_suffix(".provenance.json").read_text())["seed"] == 1
    for pass_id in ("A", "B"):
        out = invoke(
            "gender", "sheets", "export", "--plan", plan, "--pass", pass_id, "--path", root,
            "--out", tmp_path / pass_id, "--per-sheet", 20,
        )  # fmt: skip
        assert f"pass {pass_id}: 42 faces on 3 sheets" in out

    def by_pass(pass_id):
        return lambda file: "F" if pass_id == "B" or file.startswith("train/happy") else "M"

    for pass_id in ("A", "B"):
        answers = fill_answers(tmp_path / pass_id, by_pass(pass_id))
        invoke(
            "gender", "sheets", "import", *answers, "--index", tmp_path / pass_id / "index.csv",
            "--pass", pass_id, "--annotator", f"agent {pass_id}",
            "--out", tmp_path / "passes" / f"{pass_id}.csv",
        )  # fmt: skip
    gold_path = tmp_path / "gold.csv"
    passes = tmp_path / "passes"
    out = invoke(
        "gender", "gold", "build", "--plan", plan,
        "--pass", f"A={passes / 'A.csv'}", "--pass", f"B={passes / 'B.csv'}",
        "--annotator-note", "A=vision-language model agent, context 1", "--out", gold_path,
    )  # fmt: skip
    gold = pd.read_csv(gold_path)
    happy = gold["file"].str.startswith("train/happy")
    assert (gold.loc[happy, "consensus"] == "female").all()
    assert (gold.loc[~happy, "consensus"] == "disagree").all()
    provenance = json.loads(gold_path.with_suffix(".provenance.json").read_text())
    assert provenance["passes"]["A"]["note"] == "vision-language model agent, context 1"
    assert provenance["passes"]["B"]["annotators"] == ["agent B"]
    assert provenance["passes"]["B"]["provenance"]["export"]["pass"] == "B"
    assert provenance["plan"]["provenance"]["seed"] == 1
    assert "raw agreement" in out
