"""Contact sheets for blind offline labelling: numbered grids of faces out, F / M / U answers in.

Export shuffles a plan's faces with a per-pass seed (pass A and pass B see different orders and
different sheet compositions) and tiles them into numbered grids, 96 px bicubic tiles of the
48x48 faces. A sheet shows its own id, the numbers and one line of instructions, nothing else: no
score, automatic label, emotion, file name or other pass's answer (``render_sheet`` takes only
pixels and the sheet id). Export writes, under ``out``:

- ``sheets/<sheet_id>.png`` and ``answers/<sheet_id>.txt`` (a blank answer file): these two
  folders are what the labeller gets;
- ``index.csv`` (sheet_id, number, file) and ``export.json``: for the import only, never shown
  to the labeller.

Answer files: first line ``sheet: <sheet_id>``, then ``<number> <F|M|U>`` per line
(case-insensitive; blank lines and ``#`` comments are ignored). Import checks each file against
the index and refuses, naming the file and line, an unknown or other pass's sheet id, a number
not on the sheet, a duplicate or missing number, or an answer that is not F, M or U.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ferbias.gender import passes
from ferbias.io import write_atomic, write_csv_atomic, write_text_atomic

TILE = 96  # px per face: 2x a FER-2013 face, enough to judge it, 100 faces stay under 1.2 MP
COLUMNS = 10
GAP = 2
NUMBER_BAND = 16  # px above each tile for its number
MARGIN = 8
HEADER = 44  # px for the sheet id and the instruction line
INDEX_COLUMNS = ("sheet_id", "number", "file")
INSTRUCTION = "For each number answer F (female), M (male) or U (cannot tell) in {sheet_id}.txt"

OUT_NOT_EMPTY = "{out} already holds an export ({index}); choose another --out or remove it"
BAD_PER_SHEET = "--per-sheet must be between 1 and 400, got {value}"
MISSING_IMAGE = "plan file {file!r} is not in the source folder {root}"
INDEX_COLUMNS_MISSING = "index {path}: missing column(s) {missing}; expected {expected}"
INDEX_OTHER_PASS = "index {path} holds sheets of pass(es) {found}, not pass {pass_id!r}"
NO_SHEET_LINE = "{path}, line {line}: expected 'sheet: <sheet id>' first, got {text!r}"
NOT_TEXT = "{path}: not UTF-8 text ({error}); answer files are plain text"
NO_SHEET_ID = "{path}: no 'sheet: <sheet id>' line"
UNKNOWN_SHEET = "{path}, line {line}: sheet {sheet_id!r} is not in the index of pass {pass_id}"
OTHER_PASS_SHEET = "{path}, line {line}: sheet {sheet_id!r} belongs to pass {other}, not {pass_id}"
SHEET_TWICE = "{path}, line {line}: sheet {sheet_id!r} was already answered in {first}"
BAD_LINE = "{path}, line {line}: expected '<number> <F|M|U>', got {text!r}"
NO_ANSWER = "{path}, line {line}: number {number} has no answer; expected F, M or U"
BAD_ANSWER = "{path}, line {line}: answer {answer!r} for number {number}; expected F, M or U"
NOT_ON_SHEET = "{path}, line {line}: number {number} is not on sheet {sheet_id} (1-{last})"
DUPLICATE_NUMBER = "{path}, line {line}: number {number} answered again (first on line {first})"
MISSING_NUMBERS = "{path}: sheet {sheet_id} has no answer for number(s) {numbers}"


@dataclass(frozen=True)
class SheetExport:
    index: pd.DataFrame  # sheet_id, number, file
    sheets: list[Path]  # PNGs, in sheet order
    answers: list[Path]  # blank answer files, in sheet order


def pass_order(files: Sequence[str], *, pass_id: str, seed: int) -> list[str]:
    """``files`` shuffled by a generator seeded with (seed, pass id): each pass its own order."""
    ordered = sorted(files)
    rng = np.random.default_rng([seed, zlib.crc32(passes.check_pass_id(pass_id).encode())])
    return [ordered[i] for i in rng.permutation(len(ordered))]


def sheet_ids(order: list[str], *, pass_id: str, per_sheet: int) -> list[str]:
    """``<pass>-<nn>-<hash6>`` per sheet; the hash covers the sheet's files, so ids never repeat."""
    count = math.ceil(len(order) / per_sheet)
    width = max(2, len(str(count)))
    ids = []
    for k in range(count):
        chunk = "\n".join(order[k * per_sheet : (k + 1) * per_sheet])
        digest = hashlib.sha256(f"{pass_id}\n{chunk}".encode()).hexdigest()[:6]
        ids.append(f"{pass_id}-{k + 1:0{width}d}-{digest}")
    return ids


