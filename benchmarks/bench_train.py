"""Training and inference throughput; prints one table. Two modes:

``python benchmarks/bench_train.py`` (configurations): ``fit`` on synthetic 48x48 images, 1 warm-up
+ 3 epochs of ``--images`` images; images/s is the median of the 3 timed epochs (training pass
only). Inference: ``predict_proba`` (BatchNorm folded, its default batch), median of 3 passes.
Each row runs in its own process (so peak RSS is its own), fp32 and bf16; the malloc column says
whether ``runtime.keep_freed_memory`` ran (kept) or glibc kept its own thresholds (glibc).

``python benchmarks/bench_train.py --side-by-side DIR`` (the study's pipeline against ours, on
the same images, the same machine, in one run): ``--images`` FER-2013 images from DIR
(``DIR/<emotion>/*.jpg``), batch 64, ``--threads`` threads for every row; ``--repeats N`` runs
N rounds of every row, each round starting one row later, and prints medians with their ranges
(x Keras: the median of each round's ratio):

- Keras: the study's pipeline (``bench_keras.py``: its CNN, ``flow_from_directory`` +
  ImageDataGenerator with its augmentation, decoding JPEGs every epoch); needs
  ``pip install 'ferbias[keras]'``;
- PyTorch, plain loop: the same CNN (``paper-cnn``), images in memory, channels_last, Adam, no
  augmentation, fp32 and bf16 autocast; inference with the plain eval-mode model;
- ferbias ``fit`` with the study's augmentation, fp32 and bf16; inference ``predict_proba``.

% core peak: training FLOPs per image = 3 x forward FLOPs (forward + backward, measured with
``torch.utils.flop_counter``), times images per CPU-second, over one core's fp32 peak. CPU fp32
peak = cores x GHz x FLOP/cycle: GHz is lscpu's "CPU max MHz" or, absent that (VMs), BogoMIPS / 2
(the TSC clock); FLOP/cycle is 32 with FMA on AVX2/AVX-512 (two 256-bit FMA pipes: 2 x 8 lanes x
2; Zen 4 runs AVX-512 over those pipes) or 8 without FMA. bf16 runs (AVX512-BF16) can pass
100%: the peak is fp32's. ``uptime`` load is printed: the cores may be shared, so the table also
gives images per CPU-second of the process (``time.process_time``), which contention barely
moves (with 1 thread it estimates one dedicated core; with 2, OpenMP spin-waits count against
it).

    nice -n 10 .venv/bin/python benchmarks/bench_train.py
    nice -n 10 .venv/bin/python benchmarks/bench_train.py --side-by-side $FERBIAS_DATA/fer2013/train
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console
from rich.table import Table

import ferbias.training.fit as train_module
import ferbias.training.predict as predict_module
from bench_keras import pick_images
from ferbias.models import create_model, forward_mflops
from ferbias.training.predict import predict_proba
from ferbias.training.runtime import autocast
from ferbias.training.variants import Recipe

CONFIGS = [  # model, model options, threads, batch, augmentation, channels_last, precision,
    # malloc: kept (ferbias: keep_freed_memory) or glibc (glibc's own thresholds)
    ("paper-cnn", {}, 1, 64, "none", True, "fp32", "kept"),
    ("paper-cnn", {}, 1, 64, "study", True, "fp32", "kept"),
    ("paper-cnn", {}, 1, 64, "study", True, "bf16", "kept"),
    ("paper-cnn", {}, 1, 64, "standard", True, "bf16", "kept"),
    ("paper-cnn", {}, 1, 64, "study", False, "fp32", "kept"),
    ("paper-cnn", {}, 2, 64, "study", True, "fp32", "kept"),
    ("paper-cnn", {}, 2, 64, "study", True, "bf16", "kept"),
    ("paper-cnn", {}, 2, 64, "study", True, "bf16", "glibc"),
    ("mini-xception", {}, 1, 64, "study", True, "fp32", "kept"),
    ("mini-xception", {}, 1, 64, "study", True, "bf16", "kept"),
    ("vgg-fer", {}, 1, 64, "study", True, "fp32", "kept"),
    ("vgg-fer", {}, 1, 64, "study", True, "bf16", "kept"),
    ("vgg-fer", {"width": 64}, 1, 64, "standard", True, "bf16", "kept"),
]
SIDE_BY_SIDE = [  # pipeline, precision (Keras runs in bench_keras.py)
    ("keras", "fp32"),
    ("plain", "fp32"),
    ("plain", "bf16"),
    ("ferbias", "fp32"),
    ("ferbias", "bf16"),
]
PIPELINE_NAMES = {
    "plain": "PyTorch, plain loop (no augmentation)",
    "ferbias": "ferbias fit (study augmentation)",
}


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


def load_images(args) -> tuple[np.ndarray, np.ndarray]:
    """``--images`` uint8 48x48 images and labels: from ``--side-by-side`` DIR, else random."""
    if args.side_by_side:
        files = pick_images(Path(args.side_by_side), args.images)
        pixels = np.stack([np.asarray(Image.open(f).convert("L").resize((48, 48))) for f in files])
        return pixels, np.repeat(np.arange(6), len(files) // 6)
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (args.images, 48, 48), dtype=np.uint8), rng.integers(
        0, 6, args.images
    )


def run_fit(
    x, y, model_name, options, batch, augmentation, channels_last, precision, malloc
) -> dict:
    """ferbias ``fit`` (1 warm-up + 3 epochs) and ``predict_proba``; ``malloc="glibc"`` leaves
    glibc's allocator as it is (``keep_freed_memory`` not called) for the before/after row."""
    train_module.CHANNELS_LAST = channels_last
    if malloc == "glibc":
        train_module.keep_freed_memory = predict_module.keep_freed_memory = lambda: False
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
        precision=precision,
        progress=False,
        on_epoch=lambda epoch, row: cpu_marks.append(time.process_time()),
    )
    infer = timed_passes(lambda: predict_proba(result.model, x, precision=precision), len(x))
    return {
        "train_ips": float(np.median(result.history["images_per_s"].iloc[1:])),
        "cpu_ips": float(np.median(len(x) / np.diff(cpu_marks)[1:])),
        "infer_ips": infer,
    }


