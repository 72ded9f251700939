"""Experiment specs: validation errors name the field, overrides, path expansion."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ferbias.experiment.spec import (
    SpecError,
    apply_overrides,
    load_spec,
    output_path,
    spec_from_dict,
)

EXPERIMENTS = Path(__file__).parents[2] / "experiments"
MINIMAL = {"name": "toy", "data": {"sources": [{"source": "manifest", "path": "x.csv"}]}}


def _spec(**changes):
    raw = yaml.safe_load(yaml.safe_dump(MINIMAL))
    return apply_overrides(raw, [f"{k}={v}" for k, v in changes.items()])


def test_minimal_spec_has_the_study_defaults():
    spec = spec_from_dict(MINIMAL)
    assert spec.train.epochs == 20
    assert spec.train.groups == ["female", "male", "mixed"]
    assert spec.data.emotions == ["angry", "fear", "happy", "neutral", "sad", "surprise"]


@pytest.mark.parametrize(
    ("override", "field", "allowed"),
    [
        ("train.epochs=0", "train.epochs", "greater than or equal to 1"),
        ("data.emotions=[happy, joy]", "data.emotions", "allowed: ['angry'"),
        ("train.groups=[female, teen]", "(top level)", "neither one of data.groups"),
        ("data.val_fraction=1.5", "data.val_fraction", "less than 1"),
        ("executor=slurm", "executor", "'local', 'processes' or 'ray'"),
        ("data.sizes.train={female: 10, child: 3}", "data", "allowed: data.groups"),
        ("train.learning_rate=0.1", "train.learning_rate", "Extra inputs are not permitted"),
        ("name=has space", "name", "is not a folder name"),
        ("name=..", "name", "not starting with '.'"),
        ("name=.", "name", "not starting with '.'"),
        ("name=a/b", "name", "is not a folder name"),
        ("train.seeds=[0, -1]", "train.seeds.1", "greater than or equal to 0"),
        ("data.split_seed=-3", "data.split_seed", "greater than or equal to 0"),
        ("data.groups=[female, ../m]", "data.groups", "cannot be part of a run folder name"),
        ("train.model_variants={paper-cnn: [standard]}", "train", "not in train.variants"),
        ("train.model_variants={vgg-fer: [baseline]}", "train", "not in train.models"),
    ],
)
def test_validation_errors_name_the_field_and_what_is_allowed(override, field, allowed):
    with pytest.raises(SpecError) as caught:
        spec_from_dict(_spec(**dict([override.split("=", 1)])), source="toy.yaml")
    message = str(caught.value)
    assert f"toy.yaml: field {field!r}" in message
    assert allowed in message


def test_mixed_needs_exactly_two_groups():
    with pytest.raises(SpecError, match="needs exactly two groups"):
        spec_from_dict(_spec(**{"data.groups": "[a, b, c]", "train.groups": "[a, mixed]"}))


def test_overrides_parse_yaml_values_and_index_lists():
    raw = apply_overrides(
        MINIMAL, ["train.seeds=[0, 1]", "data.sources.0.path=/tmp/m.csv", "train.epochs=2"]
    )
    spec = spec_from_dict(raw)
    assert spec.train.seeds == [0, 1]
    assert spec.train.epochs == 2
    assert spec.data.sources[0].path == "/tmp/m.csv"
    assert MINIMAL["data"]["sources"][0]["path"] == "x.csv"  # the input is not modified


@pytest.mark.parametrize(
    ("override", "message"),
    [("train.epochs", "expected key=value"), ("data.sources.3.path=x", "not a valid index")],
)
def test_bad_overrides_say_what_was_expected(override, message):
    with pytest.raises(SpecError, match=message):
        apply_overrides(MINIMAL, [override])


def test_paths_expand_ferbias_data(monkeypatch, tmp_path):
    monkeypatch.setenv("FERBIAS_DATA", str(tmp_path))
    spec = spec_from_dict(_spec(**{"data.sources.0.path": "${FERBIAS_DATA}/fer2013"}))
    assert spec.data.sources[0].resolved_path() == tmp_path / "fer2013"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_file_validates(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.data.sources


def test_load_spec_rejects_a_non_mapping(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec(path)


def test_invalid_yaml_is_one_line_naming_the_file_and_place(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ndata: [\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not valid YAML: ") and "(line 3, column 1)" in message
    assert "\n" not in message


def test_a_spec_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match=rf"{path}: not UTF-8 text"):
        load_spec(path)


def test_an_override_value_that_is_not_yaml_names_the_override():
    with pytest.raises(SpecError, match=r"override 'train.seeds=\[0,': the value is not valid"):
        apply_overrides(MINIMAL, ["train.seeds=[0,"])


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/abs", "a/../../b"])
def test_result_paths_never_leave_out(tmp_path, name):
    with pytest.raises(ValueError, match="would put results outside"):
        output_path(tmp_path, name)
    assert output_path(tmp_path, "quick", "female-baseline-s0") == tmp_path / "quick" / (
        "female-baseline-s0"
    )
