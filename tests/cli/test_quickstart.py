"""The Quick start on a fresh machine: `make demo` fetches FER-2013 when missing (fakes here, no
network), a failed fetch is one clear line, and the optional external test sets are skipped."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from experiment_toy import toy_overrides, write_toy_manifest
from ferbias.cli import app
from ferbias.data import fetch as fetch_module
from synthetic import synthetic_face

ROOT = Path(__file__).parents[2]
QUICK = str(ROOT / "experiments" / "quick.yaml")
runner = CliRunner()


def _demo_commands(clone: Path) -> list[str]:
    """The commands `make -n demo` would run in ``clone`` (a copy of the Makefile, set up)."""
    clone.mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", clone / "Makefile")
    (clone / "pyproject.toml").write_text("")
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / ".installed").write_text("")  # newer than pyproject.toml
    environment = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["make", "-n", "demo"], cwd=clone, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_demo_fetches_into_the_cache_unless_shared_data_is_beside_the_clone(tmp_path):
    fresh = _demo_commands(tmp_path / "fresh" / "ferbias")
    assert fresh[0] == (
        '.venv/bin/ferbias data fetch fer2013 --to ".cache/ferbias/data/fer2013" < /dev/null'
    )
    assert fresh[1] == ".venv/bin/ferbias run experiments/quick.yaml --out runs"
    (tmp_path / "workspace" / "shared" / "data" / "fer2013").mkdir(parents=True)
    beside = _demo_commands(tmp_path / "workspace" / "ferbias")
    assert beside[0].startswith(
        '.venv/bin/ferbias data fetch fer2013 --to "../shared/data/fer2013"'
    )


def test_a_fetch_that_succeeds_puts_fer2013_where_the_specs_read_it(tmp_path, monkeypatch):
    downloaded = tmp_path / "kagglehub" / "fer2013"
    for split in ("train", "test"):
        (downloaded / split / "angry").mkdir(parents=True)
        Image.fromarray(synthetic_face(48)).save(downloaded / split / "angry" / "Training_1.jpg")
    monkeypatch.setattr(fetch_module, "reachable", lambda host, timeout: True)
    monkeypatch.setattr(fetch_module, "_kaggle_download", lambda handle: downloaded)
    target = tmp_path / "cache" / "data" / "fer2013"
    result = runner.invoke(app, ["data", "fetch", "fer2013", "--to", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "train" / "angry" / "Training_1.jpg").is_file()
    again = runner.invoke(app, ["data", "fetch", "fer2013", "--to", str(target)])
    assert again.exit_code == 0 and f"fer2013 is in {target}" in again.output


def test_a_fetch_that_fails_is_one_line_saying_what_where_and_ferbias_data(tmp_path, monkeypatch):
    def refused(handle):
        raise RuntimeError("403 Forbidden")

    monkeypatch.setattr(fetch_module, "reachable", lambda host, timeout: True)
    monkeypatch.setattr(fetch_module, "_kaggle_download", refused)
    target = tmp_path / "cache" / "data" / "fer2013"
    result = runner.invoke(app, ["data", "fetch", "fer2013", "--to", str(target)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: kagglehub could not download")
    for text in ("kaggle.com/datasets/msambare/fer2013", str(target), "FERBIAS_DATA"):
        assert text in lines[0]
    assert "Traceback" not in result.output


def test_missing_optional_test_sets_are_skipped_recorded_and_reported(tmp_path, caplog):
    primary = write_toy_manifest(tmp_path / "toy", per_cell={"train": 4, "test": 1})
    external = write_toy_manifest(tmp_path / "ext", per_cell={"test": 1}, name="ext")
    overrides = [
        *toy_overrides(primary, external),
        "train.variants=[baseline]",
        "train.groups=[female]",
        f"test_sets=[{{name: cfd, optional: true, source: {{source: cfd, path: '{tmp_path}/cfd'}}}}"
        f", {{name: ext, source: {{source: manifest, path: '{external}', face_crop: false}}}}]",
    ]
    arguments = ["run", QUICK, "--out", str(tmp_path / "runs")]
    with caplog.at_level(logging.WARNING):
        result = runner.invoke(app, [*arguments, *(a for o in overrides for a in ("--set", o))])
    assert result.exit_code == 0, result.output
    skipped = [r.getMessage() for r in caplog.records if "skipped (optional)" in r.getMessage()]
    assert skipped == [f"test set cfd skipped (optional): {tmp_path}/cfd not found"]
    record = json.loads((tmp_path / "runs" / "quick" / "experiment.json").read_text())
    assert record["skipped_test_sets"] == {"cfd": f"{tmp_path}/cfd not found"}
    assert record["test_sets"] == ["heldout", "ext"]
    report = (tmp_path / "runs" / "quick" / "report" / "report.md").read_text()
    assert f"test set left out: cfd | {tmp_path}/cfd not found" in report


def test_a_missing_test_set_that_is_not_optional_is_still_an_error(tmp_path):
    primary = write_toy_manifest(tmp_path / "toy", per_cell={"train": 4, "test": 1})
    overrides = [
        *toy_overrides(primary, primary),
        f"test_sets=[{{name: cfd, source: {{source: cfd, path: '{tmp_path}/cfd'}}}}]",
    ]
    result = runner.invoke(
        app, ["run", QUICK, "--dry-run", *(a for o in overrides for a in ("--set", o))]
    )
    assert result.exit_code == 2
    assert f"cfd: {tmp_path}/cfd does not exist" in result.output
