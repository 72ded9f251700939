"""The audit on the domain of use, gold overrides, and the FER-2013-style degradation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ferbias.gender import domain_audit
from ferbias.gender.apply import GOLD_LABELLER, override_with_gold
from ferbias.gender.base import Thresholds
from ferbias.gender.degrade import FerStyle, degrade, style_statistics
from ferbias.gender.domain_gold import DomainGold
from ferbias.gender.evaluate import LABELS, audit_domain, label_audit_record
from ferbias.gender.labels import automatic_labels
from synthetic import synthetic_face

TRUTH = pd.Series(["female", "female", "female", "male", "male", None, None], dtype="string")
PRED = np.array(["female", "male", "unknown", "male", "male", "female", "unknown"], dtype=object)


def test_headline_counts_by_hand():
    h = domain_audit.headline(TRUTH, PRED, np.array([0.9, 0.3, 0.5, 0.1, 0.2, 0.8, 0.5]))
    assert h["n"] == 5 and h["coverage"] == pytest.approx(4 / 5)
    assert h["accuracy"] == pytest.approx(3 / 4)
    assert h["error_female"] == pytest.approx(1 / 2) and h["error_male"] == 0.0
    assert h["coverage_female"] == pytest.approx(2 / 3) and h["coverage_male"] == 1.0
    assert h["undecidable_labelled"] == pytest.approx(1 / 2) and h["n_undecidable"] == 2
    assert h["accuracy_low"] < 0.75 < h["accuracy_high"]  # a Wilson interval around it
    with pytest.raises(ValueError, match="one entry per audit face"):
        domain_audit.headline(TRUTH, PRED[:3])


def test_contamination_is_the_other_gender_among_each_label():
    emotion = np.array(["sad", "sad", "sad", "sad", "happy", "happy", "happy"], dtype=object)
    table = domain_audit.contamination(emotion, TRUTH, PRED).set_index(["group", "emotion"])
    assert table.loc[("male", "sad"), "n_labelled"] == 2
    assert table.loc[("male", "sad"), "other_share"] == pytest.approx(1 / 2)  # a woman called male
    assert table.loc[("female", "happy"), "undecidable_share"] == 1.0
    assert np.isnan(table.loc[("female", "happy"), "other_share"])  # none decidable


def test_goals_say_met_or_not_with_the_numbers():
    overall = domain_audit.headline(TRUTH, PRED, np.full(7, 0.5))
    emotions = domain_audit.by_emotion(np.array(["sad"] * 7, dtype=object), TRUTH, PRED)
    goals = domain_audit.goals_table(overall, emotions, fer_coverage=0.8).set_index("goal")
    assert goals.loc["accuracy >= 97%", "met"] == "not met"
    assert goals.loc["coverage of FER-2013 six-emotion images >= 75%", "met"] == "met"
    assert "75.0%" in goals.loc["accuracy >= 97%", "measured"]


def test_audit_domain_compares_operating_points_members_and_old_labels():
    rng = np.random.default_rng(0)
    n = 300
    truth = pd.Series(rng.choice(["female", "male", None], n, p=[0.45, 0.45, 0.1]), dtype="string")
    z = np.where(truth.eq("female").fillna(False), 2.0, -2.0) + rng.normal(0, 1.5, n)
    z = np.where(truth.isna(), rng.normal(0, 0.5, n), z)
    table = pd.DataFrame(
        {"file": [f"train/sad/Training_{i}.jpg" for i in range(n)], "emotion": "sad",
         "truth": truth, "decidable": truth.notna()}
    )  # fmt: skip
    gold = DomainGold(table, np.zeros((n, 48, 48), np.uint8))
    p = 1 / (1 + np.exp(-z))
    scores = {"ensemble": p, "onnx-cc0": p, "ferbias-gender": p}
    before = pd.DataFrame({"file": table["file"], "gender": "female", "p_female": 0.9})
    pairs = {LABELS: Thresholds(0.8, 0.8), "target 0.99": Thresholds(0.95, 0.95)}
    result = audit_domain(gold, scores, thresholds=pairs, default=LABELS, before=before)
    rows = result.overall.set_index("labeller")
    assert list(rows.index)[-1] == "labels before"
    assert rows.loc["labels before", "coverage"] == 1.0
    strict = rows.loc["ensemble, target 0.99 (0.95,0.95)"]
    assert strict["coverage"] < rows.loc["ensemble, labels (0.8,0.8)", "coverage"]
    assert isinstance(result.figures["reliability"], Figure)
    record = label_audit_record(result, gold_file="g.csv")
    assert record["thresholds"]["target 0.99"] == {"female": 0.95, "male": 0.95}
    assert {r["operating_point"] for r in record["contamination"]} == set(pairs)


def test_gold_consensus_overrides_automatic_labels():
    files = ["train/sad/Training_1.jpg", "train/sad/Training_2.jpg", "test/sad/PublicTest_3.jpg"]
    auto = automatic_labels(
        files, [f"fer2013:{f}" for f in files], np.array(["male", "female", "male"]),
        np.array([0.2, 0.7, 0.1]), labeller="ensemble", version="v",
    )  # fmt: skip
    gold = pd.DataFrame({"file": files[:2], "consensus": ["female", "disagree"]})
    out = override_with_gold(auto, gold).set_index("file")
    assert out["gender"].tolist() == ["female", "unknown", "male"]
    assert out["p_female"].tolist() == [0.2, 0.7, 0.1]  # the labeller's score is kept
    assert out.loc[files[0], "labeller"] == GOLD_LABELLER


def test_degradation_is_seeded_and_moves_statistics_towards_fer():
    faces = np.stack([synthetic_face(seed=i) for i in range(20)])
    first = degrade(faces, rng=np.random.default_rng(3))
    again = degrade(faces, rng=np.random.default_rng(3))
    assert first.dtype == np.uint8 and first.shape == faces.shape
    assert np.array_equal(first, again)
    clean, styled = style_statistics(faces), style_statistics(first)
    assert styled["sharpness"].median() > clean["sharpness"].median()
    assert styled["high_frequency"].median() > clean["high_frequency"].median()
    with pytest.raises(ValueError, match="noise"):
        FerStyle(noise=(3.0, 1.0))
