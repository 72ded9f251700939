"""Review mode: every face of a source with its automatic label, most uncertain first.

Answers go into a labels file (``ferbias.gender.labels``), one hand row per answer, so an undo
restores the previous label. Items are keyed by file (path relative to the source root).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ferbias.annotate.faces import NO_ITEMS, face_png, load_face
from ferbias.gender import labels as lab


class ReviewStore:
    """Faces being reviewed and their labels file; thread-safe, each change saved atomically."""

    mode = "review"

    def __init__(
        self,
        items: pd.DataFrame,
        labels_path: str | os.PathLike,
        *,
        annotator: str,
        image_loader: Callable[[str], np.ndarray] = load_face,
    ) -> None:
        """``items``: columns file, sample_id, path (absolute image path or reference)."""
        if items.empty:
            raise ValueError(NO_ITEMS)
        self.output_path = Path(labels_path)
        self.annotator = annotator
        self._load_image = image_loader
        self._lock = threading.Lock()
        self._items = items.drop_duplicates("file").set_index("file")
        exists = self.output_path.exists()
        self._labels = lab.read_labels(self.output_path) if exists else lab.make_labels([])
        self._order = self._uncertainty_order()

    def _uncertainty_order(self) -> list[str]:
        """Files by |p_female - 0.5| ascending (no automatic label last), then by name."""
        auto = lab.resolve_labels(self._labels).set_index("file")["p_female"]
        p = auto.reindex(self._items.index).astype(float)
        key = pd.DataFrame(
            {"u": (p - 0.5).abs().fillna(1.0).to_numpy(), "file": self._items.index.to_numpy()}
        )
        return key.sort_values(["u", "file"], kind="stable")["file"].tolist()

    def header(self) -> dict:
        return {"mode": self.mode, "annotator": self.annotator}

    def knows(self, item_id: str) -> bool:
        return item_id in self._items.index

    def items(self) -> list[dict]:
        """Every face in review order with its current (resolved) label."""
        with self._lock:
            resolved = lab.resolve_labels(self._labels).set_index("file")
        return [_payload(f, resolved.loc[f] if f in resolved.index else None) for f in self._order]

    def png(self, item_id: str) -> bytes:
        return face_png(self._load_image(str(self._items.at[item_id, "path"])))

    def label(self, item_id: str, gender: str) -> dict:
        """Save a hand answer for ``item_id``; returns its new state."""
        with self._lock:
            self._labels = lab.add_hand_label(
                self._labels,
                file=item_id,
                sample_id=str(self._items.at[item_id, "sample_id"]),
                gender=gender,
                annotator=self.annotator,
            )
            lab.write_labels(self.output_path, self._labels)
            return self._state(item_id)

    def undo(self, item_id: str) -> dict:
        """Drop the latest hand answer for ``item_id``; returns its new state."""
        with self._lock:
            self._labels = lab.remove_last_hand_label(self._labels, item_id)
            lab.write_labels(self.output_path, self._labels)
            return self._state(item_id)

    def _state(self, file: str) -> dict:
        resolved = lab.resolve_labels(self._labels[self._labels["file"] == file]).set_index("file")
        return _payload(file, resolved.loc[file] if file in resolved.index else None)


def _payload(file: str, row: pd.Series | None) -> dict:
    """One face for the page: id, label, whether it is a hand answer, and a caption."""
    if row is None:
        return {"id": file, "file": file, "gender": None, "answered": False,
                "p_female": None, "annotator": None, "caption": "unlabelled"}  # fmt: skip
    p = None if pd.isna(row["p_female"]) else round(float(row["p_female"]), 4)
    annotator = None if pd.isna(row["annotator"]) else str(row["annotator"])
    gender = str(row["gender"])
    shown_p = "" if p is None else f" p♀={p:.2f}"
    caption = f"{gender} ({annotator}){shown_p}" if annotator else f"auto: {gender}{shown_p}"
    return {
        "id": file,
        "file": file,
        "gender": gender,
        "answered": annotator is not None,
        "p_female": p,
        "annotator": annotator,
        "caption": caption,
    }
