"""The report of a synthetic experiment folder: parses, embeds every figure, states verdicts."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file

from ferbias.analysis import report
from ferbias.analysis.blocks import Table
from ferbias.analysis.metrics import load_experiment
from ferbias.analysis.sections.answer import seed_caveat
from ferbias.analysis.sections.study import study_blocks
from ferbias.analysis.tables import analyse

FIGURES = [
    "forest_advantage",
    "forest_gap",
    "variant_metrics",
    "transfer_heatmap",
    "recall_by_group",
    "confusion",
    "learning_curves",
]
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
    save_file({"w": gen.normal(size=(2, 2)).astype(np.float32)}, folder / "model.safetensors")
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
    }
    (root / "experiment.json").write_text(json.dumps(record))
    return root


class _Collector(HTMLParser):
    """Images, tags in order, and each table's header and row texts."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("th", "td"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None


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


def test_report_states_power_verdicts_and_the_study_side_by_side(written):
    _, paths = written
    text = paths.markdown.read_text(encoding="utf-8")
    assert "power to detect an accuracy gap of" in text
    assert "female-trained models were" in text and "Holm correction" in text
    assert "in-group advantage" in text and "emotion mix accounts for" in text
    study = text[text.index("## ferbias vs the published study") :]
    assert "| baseline | female | female |" in study and "| 45.58 |" in study
    assert "| baseline | female | male |" in study  # the paper gives no figure: empty cells
    row = next(line for line in study.splitlines() if line.startswith("| baseline | female | male"))
    assert row.endswith("|  |  |  |")
    assert "| baseline | female | 3 |" in study and "| 90.99 |" in study  # train / val
    assert "not given" not in text


def test_report_leads_with_its_answer_and_has_no_empty_columns(written):
    _, paths = written
    parser = _Collector()
    parser.feed(paths.html.read_text(encoding="utf-8"))
    assert parser.tags.index("nav") < parser.tags.index("table")
    assert parser.ids.index("verdict") < parser.ids.index("transfer-tables")
    first_table = parser.tags.index("table")
    assert parser.tags.index("img") < first_table  # the forest plots come before the tables
    assert {"answer", "transfer-tables", "figures", "setup"} <= set(parser.ids)
    for table in parser.tables:
        header, *rows = table
        assert all(header), f"a table has an empty column header: {header}"
        assert all(len(row) == len(header) for row in rows)


def _analysed(folder: Path, n_resamples: int = 50):
    return analyse(load_experiment(folder), n_resamples=n_resamples)


def test_ambiguous_study_figures_are_shown_against_each_candidate(tmp_path):
    folder = build_experiment(tmp_path / "l2", variants=("l2-0.001", "l2-0.01"), seeds=(0,))
    analysis = _analysed(folder)
    blocks = study_blocks(analysis)
    test, train_val = (b.frame for b in blocks if isinstance(b, Table))
    test = test.set_index(["variant", "train group", "test group"])
    ours = analysis.transfer.query("test_set == 'heldout'")
    ours = ours.set_index(["variant", "train_group", "test_group"])["accuracy"]
    for variant in ("l2-0.001", "l2-0.01"):
        row = test.loc[(variant, "female", "female")]
        assert row["study %"] == "50.85"
        assert row["note"].startswith("ambiguous, one of l2-0.001 / l2-0.01")
        difference = 100 * ours[(variant, "female", "female")] - 50.85  # ferbias - study, pp
        assert float(row["ferbias - study, pp"]) == pytest.approx(difference, abs=0.051)
        assert row["ferbias - study, pp"][0] in "+-"
        assert test.loc[(variant, "female", "male"), "study %"] == "53.17"
        assert test.loc[(variant, "male", "male"), "study %"] == ""  # no L2 models on men
    train_val = train_val.set_index(["variant", "group"])
    assert train_val.loc[("l2-0.01", "female"), "study train %"] == "56.18"
    assert train_val.loc[("l2-0.01", "female"), "note"] == ""  # one variant: not ambiguous


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


def test_verdicts_warn_when_too_few_seeds(tmp_path, written):
    _, paths = written
    assert "Caution: 2 seed(s) per condition" in paths.markdown.read_text(encoding="utf-8")
    three = build_experiment(tmp_path / "three", variants=("baseline",), seeds=(0, 1, 2))
    assert seed_caveat(_analysed(three)) == []
