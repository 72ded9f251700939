"""The error boundary: every failure is one `error:` line naming the file or field, exit 2 for
bad input and 1 for other failures, and `--debug` shows the traceback instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from ferbias.cli import app
from ferbias.data import fetch as fetch_module
from synthetic import synthetic_face

QUICK = str(Path(__file__).parents[2] / "experiments" / "quick.yaml")
runner = CliRunner()


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error: ")]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _cases(tmp: Path) -> dict[str, tuple[list[str], int, list[str]]]:
    """name -> (arguments, exit code, texts the one error line must hold)."""
    finished_none = tmp / "runs" / "quick"
    finished_none.mkdir(parents=True)
    (finished_none / "experiment.json").write_text("{}")
    return {
        "invalid YAML": (
            ["run", _write(tmp / "broken.yaml", "name: x\ndata: [\n"), "--dry-run"],
            2,
            ["broken.yaml: not valid YAML", "line 3"],
        ),
        "missing data path": (
            ["run", QUICK, "--dry-run", "--set", f"data.sources.0.path={tmp}/nowhere"],
            2,
            [f"{tmp}/nowhere does not exist"],
        ),
        "negative seed": (
            ["run", QUICK, "--dry-run", "--set", "train.seeds=[-1]"],
            2,
            ["field 'train.seeds.0'", "greater than or equal to 0"],
        ),
        "name escaping --out": (
            ["run", QUICK, "--dry-run", "--set", "name=.."],
            2,
            ["field 'name'", "not starting with '.'"],
        ),
        "no finished runs": (["report", str(finished_none)], 2, ["no finished runs", "quick"]),
        "missing data folder": (
            ["data", "summary", "fer2013", "--path", str(tmp / "nowhere")],
            2,
            [f"{tmp}/nowhere does not exist"],
        ),
        "unknown source": (
            ["data", "summary", "nosuchset", "--path", str(tmp)],
            2,
            ["nosuchset", "fer2013"],
        ),
        "offline fetch": (["data", "fetch", "fer2013", "--to", str(tmp / "fer")], 1, ["offline"]),
    }


CASES = [
    "invalid YAML",
    "missing data path",
    "negative seed",
    "name escaping --out",
    "no finished runs",
    "missing data folder",
    "unknown source",
    "offline fetch",
]


@pytest.mark.parametrize("case", CASES)
def test_each_failure_is_one_line_with_the_right_exit_code(case, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "reachable", lambda host, timeout: False)
    arguments, code, texts = _cases(tmp_path)[case]
    result = runner.invoke(app, arguments)
    assert result.exit_code == code, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1, result.output
    assert all(text in lines[0] for text in texts), lines[0]
    assert "Traceback" not in result.output


def test_size_zero_is_refused_before_any_decoding(tmp_path, monkeypatch):
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "fer" / "train" / "happy"
    folder.mkdir(parents=True)
    Image.fromarray(synthetic_face(48)).save(folder / "Training_1.jpg")
    arguments = ["data", "prepare", "fer2013", "--path", str(tmp_path / "fer"), "--size", "0"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert _error_lines(result.output) == [
        "error: size=0; expected the output side in pixels, a whole number >= 1 (e.g. 48)"
    ]


def test_debug_shows_the_traceback_instead(tmp_path):
    arguments = ["data", "summary", "fer2013", "--path", str(tmp_path / "nowhere")]
    result = runner.invoke(app, ["--debug", *arguments])
    assert isinstance(result.exception, FileNotFoundError)
    assert not _error_lines(result.output)


def test_an_unexpected_failure_names_its_kind_and_exits_1(tmp_path, monkeypatch):
    from ferbias.data import sources

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(sources, "load_source", broken)
    result = runner.invoke(app, ["data", "summary", "fer2013", "--path", str(tmp_path)])
    assert result.exit_code == 1
    assert _error_lines(result.output) == [
        "error: ZeroDivisionError: division by zero (run with --debug for the traceback)"
    ]


def test_a_bugs_key_error_is_a_failure_but_an_unknown_name_is_bad_input(tmp_path, monkeypatch):
    from ferbias.data import sources

    def buggy(*args, **kwargs):
        raise KeyError("p_happy")

    monkeypatch.setattr(sources, "load_source", buggy)
    result = runner.invoke(app, ["data", "summary", "fer2013", "--path", str(tmp_path)])
    assert result.exit_code == 1
    assert _error_lines(result.output) == [
        "error: KeyError: 'p_happy' (run with --debug for the traceback)"
    ]
    monkeypatch.undo()
    result = runner.invoke(app, ["data", "summary", "no-such-source", "--path", str(tmp_path)])
    assert result.exit_code == 2
    (line,) = _error_lines(result.output)
    assert "unknown source 'no-such-source'; valid names:" in line and "fer2013" in line


def test_usage_errors_keep_typers_exit_code():
    result = runner.invoke(app, ["data", "summary"])
    assert result.exit_code == 2


def test_train_refuses_an_emotion_without_images_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "CK+48" / "happy"
    root.mkdir(parents=True)
    for subject in range(12):
        face = synthetic_face(48, seed=subject)
        Image.fromarray(face).save(root / f"S{subject:03d}_001_00000001.png")
    arguments = ["train", "--source", "ckplus48", "--path", str(tmp_path / "CK+48")]
    arguments += ["--emotions", "happy,neutral", "--out", str(tmp_path / "run")]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1 and "no images of emotion(s) ['neutral']" in lines[0]
    assert not (tmp_path / "run").exists()  # refused before any training
