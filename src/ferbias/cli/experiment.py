"""`ferbias run SPEC` and `ferbias report runs/<experiment>`."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ferbias.experiment.pipeline import (
    PreparedExperiment,
    dry_run_table,
    prepare_experiment,
    reuse_other_runtimes,
    run_experiment,
)
from ferbias.experiment.spec import load_spec

app = typer.Typer(help="experiment commands.", no_args_is_help=True)
console = Console()

NO_EXPERIMENT = "{path} holds no experiment.json; expected a folder written by `ferbias run`"
RUNS_FAILED = (
    "{failed} of {total} run(s) failed (each one's error is above); fix the cause and run the same "
    "command again: finished runs are kept"
)


def run(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="Experiment YAML."),
    out: Path = typer.Option(Path("runs"), "--out", help="Results go to OUT/<experiment>/."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the runs with an ETA; train nothing."
    ),
    executor: str | None = typer.Option(
        None, "--executor", help="local, processes or ray (default: the spec's, else processes)."
    ),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address."),
    workers: int | None = typer.Option(
        None, "--workers", help="Parallel runs (processes executor; default: one per core)."
    ),
    overrides: list[str] = typer.Option([], "--set", help="Dotted override, e.g. train.epochs=2."),
    reuse_any_runtime: bool = typer.Option(
        False,
        "--reuse-any-runtime",
        help="Count finished runs of the same config from another device, precision or thread"
        " count instead of training them again (the report shows where each ran).",
    ),
) -> None:
    """Run an experiment spec: train every run, evaluate on every test set, write the report."""
    from ferbias.experiment.executors import create_executor

    experiment = load_spec(spec, overrides)
    kind = executor or experiment.executor
    runner = create_executor(kind, address=address, workers=workers)
    runtime = runner.runtime(device=experiment.train.device, precision=experiment.train.precision)
    prepared = prepare_experiment(experiment, out, runtime=runtime)
    if reuse_any_runtime:
        prepared = reuse_other_runtimes(prepared)
    if dry_run:
        _print_dry_run(prepared, runner, kind, runtime)
        return
    with _progress() as progress:
        failed = _execute(prepared, runner, progress)
    if failed < len(prepared.runs):
        _write_report(prepared.out_dir)
    if failed:
        raise RuntimeError(RUNS_FAILED.format(failed=failed, total=len(prepared.runs)))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _execute(prepared: PreparedExperiment, runner, progress: Progress) -> int:
    """Drive the grid, printing one line per run; returns the number of failed runs."""
    grid = progress.add_task("runs", total=len(prepared.runs))
    failed = 0
    start = time.perf_counter()
    for config, outcome in run_experiment(prepared, runner):
        progress.advance(grid)
        accuracy = "" if outcome.val_acc is None else f" val_acc={outcome.val_acc:.3f}"
        colour = {"failed": "red", "skipped": "dim"}.get(outcome.status, "green")
        resumed = f", resumed after epoch {outcome.resumed_after}" if outcome.resumed_after else ""
        progress.console.print(
            f"[{colour}]{outcome.status:8}[/{colour}] {config.run_id}{accuracy}"
            f" ({outcome.seconds:.0f} s{resumed}){' ' + escape(outcome.error or '')}",
            soft_wrap=True,
        )
        for warning in outcome.warnings:
            progress.console.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
        failed += outcome.status == "failed"
    seconds = time.perf_counter() - start
    console.print(f"grid done in {seconds:.0f} s: {prepared.out_dir}", soft_wrap=True)
    return failed


def _print_dry_run(prepared: PreparedExperiment, runner, kind: str, runtime) -> None:
    """The runs with ETAs on ``runtime``, the executor's total wall time, and the total on the
    other device kinds this machine has (its CPU; a CUDA device when present)."""
    frame = dry_run_table(prepared)
    columns = {"train_group": "group", "variant": "variant", "model": "model", "seed": "seed"}
    columns |= {"n_train": "train", "n_val": "val", "epochs": "epochs", "status": "status"}
    table = Table(
        title=f"{prepared.spec.name}: {len(frame)} runs -> {prepared.out_dir}",
        caption=f"test images per run: {frame['n_test'].iloc[0]} (all test sets)",
    )
    for header in (*columns.values(), "eta"):
        numeric = header in ("train", "val", "seed", "epochs")
        table.add_column(header, justify="right" if numeric else "left", no_wrap=not numeric)
    for row in frame.itertuples():
        table.add_row(*(str(getattr(row, c)) for c in columns), _duration(row.eta_s))
    Console(width=max(console.width, 110)).print(table)  # wide enough for every column
    console.print(_eta_line(frame, runner, kind, runtime), soft_wrap=True, markup=False)
    for other in _other_runtimes(runner, prepared.spec.train.precision, runtime):
        line = _eta_line(dry_run_table(prepared, runtime=other), runner, kind, other)
        console.print(line, soft_wrap=True, markup=False)
    stops = sum(run.recipe.get("early_stopping_patience") is not None for run in prepared.runs)
    if stops:
        console.print(f"{stops} run(s) may stop early: counted with every epoch (an upper bound)")


def _other_runtimes(runner, precision: str, planned) -> list:
    """The CPU runtime when the runs are planned on CUDA, and CUDA's when one is present."""
    import torch

    other = "cpu" if planned.device == "cuda" else "cuda"
    if runner.runs_at_once is None or (other == "cuda" and not torch.cuda.is_available()):
        return []  # a cluster's devices are its own
    return [runner.runtime(device=other, precision=precision)]


def _eta_line(frame, runner, kind: str, runtime) -> str:
    """``total ETA on this machine's cpu (bf16, ...): 9h41m (...)``."""
    speeds = ", ".join(
        f"{model} {g.train_ips.median():.0f} train / {g.infer_ips.median():.0f} inference img/s"
        for model, g in frame.groupby("model", sort=False)
    )
    where = f"{runtime.device} ({runtime.precision}, {runtime.threads} thread(s) per run)"
    if runner.runs_at_once is None:
        return (
            f"summed run time on {where}: {_duration(frame['eta_s'].sum())}; the {kind} executor"
            f" runs as many at once as the cluster has free CPUs; {speeds}"
        )
    total = _duration(frame["eta_s"].sum() / runner.runs_at_once)
    return (
        f"total ETA on this machine's {where}: {total} ({kind} executor: {runner.runs_at_once}"
        f" run(s) at a time); {speeds}"
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _write_report(experiment_dir: Path) -> None:
    from ferbias.analysis.report import write_report

    for path in write_report(experiment_dir):
        console.print(f"report: {path}", soft_wrap=True)


def report(
    experiment_dir: Path = typer.Argument(..., file_okay=False, help="runs/<experiment>"),
) -> None:
    """Write the HTML and Markdown report of an experiment folder and print their paths."""
    if not (experiment_dir / "experiment.json").is_file():
        raise FileNotFoundError(NO_EXPERIMENT.format(path=experiment_dir))
    _write_report(experiment_dir)
