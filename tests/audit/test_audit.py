"""ferbias audit: reproduces the experiment's accuracies, label order, third-party ONNX, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from ferbias import load_model
from ferbias.analysis.metrics import load_experiment
from ferbias.analysis.tables import analyse
from ferbias.audit import AuditSpecError, load_audit_spec, run_audit
from ferbias.cli import app
from ferbias.data import images
from onnx_toy import LABELS, SIZE, colour_model, expected_proba, permuted_copy

EMOTIONS = ["angry", "fear", "happy", "neutral", "sad", "surprise"]


def _write_spec(path: Path, test_sets: list[dict], **extra) -> Path:
    spec = {"name": path.stem, "test_sets": test_sets, "n_resamples": 200, **extra}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _toy_sets(toy_experiment: Path) -> list[dict]:
    """The toy experiment's own test sets, as audit test sets."""
    data = toy_experiment.parents[1] / "data"
    return [
        {
            "name": "heldout",
            "source": {"source": "manifest", "path": str(data / "toy.csv"), "face_crop": False},
            "split": "test",
        },
        {
            "name": "ext",
            "source": {
                "source": "manifest",
                "path": str(data / "ext" / "ext.csv"),
                "face_crop": False,
                "options": {"source": "ext"},
            },
        },
    ]


@pytest.fixture(scope="module")
def onnx_audit(toy_experiment, toy_onnx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")
    spec = load_audit_spec(_write_spec(folder / "toy-audit.yaml", _toy_sets(toy_experiment)))
    return run_audit(load_model(toy_onnx), spec, folder / "out")


def _accuracies(summary: pd.DataFrame) -> pd.Series:
    return summary.set_index(["test_set", "group"])["accuracy"].sort_index()


def _audit_accuracies(outcome) -> pd.DataFrame:
    frames = [a.accuracy.assign(test_set=a.result.name) for a in outcome.analyses]
    return pd.concat(frames).query("measure == 'accuracy'")


def test_audit_of_the_export_reproduces_the_experiment_report(onnx_audit, toy_experiment, toy_run):
    report = analyse(load_experiment(toy_experiment), n_resamples=100)
    run_id = onnx_audit.results.model.provenance.run_id
    summary = report.run_metrics["summary"]
    theirs = summary[summary["run_id"] == run_id]
    ours = _accuracies(_audit_accuracies(onnx_audit))
    pd.testing.assert_series_equal(ours, _accuracies(theirs), atol=1e-12, check_names=False)
    experiment = pd.read_parquet(toy_run / "predictions.parquet").set_index("sample_id")
    audit = pd.read_parquet(onnx_audit.predictions).set_index("sample_id")
    assert sorted(audit.index) == sorted(experiment.index)  # the same test rows
    audit = audit.loc[experiment.index]
    assert (audit["y_pred"] == experiment["y_pred"]).all()
    cols = [f"p_{e}" for e in EMOTIONS]
    np.testing.assert_allclose(audit[cols], experiment[cols], atol=1e-5)  # fp32 both sides
    assert np.allclose(audit["other_mass"], 0, atol=1e-6)  # every emotion is shared


def test_a_relabelled_copy_gives_the_same_audit(onnx_audit, toy_onnx, tmp_path):
    order = [5, 3, 1, 0, 2, 4]
    card = {
        "input": {"size": 48, "layout": "NCHW", "color": "gray", "scale": 255.0},
        "output": "logits",
        "labels": [EMOTIONS[i] for i in order],
        "training_data": ["manifest"],
    }
    copy = load_model(permuted_copy(toy_onnx, tmp_path / "copy", order, card))
    assert copy.emotions == card["labels"]
    spec = onnx_audit.results.spec
    again = run_audit(copy, spec, tmp_path / "out")
    first = pd.read_parquet(onnx_audit.predictions).drop(columns="run_id")
    second = pd.read_parquet(again.predictions).drop(columns="run_id")
    pd.testing.assert_frame_equal(second[first.columns], first, atol=1e-6)
    for a, b in zip(onnx_audit.analyses, again.analyses, strict=True):
        pd.testing.assert_frame_equal(a.accuracy, b.accuracy)
        pd.testing.assert_frame_equal(a.gaps, b.gaps)


def _colour_set(folder: Path) -> Path:
    """Flat colour images: angry red, happy green, sad blue, fear grey (no neutral images);
    a third of the men's angry, happy and sad images have the next emotion's colour, so the
    model errs on men only."""
    colours = {"angry": (200, 40, 40), "happy": (40, 200, 40), "sad": (40, 40, 200)}
    colours["fear"] = (128, 128, 128)
    swapped = {"angry": "happy", "happy": "sad", "sad": "angry", "fear": "fear"}
    rows = []
    for gender in ("female", "male"):
        for emotion in colours:
            for k in range(6):
                shown = swapped[emotion] if gender == "male" and k % 3 == 2 else emotion
                file = f"{gender}_{emotion}_{k}.png"
                Image.fromarray(np.full((80, 80, 3), colours[shown], np.uint8)).save(folder / file)
                subject = f"{gender[0]}{k // 2}"
                rows.append(
                    {"path": file, "emotion": emotion, "gender": gender, "subject_id": subject}
                )
    pd.DataFrame(rows).to_csv(folder / "colours.csv", index=False)
    return folder / "colours.csv"


def test_a_third_party_onnx_rgb_nhwc_logits(tmp_path):
    model = load_model(colour_model(tmp_path / "model"))
    manifest = _colour_set(tmp_path)
    source = {"source": "manifest", "path": str(manifest), "options": {"source": "colours"}}
    spec = load_audit_spec(
        _write_spec(tmp_path / "colours.yaml", [{"name": "colours", "source": source}])
    )
    outcome = run_audit(model, spec, tmp_path / "out")
    (result,) = outcome.results.sets
    assert result.shared == ["angry", "happy", "sad"] and result.not_in_model == ["fear"]
    assert result.left_out == {"emotion not in the model (fear)": 12}
    assert result.warnings == []  # trained on 'affectnet', tested on 'colours'
    from ferbias.data.sources import load_source

    rows = load_source("manifest", manifest, source="colours").manifest
    rows = rows[rows["emotion"] != "fear"].reset_index(drop=True)
    rgb = images.prepare(rows, size=SIZE, color="rgb", face_crop=False, use_cache=False).pixels
    expected = expected_proba(rgb)
    shared = [LABELS.index(e) for e in result.shared]
    predicted = np.array(result.shared)[expected[:, shared].argmax(axis=1)]
    table = result.predictions.set_index("sample_id").loc[rows["sample_id"]]
    assert (table["y_pred"].to_numpy() == predicted).all()
    neutral = expected[:, LABELS.index("neutral")]
    np.testing.assert_allclose(table["other_mass"], neutral, rtol=1e-4, atol=1e-6)
    correct = pd.Series(predicted == rows["emotion"].to_numpy()).groupby(rows["gender"]).mean()
    (analysis,) = outcome.analyses
    assert analysis.accuracy_of("female").accuracy == pytest.approx(correct["female"]) == 1.0
    assert analysis.accuracy_of("male").accuracy == pytest.approx(correct["male"])
    assert correct["male"] == pytest.approx(2 / 3)
    assert analysis.gap("accuracy").gap == pytest.approx(correct["female"] - correct["male"])
    # Both groups pose the same emotions equally often: standardising changes nothing.
    assert analysis.gap("standardised_accuracy").gap == pytest.approx(1 / 3)
    text = outcome.report.markdown.read_text(encoding="utf-8")
    assert "higher on female than on male faces (100.0% vs 66.7%)" in text
    assert "emotion not in the model (fear)" in text
    happy_and_fear = pd.read_csv(manifest).query("emotion in ['happy', 'fear']")
    happy_and_fear.to_csv(tmp_path / "one-shared.csv", index=False)
    one = {**source, "path": str(tmp_path / "one-shared.csv")}
    spec = load_audit_spec(_write_spec(tmp_path / "one.yaml", [{"name": "one", "source": one}]))
    with pytest.raises(ValueError, match=r"share \['happy'\] .* at least two are needed"):
        run_audit(model, spec, tmp_path / "out")
    spec = load_audit_spec(tmp_path / "one.yaml", ["group_col=genre"])
    with pytest.raises(ValueError, match=r"'one': group_col 'genre' is not a column .*'gender'"):
        run_audit(model, spec, tmp_path / "out")


def test_one_group_sets_and_overlap_warnings(toy_run, toy_experiment, tmp_path, caplog):
    data = toy_experiment.parents[1] / "data"
    women = pd.read_csv(data / "ext" / "ext.csv").query("gender == 'female'")
    women.assign(path=[str(data / "ext" / p) for p in women["path"]]).to_csv(
        tmp_path / "women.csv", index=False
    )
    sets = [
        {
            "name": "women",
            "source": {
                "source": "manifest",
                "path": str(tmp_path / "women.csv"),
                "face_crop": False,
                "options": {"source": "women"},
            },
        },
        {
            "name": "train-images",
            "source": {"source": "manifest", "path": str(data / "toy.csv"), "face_crop": False},
            "split": "train",
        },
    ]
    spec = _write_spec(tmp_path / "mixed.yaml", sets)
    outcome = run_audit(load_model(toy_run), load_audit_spec(spec), tmp_path / "out")
    women_result, train_result = outcome.analyses
    assert women_result.gaps is None and women_result.result.groups == ["female"]
    assert women_result.result.warnings == []
    (warning,) = train_result.result.warnings
    assert "come from manifest, which the model was trained on" in warning
    text = outcome.report.markdown.read_text(encoding="utf-8")
    assert "women: one group only (female" in text and "no gap can be estimated" in text
    assert "women: one group; no gap to detect." in text
    assert "Warning: train-images:" in text
    assert "| test set | emotion | recall all % |" in text
    cli = CliRunner().invoke(
        app, ["audit", str(toy_run), "--spec", str(spec), "--out", str(tmp_path)]
    )
    assert cli.exit_code == 0, cli.output
    assert cli.output.count("train-images: ") == 1 and "warning: train-images: " in cli.output
    assert not [r for r in caplog.records if "train-images" in r.getMessage()]  # not twice


def test_bad_spec_and_cli(toy_onnx, toy_experiment, tmp_path):
    bad = _write_spec(tmp_path / "bad.yaml", [{"name": "x", "source": {"source": "cfd"}}])
    with pytest.raises(AuditSpecError, match=r"field 'test_sets.0.source.path'"):
        load_audit_spec(bad)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", str(toy_onnx), "--spec", str(bad)])
    assert result.exit_code == 2 and "test_sets.0.source.path" in result.output
    good = _write_spec(tmp_path / "cli-audit.yaml", _toy_sets(toy_experiment))
    result = runner.invoke(
        app, ["audit", str(toy_onnx), "--spec", str(good), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "heldout" in result.output and "report:" in result.output
    assert (tmp_path / "out" / "cli-audit" / "report" / "index.html").is_file()
    (tmp_path / "card").mkdir()
    model = colour_model(
        tmp_path / "card",
        card={"input": {"size": 64}, "output": "logits", "labels": ["angry", "joy"]},
    )
    result = runner.invoke(app, ["audit", str(model), "--spec", str(good)])
    assert result.exit_code == 2 and "field 'labels'" in result.output and "joy" in result.output


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("name: x\ntest_sets: [1, 2\n", "not valid YAML: expected ',' or ']'"),
        ("name: ..\ntest_sets: [{name: a, source: {source: cfd, path: x}}]\n", "'name'"),
        ("name: up\nseed: -1\ntest_sets: [{name: a, source: {source: cfd, path: x}}]\n", "'seed'"),
        ("- a list\n", "an audit spec must be a YAML mapping"),
    ],
)
def test_a_bad_audit_file_is_one_line_naming_it(toy_onnx, tmp_path, text, words):
    """Unparsable, non-mapping, a name that would leave --out, a negative seed: exit 2, one line
    naming the file; nothing written outside --out."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["audit", str(toy_onnx), "--spec", str(spec), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {spec}: ") and words in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


@pytest.mark.realdata
def test_audit_on_cfd_and_jaffe(toy_onnx, data_root, tmp_path):
    sets = [
        {"name": "cfd", "source": {"source": "cfd", "path": str(data_root / "cfd_subset")}},
        {"name": "jaffe", "source": {"source": "jaffe", "path": str(data_root / "jaffe")}},
    ]
    outcome = run_audit(
        load_model(toy_onnx),
        load_audit_spec(_write_spec(tmp_path / "faces.yaml", sets)),
        tmp_path / "out",
    )
    cfd, jaffe = outcome.analyses
    assert cfd.result.shared == ["angry", "fear", "happy", "neutral"]
    plain = cfd.gap("accuracy")
    assert plain.n_first + plain.n_second >= 0.95 * 312
    assert jaffe.gaps is None and jaffe.result.groups == ["female"]
    assert "disgust" in jaffe.result.not_in_model
    text = outcome.report.markdown.read_text(encoding="utf-8")
    detectable = float(text.split("cfd: with ")[1].split("an accuracy gap of ")[1].split(" pp")[0])
    assert 13 < detectable < 18  # CFD can detect gaps of about 15 pp


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "audits").glob("*.yaml")))
def test_every_committed_audit_spec_validates(path):
    spec = load_audit_spec(path)
    assert spec.name == path.stem and spec.test_sets
