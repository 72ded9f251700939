"""Model cards: validation naming the field, checks against the ONNX graph, ONNX inputs."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from ferbias import load_model
from ferbias.training.model_card import FERBIAS_MARGIN, ModelCardError, card_from_dict, load_card
from onnx_toy import LABELS, MEAN, SIZE, STD, colour_model, expected_proba

CARD = {
    "input": {"size": 64, "layout": "NHWC", "color": "rgb", "scale": 255.0},
    "output": "logits",
    "labels": LABELS,
}


def _with(**changes) -> dict:
    card = yaml.safe_load(yaml.safe_dump(CARD))
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = card
        for part in parents:
            node = node.setdefault(part, {})
        node[key] = value
    return card


def test_defaults_and_aliases():
    card = card_from_dict(_with(labels=["Anger", "happiness", "sad", "neutral"]))
    assert card.labels == ["angry", "happy", "sad", "neutral"]
    assert card.face_crop.enabled and card.face_crop.margin == FERBIAS_MARGIN
    assert card.face_crop.crop_scale == 1.3
    assert card_from_dict(_with(face_crop={"margin": 0.25})).face_crop.crop_scale == 1.5


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"labels": ["angry", "joyful", "sad", "neutral"]}, "labels", "'joyful' is not a ferbias"),
        ({"labels": ["angry", "sad", "sad", "neutral"]}, "labels", "more than once"),
        ({"input__size": 4}, "input.size", "greater than or equal to 8"),
        ({"input__layout": "NWHC"}, "input.layout", "NCHW"),
        ({"input__mean": [0.5, 0.5]}, "input", "mean has 2 values"),
        ({"input__std": 0}, "input", "std must be > 0"),
        ({"output": "scores"}, "output", "logits"),
        ({"extra": 1}, "extra", "not permitted"),
    ],
)
def test_bad_cards_are_refused_naming_the_field(changes, field, words):
    with pytest.raises(ModelCardError) as error:
        card_from_dict(_with(**changes), source="model.yaml")
    assert f"model.yaml: field {field!r}" in str(error.value)
    assert words in str(error.value)


def test_card_must_agree_with_the_graph(tmp_path):
    wrong_size = _with(input__size=48)
    colour_model(tmp_path / "size", card=wrong_size)
    with pytest.raises(ModelCardError, match=r"field 'input.size'.*card says 48"):
        load_model(tmp_path / "size" / "colour.onnx")
    colour_model(tmp_path / "layout", card=_with(input__layout="NCHW"))
    with pytest.raises(ModelCardError, match=r"field 'input.layout'"):
        load_model(tmp_path / "layout" / "colour.onnx")
    colour_model(tmp_path / "gray", card=_with(input__color="gray"))
    with pytest.raises(ModelCardError, match=r"field 'input.color'"):
        load_model(tmp_path / "gray" / "colour.onnx")
    colour_model(tmp_path / "labels", card=_with(labels=["angry", "happy", "sad"]))
    with pytest.raises(ModelCardError, match=r"field 'labels'.*4 classes"):
        load_model(tmp_path / "labels" / "colour.onnx")
    path = colour_model(tmp_path / "none")
    (tmp_path / "none" / "model.yaml").unlink()
    with pytest.raises(ModelCardError, match="no model card"):
        load_model(path)


def test_load_card_reads_yaml(tmp_path):
    card = tmp_path / "model.yaml"
    card.write_text(yaml.safe_dump(_with(labels="angry")), encoding="utf-8")
    with pytest.raises(ModelCardError, match=rf"{card}: field 'labels'"):
        load_card(card)
    card.write_text("input: {size: 64\n", encoding="utf-8")
    with pytest.raises(ModelCardError, match=rf"^{card}: not valid YAML: .*\(line 2, column 1\)$"):
        load_card(card)
    card.write_bytes(b"labels: [caf\xe9]\n")
    with pytest.raises(ModelCardError, match=rf"^{card}: not UTF-8 text"):
        load_card(card)


def test_third_party_onnx_gets_the_input_its_card_describes(tmp_path, rng):
    model = load_model(colour_model(tmp_path))
    assert model.kind == "onnx" and model.emotions == LABELS
    assert model.prepare_options() == {"size": SIZE, "color": "rgb", "crop_scale": 1.3}
    rgb = rng.integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
    np.testing.assert_allclose(model.predict_proba(rgb), expected_proba(rgb), atol=1e-5)
    assert model.provenance.training_sources == ("affectnet",)
    bgr = load_model(
        colour_model(tmp_path / "bgr", card={**_with(), "input": {**CARD["input"], "color": "bgr"}})
    )
    np.testing.assert_allclose(bgr.predict_proba(rgb), expected_proba(rgb[..., ::-1]), atol=1e-5)


def test_the_card_does_the_normalisation_and_names_the_output_kind(tmp_path, rng):
    """A graph without its own normalisation: the card's scale, mean and std (two equivalent
    ways to write them) give the same probabilities; a graph ending in a softmax is read as
    probabilities; a fixed batch size gets its last batch padded."""
    rgb = rng.integers(0, 256, (11, SIZE, SIZE, 3), dtype=np.uint8)
    expected = expected_proba(rgb)
    inputs = {
        "unit scale": {"scale": 255.0, "mean": MEAN, "std": STD},
        "pixel scale": {
            "scale": 1.0,
            "mean": [255 * m for m in MEAN],
            "std": [255 * s for s in STD],
        },
    }
    for name, normalisation in inputs.items():
        card = _with(output="probabilities", input={**CARD["input"], **normalisation})
        folder = tmp_path / name.replace(" ", "-")
        path = colour_model(folder, card=card, normalised=False, output="probabilities", batch=4)
        model = load_model(path)
        np.testing.assert_allclose(model.predict_proba(rgb), expected, atol=1e-5, err_msg=name)
    logits = load_model(colour_model(tmp_path / "logits", card=_with(), batch=4))
    np.testing.assert_allclose(logits.predict_proba(rgb), expected, atol=1e-5)
