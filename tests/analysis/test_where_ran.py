"""The report's "where runs ran" table: device, precision, threads per run, hardware."""

from __future__ import annotations

import pandas as pd

from ferbias.analysis.sections.where_ran import where_runs_ran, where_summary


def test_a_grid_mixing_a_gpu_and_cpus_says_which_ran_where():
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d"],
            "runtime.device": ["cuda", "cuda", "cpu", None],
            "runtime.precision": ["bf16", "bf16", "fp32", None],
            "runtime.threads": [1, 1, 1, None],
            "machine.cpu": ["AMD EPYC", "AMD EPYC", "AMD EPYC", None],
            "machine.gpu": ["NVIDIA H200", "NVIDIA H200", None, None],
            "machine.host": ["gpu-box", "gpu-box", "laptop", None],
        }
    )
    table = where_runs_ran(runs)
    assert table.to_dict("records")[0] == {
        "device": "cuda",
        "precision": "bf16",
        "threads per run": "1",
        "hardware": "NVIDIA H200",
        "runs": 2,
        "hosts": 1,
    }
    assert set(table["device"]) == {"cuda", "cpu", "not recorded"}
    summary = where_summary(table)
    assert summary.startswith("The 4 runs are mixed: 2 on cuda (bf16, 1 thread(s) per run")
    assert "1 on cpu (fp32, 1 thread(s) per run, AMD EPYC)" in summary


def test_runs_that_ran_alike_give_one_line():
    runs = pd.DataFrame({"run_id": ["a", "b"], "runtime.device": "cpu"})
    runs["runtime.precision"], runs["runtime.threads"], runs["machine.cpu"] = "bf16", 1, "Zen 4"
    assert where_summary(where_runs_ran(runs)) == (
        "All 2 runs ran on cpu (bf16, 1 thread(s) per run, Zen 4)."
    )
