"""The study's published figures: the packaged copy reads and validates; a bad entry is refused
with an error that names its key."""

from __future__ import annotations

import pytest
import yaml

from ferbias.analysis.study_results import (
    STUDY_FILE,
    StudyFileError,
    load_study,
    read_study,
)


def _write(tmp_path, change) -> str:
    raw = yaml.safe_load(STUDY_FILE.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "published.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_packaged_figures_load_with_their_provenance():
    header = STUDY_FILE.read_text(encoding="utf-8").splitlines()[:4]
    assert "shared/study/published.yaml" in header[0]
    assert "Gender-Isolation Impact on The Accuracy" in " ".join(header)
    study = load_study()
    assert len(study.test_accuracy) == 12 and len(study.train_val) == 12
    assert study.test_images == {"female": 588, "male": 820}
    ambiguous = [f for f in study.test_accuracy if f.ambiguous]
    assert [f.value for f in ambiguous] == [50.85, 53.17]
    assert all(f.variants == ["l2-0.001", "l2-0.01"] and f.note for f in ambiguous)
    assert "l2-0.001" in study.variants and "weight-decay" in study.variants


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda raw: raw["test_accuracy"][3].update(value="high"), r"test_accuracy\[3\]\.value"),
        (lambda raw: raw["train_val"][1].update(val=150), r"train_val\[1\]\.val"),
        (lambda raw: raw["test_accuracy"][0].update(variants=[]), r"test_accuracy\[0\]\.variants"),
        (lambda raw: raw["test_accuracy"][2].update(vaule=41.5), r"test_accuracy\[2\]\.vaule"),
        (lambda raw: raw.pop("sizes"), r"sizes: Field required"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_key(tmp_path, change, key):
    with pytest.raises(StudyFileError, match=key):
        read_study(_write(tmp_path, change))


def test_two_figures_for_one_cell_are_refused(tmp_path):
    def duplicate(raw):
        raw["test_accuracy"].append({**raw["test_accuracy"][0], "value": 40.0})

    with pytest.raises(StudyFileError, match="two figures name variant 'baseline'"):
        read_study(_write(tmp_path, duplicate))


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(StudyFileError, match="must hold a YAML mapping, got list"):
        read_study(path)
