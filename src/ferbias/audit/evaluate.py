"""One model on the group-labelled test sets of an audit spec -> predictions tables.

Per test set: load the source (``experiment.data.load_manifest``), keep the spec's split and
groups, keep the images of emotions both the model and the set have (the *shared* emotions),
cut faces as the model's card says (``images.prepare``), predict. The prediction is the argmax
over the shared emotions; ``p_<emotion>`` are the model's probabilities renormalised over them,
and ``other_mass`` is the probability the model put on its other emotions. The table has the
columns of an experiment's predictions.parquet, so ``ferbias.analysis`` reads it as it is.
Everything left out is counted with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ferbias.audit.spec import AuditSet, AuditSpec
from ferbias.data import images
from ferbias.experiment.data import load_manifest
from ferbias.training.inference import FerModel, Provenance

OTHER_MASS = "other_mass"
NO_SHARED = (
    "test set {name!r}: its emotions {present} share {shared} with the model's {model}; at least "
    "two are needed (with one, the argmax over shared emotions is always right)"
)
NO_GROUP_COLUMN = (
    "test set {name!r}: group_col {column!r} is not a column of its manifest; columns: {columns}"
)
NO_GROUP_ROWS = "test set {name!r}: no images with {column} in {groups} (present: {present})"
OVERLAP = (
    "{name}: {n} of {total} images come from {sources}, which the model was trained on "
    "({splits}); its accuracy there may be inflated"
)
UNKNOWN_TRAINING = (
    "{name}: the model's training data are unknown (no training_data in its card), so overlap "
    "with this test set cannot be ruled out"
)


@dataclass
class SetResult:
    """One test set's predictions and what was left out of it, and why."""

    name: str
    shared: list[str]  # emotions scored: in the model and in the set (model order)
    not_in_model: list[str]  # emotions of the set the model cannot predict
    left_out: dict[str, int]  # reason -> images
    failures: pd.DataFrame  # images that could not be prepared (reason per image)
    warnings: list[str]
    predictions: pd.DataFrame
    groups: list[str] = field(default_factory=list)  # the spec's groups present in the set


@dataclass
class AuditResults:
    """Everything the audit report needs."""

    spec: AuditSpec
    model: FerModel
    sets: list[SetResult]

    @property
    def predictions(self) -> pd.DataFrame:
        return pd.concat([s.predictions for s in self.sets], ignore_index=True)


def evaluate(model: FerModel, spec: AuditSpec) -> AuditResults:
    """Predictions of ``model`` on every test set of ``spec`` (see the module docstring)."""
    rng = np.random.default_rng(spec.seed)
    return AuditResults(spec, model, [evaluate_set(model, s, spec, rng) for s in spec.test_sets])


def evaluate_set(
    model: FerModel, test_set: AuditSet, spec: AuditSpec, rng: np.random.Generator
) -> SetResult:
    rows, left_out = _rows_in_scope(load_manifest([test_set.source]), test_set, spec)
    present = [e for e in rows["emotion"].dropna().unique()]
    shared = [e for e in model.emotions if e in set(present)]
    if len(shared) < 2:
        raise ValueError(
            NO_SHARED.format(
                name=test_set.name, present=present, shared=shared, model=model.emotions
            )
        )
    not_in_model = sorted(set(present) - set(shared))
    keep = rows["emotion"].isin(shared).fillna(False).to_numpy()
    _count(left_out, f"emotion not in the model ({', '.join(not_in_model)})", ~keep)
    rows = rows[keep]
    if test_set.limit is not None and len(rows) > test_set.limit:
        left_out[f"over the limit of {test_set.limit}"] = len(rows) - test_set.limit
        rows = rows.iloc[np.sort(rng.choice(len(rows), test_set.limit, replace=False))]
    face_crop = test_set.source.face_crop if model.card.face_crop.enabled else False
    prepared = images.prepare(
        rows.drop(columns=["face_crop"]).reset_index(drop=True),
        face_crop=face_crop,
        **model.prepare_options(),
    )
    if len(prepared.failures):
        left_out["image could not be prepared (no face, unreadable)"] = len(prepared.failures)
    rows = rows.set_index("sample_id").loc[prepared.sample_ids].reset_index()
    proba = model.predict_proba(prepared.pixels)
    table = predictions_table(model, test_set.name, rows, proba, shared, spec.group_col)
    present_groups = [g for g in spec.groups if (table["group"] == g).any()]
    warnings = overlap_warnings(model.provenance, rows, test_set.name)
    return SetResult(
        test_set.name,
        shared,
        not_in_model,
        left_out,
        prepared.failures,
        warnings,
        table,
        present_groups,
    )


