"""Training and inference throughput on synthetic 48x48 images; prints one table.

Each configuration runs in its own process (so peak RSS is its own): ``fit`` for 1 warm-up + 3
epochs of ``--images`` images; images/s is the median of the 3 timed epochs (training pass only).
Inference: ``predict_proba`` (BatchNorm folded, the CPU default batch of 64), median of 3 passes.

% core peak: training FLOPs per image = 3 x forward FLOPs (forward + backward, measured with
``torch.utils.flop_counter``), times images per CPU-second, over one core's fp32 peak. CPU fp32
peak = cores x GHz x FLOP/cycle: GHz is lscpu's "CPU max MHz" or, absent that (VMs), BogoMIPS / 2
(the TSC clock); FLOP/cycle is 32 with FMA on AVX2/AVX-512 (two 256-bit FMA pipes: 2 x 8 lanes x
2; Zen 4 runs AVX-512 over those pipes) or 8 without FMA. ``uptime`` load is printed: the 2
cores are shared, so the table also gives images per CPU-second of the process
(``time.process_time``), which contention barely moves (with 1 thread it estimates one dedicated
core; with 2, OpenMP spin-waits count against it).

    nice -n 10 .venv/bin/python benchmarks/bench_train.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import ferbias.training.fit as train_module
from ferbias.models import create_model, forward_mflops
from ferbias.training.predict import predict_proba
from ferbias.training.variants import Recipe

CONFIGS = [  # model, model options, threads, batch, augmentation, channels_last
    ("paper-cnn", {}, 1, 64, "none", True),
    ("paper-cnn", {}, 1, 64, "study", True),
    ("paper-cnn", {}, 1, 64, "standard", True),
    ("paper-cnn", {}, 1, 64, "study", False),
    ("paper-cnn", {}, 2, 64, "study", True),
    ("paper-cnn", {}, 1, 128, "study", True),
    ("mini-xception", {}, 1, 64, "study", True),
    ("vgg-fer", {}, 1, 64, "study", True),
    ("vgg-fer", {"width": 64}, 1, 64, "standard", True),
]


def cpu_peak_gflops() -> tuple[float, str]:
    info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    cores = int(fields["CPU(s)"])
    if "CPU max MHz" in fields:
        ghz, source = float(fields["CPU max MHz"]) / 1000, "max MHz"
    else:
        ghz, source = float(fields["BogoMIPS"]) / 2000, "BogoMIPS/2"
    flags = fields.get("Flags", "").split()
    per_cycle = 32 if "fma" in flags and "avx2" in flags else 8
    how = f"{cores} cores x {ghz:.3f} GHz ({source}) x {per_cycle} FLOP/cycle"
    return cores * ghz * per_cycle, how


def run_single(model_name, options, threads, batch, augmentation, channels_last, images) -> dict:
    torch.set_num_threads(threads)
    train_module.CHANNELS_LAST = channels_last
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (images, 48, 48), dtype=np.uint8)
    y = rng.integers(0, 6, images)
    model = create_model(model_name, num_classes=6, seed=0, **options)
    recipe = Recipe(
        epochs=4, batch_size=batch, augmentation=None if augmentation == "none" else augmentation
    )
    cpu_marks = [time.process_time()]
    result = train_module.fit(
        model,
        x,
        y,
        x[:64],
        y[:64],
        recipe=recipe,
        seed=0,
        device="cpu",
        progress=False,
        on_epoch=lambda epoch, row: cpu_marks.append(time.process_time()),
    )
    cpu_ips = float(np.median(images / np.diff(cpu_marks)[1:]))
    train_ips = float(np.median(result.history["images_per_s"].iloc[1:]))
    infer = []
    for _ in range(4):
        start = time.perf_counter()
        predict_proba(result.model, x)
        infer.append(images / (time.perf_counter() - start))
    return {
        "train_ips": train_ips,
        "cpu_ips": cpu_ips,
        "infer_ips": float(np.median(infer[1:])),
        "mflops": forward_mflops(create_model(model_name, num_classes=6, **options)),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--single", metavar="JSON", help="one configuration (internal)")
    parser.add_argument("--images", type=int, default=1280)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run_single(*json.loads(args.single), args.images)))
        return
    peak, how = cpu_peak_gflops()
    cores = int(how.split()[0])
    table = Table(
        "model",
        "threads",
        "batch",
        "augmentation",
        "layout",
        "train img/s",
        "img/CPU-s",
        "% core peak",
        "infer img/s",
        "peak RSS MB",
        "load",
    )
    for config in CONFIGS:
        model, options, threads, batch, aug, cl = config
        load = os.getloadavg()[0]
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--single",
                json.dumps(config),
                "--images",
                str(args.images),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        pct = 100 * r["cpu_ips"] * 3 * r["mflops"] / 1e3 / (peak / cores)  # per busy core
        table.add_row(
            model + "".join(f" {k}={v}" for k, v in options.items()),
            str(threads),
            str(batch),
            aug,
            "NHWC" if cl else "NCHW",
            f"{r['train_ips']:.0f}",
            f"{r['cpu_ips']:.0f}",
            f"{pct:.1f}",
            f"{r['infer_ips']:.0f}",
            f"{r['rss_mb']:.0f}",
            f"{load:.1f}",
        )
    Console(width=140).print(table)
    print(f"fp32 peak {peak:.0f} GFLOP/s = {how}; torch {torch.__version__}")


if __name__ == "__main__":
    main()
