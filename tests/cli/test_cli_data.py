"""Tests of `ferbias data ...` on a tiny synthetic CK+48-layout folder."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferbias.cli import app
from ferbias.data import fetch as fetch_module
from synthetic import synthetic_face

runner = CliRunner()


@pytest.fixture
def ck_folder(tmp_path, monkeypatch):
    """CK+48 layout: 2 emotions x 3 subjects, one duplicate file, one truncated PNG."""
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "CK+48"
    for e, emotion in enumerate(("anger", "happy")):
        (root / emotion).mkdir(parents=True)
        for subject in range(3):
            face = synthetic_face(48, seed=10 * e + subject)
            Image.fromarray(face).save(root / emotion / f"S00{subject}_00{e}_0001.png")
    copy = root / "happy" / "S002_001_0002.png"
    copy.write_bytes((root / "happy" / "S002_001_0001.png").read_bytes())
    data = (root / "anger" / "S000_000_0001.png").read_bytes()
    (root / "anger" / "S000_000_0002.png").write_bytes(data[: len(data) // 3])
    return root


def _rows(output: str) -> dict[str, str]:
    """Two-column table rows "│ key │ value │" as a dict."""
    cells = [line.strip("│ ").split("│") for line in output.splitlines() if line.count("│") == 3]
    return {c[0].strip(): c[1].strip() for c in cells if len(c) == 2}


def test_list_shows_sources_and_face_cropping():
    result = runner.invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("fer2013", "ckplus48", "jaffe", "cfd", "utkface", "celeba", "trainingdata-fer"):
        assert name in result.output
    assert "no: face detected" in result.output


def test_summary_counts_duplicates_and_unreadable(ck_folder):
    result = runner.invoke(
        app, ["data", "summary", "ckplus48", "--path", str(ck_folder)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert rows["images in manifest"] == "8"
    assert rows["subjects"] == "3"
    assert rows["unreadable images"] == "1"
    assert rows["faces not found"] == "0"
    assert rows["exact duplicate groups (files)"] == "1 (2)"
    assert "S000_000_0002.png" in result.output
    assert "image statistics per split" in result.output


def test_summary_filters_emotions_and_rejects_unknown(ck_folder):
    result = runner.invoke(
        app,
        ["data", "summary", "ckplus48", "--path", str(ck_folder), "--emotions", "happy"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert _rows(result.output)["images in manifest"] == "4"
    bad = runner.invoke(
        app, ["data", "summary", "ckplus48", "--path", str(ck_folder), "--emotions", "joy"]
    )
    assert bad.exit_code != 0


def test_loader_errors_exit_2_with_a_message(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["data", "summary", "ckplus48", "--path", str(empty)])
    assert result.exit_code == 2 and "error: ckplus48: folder" in result.output
    unknown = runner.invoke(app, ["data", "summary", "nosuchset", "--path", str(empty)])
    assert unknown.exit_code == 2 and "fer2013" in unknown.output  # lists the valid names


def test_prepare_writes_npz_and_hits_cache(ck_folder, tmp_path):
    out = tmp_path / "ck.npz"
    args = ["data", "prepare", "ckplus48", "--path", str(ck_folder), "--out", str(out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "prepared: 7 of 8 images, 1 failures" in first.output
    with np.load(out, allow_pickle=False) as data:
        assert data["pixels"].shape == (7, 48, 48)
        assert set(data["emotion"]) == {"angry", "happy"}
        assert len(data["subject_id"]) == 7
    second = runner.invoke(app, args)
    assert "cache hit" in second.output


def test_fetch_offline_fails_with_message(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "reachable", lambda host, timeout: False)
    result = runner.invoke(app, ["data", "fetch", "fer2013", "--to", str(tmp_path / "fer")])
    assert result.exit_code == 1
    assert "offline" in result.output and "kaggle.com" in result.output
    by_hand = runner.invoke(app, ["data", "fetch", "jaffe", "--to", str(tmp_path / "j")])
    assert by_hand.exit_code == 1 and "zenodo" in by_hand.output
