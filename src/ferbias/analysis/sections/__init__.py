"""The report's sections in reading order: the answer first, then the tables behind it, the
study side by side, the verdicts in words, the figures and the setup.

A section is a function ``Analysis -> list[Block]`` (:mod:`ferbias.analysis.blocks`) that starts
with a level-2 ``Heading`` (its entry in the table of contents) or returns ``[]`` when it has
nothing to show. To add one, write it in a module of this package and list it in ``SECTIONS``.
"""

from __future__ import annotations

from collections.abc import Callable

from ferbias.analysis.blocks import Block, Heading, Paragraph
from ferbias.analysis.label_noise import label_noise_blocks
from ferbias.analysis.sections.answer import answer_blocks, detail_blocks
from ferbias.analysis.sections.details import figure_blocks, metric_blocks
from ferbias.analysis.sections.results import transfer_blocks
from ferbias.analysis.sections.setup import data_blocks, power_blocks, setup_blocks
from ferbias.analysis.sections.study import study_blocks
from ferbias.analysis.sections.where_ran import where_blocks
from ferbias.analysis.tables import Analysis

Section = Callable[[Analysis], list[Block]]
SECTIONS: tuple[Section, ...] = (
    answer_blocks,
    transfer_blocks,
    study_blocks,
    detail_blocks,
    label_noise_blocks,
    figure_blocks,
    metric_blocks,
    setup_blocks,
    where_blocks,
    data_blocks,
    power_blocks,
)


def title_blocks(a: Analysis) -> list[Block]:
    description = (a.results.record.get("spec") or {}).get("description")
    title = Heading(f"ferbias report: {a.name}", 1)
    return [title, Paragraph(str(description))] if description else [title]


def build_blocks(a: Analysis, sections: tuple[Section, ...] = SECTIONS) -> list[Block]:
    """The whole report, top to bottom: the title, then every section in order."""
    blocks = title_blocks(a)
    for section in sections:
        blocks += section(a)
    return blocks
