"""Blind mode: only the plan's faces, in the pass's own order, known by position; no file name,
score, automatic label or other pass's answer in any response; answers in the per-pass file."""

from __future__ import annotations

import http.client
import json
import threading

import pandas as pd
import pytest
from PIL import Image

from ferbias.annotate import BlindStore, make_server
from ferbias.annotate.faces import face_png
from ferbias.gender import gold_build, labels, passes
from ferbias.gender.sheets import pass_order
from synthetic import synthetic_face

PLAN = [f"train/{e}/Training_{i}.png" for e in ("sad", "happy", "fear") for i in range(2)]
OUTSIDE = ["train/sad/Training_9.png", "test/sad/PublicTest_1.png"]


@pytest.fixture
def source(tmp_path):
    """Images of the plan and two others, automatic labels and pass B's answers beside them."""
    root = tmp_path / "fer2013"
    for i, file in enumerate(PLAN + OUTSIDE):
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_face(seed=i)).save(root / file)
    items = pd.DataFrame({"file": PLAN + OUTSIDE, "path": [str(root / f) for f in PLAN + OUTSIDE]})
    auto = labels.automatic_labels(
        PLAN, PLAN, ["female"] * 6, [0.8765] * 6, labeller="ensemble", version="t"
    )
    labels.write_labels(tmp_path / "auto.csv", auto)
    other = passes.make_pass(
        {"file": PLAN, "answer": "M", "pass": "B", "annotator": "other-pass-person"}
    )
    passes.write_pass(tmp_path / "B.csv", other)
    return tmp_path, root, items


def serve_blind(store):
    server = make_server(store)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def request(port, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    payload = json.dumps(body).encode() if body is not None else None
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


@pytest.fixture
def blind(source):
    tmp_path, root, items = source
    store = BlindStore(items, PLAN, tmp_path / "A.csv", pass_id="A", annotator="agent A")
    server = serve_blind(store)
    yield server.server_address[1], tmp_path, root
    server.shutdown()
    server.server_close()


def test_items_carry_only_position_and_own_answer(blind):
    port, _, _ = blind
    request(port, "POST", "/api/label", {"id": "0002", "gender": "unknown"})
    status, data = request(port, "GET", "/api/items")
    payload = json.loads(data)
    assert status == 200
    assert set(payload) == {"mode", "annotator", "pass", "items"} and payload["mode"] == "blind"
    assert [i["id"] for i in payload["items"]] == [f"{k:04d}" for k in range(1, 7)]
    for item in payload["items"]:
        assert set(item) == {"id", "gender", "answered", "caption"}
    assert payload["items"][1]["gender"] == "unknown" and not payload["items"][0]["answered"]
    text = data.decode()
    for leak in ("train", "Training", "sad", "happy", "p_female", "0.8765", "other-pass", "male"):
        assert leak not in text


def test_faces_come_in_the_pass_order(blind):
    port, _, root = blind
    order = pass_order(PLAN, pass_id="A", seed=0)
    assert order != PLAN and order != pass_order(PLAN, pass_id="B", seed=0)
    for k, file in enumerate(order, start=1):
        status, png = request(port, "GET", f"/api/image?id={k:04d}")
        with Image.open(root / file) as image:
            assert status == 200 and png == face_png(image)


@pytest.mark.parametrize("item_id", [PLAN[0], OUTSIDE[0], "0007", "0000", "1"])
def test_files_and_other_ids_unknown(blind, item_id):
    port, _, _ = blind
    status, data = request(port, "GET", f"/api/image?id={item_id}")
    assert status == 404 and "error" in json.loads(data)


def test_answers_land_in_the_pass_file(blind):
    port, tmp_path, _ = blind
    order = pass_order(PLAN, pass_id="A", seed=0)
    other_before = (tmp_path / "B.csv").read_bytes()
    auto_before = (tmp_path / "auto.csv").read_bytes()
    for item_id, gender in (("0001", "female"), ("0003", "male"), ("0003", "unknown")):
        status, data = request(port, "POST", "/api/label", {"id": item_id, "gender": gender})
        assert status == 200 and json.loads(data)["gender"] == gender
    saved = passes.read_pass(tmp_path / "A.csv", pass_id="A").set_index("file")
    assert saved["answer"].to_dict() == {order[0]: "F", order[2]: "U"}
    assert set(saved["annotator"]) == {"agent A"} and saved["sheet_id"].isna().all()
    status, data = request(port, "POST", "/api/undo", {"id": "0003"})
    assert json.loads(data)["gender"] == "male"
    request(port, "POST", "/api/undo", {"id": "0003"})
    saved = passes.read_pass(tmp_path / "A.csv", pass_id="A")
    assert saved["file"].tolist() == [order[0]]
    assert (tmp_path / "B.csv").read_bytes() == other_before
    assert (tmp_path / "auto.csv").read_bytes() == auto_before


def test_resumes_from_its_answers_and_feeds_gold_build(source):
    tmp_path, _, items = source
    store = BlindStore(items, PLAN, tmp_path / "A.csv", pass_id="A", annotator="agent A")
    for k in range(1, 4):
        store.label(f"{k:04d}", "female")
    again = BlindStore(items, PLAN, tmp_path / "A.csv", pass_id="A", annotator="agent A")
    assert [i["answered"] for i in again.items()] == [True] * 3 + [False] * 3
    for k in range(4, 7):
        again.label(f"{k:04d}", "male")
    plan = pd.DataFrame({"file": PLAN, "emotion": [f.split("/")[1] for f in PLAN]})
    plan["part"] = "random-audit"
    answers = {p: passes.read_pass(tmp_path / f"{p}.csv", pass_id=p) for p in ("A", "B")}
    gold = gold_build.build_gold(plan, answers)
    assert len(gold) == 6 and set(gold["pass_b"]) == {"M"}


def test_answers_file_of_another_pass_or_outside_the_plan_refused(source):
    tmp_path, _, items = source
    with pytest.raises(ValueError, match="is pass 'B', not 'A'"):
        BlindStore(items, PLAN, tmp_path / "B.csv", pass_id="A", annotator="a")
    stray = passes.make_pass({"file": [OUTSIDE[0]], "answer": ["F"], "pass": ["A"]})
    passes.write_pass(tmp_path / "A.csv", stray)
    with pytest.raises(ValueError, match=r"Training_9\.png' is not in the plan"):
        BlindStore(items, PLAN, tmp_path / "A.csv", pass_id="A", annotator="a")


def test_plan_face_missing_from_the_source_refused(source):
    tmp_path, _, items = source
    with pytest.raises(ValueError, match=r"Training_5\.png' is not among the source"):
        BlindStore(
            items,
            [*PLAN, "train/sad/Training_5.png"],
            tmp_path / "A.csv",
            pass_id="A",
            annotator="a",
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--blind", "--pass", "A", "--answers", "a.csv"],
         "--blind needs --plan, --pass, --answers; missing --plan"),
        (["--blind", "--plan", "p.csv", "--pass", "A", "--answers", "a.csv", "--labels", "l.csv"],
         "--blind does not take --labels"),
        ([], "(review) needs --labels; missing --labels"),
        (["--labels", "l.csv", "--pass", "A"], "(review) does not take --pass"),
    ],
)  # fmt: skip
def test_annotate_command_checks_its_mode_options(tmp_path, options, message):
    from typer.testing import CliRunner

    from ferbias.cli import app

    args = ["annotate", "fer2013", "--path", str(tmp_path), *options]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()).replace("│", "").replace("  ", " ")