def run_plain(x, y, model_name, batch, precision) -> dict:
    """A plain PyTorch loop: shuffled in-memory batches, channels_last, Adam, cross-entropy."""
    device = torch.device("cpu")
    model = create_model(model_name, num_classes=6, seed=0).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    images = torch.from_numpy(x).unsqueeze(1).float().div(255)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    generator = torch.Generator().manual_seed(0)
    seconds, cpu_seconds = [], []
    for _ in range(4):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train()
        for index in torch.randperm(len(x), generator=generator).split(batch):
            inputs = images[index].contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                logits = model(inputs)
            loss = F.cross_entropy(logits.float(), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    model.eval()

    def infer() -> None:
        with torch.inference_mode(), autocast(device, precision):
            for chunk in images.split(64):
                model(chunk.contiguous(memory_format=torch.channels_last))

    return {
        "train_ips": float(np.median(len(x) / np.array(seconds[1:]))),
        "cpu_ips": float(np.median(len(x) / np.array(cpu_seconds[1:]))),
        "infer_ips": timed_passes(infer, len(x)),
    }


def timed_passes(run, images: int, passes: int = 4) -> float:
    """Images/s: median over ``passes`` calls after the first."""
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        run()
        rates.append(images / (time.perf_counter() - start))
    return float(np.median(rates[1:]))


def run_single(config: dict, args) -> dict:
    """One row, in this (fresh) process."""
    torch.set_num_threads(config["threads"])
    x, y = load_images(args)
    if config["kind"] == "plain":
        result = run_plain(x, y, config["model"], config["batch"], config["precision"])
    else:
        keys = ("model", "options", "batch", "augmentation", "channels_last", "precision")
        keys += ("malloc",)
        result = run_fit(x, y, *(config[k] for k in keys))
    model = create_model(config["model"], num_classes=6, **config.get("options", {}))
    result["mflops"] = forward_mflops(model)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def in_subprocess(command: list[str]) -> dict:
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def single(config: dict, args) -> dict:
    command = [sys.executable, __file__, "--single", json.dumps(config), "--images"]
    command += [str(args.images)]
    if args.side_by_side:
        command += ["--side-by-side", str(args.side_by_side)]
    return in_subprocess(command)


def configurations_table(args, peak: float, cores: int) -> Table:
    table = Table(
        "model",
        "threads",
        "batch",
        "augmentation",
        "layout",
        "precision",
        "malloc",
        "train img/s",
        "img/CPU-s",
        "% core peak",
        "infer img/s",
        "peak RSS MB",
        "load",
    )
    for model, options, threads, batch, aug, cl, precision, malloc in CONFIGS:
        load = os.getloadavg()[0]
        config = {"kind": "ferbias", "model": model, "options": options, "threads": threads}
        config |= {"batch": batch, "augmentation": aug, "channels_last": cl, "malloc": malloc}
        r = single(config | {"precision": precision}, args)
        pct = 100 * r["cpu_ips"] * 3 * r["mflops"] / 1e3 / (peak / cores)  # per busy core
        table.add_row(
            model + "".join(f" {k}={v}" for k, v in options.items()),
            str(threads),
            str(batch),
            aug,
            "NHWC" if cl else "NCHW",
            precision,
            malloc,
            f"{r['train_ips']:.0f}",
            f"{r['cpu_ips']:.0f}",
            f"{pct:.1f}",
            f"{r['infer_ips']:,.0f}",
            f"{r['rss_mb']:.0f}",
            f"{load:.1f}",
        )
    return table


def side_by_side_row(kind: str, precision: str, args) -> dict:
    """One pipeline's results in its own process; Keras's error message when it cannot run."""
    if kind == "keras":
        command = [sys.executable, str(Path(__file__).with_name("bench_keras.py")), "--json"]
        command += ["--dir", str(args.side_by_side), "--images", str(args.images)]
        try:
            r = in_subprocess([*command, "--threads", str(args.threads)])
        except subprocess.CalledProcessError as error:
            return {"error": error.stderr.strip().splitlines()[-1]}
        return r | {"name": r["pipeline"] + ", study pipeline"}
    config = {"kind": kind, "model": "paper-cnn", "options": {}, "threads": args.threads}
    config |= {"batch": 64, "augmentation": "study", "channels_last": True, "malloc": "kept"}
    return single(config | {"precision": precision}, args) | {"name": PIPELINE_NAMES[kind]}


def side_by_side_rounds(args) -> list[dict]:
    """``--repeats`` rounds of every pipeline; each round starts one row later than the one
    before, so that the machine's drift does not always favour the same pipeline."""
    rounds = []
    for index in range(args.repeats):
        shift = index % len(SIDE_BY_SIDE)
        results = {}
        for row in SIDE_BY_SIDE[shift:] + SIDE_BY_SIDE[:shift]:
            load = os.getloadavg()[0]
            results[row] = side_by_side_row(*row, args) | {"load": load}
        rounds.append(results)
    return rounds


def spread(values: list[float], digits: str = ",.0f") -> str:
    """The median, and the range when there is more than one value."""
    median = f"{np.median(values):{digits}}"
    if len(values) < 2:
        return median
    return f"{median} ({min(values):{digits}}-{max(values):{digits}})"


def side_by_side_table(args) -> Table:
    """Medians over the rounds (ranges in brackets); x Keras pairs each round's rows."""
    rounds = side_by_side_rounds(args)
    columns = ("pipeline", "precision", "train img/s", "x Keras", "infer img/s", "load")
    table = Table(*columns)
    keras = [r[("keras", "fp32")] for r in rounds]
    keras_ran = not any("error" in k for k in keras)
    for row in SIDE_BY_SIDE:
        results = [r[row] for r in rounds]
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            table.add_row("Keras", row[1], errors[0], "", "", "")
            continue
        pairs = zip(results, keras, strict=True)
        ratios = [r["train_ips"] / k["train_ips"] for r, k in pairs] if keras_ran else []
        table.add_row(
            results[0]["name"],
            row[1],
            spread([r["train_ips"] for r in results]),
            spread(ratios, ".2f") if ratios else "",
            spread([r["infer_ips"] for r in results]),
            f"{np.median([r['load'] for r in results]):.1f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--single", metavar="JSON", help="one configuration (internal)")
    parser.add_argument("--images", type=int, default=1280)
    parser.add_argument(
        "--side-by-side", metavar="DIR", help="Keras, plain PyTorch and ferbias on DIR's images"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="side by side")
    parser.add_argument(
        "--repeats", type=int, default=1, help="side by side: rounds of every pipeline (medians)"
    )
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run_single(json.loads(args.single), args)))
        return
    peak, how = cpu_peak_gflops()
    cores = int(how.split()[0])
    if args.side_by_side:
        table = side_by_side_table(args)
        print(
            f"{args.images} images of {args.side_by_side}, batch 64, {args.threads} thread(s), "
            f"{args.repeats} round(s): median (range)"
        )
    else:
        table = configurations_table(args, peak, cores)
    Console(width=160).print(table)
    print(f"fp32 peak {peak:.0f} GFLOP/s = {how}; torch {torch.__version__}")


if __name__ == "__main__":
    main()
