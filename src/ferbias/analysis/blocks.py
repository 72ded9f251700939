"""The report's building blocks and the number formats they share.

A report is a list of blocks built once and rendered twice (HTML and Markdown, see
:mod:`ferbias.analysis.report`). A section is a function ``Analysis -> list[block]``
(:mod:`ferbias.analysis.sections`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure


@dataclass(frozen=True)
class Heading:
    """A heading; level 2 headings make the table of contents (``anchor``: its HTML id)."""

    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    """Plain text; ``anchor`` gives it an HTML id (the verdict paragraph is ``verdict``)."""

    text: str
    anchor: str = ""


@dataclass(frozen=True)
class Table:
    """A table shown without its index; captions go above the table."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class FigureBlock:
    name: str
    figure: Figure
    caption: str


Block = Heading | Paragraph | Table | FigureBlock


def pp(value: float) -> str:
    """A fraction as percent (or percentage points) with one decimal; never "-0.0"."""
    text = f"{100 * value:.1f}"
    return "0.0" if text == "-0.0" else text


def signed_pp(value: float) -> str:
    """Percentage points with a sign: "+13.6", "-0.2", "0.0"."""
    text = pp(value)
    return text if text.startswith("-") or text == "0.0" else f"+{text}"


def with_ci(estimate: float, low: float, high: float) -> str:
    return f"{pp(estimate)} ({pp(low)} to {pp(high)})"


def p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_equals(p: float) -> str:
    """``"= 0.012"`` or ``"< 0.001"``, to follow a "p"."""
    text = p_text(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"
