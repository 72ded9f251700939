"""The gold file from two passes: consensus rule, refusals (test-split files, files outside the
plan, unfinished passes) and the agreement report."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from ferbias.gender import gold_build, passes

FILES = [f"train/{e}/Training_{i}.jpg" for e in ("angry", "happy") for i in range(4)]
PLAN = pd.DataFrame(
    {
        "file": FILES,
        "emotion": [f.split("/")[1] for f in FILES],
        "part": ["random-fit", "random-audit", "targeted", "random-fit"] * 2,
    }
)
A = list("FFMMUUFM")
B = list("FMMMUFUF")


def pass_frame(answers, pass_id, files=FILES) -> pd.DataFrame:
    return passes.make_pass(
        {"file": files, "answer": answers, "pass": pass_id, "annotator": f"agent-{pass_id}"}
    )


def test_consensus_rule():
    gold = gold_build.build_gold(PLAN, {"A": pass_frame(A, "A"), "B": pass_frame(B, "B")})
    assert list(gold.columns) == ["file", "emotion", "pass_a", "pass_b", "consensus", "part"]
    got = gold.set_index("file").loc[FILES, "consensus"].tolist()
    assert got == [
        "female",
        "disagree",
        "male",
        "male",
        "unknown",
        "disagree",
        "disagree",
        "disagree",
    ]


def test_agreement_report_matches_sklearn():
    gold = gold_build.build_gold(PLAN, {"A": pass_frame(A, "A"), "B": pass_frame(B, "B")})
    report = gold_build.agreement(gold)
    assert report["raw_agreement"] == pytest.approx(4 / 8)
    a, b = gold["pass_a"], gold["pass_b"]
    assert report["kappa_fmu"]["kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-4)
    low, high = report["kappa_fmu"]["ci95"]
    assert low < report["kappa_fmu"]["kappa"] < high
    assert report["decidable"] == 3
    assert report["u_rate"]["by_pass"] == {"pass_a": 0.25, "pass_b": 0.25}
    assert report["u_rate"]["by_emotion"]["happy"] == {"pass_a": 0.5, "pass_b": 0.5}
    assert report["u_rate"]["by_emotion"]["angry"] == {"pass_a": 0.0, "pass_b": 0.0}
    counts = gold_build.consensus_counts(gold)
    assert counts.loc[("all", "all")].to_dict() == {
        "female": 1,
        "male": 2,
        "unknown": 1,
        "disagree": 4,
        "agreement": 0.5,
    }


@pytest.mark.parametrize("where", ["plan", "pass"])
def test_test_split_files_refused(where):
    test_file = "test/angry/PublicTest_9.jpg"
    plan = PLAN.copy()
    files = list(FILES)
    if where == "plan":
        plan.loc[0, "file"] = test_file
    files[0] = test_file
    with pytest.raises(ValueError, match=r"PublicTest_9\.jpg.*not a FER-2013 Training file"):
        gold_build.build_gold(plan, {"A": pass_frame(A, "A", files), "B": pass_frame(B, "B")})


def test_file_outside_the_plan_refused():
    files = [*FILES[:-1], "train/sad/Training_99.jpg"]
    with pytest.raises(ValueError, match=r"pass A: 1 answered file.*not in the plan"):
        gold_build.build_gold(PLAN, {"A": pass_frame(A, "A", files), "B": pass_frame(B, "B")})


def test_unfinished_pass_refused_unless_partial():
    short = pass_frame(A[:6], "A", FILES[:6])
    with pytest.raises(ValueError, match="pass A has no answer for 2 plan face"):
        gold_build.build_gold(PLAN, {"A": short, "B": pass_frame(B, "B")})
    gold = gold_build.build_gold(PLAN, {"A": short, "B": pass_frame(B, "B")}, partial=True)
    assert sorted(gold["file"]) == sorted(FILES[:6])


def test_exactly_two_passes():
    with pytest.raises(ValueError, match="exactly two passes"):
        gold_build.build_gold(PLAN, {"A": pass_frame(A, "A")})


def test_pass_file_round_trip_and_validation(tmp_path):
    path = tmp_path / "A.csv"
    passes.write_pass(path, pass_frame(A, "A"))
    pd.testing.assert_frame_equal(passes.read_pass(path, pass_id="A"), pass_frame(A, "A"))
    with pytest.raises(ValueError, match="is pass 'A', not 'B'"):
        passes.read_pass(path, pass_id="B")
    text = path.read_text().replace(",F,", ",female,", 1)
    path.write_text(text)
    with pytest.raises(ValueError, match="answer 'female'; expected F, M or U"):
        passes.read_pass(path)
