"""`ferbias gender gold ...` (the in-domain gold sample and file) and `ferbias gender sheets ...`
(contact sheets for blind offline labelling)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import typer
from PIL import Image

from ferbias.cli.gender import console, print_frame

gold_app = typer.Typer(help="In-domain gold labels: sample, build.", no_args_is_help=True)
sheets_app = typer.Typer(help="Contact sheets for blind labelling passes.", no_args_is_help=True)

DEFAULT_LABELS = Path("labels/fer2013_gender.csv")
DEFAULT_PLAN = Path("labels/fer2013_gold_plan.csv")
DEFAULT_GOLD = Path("labels/fer2013_gender_gold.csv")
SHEETS_ROOT = Path(".cache/gold_sheets")  # git-ignored: sheets and crops are never committed
BAD_PASS_OPTION = "--pass {value!r}: expected ID=answers.csv, e.g. A=labels/passes/A.csv"
BAD_NOTE_OPTION = "--annotator-note {value!r}: expected ID=text, e.g. A='made by ...'"
NOTE_FOR_UNKNOWN_PASS = "--annotator-note for pass {pass_id!r}, which is not among --pass {ids}"


def command_line() -> str:
    return " ".join(["ferbias", *sys.argv[1:]])


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _fer2013(path: Path) -> pd.DataFrame:
    from ferbias.data.sources import load_source

    return load_source("fer2013", path, gender_labels=None).manifest


@gold_app.command("sample")
def sample(
    path: Path = typer.Option(..., "--path", help="The FER-2013 image folder."),
    out: Path = typer.Option(DEFAULT_PLAN, "--out", help="Sample plan CSV to write."),
    labels: Path = typer.Option(DEFAULT_LABELS, help="Automatic labels (for the targeted part)."),
    random: int = typer.Option(3000, "--random", help="Faces drawn at random (then halved)."),
    targeted: int = typer.Option(1200, "--targeted", help="Faces where the labels are unsure."),
    seed: int = typer.Option(0, help="Seed of every draw (the plan is a function of it)."),
    workers: int = typer.Option(None, help="Processes for decoding (default: CPUs)."),
) -> None:
    """Draw the gold sample from FER-2013 Training faces (never PublicTest/PrivateTest)."""
    from ferbias.gender import gold_sample as gs
    from ferbias.gender import passes
    from ferbias.gender.labels import read_labels
    from ferbias.io import write_csv_atomic, write_json_atomic

    manifest = _fer2013(path)
    twins, unreadable = gs.find_test_twins(manifest, workers=workers)
    drawn = gs.draw_gold_sample(
        manifest,
        read_labels(labels),
        excluded=twins,
        unreadable=unreadable,
        n_random=random,
        n_targeted=targeted,
        seed=seed,
    )
    write_csv_atomic(out, drawn.plan)
    counts = gs.plan_counts(drawn.plan)
    record = {
        "plan_file": out.name,
        "seed": seed,
        "random": random,
        "targeted": targeted,
        "unsure_margin": gs.UNSURE_MARGIN,
        "labels_file": str(labels),
        "labels_sha256": file_sha256(labels),
        "eligible_training_faces": drawn.pool,
        "excluded_test_duplicates": drawn.excluded_test_duplicates,
        "excluded_unreadable": drawn.excluded_unreadable,
        "counts": counts.to_dict(orient="index"),
        "command": command_line(),
        "date": passes.now_utc(),
    }
    write_json_atomic(out.with_suffix(".provenance.json"), record)
    console.print(
        f"Training faces of the six emotions: {drawn.pool:,} eligible; left out "
        f"{drawn.excluded_test_duplicates:,} duplicate(s) of PublicTest/PrivateTest faces and "
        f"{drawn.excluded_unreadable:,} unreadable"
    )
    print_frame(counts.reset_index(), f"gold sample (seed {seed}): faces per part x emotion")
    console.print(
        f"wrote {len(drawn.plan):,} faces to {out} (+ {out.with_suffix('.provenance.json').name})"
    )


@sheets_app.command("export")
def export(
    plan: Path = typer.Option(..., "--plan", help="Sample plan CSV (gender gold sample)."),
    pass_id: str = typer.Option(..., "--pass", help="Pass id (A, B, ...)."),
    path: Path = typer.Option(..., "--path", help="The FER-2013 image folder."),
    out: Path = typer.Option(None, "--out", help=f"Folder (default {SHEETS_ROOT}/<pass>)."),
    per_sheet: int = typer.Option(100, "--per-sheet", help="Faces per sheet (10 per row)."),
    seed: int = typer.Option(0, help="Shuffle seed; each pass id shuffles differently."),
) -> None:
    """Write numbered contact sheets, blank answer files and the (hidden) index of one pass."""
    from ferbias.data.images import load_gray
    from ferbias.gender import passes, sheets
    from ferbias.gender.apply import relative_file
    from ferbias.gender.gold_sample import read_plan
    from ferbias.io import write_json_atomic

    files = read_plan(plan)["file"].tolist()
    manifest = _fer2013(path)
    where = dict(
        zip(relative_file(manifest["sample_id"]), manifest["path"].astype(str), strict=True)
    )
    missing = [f for f in files if f not in where]
    if missing:
        raise ValueError(sheets.MISSING_IMAGE.format(file=missing[0], root=path))
    out = out or SHEETS_ROOT / pass_id
    result = sheets.export_sheets(
        files,
        lambda f: load_gray(where[f]),
        pass_id=pass_id,
        out=out,
        per_sheet=per_sheet,
        seed=seed,
    )
    record = {
        "pass": pass_id,
        "seed": seed,
        "per_sheet": per_sheet,
        "plan_file": str(plan),
        "plan_sha256": file_sha256(plan),
        "faces": len(files),
        "sheets": len(result.sheets),
        "command": command_line(),
        "date": passes.now_utc(),
    }
    write_json_atomic(out / "export.json", record)
    first = result.sheets[0]
    with Image.open(first) as image:
        size = image.size
    console.print(
        f"pass {pass_id}: {len(files):,} faces on {len(result.sheets)} sheets "
        f"({size[0]}x{size[1]} px)"
    )
    console.print(f"  sheets:  {out / 'sheets'}/  ({first.name} ... {result.sheets[-1].name})")
    console.print(f"  answers: {out / 'answers'}/ (blank, one per sheet)")
    console.print(
        f"  index:   {out / 'index.csv'}  (for the import only; never show it to the labeller)"
    )


@sheets_app.command("import")
def import_command(
    answers: list[Path] = typer.Argument(..., help="Filled-in answer files."),
    index: Path = typer.Option(..., "--index", help="The export's index.csv."),
    pass_id: str = typer.Option(..., "--pass", help="Pass id (as exported)."),
    annotator: str = typer.Option(..., "--annotator", help="Who or what made this pass."),
    out: Path = typer.Option(..., "--out", help="Pass answers CSV (e.g. labels/passes/A.csv)."),
) -> None:
    """Read filled-in answer files back by sheet id and number into a per-pass answers file."""
    from ferbias.gender import passes, sheets
    from ferbias.io import write_json_atomic

    passes.check_pass_id(pass_id)
    table = sheets.read_index(index, pass_id=pass_id)
    frame = sheets.import_answers(answers, table, pass_id=pass_id, annotator=annotator)
    passes.write_pass(out, frame)
    record = {
        "pass": pass_id,
        "annotator": annotator,
        "method": "contact sheets",
        "export": _json_or_none(index.parent / "export.json"),
        "answer_files": [str(p) for p in answers],
        "sheets_answered": int(frame["sheet_id"].nunique()),
        "sheets_exported": int(table["sheet_id"].nunique()),
        "command": command_line(),
        "date": passes.now_utc(),
    }
    write_json_atomic(passes.provenance_path(out), record)
    counts = frame["answer"].value_counts().reindex(list(passes.ANSWERS), fill_value=0)
    console.print(
        f"pass {pass_id}: {len(frame):,} answers from {record['sheets_answered']} of "
        f"{record['sheets_exported']} sheets ({', '.join(f'{k} {v:,}' for k, v in counts.items())})"
    )
    console.print(f"wrote {out} (+ {passes.provenance_path(out).name})")


@gold_app.command("build")
def build(
    plan: Path = typer.Option(..., "--plan", help="Sample plan CSV."),
    pass_options: list[str] = typer.Option(..., "--pass", help="ID=answers.csv, twice."),
    notes: list[str] = typer.Option([], "--annotator-note", help="ID=who/what made the pass."),
    out: Path = typer.Option(DEFAULT_GOLD, "--out", help="Gold CSV to write."),
    partial: bool = typer.Option(False, help="Keep only faces both passes answered."),
) -> None:
    """Write the gold file (both passes' answers and consensus), provenance and agreement."""
    from ferbias.gender import gold_build, passes
    from ferbias.gender.gold_sample import read_plan
    from ferbias.io import write_csv_atomic, write_json_atomic

    pass_files = _pairs(pass_options, BAD_PASS_OPTION)
    note_of = _pairs(notes, BAD_NOTE_OPTION)
    for pass_id in note_of:
        if pass_id not in pass_files:
            raise ValueError(NOTE_FOR_UNKNOWN_PASS.format(pass_id=pass_id, ids=list(pass_files)))
    table = read_plan(plan)
    answers = {
        p: passes.read_pass(f, pass_id=passes.check_pass_id(p)) for p, f in pass_files.items()
    }
    gold = gold_build.build_gold(table, answers, partial=partial)
    report = gold_build.agreement(gold)
    write_csv_atomic(out, gold)
    record = {
        "gold_file": out.name,
        "plan": {
            "file": str(plan),
            "sha256": file_sha256(plan),
            "provenance": _json_or_none(plan.with_suffix(".provenance.json")),
        },
        "passes": {
            p: {
                "file": str(f),
                "sha256": file_sha256(Path(f)),
                "note": note_of.get(p),
                **gold_build.pass_summary(answers[p]),
                "provenance": _json_or_none(passes.provenance_path(f)),
            }
            for p, f in pass_files.items()
        },
        "consensus_rule": "female/male: both passes F/M; unknown: both U; disagree: otherwise",
        "agreement": report,
        "command": command_line(),
        "date": passes.now_utc(),
    }
    write_json_atomic(out.with_suffix(".provenance.json"), record)
    _print_agreement(report, gold)
    console.print(
        f"wrote {len(gold):,} faces to {out} (+ {out.with_suffix('.provenance.json').name})"
    )


def _pairs(options: list[str], message: str) -> dict[str, str]:
    pairs = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(message.format(value=option))
        pairs[key.strip()] = value.strip()
    return pairs


def _json_or_none(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _print_agreement(report: dict, gold: pd.DataFrame) -> None:
    from ferbias.gender.gold_build import consensus_counts

    kappa, decided = report["kappa_fmu"], report["kappa_decided_fm"]
    console.print(
        f"{report['faces']:,} faces; raw agreement {report['raw_agreement']:.3f}; "
        f"Cohen's kappa (F/M/U) {kappa['kappa']} (95% CI {kappa['ci95']}); "
        f"kappa on faces both decided (F/M) {decided['kappa']} (n={decided['n']:,}); "
        f"decidable {report['decidable']:,}"
    )
    u_rate = pd.DataFrame(report["u_rate"]["by_emotion"]).T.rename_axis("emotion").reset_index()
    print_frame(u_rate, "U rate per emotion and pass")
    print_frame(consensus_counts(gold).reset_index(), "consensus per part x emotion")
