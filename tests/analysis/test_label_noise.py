"""The report's label-noise section on a toy experiment: contamination and sensitivity tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_report import build_experiment

from ferbias.analysis import label_noise, report
from ferbias.analysis.metrics import load_experiment
from ferbias.analysis.standardise import PLAIN
from ferbias.analysis.tables import analyse

P_LEVELS = (0.7, 0.85, 0.95)  # confidence of the labeller on heldout faces, a third each
AUDIT = {
    "labels_file": "toy_gender.csv",
    "measured_on": "random-audit half of toy_gold.csv (300 decidable faces)",
    "thresholds": {
        "labels": {"female": 0.6, "male": 0.6},
        "target 0.98": {"female": 0.8, "male": 0.8},
        "target 0.99": {"female": 0.9, "male": 0.9},
    },
    "contamination": [
        {"group": g, "emotion": e, "n_labelled": 50, "other_share": share,
         "other_share_low": share / 2, "other_share_high": share * 2,
         "undecidable_share": 0.1, "operating_point": point}
        for g, share in (("female", 0.04), ("male", 0.1))
        for e in ("angry", "happy", "all")
        for point in ("labels", "target 0.99")
    ],
}  # fmt: skip


def labeller_confidence(frame: pd.DataFrame) -> np.ndarray:
    """P(female) of heldout faces (a third at each level, on the group's side); NaN elsewhere."""
    index = frame["sample_id"].str.extract(r"img(\d+)")[0].astype(int).to_numpy()
    confidence = np.array(P_LEVELS)[index % 3]
    p = np.where(frame["group"] == "female", confidence, 1 - confidence)
    return np.where(frame["test_set"] == "heldout", p, np.nan)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = build_experiment(tmp_path_factory.mktemp("runs") / "noisy")
    for path in folder.glob("*/predictions.parquet"):
        frame = pd.read_parquet(path)
        frame.assign(labeller_prob_female=labeller_confidence(frame)).to_parquet(path, index=False)
    record = json.loads((folder / "experiment.json").read_text())
    record["label_audit"] = [{"source": "fer2013", **AUDIT}]
    record["spec"]["data"]["gold_test"] = {"name": "cfd"}  # stands in for fer2013-gold
    (folder / "experiment.json").write_text(json.dumps(record))
    return folder, analyse(load_experiment(folder), n_resamples=100)


def test_contamination_table_reads_the_labels_operating_point(toy):
    _, a = toy
    table = label_noise.contamination_table(AUDIT, a.results.record["counts"])
    assert len(table) == 6  # two groups x (angry, happy, all) at "labels" only
    row = table.set_index(["group", "emotion"]).loc[("male", "angry")]
    assert row["other gender % (95% CI)"] == "10.0 (5.0 to 20.0)"
    assert row["training images"] == 10  # the toy's counts: 10 per group x emotion
    assert row["expected other-gender training images"] == "1"
    assert table.set_index(["group", "emotion"]).loc[("female", "all"), "training images"] == 60


def test_sensitivity_keeps_only_confident_test_faces(toy):
    _, a = toy
    table = label_noise.sensitivity_table(a, AUDIT, measure=PLAIN, n_resamples=100)
    assert table["labels"].str.split(" ").str[0].unique().tolist() == ["as", "target", "hand"]
    kept = table.groupby("labels", sort=False)["test female / male"].first().tolist()
    # 0.6: all; 0.8: two thirds; 0.9: a third; the hand-labelled set whole
    assert kept == ["30 / 30", "20 / 20", "10 / 10", "30 / 30"]
    assert table["labels"].iloc[-1] == "hand labels: test set cfd"
    strict = table[table["labels"].str.startswith("target 0.99")].set_index("condition")
    scored = a.scored
    mine = scored[
        (scored["test_set"] == "heldout")
        & (scored["test_group"] == "female")
        & (scored["train_group"] == "female")
        & (scored["variant"] == "baseline")
        & (scored["labeller_prob_female"] >= 0.9)
    ]
    assert strict.loc[strict.index[0], "F->F %"] == f"{100 * mine['correct'].mean():.1f}"
    as_labelled = table[table["labels"] == "as labelled"]
    assert (
        as_labelled["in-group advantage pp (95% CI)"]
        .iloc[0]
        .startswith(f"{100 * a.advantage['advantage'].iloc[0]:.1f}")
    )


def test_hand_labels_and_unscored_test_sets_are_never_dropped(toy):
    _, a = toy
    kept = label_noise.keep_confident(a.scored, 0.99, 0.99)
    assert set(kept["test_set"]) == {"cfd", "jaffe"}  # every heldout face falls below 0.99
    assert len(kept) == (a.scored["test_set"] != "heldout").sum()


def test_report_has_the_label_noise_section(toy):
    folder, _ = toy
    markdown = report.write_report(folder, n_resamples=100).markdown.read_text()
    assert "## Label noise" in markdown and "toy_gender.csv" in markdown
    assert "Sensitivity to label noise" in markdown and "target 0.98 (0.8, 0.8)" in markdown


def test_report_says_when_there_is_no_audit(tmp_path):
    folder = build_experiment(tmp_path / "plain")
    markdown = report.write_report(folder, n_resamples=50).markdown.read_text()
    assert "carries no label audit" in markdown
