"""``data.gold_test``: hand-labelled faces and their twins never reach training; they are tested."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from experiment_toy import EMOTIONS, toy_image, toy_overrides, write_toy_manifest
from ferbias.experiment.data import build_data
from ferbias.experiment.spec import SpecError, load_spec

QUICK = Path(__file__).parents[2] / "experiments" / "quick.yaml"


def fer_like_toy(folder: Path) -> tuple[Path, Path]:
    """A manifest of FER-like paths (train/<emotion>/Training_<n>.png, test/...), a gold CSV,
    and twins of two gold faces: an exact copy and a slightly brightened copy."""
    rows, n = [], 0
    for split, per_cell in (("train", 6), ("test", 2)):
        usage = "Training" if split == "train" else "PublicTest"
        for gender in ("female", "male"):
            for e, emotion in enumerate(EMOTIONS):
                for _ in range(per_cell):
                    n += 1
                    path = f"{split}/{emotion}/{usage}_{n}.png"
                    (folder / path).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(toy_image(e, n)).save(folder / path)
                    rows.append(
                        {"path": path, "emotion": emotion, "gender": gender, "split": split}
                    )
    table = pd.DataFrame(rows)
    picked = table[table["split"] == "train"].iloc[::7].head(10).reset_index(drop=True)
    gold = pd.DataFrame(
        {"file": picked["path"],
         "consensus": ["male", "female", "female", "male", "unknown", "disagree", "female",
                       "male", "female", "male"],
         "part": ["random-fit"] * 3 + ["random-audit"] * 4 + ["targeted"] * 3}
    )  # fmt: skip
    gold_path = folder / "gold.csv"
    gold.to_csv(gold_path, index=False)
    exact, near = picked.iloc[0].to_dict(), picked.iloc[3].to_dict()
    twins = []
    for source, twin, shift in (
        (exact, "train/angry/Training_900.png", 0),
        (near, "train/angry/Training_901.png", 3),
    ):
        image = np.asarray(Image.open(folder / source["path"]), dtype=np.int16) + shift
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / twin)
        twins.append({**source, "path": twin})
    table = pd.concat([table, pd.DataFrame(twins)], ignore_index=True)
    manifest = folder / "fer_like.csv"
    table.to_csv(manifest, index=False)
    return manifest, gold_path


@pytest.fixture(scope="module")
def gold_toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("goldtoy")
    manifest, gold = fer_like_toy(folder)
    external = write_toy_manifest(folder / "ext", per_cell={"test": 1}, name="ext")
    overrides = [
        *toy_overrides(manifest, external),
        "data.match_sizes=false",
        f"data.gold_test={{path: '{gold}', source: manifest}}",
    ]
    return overrides, pd.read_csv(gold)


def test_gold_faces_and_their_twins_never_reach_training(gold_toy):
    overrides, gold = gold_toy
    data = build_data(load_spec(QUICK, overrides))
    trained = set(pd.concat([*data.train.values(), *data.val.values()])["sample_id"])
    random = gold[gold["part"] != "targeted"]
    assert not trained & set("manifest:" + random["file"])
    assert not trained & {
        "manifest:train/angry/Training_900.png",
        "manifest:train/angry/Training_901.png",
    }
    targeted = set("manifest:" + gold.loc[gold["part"] == "targeted", "file"])
    assert targeted & trained  # only the random sample is held out


def test_the_gold_test_set_is_grouped_by_consensus(gold_toy):
    overrides, gold = gold_toy
    data = build_data(load_spec(QUICK, overrides))
    test = data.tests["fer2013-gold"].set_index("sample_id")
    decided = gold[(gold["part"] != "targeted") & gold["consensus"].isin(["female", "male"])]
    assert sorted(test.index) == sorted("manifest:" + decided["file"])
    expected = decided.set_index("manifest:" + decided["file"])["consensus"]
    assert test["group"].to_dict() == expected.to_dict()  # consensus, not the manifest's gender
    assert test["gender_source"].eq("annotator:gold-consensus").all()
    assert set(data.tests) == {"heldout", "fer2013-gold", "ext"}


def test_gold_test_needs_gender_groups_and_known_faces(gold_toy, tmp_path):
    overrides, _ = gold_toy
    with pytest.raises(SpecError, match="group_col must be 'gender'"):
        load_spec(
            QUICK, [*overrides, "data.group_col=race", "data.groups=[a, b]", "train.groups=[a, b]"]
        )
    pd.DataFrame(
        {"file": ["train/sad/Training_99999.jpg"], "consensus": ["male"], "part": ["random-fit"]}
    ).to_csv(tmp_path / "other.csv", index=False)
    spec = load_spec(QUICK, [*overrides, f"data.gold_test.path={tmp_path / 'other.csv'}"])
    with pytest.raises(ValueError, match="none of the 1 gold faces"):
        build_data(spec)


def test_labeller_confidence_is_carried_except_for_hand_labels():
    from ferbias.experiment.grid import labeller_prob_female

    frame = pd.DataFrame(
        {
            "p_female": pd.array([0.9, 0.2, None], dtype="Float64"),
            "gender_source": ["labels:fer2013_gender", "annotator:ann", "labels:x"],
        }
    )
    p = labeller_prob_female(frame)
    assert p[0] == 0.9 and np.isnan(p[1]) and np.isnan(p[2])
    assert np.isnan(labeller_prob_female(frame.drop(columns=["p_female"]))).all()
