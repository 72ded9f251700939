"""Blind mode: one labelling pass over a gold plan's faces, nothing but the faces shown.

Faces come in the pass's own shuffled order (``sheets.pass_order``: the seed and pass id decide
it, as for contact sheets) and are known to the page only by their position (``0001``...): no
file name (it carries the emotion), labeller score, automatic label or other pass's answer is in
any response. Answers go into the pass's answers file (``ferbias.gender.passes``, the format the
sheet import writes), one row per face, rewritten atomically on every change; an undo restores
this session's previous answer for the face, or removes it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.annotate.faces import NO_ITEMS, face_png, load_face
from ferbias.gender import passes
from ferbias.gender.sheets import pass_order

GENDER_ANSWER = {gender: answer for answer, gender in passes.ANSWERS.items()}

NOT_IN_SOURCE = "plan file {file!r} is not among the source's images"
ANSWER_OUTSIDE_PLAN = "answers file {path}: {file!r} is not in the plan"


class BlindStore:
    """The faces of one pass and its answers file; thread-safe, each change saved atomically."""

    mode = "blind"

    def __init__(
        self,
        items: pd.DataFrame,
        plan_files: list[str],
        answers_path: str | os.PathLike,
        *,
        pass_id: str,
        annotator: str,
        seed: int = 0,
        image_loader: Callable[[str], np.ndarray] = load_face,
    ) -> None:
        """``items``: columns file, path (every image of the source); ``plan_files``: the faces."""
        if not plan_files:
            raise ValueError(NO_ITEMS)
        if not annotator.strip():
            raise ValueError(passes.EMPTY_ANNOTATOR)
        self.pass_id = passes.check_pass_id(pass_id)
        self.annotator = annotator.strip()
        self.output_path = Path(answers_path)
        self._load_image = image_loader
        self._lock = threading.Lock()
        path_of = items.drop_duplicates("file").set_index("file")["path"]
        missing = [f for f in plan_files if f not in path_of.index]
        if missing:
            raise ValueError(NOT_IN_SOURCE.format(file=missing[0]))
        order = pass_order(plan_files, pass_id=pass_id, seed=seed)
        width = max(4, len(str(len(order))))
        self._file_of = {f"{k:0{width}d}": f for k, f in enumerate(order, start=1)}
        self._path_of = path_of
        self._answers = self._read_answers(set(plan_files))
        self._previous: dict[str, list[dict | None]] = {}

    def _read_answers(self, plan: set[str]) -> dict[str, dict]:
        """This pass's earlier answers (file -> row), all of them plan faces."""
        if not self.output_path.exists():
            return {}
        frame = passes.read_pass(self.output_path, pass_id=self.pass_id)
        outside = frame.loc[~frame["file"].isin(plan), "file"]
        if len(outside):
            raise ValueError(
                ANSWER_OUTSIDE_PLAN.format(path=self.output_path, file=outside.iloc[0])
            )
        return {row["file"]: row for row in frame.to_dict(orient="records")}

    def header(self) -> dict:
        return {"mode": self.mode, "annotator": self.annotator, "pass": self.pass_id}

    def knows(self, item_id: str) -> bool:
        return item_id in self._file_of

    def items(self) -> list[dict]:
        """Every face in the pass order: position id and this pass's own answer only."""
        with self._lock:
            return [self._state(item_id) for item_id in self._file_of]

    def png(self, item_id: str) -> bytes:
        return face_png(self._load_image(str(self._path_of[self._file_of[item_id]])))

    def label(self, item_id: str, gender: str) -> dict:
        """Save this pass's answer for ``item_id`` (replacing an earlier one); its new state."""
        file = self._file_of[item_id]
        row = {"file": file, "answer": GENDER_ANSWER[gender], "pass": self.pass_id,
               "annotator": self.annotator, "recorded_at": passes.now_utc()}  # fmt: skip
        with self._lock:
            self._previous.setdefault(file, []).append(self._answers.get(file))
            self._answers[file] = row
            self._save()
            return self._state(item_id)

    def undo(self, item_id: str) -> dict:
        """Restore the answer ``item_id`` had before this session's last change to it."""
        file = self._file_of[item_id]
        with self._lock:
            history = self._previous.get(file)
            if history:
                previous = history.pop()
                if previous is None:
                    self._answers.pop(file, None)
                else:
                    self._answers[file] = previous
                self._save()
            return self._state(item_id)

    def _save(self) -> None:
        passes.write_pass(self.output_path, pd.DataFrame(list(self._answers.values())))

    def _state(self, item_id: str) -> dict:
        row = self._answers.get(self._file_of[item_id])
        gender = None if row is None else passes.ANSWERS[row["answer"]]
        caption = "" if gender is None else gender
        return {"id": item_id, "gender": gender, "answered": gender is not None, "caption": caption}
