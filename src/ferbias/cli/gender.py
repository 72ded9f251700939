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


def _labeller(name: str, weights: Path | None, combiner: Path | None = None):
    from ferbias.gender import create_labeller

    options = {"weights": str(weights)} if weights else {}
    if name == "ensemble" and combiner:
        options["combiner"] = str(combiner)
    return create_labeller(name, **({} if name == "onnx-cc0" else options))


TAU_HELP = (
    "One number: an accuracy target, whose thresholds the ensemble's combiner holds (chosen on "
    "the gold fit half; default its 0.97). A pair F,M: explicit confidence thresholds, 'female' "
    "where P(female) >= F and 'male' where 1 - P(female) >= M (any labeller)."
)
NO_TARGETS = (
    "{name} has no audited thresholds for accuracy targets; give a pair, e.g. --tau 0.8,0.8"
)


def resolve_tau(labeller, tau: str | None):
    """(Thresholds, accuracy target or None) for ``--tau`` (see ``TAU_HELP``)."""
    from ferbias.gender.base import Thresholds

    if tau is not None and "," in tau:
        return Thresholds.parse(tau), None
    combiner = getattr(labeller, "combiner", None)
    if combiner is None:
        raise typer.BadParameter(NO_TARGETS.format(name=labeller.name), param_hint="--tau")
    target = combiner.default_target if tau is None else float(tau)
    try:
        return combiner.thresholds(target), target
    except KeyError as error:
        raise typer.BadParameter(str(error.args[0]), param_hint="--tau") from None


@app.command("label")
def label(
    source: str = typer.Argument(..., help="Source name (fer2013, cfd, ...)."),
    path: Path = typer.Option(..., "--path", help="The source's folder or file."),
    out: Path = typer.Option(..., "--out", help="Labels CSV to write."),
    labeller: str = typer.Option("ensemble", help="onnx-cc0, ferbias-gender or ensemble."),
    tau: str | None = typer.Option(None, help=TAU_HELP),
    weights: Path | None = typer.Option(None, help="ferbias-gender weights (default packaged)."),
    combiner: Path | None = typer.Option(None, help="Ensemble combiner (default packaged)."),
    gold: Path | None = typer.Option(
        None,
        help="In-domain gold CSV (fer2013): its consensus overrides, its audit half is "
        "summarised in the provenance.",
    ),
    compact: bool = typer.Option(False, help="Write only file, gender, p_female."),
) -> None:
    """Label every image of SOURCE with apparent gender (abstaining below the thresholds)."""
    from ferbias.data.schema import STUDY_EMOTIONS
    from ferbias.data.sources import load_source
    from ferbias.gender.apply import coverage_by, label_manifest, override_with_gold, study_coverage
    from ferbias.gender.domain_gold import read_gold
    from ferbias.gender.labels import write_labels

    manifest = load_source(source, path).manifest
    chosen = _labeller(labeller, weights, combiner)
    thresholds, target = resolve_tau(chosen, tau)
    labels = label_manifest(manifest, chosen, thresholds=thresholds)
    audit_record = None
    if gold is not None:
        labels = override_with_gold(labels, read_gold(gold))
        if hasattr(chosen, "combiner"):  # the audit compares the ensemble with its members
            audit_record = _label_audit(gold, path, chosen, thresholds)
    write_labels(out, labels, columns=COMPACT_COLUMNS if compact else None)
    console.print(f"wrote {len(labels)} labels to {out} ({labeller}, thresholds {thresholds})")
    coverage = {}
    for column in ("emotion", "original_split", "usage"):
        if column in manifest and manifest[column].notna().any():
            coverage[column] = coverage_by(manifest, labels, column)
            print_frame(coverage[column], f"coverage by {column}")
    if manifest["emotion"].isin(STUDY_EMOTIONS).any():
        six = study_coverage(manifest, labels)
        coverage["six_emotions"] = pd.DataFrame([six])
        console.print(f"six study emotions: {six}")
    write_provenance(
        out, chosen, thresholds=thresholds, target=target, source=source, coverage=coverage,
        gold=gold, label_audit=audit_record,
    )  # fmt: skip


def _label_audit(gold: Path, fer_root: Path, labeller, thresholds) -> dict:
    """The audit half's figures at the labels' thresholds and at stricter accuracy targets."""
    from ferbias.gender.domain_gold import load_domain_gold
    from ferbias.gender.evaluate import (
        LABELS,
        STRICTER,
        audit_domain,
        label_audit_record,
        score_audit,
    )

    audit_half = load_domain_gold(gold, fer_root)
    audit_half = audit_half.subset(audit_half.mask("random-audit"))
    stricter = {f"target {t:g}": labeller.combiner.thresholds(t) for t in STRICTER}
    result = audit_domain(
        audit_half,
        score_audit(audit_half, labeller),
        thresholds={LABELS: thresholds, **stricter},
        default=LABELS,
    )
    return label_audit_record(result, gold_file=gold.name)


