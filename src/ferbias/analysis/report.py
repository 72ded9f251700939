"""`ferbias report runs/<experiment>`: a self-contained HTML page and a Markdown twin.

The report is a list of blocks (headings, paragraphs, tables, figures) built once from the saved
predictions and rendered twice: ``report/index.html`` (figures embedded as base64 PNG, inline
CSS, no external files) and ``report/report.md`` (figures saved under ``report/figures/``).
"""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from matplotlib.figure import Figure

from ferbias.analysis import plots
from ferbias.analysis.metrics import confusion_table, emotion_classes, load_experiment
from ferbias.analysis.sections import (
    Analysis,
    FigureBlock,
    Heading,
    Paragraph,
    Table,
    analyse,
    build_blocks,
)
from ferbias.io import write_atomic, write_text_atomic

log = logging.getLogger(__name__)

REPORT_DIR = "report"
HTML_NAME = "index.html"
MARKDOWN_NAME = "report.md"
FIGURE_DIR = "figures"
CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; }
"""


class ReportPaths(NamedTuple):
    html: Path
    markdown: Path


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def render_markdown(blocks: list, figure_paths: dict[str, str]) -> str:
    """Markdown text; figures link to ``figure_paths[name]`` (relative paths)."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Table):
            parts.append(
                (f"*{block.caption}*\n\n" if block.caption else "") + _markdown_table(block.frame)
            )
        elif isinstance(block, FigureBlock):
            parts.append(f"![{block.caption}]({figure_paths[block.name]})\n\n*{block.caption}*")
    return "\n\n".join(parts) + "\n"


def render_html(blocks: list, figure_pngs: dict[str, bytes], title: str) -> str:
    """One self-contained HTML page (inline CSS, figures as base64 PNG)."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            caption = f"<p><em>{html.escape(block.caption)}</em></p>" if block.caption else ""
            body.append(caption + block.frame.to_html(index=False, border=0, escape=True))
        elif isinstance(block, FigureBlock):
            data = base64.b64encode(figure_pngs[block.name]).decode("ascii")
            alt = html.escape(block.caption, quote=True)
            body.append(
                f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
            )
    head = f'<meta charset="utf-8"><title>{html.escape(title)}</title><style>{CSS}</style>'
    return (
        f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def figure_blocks(a: Analysis) -> list:
    blocks: list = [Heading("Figures")]
    if a.cells:
        blocks.append(
            FigureBlock(
                "variant_metrics",
                plots.plot_variant_metrics(a.transfer, a.cells),
                "Accuracy and cross-entropy of each variant's models on own and other group "
                "(95% CI).",
            )
        )
    blocks.append(
        FigureBlock(
            "transfer_heatmap",
            plots.plot_transfer_heatmap(a.transfer),
            "Transfer matrix: accuracy % [95% CI] per train group x test set.",
        )
    )
    per_class = a.run_metrics["per_class"].query("group != 'all'")
    recall = per_class.groupby(["train_group", "group", "emotion"], sort=False)["recall"].mean()
    recall = recall.reset_index().rename(columns={"group": "test_group"})
    blocks.append(
        FigureBlock(
            "recall_by_group",
            plots.plot_recall_by_group(recall),
            "Per-emotion recall by test group (mean over variants, seeds and test sets).",
        )
    )
    primary = {c[0] for c in a.cells.values()} if a.cells else set(a.scored["test_set"])
    on_primary = a.scored[a.scored["test_set"].isin(primary)]
    classes = emotion_classes(a.scored)
    matrices = {
        f"{g} models": confusion_table(part, classes=classes)
        for g, part in on_primary.groupby("train_group", sort=True)
    }
    blocks.append(
        FigureBlock(
            "confusion",
            plots.plot_confusion_matrices(matrices),
            f"Row-normalised confusion matrices on {', '.join(sorted(primary))} "
            "(pooled over variants and seeds).",
        )
    )
    if len(a.results.histories):
        blocks.append(
            FigureBlock(
                "learning_curves",
                plots.plot_learning_curves(a.results.histories),
                "Learning curves: train (solid) and validation (dashed); mean over seeds, "
                "band min-max.",
            )
        )
    return blocks


def write_report(
    experiment_dir: str | Path, *, n_resamples: int = 2000, seed: int = 0
) -> ReportPaths:
    """Analyse every finished run of ``experiment_dir`` and write report/index.html and
    report/report.md (figures under report/figures/). Returns the two paths."""
    experiment_dir = Path(experiment_dir)
    analysis = analyse(load_experiment(experiment_dir), n_resamples=n_resamples, seed=seed)
    blocks = [*build_blocks(analysis), *figure_blocks(analysis)]
    out = experiment_dir / REPORT_DIR
    pngs, paths = {}, {}
    for block in blocks:
        if isinstance(block, FigureBlock):
            pngs[block.name] = _png(block.figure)
            relative = f"{FIGURE_DIR}/{block.name}.png"
            write_atomic(out / relative, lambda tmp, data=pngs[block.name]: tmp.write_bytes(data))
            paths[block.name] = relative
    for stale in (out / FIGURE_DIR).glob("*.png"):
        if f"{FIGURE_DIR}/{stale.name}" not in paths.values():
            stale.unlink()
    title = f"ferbias report: {analysis.name}"
    html_path = write_text_atomic(out / HTML_NAME, render_html(blocks, pngs, title))
    md_path = write_text_atomic(out / MARKDOWN_NAME, render_markdown(blocks, paths))
    log.debug("report written to %s and %s", html_path, md_path)
    return ReportPaths(html_path, md_path)
