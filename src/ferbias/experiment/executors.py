"""Where runs execute: in this process, in local worker processes, or on a Ray cluster.

Every executor maps ``ferbias.experiment.runner.execute_run`` over run tasks and yields
``(task, outcome)`` as runs finish, so the caller can show progress. Workers write into the
task's run folder, so with Ray the ``--out`` folder must be visible to every node (a local
instance or a shared disk).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from ferbias.experiment.grid import RunTask
from ferbias.experiment.runner import RunOutcome, execute_run
from ferbias.registry import Registry

RAY_MISSING = "--executor ray needs the optional extra: pip install 'ferbias[ray]'"


class LocalExecutor:
    """Runs one after another in this process, with all of torch's threads."""

    runs_at_once: int | None = 1  # None: decided by the cluster

    def __init__(self, **_: object) -> None:
        self.threads_per_run = _threads_per_worker(1)

    def map(self, tasks: list[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        for task in tasks:
            yield task, execute_run(task)


def _threads_per_worker(workers: int) -> int:
    """The CPU cores split between ``workers`` runs at a time (at least one thread each)."""
    return max(1, (os.cpu_count() or 1) // workers)


def _execute_with_threads(task: RunTask, threads: int) -> RunOutcome:
    """Worker-process entry point: pin torch's thread count, then run (no global seeding)."""
    import torch

    torch.set_num_threads(threads)
    return execute_run(task)


class ProcessExecutor:
    """Runs ``workers`` runs at a time in spawned local processes, splitting the CPU cores."""

    def __init__(self, *, workers: int = 2, **_: object) -> None:
        self.runs_at_once = max(1, workers)
        self.threads_per_run = _threads_per_worker(self.runs_at_once)

    def map(self, tasks: list[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.runs_at_once, mp_context=context) as pool:
            futures = {
                pool.submit(_execute_with_threads, task, self.threads_per_run): task
                for task in tasks
            }
            for future in as_completed(futures):
                yield futures[future], future.result()


class RayExecutor:
    """Sends each run to a Ray cluster (``address``) or a local instance (``address=None``)."""

    runs_at_once: int | None = None  # as many as the cluster has free CPUs

    def __init__(
        self, *, address: str | None = None, cpus_per_run: float = 1.0, **_: object
    ) -> None:
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.threads_per_run = max(1, int(cpus_per_run))

    def map(self, tasks: list[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        try:
            import ray
        except ImportError as error:
            raise RuntimeError(RAY_MISSING) from error
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        remote = ray.remote(num_cpus=self.cpus_per_run)(_execute_with_threads)
        pending = {remote.remote(task, self.threads_per_run): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            yield task, ray.get(done[0])


EXECUTORS: Registry[LocalExecutor | ProcessExecutor | RayExecutor] = Registry("executor")
EXECUTORS.register("local")(LocalExecutor)
EXECUTORS.register("processes")(ProcessExecutor)
EXECUTORS.register("ray")(RayExecutor)


def create_executor(name: str, **options: object):
    """``local``, ``processes`` or ``ray``; options a kind does not use are ignored."""
    return EXECUTORS.create(name, **options)