def write_provenance(
    out: Path,
    labeller,
    *,
    thresholds,
    target: float | None,
    source: str,
    coverage: dict,
    gold: Path | None = None,
    label_audit: dict | None = None,
) -> Path:
    """``<out>.provenance.json``: labeller and versions, thresholds, exact command, date,
    coverage, gold overrides and the audit-half figures (``label_audit``, read by experiments).

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
        "combiner": labeller.metadata if hasattr(labeller, "combiner") else None,
        "thresholds": {"female": thresholds.female, "male": thresholds.male},
        "accuracy_target": target,
        "gold_overrides": gold.name if gold else None,
        "command": " ".join(["ferbias", *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "coverage": {k: v.to_dict(orient="records") for k, v in coverage.items()},
        "label_audit": label_audit,
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
    fer_style: bool = typer.Option(True, help="Degrade the photos to FER-2013 style."),
    gold: Path | None = typer.Option(
        None, help="In-domain gold CSV: fit to FER-2013, cross-fitted (see `gender.domain`)."
    ),
    folds: int = typer.Option(5, help="Cross-fitting folds (with --gold)."),
) -> None:
    """Train ferbias-gender on UTKFace + CelebA (48x48 gray, FER-2013 style); with --gold, then
    fine-tune it on FER-2013 gold faces, cross-fitted (needs --run-dir; resumable)."""
    from dataclasses import replace

    from ferbias.gender.cnn import DEFAULT_WEIGHTS, RECIPE, train_gender_cnn
    from ferbias.gender.degrade import FerStyle

    overrides = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
    if gold is not None:
        _train_domain(gold, out or DEFAULT_WEIGHTS, data, seed, run_dir, init, folds, overrides)
        return
    ages = {} if min_age is None else {"min_age": min_age or None}
    report = train_gender_cnn(
        out or DEFAULT_WEIGHTS,
        data=data,
        seed=seed,
        recipe=replace(RECIPE, **overrides),
        run_dir=run_dir,
        init=init,
        fairface=fairface,
        style=FerStyle() if fer_style else None,
        **ages,
    )
    print_frame(report.history.round(4), "history")
    print_frame(report.validation, f"validation (best epoch {report.best_epoch})")
    console.print(f"weights: {report.weights} ({report.weights.stat().st_size:,} bytes)")


def _train_domain(gold, out, data, seed, run_dir, init, folds, overrides) -> None:
    import time
    from dataclasses import replace

    from ferbias.gender.cnn import DEFAULT_WEIGHTS
    from ferbias.gender.domain import GOLD_RECIPE, fit_domain
    from ferbias.gender.domain_gold import load_domain_gold
    from ferbias.gender.gold import data_root

    started = time.process_time()
    faces = load_domain_gold(gold, data_root(data) / "fer2013")
    result = fit_domain(
        faces, run_dir or Path("runs/gender_domain"), out=out, data=data,
        init=init or DEFAULT_WEIGHTS, folds=folds, seed=seed,
        gold_recipe=replace(GOLD_RECIPE, **overrides), gold_file=gold.name,
    )  # fmt: skip
    counts = result.scores.groupby(["part", "scored_by"]).size().rename("faces").reset_index()
    print_frame(counts, "gold faces scored by (cross-fitted: no model scores a face it saw)")
    console.print(
        f"temperature {result.temperature:.3f}; {int(result.plan.trains.sum())} training-gold "
        f"faces; weights {result.weights}; this process: {time.process_time() - started:,.0f} "
        "CPU s (models a previous run finished are loaded, not retrained)"
    )


@app.command("combine")
def combine(
    gold: Path = typer.Option(..., help="In-domain gold CSV."),
    scores: Path = typer.Option(
        Path("runs/gender_domain/scores.csv"), help="Cross-fitted ferbias-gender scores."
    ),
    data: Path | None = typer.Option(None, help="Shared data folder (default $FERBIAS_DATA)."),
    out: Path | None = typer.Option(None, help="Combiner JSON (default: the packaged one)."),
    targeted: bool = typer.Option(True, help="Let targeted faces join if they help (OOF loss)."),
) -> None:
    """Fit the ensemble's combiner on the gold fit half; choose thresholds per accuracy target."""
    from ferbias.gender.combine import fit_packaged_combiner

    fitted, table, emotions = fit_packaged_combiner(
        gold, scores, data=data, out=out, use_targeted=targeted
    )
    c = fitted.combiner
    console.print(
        f"P(female) = sigmoid({c.coef[0]:.3f} logit(onnx-cc0) + {c.coef[1]:.3f} "
        f"logit(ferbias-gender) + {c.intercept:.3f}); fit on {c.metadata['fit_on']} "
        f"({c.metadata['n_fit']} faces); out-of-fold log loss {c.metadata['out_of_fold_log_loss']}"
    )
    print_frame(table, "thresholds per accuracy target (chosen on random-fit, out-of-fold)")
    for choice in c.choices:
        console.print(f"target {choice.target:g}: {choice.reason}")
    shown = ["emotion", "n", "coverage", "accuracy", "coverage_female", "coverage_male"]
    print_frame(emotions[shown], f"fit half per emotion at target {c.default_target:g}")


@app.command("evaluate")
def evaluate(
    out: Path = typer.Option(Path("runs/gender_audit"), help="Folder for tables and figures."),
    gold: Path = typer.Option(..., help="In-domain gold CSV (its random-audit half leads)."),
    data: Path | None = typer.Option(None, help="Shared data folder (default $FERBIAS_DATA)."),
    tau: str | None = typer.Option(None, help=TAU_HELP),
    weights: Path | None = typer.Option(None, help="ferbias-gender weights (default packaged)."),
    combiner: Path | None = typer.Option(None, help="Ensemble combiner (default packaged)."),
    before: Path | None = typer.Option(None, help="A labels file to audit side by side."),
    photos: bool = typer.Option(True, help="Also audit the photo sets (secondary evidence)."),
) -> None:
    """Audit the ensemble on the gold audit half (then the photo sets); check issue 9's goals."""
    from ferbias.cli.gender_audit import run_evaluate

    run_evaluate(
        out=out, gold=gold, data=data, labeller=_labeller("ensemble", weights, combiner),
        tau=tau, before=before, photos=photos,
    )  # fmt: skip


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