def _rows_in_scope(
    manifest: pd.DataFrame, test_set: AuditSet, spec: AuditSpec
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows of the spec's split and groups with an emotion label; the rest counted by reason."""
    left_out: dict[str, int] = {}
    if test_set.split is not None:
        keep = (manifest["original_split"] == test_set.split).fillna(False).to_numpy()
        _count(left_out, f"not in split {test_set.split!r}", ~keep)
        manifest = manifest[keep]
    if spec.group_col not in manifest.columns:
        columns = list(manifest.columns)
        raise ValueError(
            NO_GROUP_COLUMN.format(name=test_set.name, column=spec.group_col, columns=columns)
        )
    labelled = manifest["emotion"].notna().to_numpy()
    _count(left_out, "no emotion label", ~labelled)
    manifest = manifest[labelled]
    values = manifest[spec.group_col].astype("string")
    in_groups = values.isin(spec.groups).fillna(False).to_numpy()
    if not in_groups.any():
        present = sorted(values.dropna().unique())
        raise ValueError(
            NO_GROUP_ROWS.format(
                name=test_set.name, column=spec.group_col, groups=spec.groups, present=present
            )
        )
    _count(left_out, f"{spec.group_col} not in {spec.groups}", ~in_groups)
    return manifest[in_groups].reset_index(drop=True), left_out


def _count(left_out: dict[str, int], reason: str, mask: np.ndarray) -> None:
    if mask.any():
        left_out[reason] = int(mask.sum())


def predictions_table(
    model: FerModel,
    test_set: str,
    rows: pd.DataFrame,
    proba: np.ndarray,
    shared: list[str],
    group_col: str,
) -> pd.DataFrame:
    """run_id, test_set, sample_id, subject_id, group, y_true, y_pred, p_<shared>..., other_mass
    (predictions over the shared emotions; see the module docstring)."""
    index = [model.emotions.index(e) for e in shared]
    scores = proba[:, index].astype(np.float64)
    mass = scores.sum(axis=1, keepdims=True)
    others = np.delete(proba, index, axis=1).sum(axis=1) if len(proba) else np.zeros(0)
    renormalised = np.divide(
        scores, mass, out=np.full_like(scores, 1 / len(shared)), where=mass > 0
    )
    frame = pd.DataFrame(
        {
            "run_id": model.name,
            "test_set": test_set,
            "sample_id": rows["sample_id"].astype(str).to_numpy(),
            "subject_id": rows["subject_id"].astype("string").to_numpy(),
            "group": rows[group_col].astype(str).to_numpy(),
            "y_true": rows["emotion"].astype(str).to_numpy(),
            "y_pred": np.asarray(shared, dtype=object)[scores.argmax(axis=1)]
            if len(scores)
            else np.empty(0, dtype=object),
        }
    )
    for i, emotion in enumerate(shared):
        frame[f"p_{emotion}"] = renormalised[:, i]
    frame[OTHER_MASS] = others.astype(np.float64)
    return frame


def overlap_warnings(provenance: Provenance, rows: pd.DataFrame, name: str) -> list[str]:
    """A warning when images of the set come from a source the model was trained on (a ferbias
    run's held-out official test images excepted: its splits keep them out of training)."""
    if provenance.training_sources is None:
        return [UNKNOWN_TRAINING.format(name=name)]
    same = rows[rows["source"].isin(provenance.training_sources).fillna(False).to_numpy()]
    if provenance.official_test_held_out:
        same = same[(same["original_split"] != "test").fillna(True).to_numpy()]
    if same.empty:
        return []
    splits = same["original_split"].astype("string").fillna("no official split")
    split_counts = ", ".join(f"{n} from split {s}" for s, n in splits.value_counts().items())
    sources = ", ".join(sorted(same["source"].astype(str).unique()))
    return [
        OVERLAP.format(
            name=name, n=len(same), total=len(rows), sources=sources, splits=split_counts
        )
    ]
