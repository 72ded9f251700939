"""ferbias export: fp32 ONNX, BatchNorm folded, metadata; same probabilities as torch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from ferbias import __version__, load_model
from ferbias.data import images
from ferbias.data.sources import load_source
from ferbias.training.inference import CARD_METADATA_KEY


def test_export_folds_batchnorm_and_carries_metadata(toy_onnx, toy_run):
    proto = onnx.load(str(toy_onnx))
    ops = {node.op_type for node in proto.graph.node}
    assert "BatchNormalization" not in ops and "Conv" in ops
    assert {t.data_type for t in proto.graph.initializer} <= {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.INT64,
    }
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value  # dynamic batch
    meta = {p.key: p.value for p in proto.metadata_props}
    run = json.loads((toy_run / "run.json").read_text())
    assert json.loads(meta["emotions"]) == run["emotions"]
    assert meta["input_size"] == "48x48" and "pixel / 255" in meta["normalisation"]
    assert meta["ferbias_version"] == __version__
    assert meta["run_id"] == run["run_id"] and meta["data_fingerprint"] == run["data_fingerprint"]
    assert json.loads(meta[CARD_METADATA_KEY])["labels"] == run["emotions"]
    model = load_model(toy_onnx)
    assert model.kind == "onnx" and model.name == run["run_id"]
    assert model.provenance.training_sources == ("manifest",)
    assert model.provenance.official_test_held_out


def test_export_of_a_folder_that_is_no_run(tmp_path):
    from ferbias.training.export import export_onnx

    with pytest.raises(FileNotFoundError, match="not a ferbias run folder"):
        export_onnx(tmp_path, tmp_path / "x.onnx")


def test_export_refuses_a_name_load_model_cannot_read(toy_run, tmp_path):
    from ferbias.training.export import export_onnx

    with pytest.raises(ValueError, match=r"model\.txt: expected a file name ending in \.onnx"):
        export_onnx(toy_run, tmp_path / "model.txt")
    assert not (tmp_path / "model.txt").exists()


def test_the_export_check_compares_with_torch_fp32_whatever_the_run_trained_in(toy_run, tmp_path):
    """A run that trained in bf16 still exports fp32; `ferbias export` checks the file against
    torch fp32 (comparing with the run's bf16 predictions showed ~1e-3, an export that looked
    wrong)."""
    import shutil

    from typer.testing import CliRunner

    from ferbias.cli import app

    run = shutil.copytree(toy_run, tmp_path / "run")
    meta = json.loads((run / "run.json").read_text())
    meta["runtime"] = {**(meta.get("runtime") or {}), "precision": "bf16"}
    (run / "run.json").write_text(json.dumps(meta))
    result = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    gap = float(result.output.split("max |p difference| ")[1].split()[0])
    assert gap < 1e-5, result.output


def test_a_corrupt_run_folder_is_refused_naming_the_file(toy_run, tmp_path):
    import shutil

    run = shutil.copytree(toy_run, tmp_path / "run")
    weights = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(weights[:1000])
    with pytest.raises(ValueError, match=rf"^{run / 'model.safetensors'}: cannot load the run's"):
        load_model(run)
    (run / "model.safetensors").write_bytes(weights)
    for text in ("garbage", "[1, 2]"):
        (run / "run.json").write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=rf"^{run / 'run.json'}: not a readable run.json"):
            load_model(run)


@pytest.mark.realdata
def test_onnxruntime_matches_torch_fp32_on_real_faces(toy_onnx, toy_run, data_root):
    """Real CFD photos (detected, cropped) and FER-2013 crops through both runtimes."""
    cfd = load_source("cfd", data_root / "cfd_subset").manifest.iloc[::40]
    fer = load_source("fer2013", data_root / "fer2013").manifest.iloc[::4000]
    pixels = np.concatenate(
        [images.prepare(m, use_cache=False, workers=1).pixels for m in (cfd, fer)]
    )
    assert len(pixels) >= 15
    torch_p = load_model(toy_run).predict_proba(pixels, precision="fp32")
    onnx_p = load_model(toy_onnx).predict_proba(pixels)
    assert np.abs(torch_p - onnx_p).max() < 1e-4
    assert (torch_p.argmax(1) == onnx_p.argmax(1)).all()
