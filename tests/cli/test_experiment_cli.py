"""`ferbias run` and `ferbias report` on tiny synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from experiment_toy import toy_overrides, write_toy_manifest
from ferbias.cli import app
from ferbias.cli import experiment as experiment_cli

QUICK = Path(__file__).parents[2] / "experiments" / "quick.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def toy_args(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("toy")
    primary = write_toy_manifest(folder, per_cell={"train": 4, "test": 1})
    external = write_toy_manifest(folder / "ext", per_cell={"test": 1}, name="ext")
    overrides = [*toy_overrides(primary, external), "train.variants=[baseline]"]
    return [arg for item in overrides for arg in ("--set", item)]


def test_dry_run_lists_every_run_with_an_eta_and_trains_nothing(toy_args, tmp_path, monkeypatch):
    monkeypatch.setattr(experiment_cli, "console", Console(width=160))
    result = runner.invoke(app, ["run", str(QUICK), "--out", str(tmp_path), "--dry-run", *toy_args])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│ paper-cnn" in line]
    assert len(lines) == 3
    for line, group in zip(lines, ("female", "male", "mixed"), strict=True):
        assert group in line and "baseline" in line and "to run" in line
    assert "total ETA on this machine's cpu (" in result.output
    assert "(processes executor: " in result.output  # quick.yaml's executor
    assert not (tmp_path / "quick").exists()


def test_run_trains_the_grid_and_ends_with_the_report_path(toy_args, tmp_path):
    args = ["run", str(QUICK), "--out", str(tmp_path), *toy_args, "--set", "train.groups=[female]"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    html = tmp_path / "quick" / "report" / "index.html"
    assert f"report: {html}" in result.output.splitlines()
    assert html.is_file()
    again = runner.invoke(app, args)
    assert "skipped" in again.output and "trained " not in again.output
    report = runner.invoke(app, ["report", str(tmp_path / "quick")])
    assert report.exit_code == 0, report.output
    assert f"report: {tmp_path / 'quick' / 'report' / 'report.md'}" in report.output.splitlines()


def test_a_bad_override_names_the_field_and_exits_2(tmp_path):
    result = runner.invoke(app, ["run", str(QUICK), "--dry-run", "--set", "train.epochs=-1"])
    assert result.exit_code == 2
    assert "train.epochs" in result.output and "greater than or equal to 1" in result.output


def test_report_of_a_folder_without_experiment_json_fails_clearly(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "no experiment.json" in result.output