def render_sheet(faces: Sequence[np.ndarray], *, sheet_id: str) -> Image.Image:
    """A white grid of numbered faces (gray uint8 arrays, numbered from 1) under a header."""
    columns = min(COLUMNS, len(faces))
    rows = math.ceil(len(faces) / columns)
    width = 2 * MARGIN + columns * (TILE + GAP) - GAP
    height = 2 * MARGIN + HEADER + rows * (NUMBER_BAND + TILE + GAP) - GAP
    sheet = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(sheet)
    draw.text((MARGIN, MARGIN), f"sheet {sheet_id}", fill=0, font=_font(18))
    draw.text((MARGIN, MARGIN + 24), INSTRUCTION.format(sheet_id=sheet_id), fill=0, font=_font(13))
    for k, face in enumerate(faces):
        x = MARGIN + (k % columns) * (TILE + GAP)
        y = MARGIN + HEADER + (k // columns) * (NUMBER_BAND + TILE + GAP)
        draw.text(
            (x + TILE // 2, y + NUMBER_BAND // 2), str(k + 1), fill=0, font=_font(14), anchor="mm"
        )
        tile = Image.fromarray(np.asarray(face, dtype=np.uint8), mode="L")
        sheet.paste(tile.resize((TILE, TILE), Image.Resampling.BICUBIC), (x, y + NUMBER_BAND))
    return sheet


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def blank_answers(sheet_id: str, count: int) -> str:
    """The answer file a labeller fills in: the sheet line, then one line per number."""
    lines = [
        f"sheet: {sheet_id}",
        "# Write F (female), M (male) or U (cannot tell) after each number, e.g. '7 F'.",
        *(f"{n} " for n in range(1, count + 1)),
    ]
    return "\n".join(lines) + "\n"


def export_sheets(
    files: Sequence[str],
    load_face: Callable[[str], np.ndarray],
    *,
    pass_id: str,
    out: str | Path,
    per_sheet: int = 100,
    seed: int = 0,
) -> SheetExport:
    """Write the contact sheets, blank answer files and index of one pass (module docstring)."""
    if not 1 <= per_sheet <= 400:
        raise ValueError(BAD_PER_SHEET.format(value=per_sheet))
    out = Path(out)
    if (out / "index.csv").exists():
        raise FileExistsError(OUT_NOT_EMPTY.format(out=out, index=out / "index.csv"))
    order = pass_order(files, pass_id=pass_id, seed=seed)
    ids = sheet_ids(order, pass_id=pass_id, per_sheet=per_sheet)
    rows, sheets, answers = [], [], []
    for k, sheet_id in enumerate(ids):
        chunk = order[k * per_sheet : (k + 1) * per_sheet]
        image = render_sheet([load_face(f) for f in chunk], sheet_id=sheet_id)
        sheets.append(
            write_atomic(
                out / "sheets" / f"{sheet_id}.png", lambda tmp, im=image: im.save(tmp, format="PNG")
            )
        )
        answers.append(
            write_text_atomic(
                out / "answers" / f"{sheet_id}.txt", blank_answers(sheet_id, len(chunk))
            )
        )
        rows += [(sheet_id, n, f) for n, f in enumerate(chunk, start=1)]
    index = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    write_csv_atomic(out / "index.csv", index)
    return SheetExport(index, sheets, answers)


def read_index(path: str | Path, *, pass_id: str) -> pd.DataFrame:
    """The export index of pass ``pass_id`` (sheet_id, number, file)."""
    path = Path(path)
    index = pd.read_csv(path, dtype={"sheet_id": str, "number": int, "file": str})
    missing = [c for c in INDEX_COLUMNS if c not in index]
    if missing:
        raise ValueError(
            INDEX_COLUMNS_MISSING.format(path=path, missing=missing, expected=list(INDEX_COLUMNS))
        )
    found = sorted(set(index["sheet_id"].str.split("-").str[0]))
    if found != [pass_id]:
        raise ValueError(INDEX_OTHER_PASS.format(path=path, found=found, pass_id=pass_id))
    return index


def import_answers(
    paths: Sequence[str | Path], index: pd.DataFrame, *, pass_id: str, annotator: str
) -> pd.DataFrame:
    """Answers of ``paths`` checked against ``index``, as a pass frame (see ``passes``)."""
    if not annotator.strip():
        raise ValueError(passes.EMPTY_ANNOTATOR)
    sheets = {sid: group for sid, group in index.groupby("sheet_id")}
    seen: dict[str, Path] = {}
    frames = []
    for path in map(Path, paths):
        sheet_id, line, answers = _parse(path)
        _check_sheet(path, line, sheet_id, sheets, seen, pass_id)
        seen[sheet_id] = path
        frames.append(_join(path, sheet_id, answers, sheets[sheet_id]))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    stamp = passes.now_utc()
    return passes.make_pass(
        frame.assign(**{"pass": pass_id, "annotator": annotator.strip(), "recorded_at": stamp})
    )


def _parse(path: Path) -> tuple[str, int, dict[int, tuple[str, int]]]:
    """(sheet id, its line, {number: (answer, line)}) of one answer file."""
    sheet_id, sheet_line, answers = None, 0, {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: editors' BOM
    except UnicodeDecodeError as error:
        raise ValueError(NOT_TEXT.format(path=path, error=error)) from None
    for line_no, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if sheet_id is None:
            key, _, value = text.partition(":")
            if key.strip().lower() != "sheet" or not value.strip():
                raise ValueError(NO_SHEET_LINE.format(path=path, line=line_no, text=raw))
            sheet_id, sheet_line = value.strip(), line_no
            continue
        number, answer = _answer_line(path, line_no, raw, text)
        if number in answers:
            first = answers[number][1]
            raise ValueError(
                DUPLICATE_NUMBER.format(path=path, line=line_no, number=number, first=first)
            )
        answers[number] = (answer, line_no)
    if sheet_id is None:
        raise ValueError(NO_SHEET_ID.format(path=path))
    return sheet_id, sheet_line, answers


def _answer_line(path: Path, line_no: int, raw: str, text: str) -> tuple[int, str]:
    fields = text.split()
    if not (fields[0].isascii() and fields[0].isdigit()) or len(fields) > 2:
        raise ValueError(BAD_LINE.format(path=path, line=line_no, text=raw))
    number = int(fields[0])
    if len(fields) == 1:
        raise ValueError(NO_ANSWER.format(path=path, line=line_no, number=number))
    answer = fields[1].upper()
    if answer not in passes.ANSWERS:
        raise ValueError(
            BAD_ANSWER.format(path=path, line=line_no, answer=fields[1], number=number)
        )
    return number, answer


def _check_sheet(path, line, sheet_id, sheets, seen, pass_id) -> None:
    if sheet_id in seen:
        raise ValueError(
            SHEET_TWICE.format(path=path, line=line, sheet_id=sheet_id, first=seen[sheet_id])
        )
    if sheet_id not in sheets:
        other = sheet_id.split("-")[0]
        if other != pass_id and passes.PASS_ID.fullmatch(other):
            raise ValueError(
                OTHER_PASS_SHEET.format(
                    path=path, line=line, sheet_id=sheet_id, other=other, pass_id=pass_id
                )
            )
        raise ValueError(
            UNKNOWN_SHEET.format(path=path, line=line, sheet_id=sheet_id, pass_id=pass_id)
        )


def _join(path: Path, sheet_id: str, answers: dict, sheet: pd.DataFrame) -> pd.DataFrame:
    """The answers of one sheet joined to its files; every number exactly once."""
    numbers = sheet.set_index("number")["file"]
    for number, (_, line) in answers.items():
        if number not in numbers.index:
            raise ValueError(
                NOT_ON_SHEET.format(
                    path=path,
                    line=line,
                    number=number,
                    sheet_id=sheet_id,
                    last=int(numbers.index.max()),
                )
            )
    missing = sorted(set(numbers.index) - set(answers))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ValueError(MISSING_NUMBERS.format(path=path, sheet_id=sheet_id, numbers=shown))
    return pd.DataFrame(
        {
            "file": [numbers[n] for n in answers],
            "answer": [a for a, _ in answers.values()],
            "sheet_id": sheet_id,
            "number": list(answers),
        }
    )
