"""The in-domain gold sample: Training faces only, stratified, halves fixed by the seed, twins of
test faces left out, targeted faces from the unsure automatic labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.gender import gold_sample as gs

PER_EMOTION = {"angry": 40, "fear": 40, "happy": 80, "neutral": 60, "sad": 40, "surprise": 40}


def toy_manifest() -> pd.DataFrame:
    """FER-2013-like rows: Training faces of the six emotions plus disgust and test faces."""
    rows = []
    for emotion, n in {**PER_EMOTION, "disgust": 10}.items():
        rows += [("train", emotion, f"Training_{emotion}{i}.jpg", "Training") for i in range(n)]
        rows += [("test", emotion, f"PublicTest_{emotion}{i}.jpg", "PublicTest") for i in range(5)]
        rows += [
            ("test", emotion, f"PrivateTest_{emotion}{i}.jpg", "PrivateTest") for i in range(5)
        ]
    return pd.DataFrame(
        {
            "sample_id": [f"fer2013:{s}/{e}/{name}" for s, e, name, _ in rows],
            "emotion": [e for _, e, _, _ in rows],
            "usage": [u for *_, u in rows],
        }
    )


def toy_labels(manifest: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    files = manifest["sample_id"].str.split(":", n=1).str[1]
    p = rng.uniform(0, 1, len(files))
    gender = np.where(np.abs(p - 0.5) < 0.05, "unknown", np.where(p >= 0.5, "female", "male"))
    return pd.DataFrame({"file": files, "gender": gender, "p_female": p})


def draw(seed=0, **options):
    manifest = toy_manifest()
    labels = toy_labels(manifest, np.random.default_rng(1))
    options = {"excluded": set(), "n_random": 100, "n_targeted": 30, **options}
    return gs.draw_gold_sample(manifest, labels, seed=seed, **options), labels


def test_only_training_faces_of_the_six_emotions():
    sample, _ = draw()
    plan = sample.plan
    assert plan["file"].map(gs.is_training_file).all()
    assert not plan["file"].str.contains("Test_").any()
    assert set(plan["emotion"]) == set(STUDY_EMOTIONS)
    assert plan["file"].is_unique
    assert (plan["file"].str.split("/").str[1] == plan["emotion"]).all()


def test_random_part_stratified_and_halved():
    plan = draw()[0].plan
    random = plan[plan["part"].str.startswith("random")]
    assert len(random) == 100
    expected = pd.Series(PER_EMOTION) / sum(PER_EMOTION.values()) * 100
    counts = random["emotion"].value_counts()
    assert (counts.reindex(expected.index) - expected).abs().max() < 1
    halves = random["part"].value_counts()
    assert halves["random-fit"] == halves["random-audit"] == 50
    by_emotion = pd.crosstab(random["emotion"], random["part"])
    assert (by_emotion["random-fit"] - by_emotion["random-audit"]).abs().max() <= 1


def test_deterministic_from_the_seed():
    first, again, other = draw(seed=3)[0].plan, draw(seed=3)[0].plan, draw(seed=4)[0].plan
    pd.testing.assert_frame_equal(first, again)
    assert set(first["file"]) != set(other["file"])
    fit = set(first.loc[first["part"] == "random-fit", "file"])
    assert fit == set(again.loc[again["part"] == "random-fit", "file"])


def test_targeted_faces_are_unsure_and_not_random():
    sample, labels = draw()
    plan = sample.plan
    targeted = plan[plan["part"] == "targeted"]
    assert len(targeted) == 30
    assert not set(targeted["file"]) & set(plan.loc[plan["part"] != "targeted", "file"])
    auto = labels.set_index("file").loc[targeted["file"]]
    unsure = (auto["gender"] == "unknown") | ((auto["p_female"] - 0.5).abs() < gs.UNSURE_MARGIN)
    assert unsure.all()


def test_twins_of_test_faces_excluded():
    manifest = toy_manifest()
    train = manifest[manifest["usage"] == "Training"]["sample_id"].tolist()
    test = manifest[manifest["usage"] == "PrivateTest"]["sample_id"].tolist()
    duplicates = pd.DataFrame(
        {
            "sample_id": [train[0], test[0], train[1], test[1], train[2], train[3]],
            "exact_group": pd.array([0, 0, pd.NA, pd.NA, 1, 1], dtype="Int64"),
            "near_group": pd.array([0, 0, 2, 2, 1, 1], dtype="Int64"),
        }
    )
    twins = gs.twins_of_test_faces(manifest, duplicates)
    assert twins == {train[0], train[1]}  # exact and near twins; a train-train pair stays
    sample, _ = draw(excluded=twins, n_random=270, n_targeted=0)
    assert sample.excluded_test_duplicates == 2
    assert sample.pool == sum(PER_EMOTION.values()) - 2
    excluded_files = {t.split(":", 1)[1] for t in twins}
    assert not excluded_files & set(sample.plan["file"])


def test_too_few_faces_refused_with_the_emotion():
    with pytest.raises(ValueError, match=r"needs .* faces but only"):
        draw(n_random=400)


def test_plan_with_a_test_file_refused(tmp_path):
    path = tmp_path / "plan.csv"
    pd.DataFrame(
        {
            "file": ["train/sad/Training_1.jpg", "test/sad/PrivateTest_2.jpg"],
            "emotion": ["sad", "sad"],
            "part": ["random-fit", "targeted"],
        }
    ).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"PrivateTest_2\.jpg.*not a FER-2013 Training file"):
        gs.read_plan(path)


@pytest.mark.realdata
def test_real_fer2013_sample(data_root):
    from ferbias.data.sources import load_source
    from ferbias.data.sources.fer2013 import DEFAULT_GENDER_LABELS
    from ferbias.gender.labels import read_labels

    manifest = load_source("fer2013", data_root / "fer2013", gender_labels=None).manifest
    twins, unreadable = gs.find_test_twins(manifest, workers=1)
    sample = gs.draw_gold_sample(
        manifest,
        read_labels(DEFAULT_GENDER_LABELS),
        excluded=twins,
        unreadable=unreadable,
        n_random=300,
        n_targeted=60,
        seed=0,
    )
    plan = sample.plan
    usage = manifest.assign(file=manifest["sample_id"].str.split(":", n=1).str[1])
    usage = usage.set_index("file")["usage"]
    assert (usage.loc[plan["file"]] == "Training").all()
    assert sample.excluded_test_duplicates > 0
    twin_files = {t.split(":", 1)[1] for t in twins}
    assert not twin_files & set(plan["file"])
    assert plan["part"].value_counts().to_dict() == {
        "random-fit": 150,
        "random-audit": 150,
        "targeted": 60,
    }
