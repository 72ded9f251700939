"""The report of a synthetic experiment folder: parses, embeds every figure, states verdicts."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferbias.analysis import report
from ferbias.analysis.metrics import load_experiment
from ferbias.analysis.study_results import published_results

FIGURES = ["variant_metrics", "transfer_heatmap", "recall_by_group", "confusion", "learning_curves"]
EMOTIONS = ["angry", "fear", "happy", "neutral", "sad", "surprise"]
TEST_SETS = {  # name -> (groups, emotions, with subject ids)
    "heldout": (["female", "male"], EMOTIONS, False),
    "cfd": (["female", "male"], ["angry", "fear", "happy", "neutral"], True),
    "jaffe": (["female"], EMOTIONS, True),
}


def _test_images(gen: np.random.Generator, n: int = 60) -> pd.DataFrame:
    frames = []
    for name, (groups, emotions, with_subjects) in TEST_SETS.items():
        group = np.resize(groups, n)
        subjects = [f"{name}-subj{i % 12}" for i in range(n)] if with_subjects else [None] * n
        frames.append(
            pd.DataFrame(
                {
                    "test_set": name,
                    "sample_id": [f"{name}:img{i}.png" for i in range(n)],
                    "subject_id": pd.Series(subjects, dtype="string"),
                    "group": group,
                    "y_true": gen.choice(emotions, size=n),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _predictions(run_id: str, images: pd.DataFrame, train_group: str, gen) -> pd.DataFrame:
    """Random probabilities, a little better on the model's own group."""
    logits = gen.normal(size=(len(images), len(EMOTIONS)))
    truth = pd.Categorical(images["y_true"], categories=EMOTIONS).codes
    boost = np.where(images["group"] == train_group, 1.5, 1.0)
    logits[np.arange(len(images)), truth] += boost
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = images.assign(run_id=run_id, y_pred=np.array(EMOTIONS)[proba.argmax(axis=1)])
    for j, emotion in enumerate(EMOTIONS):
        frame[f"p_{emotion}"] = proba[:, j]
    frame["loss"] = -np.log(proba[np.arange(len(images)), truth])
    return frame


def _write_run(root: Path, meta: dict, images: pd.DataFrame, gen) -> None:
    folder = root / meta["run_id"]
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(meta))
    _predictions(meta["run_id"], images, meta["train_group"], gen).to_parquet(
        folder / "predictions.parquet", index=False
    )
    epochs = np.arange(1, 4)
    pd.DataFrame(
        {
            "epoch": epochs,
            "train_loss": 1.8 / epochs,
            "train_acc": 0.3 + 0.1 * epochs,
            "val_loss": 1.9 / epochs,
            "val_acc": 0.25 + 0.08 * epochs,
            "seconds": 1.0,
            "images_per_s": 500.0,
        }
    ).to_csv(folder / "history.csv", index=False)


def build_experiment(root: Path, *, variants=("baseline", "dropout"), seeds=(0, 1)) -> Path:
    """A fake but well-formed runs/<experiment>/ folder (plus one unfinished run)."""
    gen = np.random.default_rng(7)
    images = _test_images(gen)
    root.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        for group in ("female", "male", "mixed"):
            for seed in seeds:
                meta = {
                    "run_id": f"{group}-{variant}-s{seed}",
                    "experiment": "synthetic",
                    "model": "paper-cnn",
                    "variant": variant,
                    "train_group": group,
                    "seed": seed,
                    "emotions": EMOTIONS,
                    "status": "finished",
                    "epochs": 3,
                }
                _write_run(root, meta, images, gen)
    unfinished = {**meta, "run_id": "running-one", "status": "running"}
    (root / "running-one").mkdir()
    (root / "running-one" / "run.json").write_text(json.dumps(unfinished))
    record = {
        "experiment": "synthetic",
        "emotions": EMOTIONS,
        "group_col": "gender",
        "groups": ["female", "male"],
        "spec": {"data": {"name": "heldout"}, "train": {"epochs": 3}},
        "counts": [
            {"group": g, "split": "train", "emotion": e, "n": 10}
            for g in ("female", "male")
            for e in EMOTIONS
        ],
        "label_provenance": [{"group": "female", "gender_source": "labels:onnx-cc0", "n": 60}],
        "power": {"test_sizes": {"heldout": {"female": 30, "male": 30}}, "base_accuracy": 0.45},
        "published": {"baseline": {"female": {"female": 47.0}}},
    }
    (root / "experiment.json").write_text(json.dumps(record))
    return root


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = build_experiment(tmp_path_factory.mktemp("runs") / "synthetic")
    return folder, report.write_report(folder, n_resamples=200)


