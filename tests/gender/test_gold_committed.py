"""The committed hand labels under labels/: Training faces only (PublicTest/PrivateTest faces carry
no hand label of ours), the gold file rebuilds exactly from its plan and passes, and its
provenance matches the committed files it names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from ferbias.gender import gold_build, passes
from ferbias.gender.gold_sample import TEST_USAGES, is_training_file, read_plan

LABELS = Path(__file__).resolve().parents[2] / "labels"
GOLD = LABELS / "fer2013_gender_gold.csv"
PLAN = LABELS / "fer2013_gold_plan.csv"
PASS_FILES = sorted((LABELS / "passes").glob("*.csv"))
AUTOMATIC = LABELS / "fer2013_gender.csv"  # the labellers' output: every FER-2013 face


def _provenance(path: Path) -> dict:
    return json.loads(path.with_suffix(".provenance.json").read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_hand_labelled_file_is_a_training_face():
    hand_files = [p for p in LABELS.rglob("*.csv") if p != AUTOMATIC]
    assert {GOLD, PLAN, *PASS_FILES} <= set(hand_files) and len(PASS_FILES) == 2
    for path in hand_files:
        text = path.read_text(encoding="utf-8")
        assert not any(usage in text for usage in TEST_USAGES), path
        files = pd.read_csv(path, dtype=str)["file"]
        assert files.map(is_training_file).all(), path


def test_automatic_labels_carry_no_hand_answer_on_test_faces():
    """Hand rows of a labels file name their annotator (``gender.labels``); the committed file
    covers every FER-2013 face, so any hand rows in it must be Training faces."""
    labels = pd.read_csv(AUTOMATIC, dtype=str, keep_default_na=False)
    annotator = labels.get("annotator", pd.Series("", index=labels.index))
    assert labels.loc[annotator != "", "file"].map(is_training_file).all()
    assert (~labels["file"].map(is_training_file)).any()  # it does label test faces


def test_gold_file_rebuilds_from_its_plan_and_passes():
    answers = {p.stem: passes.read_pass(p, pass_id=p.stem) for p in PASS_FILES}
    rebuilt = gold_build.build_gold(read_plan(PLAN), answers)
    committed = pd.read_csv(GOLD, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(rebuilt.astype(str), committed, check_dtype=False)
    recorded = _provenance(GOLD)["agreement"]
    assert json.loads(json.dumps(gold_build.agreement(rebuilt), default=int)) == recorded


@pytest.mark.parametrize("pass_file", PASS_FILES, ids=lambda p: p.stem)
def test_gold_provenance_names_the_committed_files_and_who_made_each_pass(pass_file):
    record = _provenance(GOLD)
    assert record["plan"]["sha256"] == _sha256(PLAN)
    entry = record["passes"][pass_file.stem]
    assert entry["sha256"] == _sha256(pass_file)
    assert entry["annotators"] and entry["note"], "who or what made the pass must be named"
    assert entry["provenance"] == _provenance(pass_file)
    assert entry["provenance"]["export"]["plan_sha256"] == _sha256(PLAN)
    assert entry["provenance"]["sheets_answered"] == entry["provenance"]["sheets_exported"]
