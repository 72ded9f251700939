"""An experiment's data refuses empty groups and empty emotions, naming the right ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiment_toy import toy_overrides, write_toy_manifest
from ferbias.experiment.data import build_data
from ferbias.experiment.spec import load_spec

QUICK = Path(__file__).parents[2] / "experiments" / "quick.yaml"


def _spec_without(tmp_path, drop) -> object:
    """The quick spec on toy data from which the rows matching ``drop(table)`` were removed."""
    primary = write_toy_manifest(tmp_path / "toy", per_cell={"train": 3, "test": 1})
    external = write_toy_manifest(tmp_path / "ext", per_cell={"test": 1}, name="ext")
    table = pd.read_csv(primary)
    table[~drop(table)].to_csv(primary, index=False)
    return load_spec(QUICK, toy_overrides(primary, external))


def test_a_group_without_images_is_named_itself(tmp_path):
    spec = _spec_without(tmp_path, lambda t: (t["gender"] == "male") & (t["split"] == "train"))
    with pytest.raises(ValueError, match=r"no images left for group 'male' in split 'train'"):
        build_data(spec)


def test_an_emotion_without_train_images_is_an_error_naming_it(tmp_path):
    spec = _spec_without(
        tmp_path,
        lambda t: (t["gender"] == "male") & (t["emotion"] == "fear") & (t["split"] == "train"),
    )
    with pytest.raises(ValueError) as caught:
        build_data(spec)
    message = str(caught.value)
    assert "group 'male', split 'train': no images of emotion(s) ['fear']" in message