def test_loader_reads_finished_planned_runs_only(tmp_path):
    folder = build_experiment(tmp_path / "exp", variants=("baseline",))
    record = json.loads((folder / "experiment.json").read_text())
    planned = [
        p.parent.name for p in folder.glob("*/run.json") if p.parent.name != "male-baseline-s1"
    ]
    (folder / "experiment.json").write_text(
        json.dumps({**record, "runs": [{"run_id": r} for r in planned]})
    )
    results = load_experiment(folder)
    assert len(results.runs) == 5 and "male-baseline-s1" not in set(results.runs.run_id)
    (folder / "experiment.json").write_text(json.dumps(record))
    results = load_experiment(folder)
    assert len(results.runs) == 6
    assert "running-one" not in set(results.predictions["run_id"])
    assert {"variant", "train_group", "seed"} <= set(results.predictions.columns)
    assert len(results.histories) == 6 * 3


def test_html_parses_and_embeds_every_figure(written):
    folder, paths = written
    made = sorted(p.stem for p in (folder / "report" / "figures").glob("*.png"))
    assert made == sorted(FIGURES)
    parser = _Collector()
    parser.feed(paths.html.read_text(encoding="utf-8"))
    assert len(parser.images) == len(made)
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert "link" not in parser.tags and "script" not in parser.tags  # nothing external
    markdown = paths.markdown.read_text(encoding="utf-8")
    for name in made:
        assert f"](figures/{name}.png)" in markdown
        assert (folder / "report" / "figures" / f"{name}.png").stat().st_size > 1000


def test_report_states_power_verdicts_and_published_numbers(written):
    _, paths = written
    text = paths.markdown.read_text(encoding="utf-8")
    assert "power to detect an accuracy gap of" in text
    assert "female-trained models were" in text and "Holm correction" in text
    assert "in-group advantage" in text
    assert "| baseline | female | female |" in text and "| 47.0 |" in text
    assert "not given" in text


def test_published_numbers_read_from_record_as_fractions():
    record = {"spec": {"published": {"lr": {"male": {"female": 0.41, "male": 44}}}}}
    assert published_results(record) == {"lr": {"male": {"female": 0.41, "male": 0.44}}}
    with pytest.raises(ValueError, match="expected a number"):
        published_results({"published": {"lr": {"male": {"male": "high"}}}})


def test_report_without_experiment_json_or_mixed_runs(tmp_path):
    folder = build_experiment(tmp_path / "bare", variants=("baseline",), seeds=(0,))
    (folder / "experiment.json").unlink()
    for run in folder.glob("mixed-*"):
        for file in run.iterdir():
            file.unlink()
        run.rmdir()
    paths = report.write_report(folder, n_resamples=100)
    text = paths.markdown.read_text(encoding="utf-8")
    assert "faces (heldout)" in text  # the default held-out test set is the in-group cell
    assert "experiment.json gives no data counts" in text
    assert "not given" in text


def test_verdicts_warn_when_too_few_seeds(tmp_path):
    one_seed = build_experiment(tmp_path / "one", variants=("baseline",), seeds=(0,))
    text = report.write_report(one_seed, n_resamples=100).markdown.read_text(encoding="utf-8")
    assert "Caution: 1 seed(s) per condition" in text
    three = build_experiment(tmp_path / "three", variants=("baseline",), seeds=(0, 1, 2))
    text = report.write_report(three, n_resamples=100).markdown.read_text(encoding="utf-8")
    assert "Caution:" not in text
