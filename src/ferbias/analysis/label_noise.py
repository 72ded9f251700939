"""Label noise in every conclusion: how mixed the labelled groups are, and whether a conclusion
survives stricter labels.

Reads experiment.json's ``label_audit`` (copied from the labels file's provenance, written by
``ferbias gender label --gold``: the labeller measured on the audit half of the in-domain gold)
and the predictions' ``labeller_prob_female`` column. Two tables:

- contamination: per group and emotion, the estimated share of the other gender among the faces
  the labeller put in that group (audit half, Wilson 95% CI), the share the annotators could not
  call at all, and what that means for the experiment's training images;
- sensitivity: the 2x2 transfer table and the in-group advantage recomputed on the test faces
  kept at stricter accuracy targets, i.e. faces whose labeller P(female) clears those targets'
  thresholds. Faces without a labeller score (hand labels, self-reported test sets) are kept.

Pure pandas / numpy on the predictions and experiment.json (no torch, no labeller).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ferbias.analysis import transfer as transfer_tables
from ferbias.analysis.blocks import Block, Heading, Paragraph, Table
from ferbias.analysis.plots import condition_label
from ferbias.analysis.standardise import STANDARDISED
from ferbias.analysis.tables import Analysis

LABELS = "labels"  # the operating point the labels file was made at
N_RESAMPLES = 1000
NO_AUDIT = (
    "Label noise: experiment.json carries no label audit (its labels file has no 'label_audit' "
    "in its provenance: make it with `ferbias gender label --gold`), so the contamination of "
    "the groups is not estimated here."
)
CONTAMINATION_CAPTION = (
    "Estimated share of the other gender among the faces labelled as each group, per emotion "
    "(audit half, Wilson 95% CI), the share two annotators could not call, and the expected "
    "number of such faces among this experiment's training images."
)
SENSITIVITY_CAPTION = (
    "Sensitivity to label noise: the 2x2 transfer table and in-group advantage (emotion-"
    "standardised accuracy, the verdicts' measure) on test faces kept at stricter accuracy "
    "targets of the labeller (faces whose P(female) clears the "
    "target's thresholds; faces without a labeller score are kept), and on the hand-labelled "
    "test set where the spec holds one out (data.gold_test). A conclusion that holds on every "
    "row does not rest on the labeller's errors."
)
NO_SCORES = (
    "Sensitivity: the predictions carry no labeller P(female) (column labeller_prob_female; runs "
    "made before it existed), so the stricter-label tables cannot be computed."
)


def label_audit(record: dict) -> dict | None:
    """The first labels file audit of experiment.json, or None."""
    audits = record.get("label_audit")
    return audits[0] if isinstance(audits, list) and audits else None


def contamination_table(audit: dict, counts: list[dict] | None) -> pd.DataFrame:
    """Per group x emotion at the labels' operating point: other-gender share (95% CI), share
    not callable by the annotators, and the expected number of other-gender training images."""
    frame = pd.DataFrame(audit.get("contamination") or [])
    if frame.empty:
        return frame
    frame = frame[frame["operating_point"] == LABELS]
    n_train = training_counts(counts)
    rows = []
    for r in frame.itertuples(index=False):
        n = n_train.get((r.group, r.emotion))
        expected = "" if n is None or pd.isna(r.other_share) else f"{n * r.other_share:.0f}"
        rows.append(
            {
                "group": r.group,
                "emotion": r.emotion,
                "audit faces labelled": int(r.n_labelled),
                "other gender % (95% CI)": _share(
                    r.other_share, r.other_share_low, r.other_share_high
                ),
                "not callable %": _percent(r.undecidable_share),
                "training images": "" if n is None else n,
                "expected other-gender training images": expected,
            }
        )
    return pd.DataFrame(rows)


def training_counts(counts: list[dict] | None) -> dict[tuple[str, str], int]:
    """(group, emotion) -> training images, with (group, "all") totals, from experiment.json."""
    frame = pd.DataFrame(counts or [])
    if not {"split", "group", "emotion", "n"} <= set(frame.columns):
        return {}
    train = frame[frame["split"] == "train"]
    out = {(g, e): int(n) for (g, e), n in train.groupby(["group", "emotion"])["n"].sum().items()}
    out |= {(g, "all"): int(n) for g, n in train.groupby("group")["n"].sum().items()}
    return out


def keep_confident(scored: pd.DataFrame, female: float, male: float) -> pd.DataFrame:
    """Rows whose label the labeller would still give at thresholds (female, male); rows
    without a labeller score, or of another group, are kept."""
    p = pd.to_numeric(scored["labeller_prob_female"], errors="coerce").to_numpy(dtype=float)
    group = scored["test_group"].astype(str).to_numpy()
    unscored = ~np.isfinite(p)
    sure_female = (group == "female") & (p > 0.5) & (p >= female)
    sure_male = (group == "male") & (p < 0.5) & (1 - p >= male)
    other = ~np.isin(group, ["female", "male"])
    return scored[unscored | sure_female | sure_male | other]


def _share(value: float, low: float, high: float) -> str:
    if pd.isna(value):
        return "-"
    return f"{_percent(value)} ({_percent(low)} to {_percent(high)})"


def _percent(value: float) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.1f}"


def sensitivity_table(
    a: Analysis,
    audit: dict,
    *,
    measure: str = STANDARDISED,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per operating point (as labelled, then each stricter target) x condition: test faces kept
    in each group's primary cell, the 2x2 transfer accuracies and the in-group advantage in
    ``measure`` (default the report's headline, emotion-standardised accuracy: dropping faces
    changes the emotion mix, which that measure holds fixed)."""
    f, m = a.groups
    options = {"groups": (f, m), "n_resamples": n_resamples, "seed": seed}
    points = [("as labelled", a.cells, a.advantage, a.scored)]
    for name, pair in (audit.get("thresholds") or {}).items():
        if name == LABELS:
            continue
        kept = keep_confident(a.scored, pair["female"], pair["male"])
        table = transfer_tables.advantage_table(kept, cells=a.cells, **options)
        points.append((f"{name} ({pair['female']:g}, {pair['male']:g})", a.cells, table, kept))
    hand = hand_labelled_cells(a)
    if hand is not None:
        table = transfer_tables.advantage_table(a.scored, cells=hand, **options)
        points.append((f"hand labels: test set {hand[f][0]}", hand, table, a.scored))
    rows = []
    for name, cells, table, kept in points:
        table = table[table["measure"] == measure]
        faces = kept.drop_duplicates(["test_set", "sample_id"])
        n = {
            g: int(((faces["test_set"] == c[0]) & (faces["test_group"] == c[1])).sum())
            for g, c in cells.items()
        }
        for r, condition in zip(table.itertuples(index=False), condition_label(table), strict=True):
            rows.append(
                {
                    "labels": name,
                    "condition": condition,
                    f"test {f} / {m}": f"{n[f]} / {n[m]}",
                    **{
                        f"{x[0].upper()}->{y[0].upper()} %": _percent(getattr(r, f"acc_{key}"))
                        for key, x, y in (("ff", f, f), ("fm", f, m), ("mf", m, f), ("mm", m, m))
                    },
                    "in-group advantage pp (95% CI)": _share(r.advantage, r.low, r.high),
                    "p (permutation)": f"{r.p_value:.3f}",
                }
            )
    return pd.DataFrame(rows)


