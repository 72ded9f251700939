"""Do the degraded photo faces look like FER-2013? Image statistics of three sets, side by side.

FER-2013 Training faces (a random sample), the photo sets' training faces as ferbias prepares them
(UTKFace + CelebA, 48x48 gray), and the same photos after ``ferbias.gender.degrade.degrade``.
Prints the 10th / 50th / 90th percentile of contrast, sharpness, noise and high-frequency share.

    FERBIAS_DATA=../shared/data nice -n 10 .venv/bin/python benchmarks/gender_style.py
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table

from ferbias.data.images import prepare
from ferbias.data.sources import load_source
from ferbias.gender.degrade import degrade, style_table
from ferbias.gender.gold import data_root, gender_data

STATISTICS = ("contrast", "sharpness", "noise", "high_frequency")
# photos: UTKFace + CelebA training faces as ferbias prepares them (48x48 gray, area resampling)


def samples(n: int, seed: int) -> dict[str, np.ndarray]:
    root = data_root()
    fer = load_source("fer2013", root / "fer2013", gender_labels=None).manifest
    fer = fer[fer["usage"] == "Training"].sample(n, random_state=seed)
    sets = gender_data(root)
    photos = np.concatenate([sets["utkface-train"].pixels, sets["celeba-train"].pixels])
    rng = np.random.default_rng(seed)
    photos = photos[rng.choice(len(photos), size=min(n, len(photos)), replace=False)]
    return {
        "FER-2013 Training": prepare(fer).pixels,
        "photos": photos,
        "photos, degraded": degrade(photos, rng=rng),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="faces per set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = style_table(samples(args.n, args.seed))
    shown = Table(title=f"image statistics, p10 / p50 / p90 ({args.n} faces per set)")
    shown.add_column("set")
    for name in STATISTICS:
        shown.add_column(name.replace("high_frequency", "high-freq %"), justify="right")
    for row in table.itertuples(index=False):
        cells = []
        for name in STATISTICS:
            scale = 100 if name == "high_frequency" else 1
            values = [scale * getattr(row, f"{name}_p{q}") for q in (10, 50, 90)]
            cells.append(" / ".join(f"{v:,.1f}" if v < 100 else f"{v:,.0f}" for v in values))
        shown.add_row(row.set, *cells)
    Console().print(shown)
    Console().print("high_frequency in % of spectral energy; noise in gray levels (Immerkaer)")


if __name__ == "__main__":
    main()
