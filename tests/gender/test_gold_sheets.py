"""Contact sheets: export/import round trip, refusals naming file and line, nothing but pixels,
numbers and the sheet id on a sheet, each pass its own order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferbias.gender import sheets
from synthetic import synthetic_face

FILES = [f"train/{e}/Training_{i}.jpg" for e in ("sad", "happy") for i in range(25)]


def face_of(file: str) -> np.ndarray:
    """A synthetic face whose corner pixel encodes the file's position in FILES."""
    face = synthetic_face(seed=FILES.index(file))
    face[0, 0] = FILES.index(file)
    return face


def export(tmp_path, pass_id="A", **options):
    options = {"per_sheet": 12, "seed": 0, **options}
    return sheets.export_sheets(FILES, face_of, pass_id=pass_id, out=tmp_path / pass_id, **options)


def fill(result: sheets.SheetExport, answer_of) -> list:
    """Fill every blank answer file with ``answer_of(file)`` (as a labeller would)."""
    for path in result.answers:
        lines = path.read_text().splitlines()
        sheet_id = lines[0].split(":", 1)[1].strip()
        on_sheet = result.index[result.index["sheet_id"] == sheet_id].set_index("number")["file"]
        filled = [
            f"{line.strip()} {answer_of(on_sheet[int(line)])}" if line.strip().isdigit() else line
            for line in lines
        ]
        path.write_text("\n".join(filled) + "\n")
    return result.answers


def answer_of(file: str) -> str:
    return "FMU"[FILES.index(file) % 3]


def test_round_trip_numbers_map_back_to_files(tmp_path):
    result = export(tmp_path)
    assert len(result.sheets) == 5 and len(result.index) == len(FILES)
    index = sheets.read_index(tmp_path / "A" / "index.csv", pass_id="A")
    pd.testing.assert_frame_equal(index, result.index)
    answers = sheets.import_answers(fill(result, answer_of), index, pass_id="A", annotator="t")
    assert sorted(answers["file"]) == sorted(FILES)
    assert (answers["answer"] == answers["file"].map(answer_of)).all()
    assert set(answers["pass"]) == {"A"} and set(answers["annotator"]) == {"t"}


