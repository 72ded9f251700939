"""Cross-fitting never scores a face with a model that saw it (or saw its twin); the gold reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferbias.gender.crossfit import FINAL, FoldPlan, cross_fit, plan_folds
from ferbias.gender.domain import plan_gold_folds
from ferbias.gender.domain_gold import DomainGold, read_gold


def gold_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Parts, consensus and twin groups; faces 0/1 twins across random-fit and random-audit,
    faces 2/3 twins inside the training parts."""
    rng = np.random.default_rng(seed)
    part = rng.choice(["random-fit", "random-audit", "targeted"], size=n, p=[0.4, 0.4, 0.2])
    consensus = rng.choice(
        ["female", "male", "unknown", "disagree"], size=n, p=[0.45, 0.45, 0.05, 0.05]
    )
    twin = np.arange(n)
    part[:4] = ["random-fit", "random-audit", "random-fit", "targeted"]
    consensus[:4] = "female"
    twin[1], twin[3] = 0, 2
    decidable = np.isin(consensus, ["female", "male"])
    return pd.DataFrame(
        {"file": [f"train/happy/Training_{i}.jpg" for i in range(n)], "part": part,
         "consensus": consensus, "decidable": decidable,
         "truth": pd.Series(np.where(decidable, consensus, None), dtype="string"),
         "twin_group": twin}
    )  # fmt: skip


def recording_run(plan: FoldPlan):
    seen: dict[str, set[int]] = {}

    def train(name: str, faces: np.ndarray) -> str:
        seen[name] = set(faces.tolist())
        return name

    def score(model: str, faces: np.ndarray) -> np.ndarray:
        groups_seen = set(plan.twin_group[list(seen[model])].tolist())
        assert not set(faces.tolist()) & seen[model]
        assert not set(plan.twin_group[faces].tolist()) & groups_seen
        return faces.astype(float)

    return train, score, seen


def test_no_face_is_scored_by_a_model_that_saw_it_or_its_twin():
    table = gold_table()
    gold = DomainGold(table, np.zeros((len(table), 48, 48), np.uint8))
    plan = plan_gold_folds(gold, k=5, seed=0)
    train, score, seen = recording_run(plan)
    scored = cross_fit(plan, train=train, score=score)
    assert scored["score"].tolist() == list(range(len(table)))  # every face scored once
    audit = (table["part"] == "random-audit").to_numpy()
    assert (scored["scored_by"][audit] == "final").all()
    trainable = gold.mask("random-fit", "targeted", decidable=True)
    assert scored["scored_by"][trainable].str.startswith("fold-").all()
    assert not seen["final"] & set(np.flatnonzero(audit))
    assert 0 not in seen["final"]  # the twin of audit face 1 never trains the final model
    assert plan.fold[2] == plan.fold[3]  # twins share a fold
    assert not (seen["final"] & set(np.flatnonzero(~table["decidable"])))


def test_a_plan_that_splits_twins_is_refused():
    table = gold_table()
    trainable = table["decidable"].to_numpy() & (table["part"] != "random-audit").to_numpy()
    plan = plan_folds(trainable, table["consensus"].to_numpy(), table["twin_group"], k=3, seed=1)
    fold = plan.fold.copy()
    fold[3] = (fold[2] + 1) % 3  # move one twin to another fold
    broken = FoldPlan(fold, plan.trains, plan.twin_group, plan.k)
    _, score, _ = recording_run(broken)
    with pytest.raises(RuntimeError, match="twin group it trained on"):
        cross_fit(broken, train=lambda name, faces: name, score=score)
    assert FINAL == -1


def test_too_few_faces_for_the_folds_are_refused():
    with pytest.raises(ValueError, match="at least 5"):
        plan_folds(np.ones(6, bool), np.array(list("aaabbb")), np.arange(6), k=5, seed=0)


def test_gold_file_is_validated(tmp_path):
    good = pd.DataFrame(
        {"file": ["train/sad/Training_1.jpg", "train/fear/Training_2.jpg"],
         "pass_a": ["F", "U"], "pass_b": ["F", "M"],
         "consensus": ["female", "disagree"], "part": ["random-fit", "targeted"]}
    )  # fmt: skip
    good.to_csv(tmp_path / "g.csv", index=False)
    table = read_gold(tmp_path / "g.csv")
    assert table["decidable"].tolist() == [True, False]
    assert table["truth"].isna().tolist() == [False, True]
    for column, value, message in (
        ("file", "test/sad/PublicTest_1.jpg", "not a FER-2013 Training face"),
        ("consensus", "woman", "consensus 'woman'"),
        ("part", "audit", "part 'audit'"),
        ("file", "train/fear/Training_2.jpg", "more than once"),
    ):
        bad = good.copy()
        bad.loc[0, column] = value
        bad.to_csv(tmp_path / "b.csv", index=False)
        with pytest.raises(ValueError, match=message):
            read_gold(tmp_path / "b.csv")
    with pytest.raises(FileNotFoundError, match="file, consensus, part"):
        read_gold(tmp_path / "none.csv")
