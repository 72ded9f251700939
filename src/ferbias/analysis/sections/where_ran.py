"""Where an experiment's runs ran: device kind, precision, threads per run and hardware.

A run id carries its device kind, resolved precision and threads (they change the numbers), and
run.json records the machine; a grid may mix runs from a lent GPU and from CPUs, and this table
says which ran where. Runs written before ferbias recorded it say "not recorded".
"""

from __future__ import annotations

import pandas as pd

from ferbias.analysis.blocks import Heading, Paragraph, Table
from ferbias.analysis.tables import Analysis

NOT_RECORDED = "not recorded"
COLUMNS = {  # run.json field (flattened) -> column of the table
    "runtime.device": "device",
    "runtime.precision": "precision",
    "runtime.threads": "threads per run",
    "hardware": "hardware",
}


def where_runs_ran(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, precision, threads, hardware) with its number of runs and hosts.

    ``runs`` has one row per run with run.json's nested fields flattened (``runtime.device``,
    ``machine.cpu``, ``machine.gpu``, ``machine.host``), as ``metrics.load_experiment`` gives.
    """
    frame = pd.DataFrame(index=runs.index)
    for field in ("runtime.device", "runtime.precision", "runtime.threads"):
        values = runs[field] if field in runs else pd.Series(pd.NA, index=runs.index)
        if field == "runtime.threads":  # whole numbers, also where some runs lack them
            values = pd.to_numeric(values, errors="coerce").astype("Int64")
        frame[field] = values.astype("string").fillna(NOT_RECORDED)
    gpu = runs["machine.gpu"] if "machine.gpu" in runs else pd.Series(pd.NA, index=runs.index)
    cpu = runs["machine.cpu"] if "machine.cpu" in runs else pd.Series(pd.NA, index=runs.index)
    frame["hardware"] = gpu.where(gpu.notna(), cpu).astype("string").fillna(NOT_RECORDED)
    host = runs["machine.host"] if "machine.host" in runs else pd.Series(pd.NA, index=runs.index)
    frame["host"] = host.astype("string").fillna(NOT_RECORDED)
    table = (
        frame.groupby(list(COLUMNS), dropna=False)
        .agg(runs=("host", "size"), hosts=("host", "nunique"))
        .reset_index()
        .rename(columns=COLUMNS)
    )
    return table.sort_values("runs", ascending=False, ignore_index=True)


def where_summary(table: pd.DataFrame) -> str:
    """One sentence: ``all 120 runs: cpu, bf16, 1 thread(s) per run`` or how they were mixed."""
    total = int(table["runs"].sum())
    parts = [
        f"{row['runs']} on {row['device']} ({row['precision']}, {row['threads per run']}"
        f" thread(s) per run, {row['hardware']})"
        for row in table.to_dict("records")
    ]
    if len(parts) == 1:
        return f"All {total} runs ran on " + parts[0].split(" on ", 1)[1] + "."
    return f"The {total} runs are mixed: " + "; ".join(parts) + "."


def where_blocks(a: Analysis) -> list:
    """The section: one sentence and the table."""
    table = where_runs_ran(a.results.runs)
    return [Heading("Where runs ran"), Paragraph(where_summary(table)), Table(table)]
