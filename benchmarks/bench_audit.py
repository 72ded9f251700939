"""Benchmark ``ferbias audit``: one model on CFD + JAFFE + up to 7,000 labelled FER-2013 test
faces, report included (goal: <= 60 s on 2 cores). Cold: empty prepared-image cache (faces
detected in every photo); warm: the cache from the cold run.

The model is ``--model`` (a run folder or ONNX file), else an untrained paper-cnn run folder
(speed does not depend on the weights).

    FERBIAS_DATA=../shared/data nice -n 10 .venv/bin/python benchmarks/bench_audit.py
    .venv/bin/python benchmarks/bench_audit.py --fer-limit 300 --resamples 200   # smoke test
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import yaml
from rich.console import Console
from rich.table import Table

from bench_predict import make_run
from bench_prepare import cpu_model
from ferbias.audit import load_audit_spec, run_audit
from ferbias.training.inference import load_model


def write_spec(folder: Path, fer_limit: int, resamples: int) -> Path:
    sets = [
        {"name": "cfd", "source": {"source": "cfd", "path": "${FERBIAS_DATA}/cfd_subset"}},
        {"name": "jaffe", "source": {"source": "jaffe", "path": "${FERBIAS_DATA}/jaffe"}},
        {
            "name": "fer2013-test",
            "source": {"source": "fer2013", "path": "${FERBIAS_DATA}/fer2013"},
            "split": "test",
            "limit": fer_limit,
        },
    ]
    spec = {"name": "bench-audit", "test_sets": sets, "n_resamples": resamples}
    path = folder / "bench-audit.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--fer-limit", type=int, default=7000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    os.environ["FERBIAS_CACHE"] = str(folder / "cache")  # cold first, then warm
    spec = load_audit_spec(write_spec(folder, args.fer_limit, args.resamples))
    model_path = args.model or make_run(folder / "run")
    table = Table(
        "run",
        "images scored",
        "seconds",
        "report",
        title=f"ferbias audit, {cpu_model()}, {args.threads} torch thread(s), "
        f"{args.resamples} resamples",
    )
    for label in ("cold (faces detected)", "warm (prepared-image cache)"):
        start = time.perf_counter()
        outcome = run_audit(load_model(model_path), spec, folder / "out")
        seconds = time.perf_counter() - start
        scored = sum(len(s.predictions) for s in outcome.results.sets)
        table.add_row(label, f"{scored:,}", f"{seconds:.1f}", str(outcome.report.html))
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
