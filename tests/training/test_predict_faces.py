"""ferbias predict and model.predict: every face, a row with the reason otherwise; CLI == API."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferbias import load_model
from ferbias.cli import app
from ferbias.data import images
from ferbias.training.predict_faces import predict_inputs
from onnx_toy import SIZE, colour_model, expected_proba
from synthetic import synthetic_face

PROBA = ["p_angry", "p_fear", "p_happy", "p_neutral", "p_sad", "p_surprise"]


def test_arrays_at_the_input_size_skip_detection(toy_run):
    model = load_model(toy_run)
    stack = np.stack([synthetic_face(48, seed=i) for i in range(6)])
    table = model.predict(stack)
    assert table["input"].tolist() == [f"array:{i}" for i in range(6)]
    assert table[["face_x", "face_y", "face_w", "face_h"]].iloc[0].tolist() == [0, 0, 48, 48]
    np.testing.assert_allclose(table[PROBA].to_numpy(), model.predict_proba(stack), atol=1e-6)
    one_by_one = model.predict(list(stack))  # the per-image path gives the same rows
    pd.testing.assert_frame_equal(one_by_one, table)
    assert (table["emotion"] == np.array(model.emotions)[table[PROBA].to_numpy().argmax(1)]).all()


def test_every_input_gets_a_row_with_its_reason(toy_run, tmp_path):
    model = load_model(toy_run)
    Image.fromarray(synthetic_face(48, seed=1)).save(tmp_path / "crop.png")
    Image.fromarray(np.full((120, 160), 90, np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = predict_inputs(model, [tmp_path, np.zeros((4, 4), np.float32)], workers=1)
    table = result.table.set_index("input")
    assert table.loc[str(tmp_path / "crop.png"), "error"] is pd.NA
    assert table.loc[str(tmp_path / "blank.png"), "error"] == images.NO_FACE
    assert "cannot decode" in table.loc[str(tmp_path / "broken.jpg"), "error"]
    assert "not an image file" in table.loc[str(tmp_path / "notes.txt"), "error"]
    assert "array:1: dtype float32" in table.loc["array:1", "error"]
    assert table.loc[str(tmp_path / "blank.png"), PROBA].isna().all()
    assert result.counts == {"inputs": 5, "faces": 1, "no face": 1, "unreadable": 2, "skipped": 1}
    forced = predict_inputs(model, [tmp_path / "blank.png"], face_crop=False).table
    assert forced["error"].isna().all() and forced["face_w"].tolist() == [160]
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        predict_inputs(model, [tmp_path / "missing.png"])


def test_odd_folder_entries_are_rows_with_their_reason_and_the_table_saves(toy_run, tmp_path):
    """Names that are not UTF-8 or hold '::', link loops and folder cycles, FIFOs: one row each;
    the table still writes (it once failed on the undecodable name, losing every prediction)."""
    from ferbias.data.sources.base import FOLDER_SEEN, LINK_LOOP, NOT_UTF8, RESERVED_NAME

    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    crop = Image.fromarray(synthetic_face(48, seed=2))
    crop.save(photos / "crop.png")
    with open(os.fsencode(photos) + b"/caf\xe9.png", "wb") as handle:
        crop.save(handle, format="PNG")
    crop.save(photos / "a::b.png")
    (photos / "loop.png").symlink_to(photos / "loop.png")
    (photos / "sub" / "up").symlink_to(photos)
    os.mkfifo(photos / "pipe.png")
    out = tmp_path / "predictions.parquet"
    cli = CliRunner().invoke(app, ["predict", str(toy_run), str(photos), "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert "6 inputs, 1 faces, 0 no face, 0 unreadable, 5 skipped" in cli.output
    reasons = pd.read_parquet(out).set_index("input")["error"]
    assert pd.isna(reasons[str(photos / "crop.png")])
    assert reasons[str(photos / "caf\\xe9.png")] == NOT_UTF8
    assert reasons[str(photos / "a::b.png")] == RESERVED_NAME
    assert reasons[str(photos / "loop.png")] == LINK_LOOP
    assert reasons[str(photos / "sub" / "up")] == FOLDER_SEEN
    assert "not a regular file" in reasons[str(photos / "pipe.png")]


def test_inputs_without_any_face_still_give_a_table(toy_run, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.full((120, 160), 90, np.uint8)).save(tmp_path / "blank.png")
    result = predict_inputs(load_model(toy_run), [tmp_path], workers=1)
    assert result.table["error"].notna().all() and len(result.table) == 2
    assert result.table[["face_w", *PROBA]].isna().all().all()
    assert result.counts == {"inputs": 2, "faces": 0, "no face": 1, "unreadable": 1, "skipped": 0}


def test_manifest_boxes_and_colour_models(tmp_path):
    model = load_model(colour_model(tmp_path / "model"))
    photo = np.zeros((100, 200, 3), np.uint8)
    photo[:, :100] = (220, 30, 30)  # red left half
    photo[:, 100:] = (30, 30, 220)  # blue right half
    Image.fromarray(photo).save(tmp_path / "two.png")
    boxes = {"face_x": [20, 120], "face_y": [20, 20], "face_w": [50, 50], "face_h": [50, 50]}
    pd.DataFrame({"path": ["two.png"] * 2, "face_index": [0, 1], **boxes}).to_csv(
        tmp_path / "faces.csv", index=False
    )
    table = model.predict(tmp_path / "faces.csv")
    assert table["face_index"].tolist() == [0, 1]
    assert table["emotion"].tolist() == ["angry", "sad"]
    whole = model.predict(tmp_path / "two.png")  # the card: face_crop disabled, no detection
    assert whole["error"].isna().all() and whole["face_w"].tolist() == [200]
    gray = np.stack([synthetic_face(SIZE, seed=i) for i in range(3)])
    expected = expected_proba(np.repeat(gray[..., None], 3, axis=3))
    np.testing.assert_allclose(
        model.predict(gray)[["p_angry", "p_happy", "p_sad", "p_neutral"]], expected, atol=1e-5
    )


@pytest.mark.realdata
def test_predict_real_cfd_photos_cli_and_api_agree(toy_run, data_root, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted((data_root / "cfd_subset" / "female").glob("*.jpg"))[:3]:
        shutil.copy(source, photos / source.name)
    (photos / "unreadable.jpg").write_bytes(b"not a jpeg at all")
    Image.fromarray(np.full((400, 500, 3), (40, 120, 200), np.uint8)).save(photos / "sky.jpg")
    out = tmp_path / "predictions.csv"
    cli = CliRunner().invoke(app, ["predict", str(toy_run), str(photos), "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert "5 inputs, 3 faces, 1 no face, 1 unreadable, 0 skipped" in cli.output
    from_cli = pd.read_csv(out)
    from_api = load_model(toy_run).predict(photos)
    assert len(from_cli) == len(from_api) == 5
    pd.testing.assert_frame_equal(
        from_cli,
        from_api.astype(object).where(from_api.notna(), np.nan),
        check_dtype=False,
        atol=1e-6,
    )
    faces = from_api[from_api["error"].isna()]
    assert faces["face_index"].tolist() == [0, 0, 0]
    assert (faces["face_w"] > 150).all()  # CFD faces fill a good part of the 512 px photo
    reasons = from_api.set_index("input")["error"]
    assert reasons[str(photos / "sky.jpg")] == images.NO_FACE
    assert "unreadable.jpg" in reasons[str(photos / "unreadable.jpg")]
