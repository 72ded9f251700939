"""Where runs execute: in this process, in local worker processes, or on a Ray cluster.

Every executor says which ``Runtime`` its runs get (device kind, resolved precision, threads per
run: part of every run id) and maps ``ferbias.experiment.runner.execute_run`` over run tasks,
yielding ``(task, outcome)`` as runs finish so the caller can show progress. Workers write into
the task's run folder, so with Ray the ``--out`` folder must be visible to every node (one
machine or a shared disk).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from ferbias.experiment.grid import RunTask
from ferbias.experiment.runner import RunOutcome, execute_run
from ferbias.registry import Registry
from ferbias.training.runtime import Runtime, resolve_runtime

RAY_MISSING = "--executor ray needs the optional extra: pip install 'ferbias[ray]'"
RAY_NO_WORKER = (
    "no Ray worker with {cpus} CPU(s) and {gpus} GPU(s) answered within {seconds} s at {address}"
)
RAY_PROBE_SECONDS = 120
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _cores() -> int:
    return os.cpu_count() or 1


class LocalExecutor:
    """Runs one after another in this process, each with ``threads`` torch threads (default:
    all of the machine's cores)."""

    runs_at_once: int | None = 1  # None: decided by the cluster

    def __init__(self, *, threads: int | None = None, **_: object) -> None:
        self.threads_per_run = max(1, threads or _cores())

    def runtime(self, *, device: str = "auto", precision: str = "auto") -> Runtime:
        return resolve_runtime(device=device, precision=precision, threads=self.threads_per_run)

    def map(self, tasks: list[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        for task in tasks:
            yield task, execute_run(task)


class ProcessExecutor:
    """Runs ``workers`` runs at a time (default: one per core) in spawned local processes,
    splitting the cores between them."""

    def __init__(self, *, workers: int | None = None, **_: object) -> None:
        self.runs_at_once = max(1, workers or _cores())
        self.threads_per_run = max(1, _cores() // self.runs_at_once)

    def runtime(self, *, device: str = "auto", precision: str = "auto") -> Runtime:
        # The workers run on this machine: what resolves here resolves there.
        return resolve_runtime(device=device, precision=precision, threads=self.threads_per_run)

    def map(self, tasks: list[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            self.runs_at_once,
            mp_context=context,
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futures = {pool.submit(execute_run, task): task for task in tasks}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end with the ``ferbias run`` that started it (Linux), so a killed
    grid leaves no orphan training the same run folder as the next ``ferbias run``."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: nothing to ask the kernel for
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _resolve_on_node(device: str, precision: str, threads: int) -> Runtime:
    """Ray task: the runtime a run gets on the node this lands on."""
    return resolve_runtime(device=device, precision=precision, threads=threads)


def _execute_on_node(task: RunTask) -> RunOutcome:
    """Ray task: run on this node, recording its host and Ray node id."""
    import socket

    import ray

    node = f"{socket.gethostname()} ray:{ray.get_runtime_context().get_node_id()[:12]}"
    return execute_run(task, node=node)


class RayExecutor:
    """Sends each run to a Ray cluster (``address``) or a local instance (``address=None``),
    spread over the nodes; each run takes ``cpus_per_run`` CPUs (its torch threads) and
    ``gpus_per_run`` GPUs (0: Ray hides the GPUs, so runs train on CPU)."""

    runs_at_once: int | None = None  # as many as the cluster has free CPUs

    def __init__(
        self,
        *,
        address: str | None = None,
        cpus_per_run: float = 1.0,
        gpus_per_run: float = 0.0,
        **_: object,
    ) -> None:
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.threads_per_run = max(1, int(cpus_per_run))

    def _ray(self):
        try:
            import ray
        except ImportError as error:
            raise RuntimeError(RAY_MISSING) from error
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        return ray

    def _options(self) -> dict:
        resources = {"num_cpus": self.cpus_per_run, "num_gpus": self.gpus_per_run}
        return {**resources, "scheduling_strategy": "SPREAD"}

    def runtime(self, *, device: str = "auto", precision: str = "auto") -> Runtime:
        """Resolved on a worker node with a run's resources (``auto`` means what it means
        there, not on the machine that submits)."""
        if device == "auto" and not self.gpus_per_run:
            device = "cpu"  # a run without a GPU share trains on the node's CPU
        ray = self._ray()
        probe = ray.remote(**self._options())(_resolve_on_node)
        ref = probe.remote(device, precision, self.threads_per_run)
        try:
            return ray.get(ref, timeout=RAY_PROBE_SECONDS)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            raise RuntimeError(
                RAY_NO_WORKER.format(
                    cpus=self.cpus_per_run,
                    gpus=self.gpus_per_run,
                    seconds=RAY_PROBE_SECONDS,
                    address=self.address or "a local instance",
                )
            ) from None

    def map(self, tasks: list[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        ray = self._ray()
        remote = ray.remote(**self._options())(_execute_on_node)
        pending = {remote.remote(task): task for task in tasks}
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
