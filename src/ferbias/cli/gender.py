"""`ferbias gender ...` commands and `ferbias annotate`."""

from __future__ import annotations

import getpass
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Apparent-gender labels: label, train, evaluate.", no_args_is_help=True)
console = Console()
log = logging.getLogger(__name__)

COMPACT_COLUMNS = ["file", "gender", "p_female"]
ANNOTATE_REVIEW_OPTIONS = ("--labels",)
ANNOTATE_BLIND_OPTIONS = ("--plan", "--pass", "--answers")
ANNOTATE_MISSING = "annotate {mode} needs {wanted}; missing {missing}"
ANNOTATE_EXTRA = "annotate {mode} does not take {extra}"


def print_frame(frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


def _labeller(name: str, weights: Path | None):
    from ferbias.gender import create_labeller

    if name == "onnx-cc0":
        return create_labeller(name)
    return create_labeller(name, **({"weights": str(weights)} if weights else {}))


@app.command("label")
def label(
    source: str = typer.Argument(..., help="Source name (fer2013, cfd, ...)."),
    path: Path = typer.Option(..., "--path", help="The source's folder or file."),
    out: Path = typer.Option(..., "--out", help="Labels CSV to write."),
    labeller: str = typer.Option("ensemble", help="onnx-cc0, ferbias-gender or ensemble."),
    tau: float | None = typer.Option(None, help="Confidence threshold (default: audited tau)."),
    weights: Path | None = typer.Option(None, help="ferbias-gender weights (default packaged)."),
    compact: bool = typer.Option(False, help="Write only file, gender, p_female."),
) -> None:
    """Label every image of SOURCE with apparent gender (abstaining below tau)."""
    from ferbias.data.schema import STUDY_EMOTIONS
    from ferbias.data.sources import load_source
    from ferbias.gender.apply import DEFAULT_TAU, coverage_by, label_manifest, study_coverage
    from ferbias.gender.labels import write_labels

    manifest = load_source(source, path).manifest
    tau = DEFAULT_TAU if tau is None else tau
    chosen = _labeller(labeller, weights)
    labels = label_manifest(manifest, chosen, tau=tau)
    write_labels(out, labels, columns=COMPACT_COLUMNS if compact else None)
    console.print(f"wrote {len(labels)} labels to {out} ({labeller}, tau={tau})")
    coverage = {}
    for column in ("emotion", "original_split", "usage"):
        if column in manifest and manifest[column].notna().any():
            coverage[column] = coverage_by(manifest, labels, column)
            print_frame(coverage[column], f"coverage by {column}")
    if manifest["emotion"].isin(STUDY_EMOTIONS).any():
        six = study_coverage(manifest, labels)
        coverage["six_emotions"] = pd.DataFrame([six])
        console.print(f"six study emotions: {six}")
    write_provenance(out, chosen, tau=tau, source=source, coverage=coverage)


def write_provenance(out: Path, labeller, *, tau: float, source: str, coverage: dict) -> Path:
    """``<out>.provenance.json``: labeller and versions, tau, exact command, date, coverage.

    Members with weights metadata (ferbias-gender: recipe, training command) record it too.
    """
    from ferbias.io import write_json_atomic

    members = getattr(labeller, "members", (labeller,))
    record = {
        "labels_file": out.name,
        "source": source,
        "labeller": labeller.name,
        "labeller_versions": {m.name: m.version for m in members},
        "labeller_metadata": {m.name: m.metadata for m in members if hasattr(m, "metadata")},
        "tau": tau,
        "command": " ".join(["ferbias", *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "coverage": {k: v.to_dict(orient="records") for k, v in coverage.items()},
    }
    return write_json_atomic(out.with_suffix(".provenance.json"), record)


@app.command("train")
def train(
    out: Path = typer.Option(None, help="Weights file (default: the packaged one)."),
    data: Path | None = typer.Option(None, help="Shared data folder (default $FERBIAS_DATA)."),
    seed: int = typer.Option(0, min=0),
    epochs: int | None = typer.Option(None, help="Override the recipe's epochs."),
    run_dir: Path | None = typer.Option(None, help="Checkpoint folder (resumable)."),
    init: Path | None = typer.Option(None, help="Weights to continue training from."),
    lr: float | None = typer.Option(None, help="Override the recipe's learning rate."),
    min_age: int | None = typer.Option(
        None, help="Train on UTKFace faces this old or older (default 13, adults; 0: all)."
    ),
    fairface: Path | None = typer.Option(
        None, help="FairFace folder: its train faces join training, its val faces validation."
    ),
) -> None:
    """Train ferbias-gender on UTKFace-train + CelebA-train (48x48 gray FER-geometry crops)."""
    from dataclasses import replace

    from ferbias.gender.cnn import DEFAULT_WEIGHTS, RECIPE, train_gender_cnn

    overrides = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
    ages = {} if min_age is None else {"min_age": min_age or None}
    report = train_gender_cnn(
        out or DEFAULT_WEIGHTS,
        data=data,
        seed=seed,
        recipe=replace(RECIPE, **overrides),
        run_dir=run_dir,
        init=init,
        fairface=fairface,
        **ages,
    )
    print_frame(report.history.round(4), "history")
    print_frame(report.validation, f"validation (best epoch {report.best_epoch})")
    console.print(f"weights: {report.weights} ({report.weights.stat().st_size:,} bytes)")


@app.command("evaluate")
def evaluate(
    out: Path = typer.Option(Path("runs/gender_audit"), help="Folder for tables and figures."),
    data: Path | None = typer.Option(None, help="Shared data folder (default $FERBIAS_DATA)."),
    tau: float | None = typer.Option(None, help="Fixed tau (default: chosen for >= 97%)."),
    weights: Path | None = typer.Option(None, help="ferbias-gender weights (default packaged)."),
) -> None:
    """Audit onnx-cc0, ferbias-gender and the ensemble on the gold sets; choose tau."""
    from ferbias.gender.evaluate import ensemble_from_members, gold_predictions
    from ferbias.gender.evaluate import evaluate as run_audit
    from ferbias.gender.gold import gold_sets

    ensemble = _labeller("ensemble", weights)
    gold = gold_sets(data)
    predictions = gold_predictions({m.name: m for m in ensemble.members}, gold)
    predictions["ensemble"] = ensemble_from_members(predictions, ensemble)
    result = run_audit(predictions, choose_for="ensemble", tau=tau)
    result.save(out)
    shown = result.table[
        ["labeller", "gold_set", "n", "coverage", "accuracy", "error_female", "error_male", "ece"]
    ]
    print_frame(shown, f"gold-set audit at tau={result.tau}")
    console.print(f"tau={result.tau} (ensemble, pooled adult gold); written to {out}")


def annotate(
    source: str = typer.Argument(..., help="Source name (fer2013, cfd, ...)."),
    path: Path = typer.Option(..., "--path", help="The source's folder or file."),
    labels: Path | None = typer.Option(None, "--labels", help="Review: labels CSV to edit."),
    blind: bool = typer.Option(False, "--blind", help="One blind pass over a gold plan."),
    plan: Path | None = typer.Option(None, "--plan", help="Blind: the gold sample plan."),
    pass_id: str | None = typer.Option(None, "--pass", help="Blind: the pass id (A, B, ...)."),
    answers: Path | None = typer.Option(None, "--answers", help="Blind: the pass answers CSV."),
    seed: int = typer.Option(0, help="Blind: shuffle seed (each pass id shuffles differently)."),
    port: int = typer.Option(8765, help="Port on 127.0.0.1."),
    annotator: str = typer.Option(None, help="Your name (default: the login name)."),
) -> None:
    """Hand-label apparent gender in a local web page (127.0.0.1 only).

    Review (--labels): every face with its automatic label, most uncertain first. Blind (--blind
    --plan --pass --answers): one pass over the plan's faces in its own shuffled order, nothing but
    the faces shown; answers in the per-pass format of `gender sheets import`.
    """
    from ferbias.annotate import serve
    from ferbias.data.sources import load_source
    from ferbias.gender.apply import relative_file

    wanted = ANNOTATE_BLIND_OPTIONS if blind else ANNOTATE_REVIEW_OPTIONS
    given = {"--labels": labels, "--plan": plan, "--pass": pass_id, "--answers": answers}
    missing = [name for name in wanted if given[name] is None]
    extra = [name for name, value in given.items() if value is not None and name not in wanted]
    mode = "--blind" if blind else "(review)"
    if missing:
        raise typer.BadParameter(
            ANNOTATE_MISSING.format(mode=mode, wanted=", ".join(wanted), missing=", ".join(missing))
        )
    if extra:
        raise typer.BadParameter(ANNOTATE_EXTRA.format(mode=mode, extra=", ".join(extra)))
    manifest = load_source(source, path).manifest
    items = pd.DataFrame(
        {
            "file": relative_file(manifest["sample_id"]).to_numpy(),
            "sample_id": manifest["sample_id"].astype(str).to_numpy(),
            "path": manifest["path"].astype(str).to_numpy(),
        }
    )
    who = annotator or getpass.getuser()
    if blind:
        store = _blind_store(items, plan, answers, pass_id=pass_id, annotator=who, seed=seed)
    else:
        from ferbias.annotate import ReviewStore

        store = ReviewStore(items, labels, annotator=who)
    serve(store, port=port)


def _blind_store(items, plan: Path, answers: Path, *, pass_id: str, annotator: str, seed: int):
    """The blind pass's store, and its provenance sidecar beside the answers file."""
    from ferbias.annotate import BlindStore
    from ferbias.gender.gold_sample import read_plan
    from ferbias.gender.passes import now_utc, provenance_path
    from ferbias.io import write_json_atomic

    files = read_plan(plan)["file"].tolist()
    store = BlindStore(items, files, answers, pass_id=pass_id, annotator=annotator, seed=seed)
    sidecar = provenance_path(answers)
    record = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    record.update({"pass": pass_id, "method": "annotate --blind", "plan_file": str(plan)})
    record.setdefault("sessions", []).append(
        {
            "annotator": annotator,
            "seed": seed,
            "faces": len(files),
            "command": " ".join(["ferbias", *sys.argv[1:]]),
            "date": now_utc(),
        }
    )
    write_json_atomic(sidecar, record)
    return store
