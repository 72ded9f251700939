"""``ferbias audit``: one model (a ferbias run, its ONNX export, or any ONNX with a model card)
x group-labelled test sets -> per-group accuracy, the group gap with a CI and a test, and a
report (DESIGN.md: the audit sits beside the experiment and reuses its analysis).

``run_audit(model, spec, out)`` evaluates (``audit.evaluate``), analyses (``audit.report``) and
writes ``<out>/<spec name>/predictions.parquet`` and ``report/index.html`` + ``report.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ferbias.analysis.report import ReportPaths
from ferbias.audit.evaluate import AuditResults, evaluate
from ferbias.audit.report import SetAnalysis, analyse, write_audit_report
from ferbias.audit.spec import AuditSpec, AuditSpecError, load_audit_spec
from ferbias.experiment.spec import output_path
from ferbias.io import write_parquet_atomic
from ferbias.training.inference import FerModel

PREDICTIONS = "predictions.parquet"

__all__ = ["AuditOutcome", "AuditSpec", "AuditSpecError", "load_audit_spec", "run_audit"]


@dataclass
class AuditOutcome:
    """What an audit produced: the predictions, the per-set analyses and the report paths."""

    results: AuditResults
    analyses: list[SetAnalysis]
    predictions: Path
    report: ReportPaths


def run_audit(model: FerModel, spec: AuditSpec, out: str | os.PathLike) -> AuditOutcome:
    """Evaluate ``model`` on every test set of ``spec``; write predictions and the report."""
    out_dir = output_path(out, spec.name)
    results = evaluate(model, spec)
    predictions = write_parquet_atomic(out_dir / PREDICTIONS, results.predictions)
    analyses = analyse(results)
    return AuditOutcome(
        results, analyses, predictions, write_audit_report(results, analyses, out_dir)
    )
