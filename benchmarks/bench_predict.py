"""Benchmark ``ferbias predict``: faces/s on 48x48 crops (decoded arrays, and files from disk)
and photos/s on ~500 px photos with face detection, with detection's share of the time.

The model is a paper-cnn run folder with untrained weights (speed does not depend on the
weights), and its ONNX export; both are made in a temporary folder. Goals (issue 11, 2 cores):
>= 2,500 faces/s from decoded 48x48 arrays and >= 40 photos/s with detection.

    FERBIAS_DATA=../shared/data nice -n 10 .venv/bin/python benchmarks/bench_predict.py
    .venv/bin/python benchmarks/bench_predict.py --crops 500 --photos 20   # smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from safetensors.torch import save_file

from bench_prepare import cpu_model
from ferbias.data import images
from ferbias.data.schema import STUDY_EMOTIONS
from ferbias.data.sources import load_source
from ferbias.io import write_json_atomic
from ferbias.models import create_model
from ferbias.training.export import export_onnx
from ferbias.training.inference import load_model
from ferbias.training.predict_faces import Item, crop_faces, predict_inputs


def make_run(folder: Path) -> Path:
    """A paper-cnn run folder (untrained weights) as `ferbias train` writes one."""
    model = create_model("paper-cnn", num_classes=len(STUDY_EMOTIONS), seed=0)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors"
    )
    meta = {"run_id": "bench", "model": "paper-cnn", "emotions": list(STUDY_EMOTIONS)}
    meta["source"] = "fer2013"  # as `ferbias train --source fer2013` records it
    write_json_atomic(folder / "run.json", {**meta, "status": "finished"})
    return folder


def timed(function, repeats: int = 3) -> tuple[object, float]:
    """The result and the median seconds of ``repeats`` calls after one warm-up call (thread
    pools, first-call allocations, oneDNN kernel selection)."""
    function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FERBIAS_DATA", "")))
    parser.add_argument("--crops", type=int, default=7000, help="FER-2013 test crops")
    parser.add_argument("--photos", type=int, default=312, help="CFD photos (512 px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="processes for files and photos")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    run = make_run(folder / "run")
    models = {"torch": load_model(run), "onnx": load_model(export_onnx(run, folder / "m.onnx"))}
    fer = load_source("fer2013", args.data / "fer2013").manifest
    paths = fer[fer["original_split"] == "test"]["path"].tolist()[: args.crops]
    crops = np.stack([images.load_gray(p) for p in paths])
    photos = load_source("cfd", args.data / "cfd_subset").manifest["path"].tolist()[: args.photos]
    title = f"ferbias predict, {cpu_model()}, {args.threads} torch thread(s), "
    title += f"{args.workers} worker process(es)"
    table = Table("case", "model", "items", "seconds", "per second", title=title)
    for kind, model in models.items():
        _, seconds = timed(lambda m=model: m.predict(crops))
        table.add_row(
            "48x48 crops, decoded arrays",
            kind,
            f"{len(crops):,}",
            f"{seconds:.2f}",
            f"{len(crops) / seconds:,.0f} faces/s",
        )
        _, seconds = timed(lambda m=model: predict_inputs(m, paths, workers=args.workers))
        table.add_row(
            "48x48 crops, JPEG files from disk",
            kind,
            f"{len(paths):,}",
            f"{seconds:.2f}",
            f"{len(paths) / seconds:,.0f} files/s",
        )
        result, seconds = timed(lambda m=model: predict_inputs(m, photos, workers=args.workers))
        faces = result.counts["faces"]
        table.add_row(
            "CFD photos 512 px, detect + crop + predict",
            kind,
            f"{len(photos):,}",
            f"{seconds:.2f}",
            f"{len(photos) / seconds:,.1f} photos/s ({faces} faces)",
        )
    options = {**models["torch"].prepare_options(), "face_crop": None}
    _, seconds = timed(lambda: [crop_faces(Item(p, p), **options) for p in photos])
    table.add_row(
        "CFD photos: decode + detect + crop only, 1 process",
        "-",
        f"{len(photos):,}",
        f"{seconds:.2f}",
        f"{1000 * seconds / len(photos):.1f} ms/photo",
    )
    _, seconds = timed(lambda: [images.load_gray(p) for p in photos])
    table.add_row(
        "CFD photos: decode only, 1 process",
        "-",
        f"{len(photos):,}",
        f"{seconds:.2f}",
        f"{1000 * seconds / len(photos):.1f} ms/photo",
    )
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
