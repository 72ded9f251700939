"""Released layouts end to end: fixture tree -> `ferbias data summary` / `ferbias run` of the
shipped spec at toy size -> report, for RAF-DB and KDEF; the labeller variant of the RAF-DB spec."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from released_layouts import toy_kdef, toy_rafdb
from typer.testing import CliRunner

from ferbias.cli import app
from ferbias.experiment.data import build_data
from ferbias.experiment.spec import load_spec

EXPERIMENTS = Path(__file__).parents[2] / "experiments"
TOY_TRAINING = [
    "train.epochs=1",
    "train.seeds=[0]",
    "train.variants=[baseline]",
    "train.groups=[female, male]",
    "train.batch_size=16",
]
runner = CliRunner()


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """$FERBIAS_DATA with a toy RAF-DB release and a toy KDEF_and_AKDEF, as the specs expect."""
    monkeypatch.setenv("FERBIAS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    toy_rafdb(tmp_path / "data" / "rafdb", per_cell={"train": 4, "test": 1})
    toy_kdef(tmp_path / "data" / "kdef" / "KDEF_and_AKDEF", people=10)
    return tmp_path / "data"


def _run(spec: str, out: Path, *extra: str) -> dict:
    overrides = [arg for item in (*TOY_TRAINING, *extra) for arg in ("--set", item)]
    result = runner.invoke(app, ["run", str(EXPERIMENTS / spec), "--out", str(out), *overrides])
    assert result.exit_code == 0, result.output
    name = spec.removesuffix(".yaml")
    html = out / name / "report" / "index.html"
    assert f"report: {html}" in result.output.splitlines() and html.is_file()
    return json.loads((out / name / "experiment.json").read_text())


def test_rafdb_spec_runs_on_the_release_layout_to_a_report(data_folder, tmp_path):
    record = _run("rafdb.yaml", tmp_path / "runs")
    provenance = pd.DataFrame(record["label_provenance"])
    assert set(provenance["gender_source"]) == {"annotation"}
    counts = pd.DataFrame(record["counts"])
    tested = counts[counts["split"] == "test:rafdb"].groupby("group")["n"].sum()
    assert tested.to_dict() == {"female": 6, "male": 6}  # the official test split, both genders
    assert len(record["runs"]) == 2


def test_kdef_spec_runs_subject_disjoint_to_a_report(data_folder, tmp_path):
    # The toy faces are already crops; real KDEF photos are face-detected.
    record = _run("kdef.yaml", tmp_path / "runs", "data.sources.0.face_crop=false")
    assert set(pd.DataFrame(record["label_provenance"])["gender_source"]) == {"filename"}
    run_dir = next(p for p in (tmp_path / "runs" / "kdef").iterdir() if (p / "run.json").is_file())
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    tested = set(predictions.loc[predictions["test_set"] == "kdef", "subject_id"])
    spec = load_spec(EXPERIMENTS / "kdef.yaml")
    data = build_data(spec)
    trained = set(pd.concat([*data.train.values(), *data.val.values()])["subject_id"])
    assert tested and not tested & trained  # no actor is both trained on and tested on


def test_rafdb_labeller_spec_groups_by_the_labels_file(data_folder):
    release = data_folder / "rafdb"
    manifest = build_data(load_spec(EXPERIMENTS / "rafdb.yaml")).tests["rafdb"]
    files = manifest["sample_id"].str.split(":", n=1).str[1]
    # What `ferbias gender label` writes: file key, gender (unknown where it abstains), p_female.
    labels = pd.DataFrame(
        {
            "file": files,
            "gender": ["unknown"]
            + ["male" if g == "female" else "female" for g in manifest["group"][1:]],
            "p_female": 0.5,
            "labeller": "ensemble",
        }
    )
    labels.to_csv(release / "ferbias_gender.csv", index=False)
    data = build_data(load_spec(EXPERIMENTS / "rafdb-labeller.yaml"))
    test = data.tests["rafdb"].set_index("sample_id")
    assert set(test["gender_source"]) == {"labels:ensemble"}
    assert len(test) == len(manifest) - 1  # the abstention is left out
    swapped = manifest.set_index("sample_id")["group"].iloc[1:]
    assert (test.loc[swapped.index, "group"] != swapped).all()


def test_summary_shows_subjects_per_gender_and_takes_source_options(data_folder):
    kdef = data_folder / "kdef" / "KDEF_and_AKDEF"
    args = ["data", "summary", "kdef", "--path", str(kdef), "--option", "angles=[S]"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "kdef: subjects per gender x split" in result.output
    subjects = [line for line in result.output.splitlines() if line.startswith("│ female")]
    assert subjects[-1].split("│")[2].strip() == "10"
    bad = runner.invoke(app, ["data", "summary", "kdef", "--path", str(kdef), "--option", "x"])
    assert bad.exit_code != 0 and "expected key=value" in bad.output
    wrong = runner.invoke(app, ["data", "summary", "kdef", "--path", str(kdef), "--option", "q=1"])
    assert wrong.exit_code == 2 and "--option" in wrong.output and "'q'" in wrong.output
