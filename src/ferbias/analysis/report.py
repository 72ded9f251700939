"""`ferbias report runs/<experiment>`: a self-contained HTML page and a Markdown twin.

The report is a list of blocks (:mod:`ferbias.analysis.blocks`) built once from the saved
predictions by the sections of :mod:`ferbias.analysis.sections` and rendered twice:
``report/index.html`` (figures embedded as base64 PNG, inline CSS, no external files) and
``report/report.md`` (figures saved under ``report/figures/``). Both open with a table of
contents of the level-2 headings, right after the title.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from matplotlib.figure import Figure

from ferbias.analysis.blocks import Block, FigureBlock, Heading, Paragraph, Table
from ferbias.analysis.metrics import load_experiment
from ferbias.analysis.sections import build_blocks
from ferbias.analysis.tables import analyse
from ferbias.io import write_atomic, write_text_atomic

log = logging.getLogger(__name__)

REPORT_DIR = "report"
HTML_NAME = "index.html"
MARKDOWN_NAME = "report.md"
FIGURE_DIR = "figures"
FIGURE_DPI = 110  # figures are drawn at most 10 in wide: shown 1:1 in the 1,100 px page
CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
nav ul { margin: 0.3em 0 1.5em; padding-left: 1.2em; columns: 2; font-size: 0.95em; }
#verdict { font-size: 1.05em; background: #f6f8fa; border-left: 4px solid #2e7d32;
           padding: 0.6em 0.9em; }
.table { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; }
"""


def anchor(heading: Heading) -> str:
    """The heading's id: its ``anchor`` or a GitHub-style slug of its text."""
    if heading.anchor:
        return heading.anchor
    return re.sub(r"[^a-z0-9 _-]", "", heading.text.lower()).strip().replace(" ", "-")


def _contents(blocks: list[Block]) -> list[Heading]:
    return [b for b in blocks if isinstance(b, Heading) and b.level == 2]


def _after_title(blocks: list[Block]) -> int:
    """Index after the title and its description paragraphs: where the contents go."""
    index = 1 if blocks and isinstance(blocks[0], Heading) and blocks[0].level == 1 else 0
    while index < len(blocks) and isinstance(blocks[index], Paragraph):
        index += 1
    return index


class ReportPaths(NamedTuple):
    html: Path
    markdown: Path


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def render_markdown(blocks: list[Block], figure_paths: dict[str, str]) -> str:
    """Markdown text; figures link to ``figure_paths[name]`` (relative paths)."""
    parts = []
    for i, block in enumerate(blocks):
        if i == _after_title(blocks):
            parts.append("\n".join(f"- [{h.text}](#{anchor(h)})" for h in _contents(blocks)))
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


def _html_contents(blocks: list[Block]) -> str:
    items = "".join(
        f'<li><a href="#{anchor(h)}">{html.escape(h.text)}</a></li>' for h in _contents(blocks)
    )
    return f'<nav aria-label="Contents"><ul>{items}</ul></nav>'


def _html_block(block: Block, figure_pngs: dict[str, bytes]) -> str:
    if isinstance(block, Heading):
        level = block.level
        return f'<h{level} id="{anchor(block)}">{html.escape(block.text)}</h{level}>'
    if isinstance(block, Paragraph):
        ident = f' id="{block.anchor}"' if block.anchor else ""
        return f"<p{ident}>{html.escape(block.text)}</p>"
    if isinstance(block, Table):
        caption = f"<p><em>{html.escape(block.caption)}</em></p>" if block.caption else ""
        table = block.frame.to_html(index=False, border=0, escape=True)
        return f'{caption}<div class="table">{table}</div>'
    data = base64.b64encode(figure_pngs[block.name]).decode("ascii")
    alt = html.escape(block.caption, quote=True)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
    )


def render_html(blocks: list[Block], figure_pngs: dict[str, bytes], title: str) -> str:
    """One self-contained HTML page (inline CSS, figures as base64 PNG)."""
    body = []
    for i, block in enumerate(blocks):
        if i == _after_title(blocks):
            body.append(_html_contents(blocks))
        body.append(_html_block(block, figure_pngs))
    head = f'<meta charset="utf-8"><title>{html.escape(title)}</title><style>{CSS}</style>'
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>\n'
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(
    experiment_dir: str | Path, *, n_resamples: int = 2000, seed: int = 0
) -> ReportPaths:
    """Analyse every finished run of ``experiment_dir`` and write report/index.html and
    report/report.md (figures under report/figures/). Returns the two paths."""
    experiment_dir = Path(experiment_dir)
    analysis = analyse(load_experiment(experiment_dir), n_resamples=n_resamples, seed=seed)
    blocks = build_blocks(analysis)
    return write_blocks(blocks, experiment_dir / REPORT_DIR, f"ferbias report: {analysis.name}")


def write_blocks(blocks: list, out: Path, title: str) -> ReportPaths:
    """Render ``blocks`` to ``out``/index.html (self-contained) and ``out``/report.md (figures
    under ``out``/figures/, stale ones removed). Returns the two paths."""
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
    html_path = write_text_atomic(out / HTML_NAME, render_html(blocks, pngs, title))
    md_path = write_text_atomic(out / MARKDOWN_NAME, render_markdown(blocks, paths))
    log.debug("report written to %s and %s", html_path, md_path)
    return ReportPaths(html_path, md_path)
