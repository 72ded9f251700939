"""Issue 14's grids: an in-group advantage made only of the emotion mix vanishes when
standardised (and the verdict says so); a real per-face advantage survives it."""

from __future__ import annotations

import pytest
from mix_grid import GROUPS, MIXES, mix_only, own_face_bonus, true_advantage, write_mix_grid

from ferbias.analysis.metrics import load_experiment
from ferbias.analysis.sections.answer import verdict_paragraph
from ferbias.analysis.tables import analyse

POOLED = {g: {e: (MIXES["female"][e] + MIXES["male"][e]) / 2 for e in MIXES[g]} for g in GROUPS}


def _analysed(folder):
    return analyse(load_experiment(folder), n_resamples=400, seed=1)


@pytest.fixture(scope="module")
def mix_alone(tmp_path_factory):
    return _analysed(write_mix_grid(tmp_path_factory.mktemp("runs") / "mix", mix_only))


def test_mix_alone_gives_a_plain_advantage_that_standardisation_removes(mix_alone):
    a = mix_alone
    advantage = a.advantage.set_index("measure")
    plain, std = advantage.loc["accuracy"], advantage.loc["standardised_accuracy"]
    assert true_advantage(mix_only, MIXES) == pytest.approx(0.315)
    assert plain.advantage == pytest.approx(0.315, abs=0.04)
    assert plain.low > 0.2 and plain.p_holm < 0.01
    assert true_advantage(mix_only, POOLED) == pytest.approx(0.0)
    assert abs(std.advantage) < 0.03
    assert std.low < 0 < std.high and std.p_holm > 0.05
    balanced = advantage.loc["balanced_accuracy"]
    assert balanced.low < 0 < balanced.high
    paragraph = verdict_paragraph(a)
    assert "models did better on their own group in 0 of 1 condition(s)" in paragraph
    assert "No evidence of an in-group advantage in 1: baseline" in paragraph
    assert "the emotion mix accounts for" in paragraph
    assert "plain accuracy alone would call 1 condition(s) significant, not 0" in paragraph


def test_model_gap_is_the_same_on_both_groups_faces_once_standardised(mix_alone):
    gaps = mix_alone.comparison.set_index(["measure", "test_group"])["difference"]
    # plain: +12 pp on female faces, -19.5 pp on male faces; both are the mix
    assert gaps[("accuracy", "female")] == pytest.approx(0.12, abs=0.04)
    assert gaps[("accuracy", "male")] == pytest.approx(-0.195, abs=0.04)
    # standardised: the F-model's -3.75 pp on every face (it reads the pooled mix worse)
    for group in GROUPS:
        assert gaps[("standardised_accuracy", group)] == pytest.approx(-0.0375, abs=0.03)


def test_a_real_per_face_advantage_survives_standardisation(tmp_path):
    recall = own_face_bonus(0.10)
    a = _analysed(write_mix_grid(tmp_path / "face", recall))
    std = a.advantage.set_index("measure").loc["standardised_accuracy"]
    assert true_advantage(recall, POOLED) == pytest.approx(0.20)
    assert std.advantage == pytest.approx(0.20, abs=0.04)
    assert std.low > 0.1 and std.p_holm < 0.01
    paragraph = verdict_paragraph(a)
    assert "models did better on their own group in 1 of 1 condition(s): baseline +" in paragraph