def hand_labelled_cells(a: Analysis) -> dict[str, tuple[str, str]] | None:
    """The cells of the spec's hand-labelled test set (``data.gold_test``), when it holds both
    groups; the in-group advantage there does not rest on the labeller at all."""
    gold = ((a.results.record.get("spec") or {}).get("data") or {}).get("gold_test") or {}
    name = gold.get("name")
    present = set(zip(a.scored["test_set"], a.scored["test_group"], strict=True))
    cells = {g: (name, g) for g in a.groups}
    return cells if name and all(c in present for c in cells.values()) else None


def label_noise_blocks(a: Analysis) -> list[Block]:
    """The report's "Label noise" section."""
    out: list[Block] = [Heading("Label noise")]
    audit = label_audit(a.results.record)
    if audit is None:
        return [*out, Paragraph(NO_AUDIT)]
    out.append(
        Paragraph(
            f"The group labels come from {audit.get('labels_file', 'a labels file')}, whose "
            f"labeller was audited on the {audit.get('measured_on', 'in-domain gold')}. A "
            "conclusion about gender holds only as far as the groups are what they claim to be."
        )
    )
    table = contamination_table(audit, a.results.record.get("counts"))
    if len(table):
        out.append(Table(table, CONTAMINATION_CAPTION))
    scored = a.scored
    if "labeller_prob_female" not in scored or not scored["labeller_prob_female"].notna().any():
        return [*out, Paragraph(NO_SCORES)]
    if not a.cells or len(a.groups) != 2 or not len(a.advantage):
        return [*out, Paragraph("Sensitivity: needs models and test faces of both groups.")]
    out.append(Table(sensitivity_table(a, audit), SENSITIVITY_CAPTION))
    return out
