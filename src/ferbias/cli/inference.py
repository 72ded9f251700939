"""`ferbias predict MODEL INPUT...` and `ferbias export RUN_DIR --out model.onnx`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console

from ferbias.io import write_csv_atomic, write_parquet_atomic

console = Console()

OUT_SUFFIXES = {".csv": write_csv_atomic, ".parquet": write_parquet_atomic}
BAD_OUT = "--out {path}: expected a .csv or .parquet file name"
EQUIVALENCE_IMAGES = 64  # random images the export is checked on against the torch model


def predict(
    model: Path = typer.Argument(..., help="A ferbias run folder or an .onnx file."),
    inputs: list[Path] = typer.Argument(..., help="Image files, folders (recursive), manifests."),
    out: Path = typer.Option(..., "--out", help="predictions.csv or predictions.parquet"),
    face_crop: bool = typer.Option(
        None, "--face-crop/--no-face-crop", help="default: detect unless at the model's size"
    ),
    workers: int | None = typer.Option(None, "--workers", help="Processes (default: CPUs)."),
) -> None:
    """Predict the emotion of every face: one row per face, a row with the reason otherwise."""
    from ferbias.training.inference import load_model
    from ferbias.training.predict_faces import predict_inputs

    writer = OUT_SUFFIXES.get(out.suffix.lower())
    if writer is None:
        raise ValueError(BAD_OUT.format(path=out))
    result = predict_inputs(
        load_model(model),
        [str(p) for p in inputs],
        face_crop=face_crop,
        progress=True,
        workers=workers,
    )
    writer(out, result.table)
    counts = ", ".join(f"{n:,} {what}" for what, n in result.counts.items())
    console.print(f"{counts} -> {out}", soft_wrap=True)


def export(
    run_dir: Path = typer.Argument(..., file_okay=False, help="A ferbias run folder."),
    out: Path = typer.Option(..., "--out", help="The .onnx file to write."),
) -> None:
    """Export a run's model as fp32 ONNX (BatchNorm folded, model card in the metadata)."""
    from ferbias.training.export import export_onnx
    from ferbias.training.inference import load_model

    path = export_onnx(run_dir, out)
    torch_model, onnx_model = load_model(run_dir), load_model(path)
    size = onnx_model.card.input.size
    pixels = np.random.default_rng(0).integers(0, 256, (EQUIVALENCE_IMAGES, size, size), np.uint8)
    reference = torch_model.predict_proba(pixels, precision="fp32")  # the export's numerics
    gap = np.abs(reference - onnx_model.predict_proba(pixels)).max()
    console.print(
        f"{path} ({path.stat().st_size / 1e6:.1f} MB): run {onnx_model.provenance.run_id}, "
        f"{size}x{size} gray, emotions {', '.join(onnx_model.emotions)}; onnxruntime vs torch "
        f"fp32 on {EQUIVALENCE_IMAGES} random images: max |p difference| {gap:.1e}",
        soft_wrap=True,
    )
