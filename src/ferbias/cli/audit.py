"""`ferbias audit MODEL --spec audit.yaml`: one model x group-labelled test sets -> report."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def audit(
    model: Path = typer.Argument(..., help="A ferbias run folder, or an .onnx file (its card)."),
    spec: Path = typer.Option(..., "--spec", exists=True, dir_okay=False, help="Audit YAML."),
    out: Path = typer.Option(Path("runs/audits"), "--out", help="Results go to OUT/<name>/."),
    overrides: list[str] = typer.Option([], "--set", help="Dotted override, e.g. seed=1."),
) -> None:
    """Audit a FER model for group gaps on every test set of the spec; writes a report."""
    from ferbias.analysis.blocks import p_text, with_ci
    from ferbias.analysis.standardise import PLAIN, STANDARDISED
    from ferbias.audit import load_audit_spec, run_audit
    from ferbias.training.inference import load_model

    start = time.perf_counter()
    audit_spec = load_audit_spec(spec, overrides)
    fer_model = load_model(model)
    outcome = run_audit(fer_model, audit_spec, out)
    table = Table(
        "test set",
        "group",
        "images",
        "accuracy % (95% CI)",
        "standardised gap pp (95% CI)",
        "p (Holm)",
        title=f"{fer_model.name} on {audit_spec.name}",
    )
    for analysis in outcome.analyses:
        groups = analysis.result.groups
        for group in groups:
            row = analysis.accuracy_of(group, PLAIN)
            gap = analysis.gap(STANDARDISED) if analysis.gaps is not None else None
            shown = gap is not None and group == groups[0]
            table.add_row(
                analysis.result.name,
                group,
                f"{int(row.n_images):,}",
                with_ci(row.accuracy, row.low, row.high),
                with_ci(gap.gap, gap.gap_low, gap.gap_high) if shown else "",
                p_text(analysis.p_holm[STANDARDISED]) if shown else "",
            )
    console.print(table)
    for warning in (w for a in outcome.analyses for w in a.result.warnings):
        console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    console.print(f"predictions: {outcome.predictions}", soft_wrap=True)
    for path in outcome.report:
        console.print(f"report: {path}", soft_wrap=True)
    console.print(f"audit done in {time.perf_counter() - start:.0f} s")
