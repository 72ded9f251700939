"""Shared fixtures: the real data root (fails in CI when missing) and tiny synthetic images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

MISSING_DATA = "shared data not found at FERBIAS_DATA={path!r}: set FERBIAS_DATA to ../shared/data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder; in CI (CI=true) a missing folder fails instead of skipping."""
    default = Path(__file__).parents[2] / "shared" / "data"
    path = Path(os.environ.get("FERBIAS_DATA", default))
    if not path.is_dir():
        message = MISSING_DATA.format(path=str(path))
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def toy_experiment(tmp_path_factory) -> Path:
    """A finished toy experiment (paper-cnn, female and male runs, one epoch): runs/<name>/."""
    from experiment_toy import run_toy_experiment

    return run_toy_experiment(tmp_path_factory.mktemp("toy-experiment"))


@pytest.fixture(scope="session")
def toy_run(toy_experiment) -> Path:
    """The female-trained run folder of ``toy_experiment``."""
    return next(p.parent for p in sorted(toy_experiment.glob("female-*/run.json")))


@pytest.fixture(scope="session")
def toy_onnx(toy_run, tmp_path_factory) -> Path:
    """``toy_run`` exported to ONNX (the dynamo exporter takes ~10 s, so once per session)."""
    from ferbias.training.export import export_onnx

    return export_onnx(toy_run, tmp_path_factory.mktemp("export") / "toy.onnx")
