"""Photo faces degraded to look like FER-2013 faces, and the image statistics that justify it.

The photo sets (UTKFace, CelebA) are face-cropped to 48x48 gray with area resampling, which makes
them smoother and cleaner than FER-2013. 10th / 50th / 90th percentiles on 3,000 random FER-2013
Training faces and 3,000 prepared UTKFace + CelebA training faces, before and after this
degradation (``benchmarks/gender_style.py``, seed 0):

| statistic (p10 / p50 / p90)    | FER-2013          | photos            | photos, degraded  |
|--------------------------------|-------------------|-------------------|-------------------|
| contrast (pixel std)           | 36.3 / 53.7 / 72.4| 37.2 / 53.5 / 70.5| 37.4 / 53.8 / 71.6|
| sharpness (Laplacian variance) | 916 / 1977 / 3774 | 545 / 1153 / 2052 | 916 / 1968 / 3775 |
| noise sigma (Immerkaer), gray  | 2.8 / 4.6 / 6.8   | 1.6 / 2.8 / 4.2   | 2.7 / 4.6 / 6.7   |
| high-frequency energy share, % | 3.5 / 6.1 / 10.2  | 2.3 / 4.2 / 6.9   | 3.2 / 6.0 / 10.2  |

So FER-2013 faces carry more fine detail and noise than the area-resampled photos (consistent with
resampling without anti-aliasing: 800 UTKFace faces resized from 144 px with bilinear instead of
area interpolation gain 64% in median sharpness), and every FER-2013 file is a JPEG of
quality 95 (its quantisation table is IJG's at 95). The degradation per face, each parameter
drawn at random so the training set spans FER-2013's spread: unsharp masking of random strength
(sharpness and high-frequency share), Gaussian noise, a contrast change around the face's mean,
then a JPEG round trip at quality 95. The ranges were chosen by a small grid search matching
these percentiles (mean absolute log error 1.8%).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from ferbias.data.quality import image_statistics

FER_JPEG_QUALITY = 95  # every FER-2013 file's quantisation table is IJG quality 95
HIGH_FREQUENCY_RADIUS = 12  # spectrum radius (cycles per 48 px) above which energy counts as high
IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
BAD_RANGE = "{name} must be a (low, high) pair with 0 <= low <= high; got {value}"


@dataclass(frozen=True)
class FerStyle:
    """Ranges of the per-face degradation; each face draws its own values uniformly."""

    unsharp: tuple[float, float] = (0.1, 0.7)  # amount of (face - blurred face) added back
    unsharp_sigma: float = 1.0  # Gaussian blur of the unsharp mask, pixels
    noise: tuple[float, float] = (0.5, 2.5)  # Gaussian noise sigma, gray levels
    contrast: tuple[float, float] = (0.85, 1.1)  # scale of (pixel - face mean)
    jpeg_quality: int = FER_JPEG_QUALITY

    def __post_init__(self) -> None:
        for name in ("unsharp", "noise", "contrast"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(BAD_RANGE.format(name=name, value=(low, high)))


def degrade(
    pixels: np.ndarray, *, rng: np.random.Generator, style: FerStyle = FerStyle()
) -> np.ndarray:
    """FER-2013-style copies of uint8 N x H x W faces (deterministic given ``rng``'s state)."""
    n = len(pixels)
    amount = rng.uniform(*style.unsharp, size=n)
    sigma = rng.uniform(*style.noise, size=n)
    scale = rng.uniform(*style.contrast, size=n)
    noise = rng.standard_normal(pixels.shape).astype(np.float32)
    out = np.empty_like(pixels)
    for i, face in enumerate(pixels.astype(np.float32)):
        blurred = cv2.GaussianBlur(face, (0, 0), style.unsharp_sigma)
        face = face + amount[i] * (face - blurred)
        face = face.mean() + scale[i] * (face - face.mean()) + sigma[i] * noise[i]
        out[i] = jpeg_round_trip(np.clip(np.rint(face), 0, 255).astype(np.uint8), style)
    return out


def jpeg_round_trip(face: np.ndarray, style: FerStyle) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def noise_sigma(pixels: np.ndarray) -> np.ndarray:
    """Immerkaer's (1996) noise standard deviation per face, gray levels."""
    out = np.empty(len(pixels))
    for i, face in enumerate(pixels.astype(np.float32)):
        residual = cv2.filter2D(face, -1, IMMERKAER)[1:-1, 1:-1]
        out[i] = np.sqrt(np.pi / 2) * np.abs(residual).mean() / 6
    return out


def high_frequency_share(pixels: np.ndarray) -> np.ndarray:
    """Share of each face's spectral energy (mean removed) beyond ``HIGH_FREQUENCY_RADIUS``."""
    faces = pixels.astype(np.float32)
    faces -= faces.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fftshift(np.fft.fft2(faces), axes=(1, 2))) ** 2
    h, w = pixels.shape[1:]
    yy, xx = np.mgrid[-(h // 2) : h - h // 2, -(w // 2) : w - w // 2]
    high = np.hypot(yy, xx) > HIGH_FREQUENCY_RADIUS
    total = power.sum(axis=(1, 2))
    return np.divide(
        power[:, high].sum(axis=1), total, out=np.full(len(faces), np.nan), where=total > 0
    )


def style_statistics(pixels: np.ndarray) -> pd.DataFrame:
    """Per face: mean, contrast, sharpness (``quality.image_statistics``), noise, HF share."""
    table = image_statistics(pixels)
    table["noise"] = noise_sigma(pixels)
    table["high_frequency"] = high_frequency_share(pixels)
    return table


def style_table(sets: dict[str, np.ndarray]) -> pd.DataFrame:
    """10th / 50th / 90th percentiles of every style statistic, one row per named set."""
    rows = []
    for name, pixels in sets.items():
        stats = style_statistics(pixels)
        row: dict[str, object] = {"set": name, "n": len(pixels)}
        for column in stats.columns:
            for q in (10, 50, 90):
                row[f"{column}_p{q}"] = float(np.nanpercentile(stats[column], q))
        rows.append(row)
    return pd.DataFrame(rows)