def test_tiles_are_the_indexed_faces(tmp_path):
    result = export(tmp_path)
    sheet_id = result.sheets[1].stem
    with Image.open(result.sheets[1]) as image:
        pixels = np.asarray(image)
        assert image.size[0] * image.size[1] < 1.2e6
    on_sheet = result.index[result.index["sheet_id"] == sheet_id]
    for number, file in zip(on_sheet["number"], on_sheet["file"], strict=True):
        k = number - 1
        x = sheets.MARGIN + (k % sheets.COLUMNS) * (sheets.TILE + sheets.GAP)
        row = sheets.NUMBER_BAND + sheets.TILE + sheets.GAP
        top = sheets.MARGIN + sheets.HEADER + (k // sheets.COLUMNS) * row + sheets.NUMBER_BAND
        tile = pixels[top : top + sheets.TILE, x : x + sheets.TILE]
        expected = Image.fromarray(face_of(file)).resize((sheets.TILE,) * 2, Image.BICUBIC)
        assert np.array_equal(tile, np.asarray(expected))


def test_a_hundred_faces_fit_one_sheet_under_1_2_megapixels():
    image = sheets.render_sheet([synthetic_face(seed=i) for i in range(100)], sheet_id="A-01-x")
    assert image.size == (994, 1198)


def test_sheets_carry_only_pixels_numbers_and_the_sheet_id(tmp_path, monkeypatch):
    seen = []

    def spy(faces, *, sheet_id):
        seen.append((faces, sheet_id))
        return Image.new("L", (10, 10))

    monkeypatch.setattr(sheets, "render_sheet", spy)
    result = export(tmp_path)
    assert [sid for _, sid in seen] == [p.stem for p in result.sheets]
    for faces, _ in seen:
        assert all(isinstance(f, np.ndarray) and f.dtype == np.uint8 for f in faces)
    for path in result.sheets + result.answers:
        assert not any(word in path.name for word in ("sad", "happy", "Training"))


def test_png_has_no_text_metadata(tmp_path):
    result = export(tmp_path)
    with Image.open(result.sheets[0]) as image:
        assert not getattr(image, "text", {})


def test_blank_answers_show_only_the_sheet_and_numbers(tmp_path):
    result = export(tmp_path)
    text = result.answers[0].read_text()
    assert text.splitlines()[0] == f"sheet: {result.sheets[0].stem}"
    assert not any(word in text for word in ("Training", "sad", "happy", "p_female"))


def test_passes_get_different_orders_and_sheets(tmp_path):
    a, b = export(tmp_path, "A"), export(tmp_path, "B")
    assert a.index["file"].tolist() != b.index["file"].tolist()
    first_a = set(a.index.loc[a.index["sheet_id"] == a.sheets[0].stem, "file"])
    first_b = set(b.index.loc[b.index["sheet_id"] == b.sheets[0].stem, "file"])
    assert first_a != first_b
    assert sorted(a.index["file"]) == sorted(b.index["file"]) == sorted(FILES)
    again = sheets.pass_order(FILES, pass_id="A", seed=0)
    assert again == a.index["file"].tolist()


def test_export_refuses_an_existing_export(tmp_path):
    export(tmp_path)
    with pytest.raises(FileExistsError, match="already holds an export"):
        export(tmp_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t, sid: t.replace(f"sheet: {sid}", "sheet: A-01-000000"), "not in the index"),
        (lambda t, sid: t.replace(f"sheet: {sid}", "sheet: B-01-abcdef"), "belongs to pass B"),
        (lambda t, sid: t.replace(f"sheet: {sid}", "sheets please"), "line 1: expected 'sheet:"),
        (lambda t, sid: t + "13 F\n", r"line 15: number 13 is not on sheet"),
        (lambda t, sid: t.replace("\n2 ", "\n1 "), r"line 4: number 1 answered again"),
        (lambda t, sid: t.replace("\n5 F", "\n"), r"no answer for number\(s\) 5"),
        (lambda t, sid: t.replace("\n5 F", "\n5 X"), r"line 7: answer 'X' for number 5"),
        (lambda t, sid: t.replace("\n5 F", "\n5"), r"line 7: number 5 has no answer"),
        (lambda t, sid: t.replace("\n5 F", "\n5 F M"), r"line 7: expected '<number> <F\|M\|U>'"),
    ],
)
def test_import_refusals_name_file_and_line(tmp_path, edit, message):
    result = export(tmp_path)
    paths = fill(result, lambda file: "F")
    sid = result.sheets[0].stem
    paths[0].write_text(edit(paths[0].read_text(), sid))
    with pytest.raises(ValueError, match=message) as error:
        sheets.import_answers(paths, result.index, pass_id="A", annotator="t")
    assert str(paths[0]) in str(error.value)


def test_bom_accepted_and_binary_refused(tmp_path):
    result = export(tmp_path)
    paths = fill(result, lambda file: "F")
    paths[0].write_bytes(b"\xef\xbb\xbf" + paths[0].read_bytes())
    assert len(sheets.import_answers(paths, result.index, pass_id="A", annotator="t")) == 50
    paths[1].write_bytes(b"\xff\xfe\x00 binary")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        sheets.import_answers(paths, result.index, pass_id="A", annotator="t")


def test_same_sheet_twice_refused(tmp_path):
    result = export(tmp_path)
    paths = fill(result, lambda file: "M")
    copy = tmp_path / "copy.txt"
    copy.write_text(paths[0].read_text())
    with pytest.raises(ValueError, match="already answered in"):
        sheets.import_answers([*paths, copy], result.index, pass_id="A", annotator="t")


def test_comments_blank_lines_and_case_accepted(tmp_path):
    result = export(tmp_path)
    paths = fill(result, lambda file: "u")
    paths[0].write_text("# my notes\n\n" + paths[0].read_text().replace("\n3 u", "\n3 m  # sure"))
    answers = sheets.import_answers(paths, result.index, pass_id="A", annotator="t")
    third = result.index.set_index(["sheet_id", "number"]).loc[(result.sheets[0].stem, 3), "file"]
    assert answers.set_index("file").at[third, "answer"] == "M"
    assert set(answers["answer"]) == {"U", "M"}


def test_index_of_another_pass_refused(tmp_path):
    export(tmp_path, "B")
    with pytest.raises(ValueError, match="not pass 'A'"):
        sheets.read_index(tmp_path / "B" / "index.csv", pass_id="A")
