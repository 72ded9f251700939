"""Metrics against scikit-learn on hand-built predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from ferbias.analysis import metrics

CLASSES = ["angry", "fear", "happy", "neutral", "sad", "surprise"]


def make_predictions(n: int = 300, *, seed: int = 0, true_classes=CLASSES) -> pd.DataFrame:
    """Random but well-formed predictions for two groups and two test sets."""
    gen = np.random.default_rng(seed)
    logits = gen.normal(size=(n, len(CLASSES)))
    y_true = gen.choice(true_classes, size=n)
    codes = pd.Categorical(y_true, categories=CLASSES).codes
    logits[np.arange(n), codes] += 1.0  # better than chance
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {
            "run_id": "r1",
            "test_set": np.where(np.arange(n) < n // 2, "fer2013:female", "cfd"),
            "sample_id": [f"s{i}" for i in range(n)],
            "subject_id": None,
            "group": gen.choice(["female", "male"], size=n),
            "y_true": y_true,
            "y_pred": np.array(CLASSES)[proba.argmax(axis=1)],
        }
    )
    for j, c in enumerate(CLASSES):
        frame[f"p_{c}"] = proba[:, j]
    frame["loss"] = -np.log(proba[np.arange(n), codes])
    return frame


def test_summary_metrics_match_sklearn():
    preds = make_predictions()
    tables = metrics.metric_tables(preds)
    summary = tables["summary"].set_index(["test_set", "group"])
    for (test_set, group), row in summary.iterrows():
        part = preds[preds.test_set == test_set]
        if group != "all":
            part = part[part.group == group]
        present = sorted(set(part.y_true))
        assert row.n == len(part)
        assert row.accuracy == pytest.approx(skm.accuracy_score(part.y_true, part.y_pred))
        assert row.balanced_accuracy == pytest.approx(
            skm.balanced_accuracy_score(part.y_true, part.y_pred)
        )
        assert row.macro_f1 == pytest.approx(
            skm.f1_score(part.y_true, part.y_pred, labels=present, average="macro")
        )
        proba = part[[f"p_{c}" for c in CLASSES]].to_numpy()
        assert row.cross_entropy == pytest.approx(skm.log_loss(part.y_true, proba, labels=CLASSES))
        assert row.cross_entropy == pytest.approx(part.loss.mean())


def test_per_class_and_confusion_match_sklearn():
    preds = make_predictions(seed=1)
    per_class = metrics.metric_tables(preds)["per_class"]
    part = preds[(preds.test_set == "cfd") & (preds.group == "male")]
    rows = per_class[(per_class.test_set == "cfd") & (per_class.group == "male")]
    p, r, f, s = skm.precision_recall_fscore_support(
        part.y_true, part.y_pred, labels=CLASSES, zero_division=0
    )
    np.testing.assert_allclose(rows.precision, p)
    np.testing.assert_allclose(rows.recall, r)
    np.testing.assert_allclose(rows.f1, f)
    np.testing.assert_array_equal(rows.support, s)
    expected = skm.confusion_matrix(part.y_true, part.y_pred, labels=CLASSES)
    np.testing.assert_array_equal(metrics.confusion(part.y_true, part.y_pred, CLASSES), expected)
    normalised = metrics.confusion_table(part, classes=CLASSES).to_numpy()
    np.testing.assert_allclose(normalised, expected / expected.sum(axis=1, keepdims=True))


def test_fpr_and_gaps_by_hand():
    preds = make_predictions(seed=2)
    tables = metrics.metric_tables(preds)
    part = preds[preds.test_set == "fer2013:female"]
    recalls, fprs = {}, {}
    for group in ("female", "male"):
        g = part[part.group == group]
        cm = skm.multilabel_confusion_matrix(g.y_true, g.y_pred, labels=CLASSES)
        tn, fp, fn, tp = cm[:, 0, 0], cm[:, 0, 1], cm[:, 1, 0], cm[:, 1, 1]
        recalls[group] = tp / (tp + fn)
        fprs[group] = fp / (fp + tn)
    gaps = tables["gaps"][tables["gaps"].test_set == "fer2013:female"]
    np.testing.assert_allclose(gaps.recall_gap, np.abs(recalls["female"] - recalls["male"]))
    np.testing.assert_allclose(gaps.fpr_gap, np.abs(fprs["female"] - fprs["male"]))
    accuracy = {g: skm.accuracy_score(f.y_true, f.y_pred) for g, f in part.groupby("group")}
    difference = tables["differences"].set_index("test_set").loc["fer2013:female"]
    assert difference.accuracy_gap == pytest.approx(abs(accuracy["female"] - accuracy["male"]))
    worst = metrics.max_rate_gaps(tables["gaps"]).set_index("test_set")
    assert worst.loc["fer2013:female", "max_tpr_gap"] == pytest.approx(gaps.recall_gap.max())
    assert worst.loc["fer2013:female", "max_fpr_gap"] == pytest.approx(gaps.fpr_gap.max())


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_external_set_with_fewer_emotions_scored_on_its_own_classes():
    preds = make_predictions(seed=3, true_classes=["angry", "happy", "neutral", "fear"])
    row = metrics.metric_tables(preds)["summary"].query("test_set == 'cfd' and group == 'all'")
    part = preds[preds.test_set == "cfd"]
    expected = skm.balanced_accuracy_score(part.y_true, part.y_pred)
    assert row.balanced_accuracy.item() == pytest.approx(expected)


def test_malformed_predictions_name_the_missing_columns():
    preds = make_predictions().drop(columns=["y_pred"])
    with pytest.raises(ValueError, match="y_pred"):
        metrics.metric_tables(preds)
    with pytest.raises(ValueError, match="p_<emotion>"):
        metrics.emotion_classes(pd.DataFrame({"y_true": ["a"]}))
