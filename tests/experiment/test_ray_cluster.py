"""The Ray executor against a real two-node cluster on this machine: ``ray start --head`` plus a
second raylet (``ray start --address=...``) with its own ports and a small object store.

The runs must land on both nodes and give, bit for bit, the predictions of the same runs
(same run ids: same device, precision and threads) trained in this process. The cluster is
started in its own process sessions, bounded in time, and torn down after (its sessions killed,
its temp dir removed), even on failure. Wall time on 2 busy cores: about a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from experiment_toy import toy_overrides, write_toy_manifest
from ferbias.experiment.executors import create_executor
from ferbias.experiment.pipeline import prepare_experiment, run_experiment
from ferbias.experiment.spec import load_spec

ray = pytest.importorskip("ray")

QUICK = Path(__file__).parents[2] / "experiments" / "quick.yaml"
RAY = str(Path(sys.executable).with_name("ray"))
START_SECONDS = 90  # both raylets registered with the head, or the test fails with their logs
STOP_GRACE_SECONDS = 5  # SIGTERM, then SIGKILL for whatever is left of a node's session
OBJECT_STORE_BYTES = 80 * 1024 * 1024  # Ray's minimum is 75 MiB


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_args() -> list[str]:
    """Ports of one raylet (each node needs its own on a shared machine), 1 CPU, small store."""
    worker_ports = _free_port()
    return [
        "--block",
        "--num-cpus=1",
        "--num-gpus=0",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--node-ip-address=127.0.0.1",
        "--disable-usage-stats",
        "--include-log-monitor=false",
        f"--node-manager-port={_free_port()}",
        f"--object-manager-port={_free_port()}",
        f"--min-worker-port={worker_ports}",
        f"--max-worker-port={worker_ports + 20}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--dashboard-agent-grpc-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
    ]


def _stop(process: subprocess.Popen) -> None:
    """End the node's whole session (``ray start`` and everything it spawned)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # the leader is gone; its children may linger a moment
            time.sleep(0.5)


def _listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def _wait_for_nodes(address: str, processes: list, logs: list[Path]) -> None:
    """Connect once the head's GCS listens, then wait until every raylet has registered;
    fail with the nodes' logs when one exits or ``START_SECONDS`` pass."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and all(p.poll() is None for p in processes):
        if not ray.is_initialized() and _listening(address):
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError:  # listening, but the GCS is not serving yet
                continue
        if ray.is_initialized() and sum(n["Alive"] for n in ray.nodes()) == len(processes):
            return
        time.sleep(1)
    text = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
    pytest.fail(f"{len(processes)} Ray nodes did not come up within {START_SECONDS} s:\n{text}")


@pytest.fixture
def two_node_cluster(tmp_path):
    """A head and a second raylet on this machine; yields the head's address.

    Token authentication is off for this short-lived cluster: Ray reads the driver's auth mode
    when it is imported, before a fixture could hand this process a token.
    """
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    # Ray's sockets live under its temp dir and a Unix socket path has at most 107 bytes:
    # pytest's tmp_path is too deep.
    temp_dir = tempfile.mkdtemp(prefix="fb-ray-")
    address = f"127.0.0.1:{_free_port()}"
    head_args = [f"--port={address.split(':')[1]}", f"--temp-dir={temp_dir}"]
    head_args += [f"--ray-client-server-port={_free_port()}", "--include-dashboard=false"]
    commands = {
        "head": [RAY, "start", "--head", *head_args, *_node_args()],
        "worker": [RAY, "start", f"--address={address}", *_node_args()],
    }
    processes, logs = [], []
    try:
        for name, command in commands.items():
            log = tmp_path / f"{name}.log"
            logs.append(log)
            with open(log, "w") as out:
                processes.append(
                    subprocess.Popen(
                        command, stdout=out, stderr=out, env=env, start_new_session=True
                    )
                )
            if name == "head":
                time.sleep(2)  # the worker retries, but less noise if the GCS is listening
        _wait_for_nodes(address, processes, logs)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    primary = write_toy_manifest(folder, per_cell={"train": 4, "test": 1})
    external = write_toy_manifest(folder / "ext", per_cell={"test": 1}, name="ext")
    extra = ["train.variants=[baseline]", "train.groups=[female, male]"]
    return load_spec(QUICK, [*toy_overrides(primary, external), *extra])


def _grid(spec, out: Path, executor) -> tuple[dict, dict]:
    prepared = prepare_experiment(spec, out, runtime=executor.runtime(precision="fp32"))
    outcomes = {run.run_id: outcome for run, outcome in run_experiment(prepared, executor)}
    assert {o.status for o in outcomes.values()} == {"trained"}, outcomes
    predictions = {
        run.run_id: pd.read_parquet(prepared.run_dir(run) / "predictions.parquet")
        for run in prepared.runs
    }
    return outcomes, predictions


def test_runs_land_on_both_nodes_of_a_two_node_cluster(spec, tmp_path, two_node_cluster):
    executor = create_executor("ray", address=two_node_cluster, cpus_per_run=1)
    outcomes, predictions = _grid(spec, tmp_path / "ray", executor)
    nodes = {outcome.node for outcome in outcomes.values()}
    assert len(nodes) == 2, nodes  # one CPU per node and two runs at once: one run per node
    for run_id, outcome in outcomes.items():
        meta = json.loads((tmp_path / "ray" / spec.name / run_id / "run.json").read_text())
        assert meta["machine"]["node"] == outcome.node and "ray:" in outcome.node
    ray.shutdown()
    _, local = _grid(spec, tmp_path / "local", create_executor("local", threads=1))
    assert predictions.keys() == local.keys()  # same runtime, same run ids
    for run_id, frame in predictions.items():
        pd.testing.assert_frame_equal(frame, local[run_id])
