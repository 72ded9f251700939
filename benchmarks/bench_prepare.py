"""Benchmark image preparation: FER-2013 from JPEG (cold) and from the cache, and face detection
on CFD and JAFFE (images/s, faces found). Prints one table with the machine and worker count.

    FERBIAS_DATA=../shared/data nice -n 10 .venv/bin/python benchmarks/bench_prepare.py
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ferbias.data import images, quality
from ferbias.data.sources import load_source

CASES = (("fer2013", "fer2013"), ("cfd", "cfd_subset"), ("jaffe", "jaffe"))


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def bench(data_root: Path, workers: int, cache_dir: Path) -> list[tuple]:
    """Rows: (case, images, seconds, images/s, faces found)."""
    rows = []
    for source, folder in CASES:
        manifest = load_source(source, data_root / folder).manifest
        cold, seconds = timed(
            lambda m=manifest: images.prepare(m, cache_dir=cache_dir, workers=workers)
        )
        found = (
            f"{len(cold.pixels) / len(manifest):.1%}"
            if source != "fer2013"
            else "n/a (tight crops)"
        )
        label = "from JPEG, cold" if source == "fer2013" else "face detection + crop, cold"
        rows.append((f"{source} {label}", len(manifest), seconds, len(manifest) / seconds, found))
        hot, seconds = timed(
            lambda m=manifest: images.prepare(m, cache_dir=cache_dir, workers=workers)
        )
        assert hot.from_cache
        rows.append((f"{source} from cache", len(manifest), seconds, len(manifest) / seconds, ""))
        if source == "fer2013":
            _, seconds = timed(lambda m=manifest, p=cold.pixels: quality.find_duplicates(m, p))
            rows.append(
                (
                    "fer2013 exact + near duplicates",
                    len(manifest),
                    seconds,
                    len(manifest) / seconds,
                    "",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("FERBIAS_DATA", "../shared/data"))
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferbias-bench-") as cache_dir:
        rows = bench(args.data, args.workers, Path(cache_dir))
    title = f"prepare benchmark: {os.cpu_count()} CPUs ({cpu_model()}), workers={args.workers}"
    table = Table(title=title)
    for column in ("case", "images", "seconds", "images/s", "faces found"):
        table.add_column(column, justify="left" if column in ("case", "faces found") else "right")
    for case, count, seconds, rate, found in rows:
        table.add_row(case, f"{count:,}", f"{seconds:.2f}", f"{rate:,.0f}", found)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
