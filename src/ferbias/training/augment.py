"""Batched per-sample augmentation on the model's device: one affine warp per batch.

Every geometric operation (rotation, shifts, shear, zoom and the flips) is folded into one 2x3
matrix per sample, so a batch costs one ``affine_grid`` + one ``grid_sample`` whatever the recipe
(measured: kornia's op-by-op pipeline cost ~40% of paper-cnn's training throughput; this costs a
few percent). Random numbers are drawn on the CPU from an explicit ``torch.Generator``, so a seed
gives the same augmentations on any device.

``study`` reproduces the study's Keras ``ImageDataGenerator(rescale=1/255, rotation_range=20,
width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,
horizontal_flip=True, vertical_flip=True, brightness_range=[0.2, 1.2], fill_mode='nearest')``
with Keras's semantics, parameter by parameter (keras ``random_transform``/``apply_transform``):

- ``rotation_range=20``: theta ~ U(-20, 20) degrees, about the image centre.
- ``width_shift_range=0.2`` / ``height_shift_range=0.2``: a float < 1 is a fraction of the image
  side: shifts ~ U(-0.2, 0.2) * 48 = up to 9.6 pixels per axis, independently.
- ``shear_range=0.2``: Keras draws the shear angle ~ U(-0.2, 0.2) in DEGREES (not radians, not a
  slope) and uses the matrix [[1, -sin(s), 0], [0, cos(s), 0]]: almost no shear at all.
- ``zoom_range=0.2``: zx, zy ~ U(0.8, 1.2) independently per axis; they scale the sampling
  coordinates, so zx > 1 zooms out.
- Keras composes rotation @ shift @ shear @ zoom about the centre ((side - 1) / 2) and samples the
  input with that matrix (output -> input), bilinear (``interpolation_order=1``).
- ``fill_mode='nearest'``: outside points take the nearest edge pixel (``padding_mode='border'``).
- ``horizontal_flip`` / ``vertical_flip``: each with probability 0.5, applied after the warp.
- ``brightness_range=[0.2, 1.2]``: b ~ U(0.2, 1.2); Keras's ``apply_brightness_shift`` converts
  the array to a PIL image with ``scale=True`` (per-image min-max stretch to the full range), then
  ``ImageEnhance.Brightness`` multiplies by b and clips at white. We do the same in [0, 1]
  (without PIL's rounding to 8 bits).
- ``rescale=1/255``: done by the caller (inputs are already in [0, 1]).

``standard`` is what a careful practitioner uses for faces: horizontal flips only (faces are not
upside down), rotation +-10 degrees, isotropic zoom 0.9-1.1, shifts up to 10% (a random crop with
edge padding), brightness x U(0.8, 1.2) without stretching, and random erasing (p = 0.5, 2-15% of
the image, filled with the image's mean) against occlusion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ferbias.registry import Registry

AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")


@dataclass(frozen=True)
class Augmentation:
    """Ranges of a random augmentation; calling it transforms a batch N x 1 x H x W in [0, 1]."""

    name: str
    rotation_deg: float = 0.0
    width_shift: float = 0.0  # fraction of the width
    height_shift: float = 0.0  # fraction of the height
    shear_deg: float = 0.0
    zoom: float = 0.0  # scale ~ U(1 - zoom, 1 + zoom)
    isotropic_zoom: bool = False  # one scale for both axes (Keras draws one per axis)
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness: tuple[float, float] | None = None
    brightness_stretch: bool = False  # Keras's min-max stretch before the multiplication
    erase_p: float = 0.0
    erase_area: tuple[float, float] = (0.02, 0.15)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, height, width = images.shape
        if self.has_geometry:
            images = warp(images, self.matrices(n, height, width, generator))
        if self.brightness is not None:
            images = self.apply_brightness(images, generator)
        if self.erase_p > 0:
            images = self.apply_erasing(images, generator)
        return images

    @property
    def has_geometry(self) -> bool:
        ranges = (self.rotation_deg, self.width_shift, self.height_shift, self.shear_deg, self.zoom)
        return any(ranges) or self.horizontal_flip or self.vertical_flip

    def draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Per-sample random parameters (float64 CPU tensors), Keras's distributions."""
        u = torch.rand(n, 8, generator=generator, dtype=torch.float64)
        zoom_row = 1 + (2 * u[:, 4] - 1) * self.zoom
        return {
            "angle_deg": (2 * u[:, 0] - 1) * self.rotation_deg,
            "shear_deg": (2 * u[:, 1] - 1) * self.shear_deg,
            "shift_row": (2 * u[:, 2] - 1) * self.height_shift,  # fraction of the height
            "shift_col": (2 * u[:, 3] - 1) * self.width_shift,  # fraction of the width
            "zoom_row": zoom_row,
            "zoom_col": zoom_row if self.isotropic_zoom else 1 + (2 * u[:, 5] - 1) * self.zoom,
            "flip_x": (u[:, 6] < 0.5) & self.horizontal_flip,
            "flip_y": (u[:, 7] < 0.5) & self.vertical_flip,
        }

    def matrices(self, n: int, height: int, width: int, generator: torch.Generator) -> Tensor:
        """Random per-sample ``affine_grid`` matrices (see ``affine_matrices``)."""
        return affine_matrices(self.draw(n, generator), height, width)

    def apply_brightness(self, images: Tensor, generator: torch.Generator) -> Tensor:
        low, high = self.brightness
        factor = low + (high - low) * torch.rand(len(images), generator=generator)
        factor = factor.to(images.device, images.dtype).view(-1, 1, 1, 1)
        if self.brightness_stretch:
            flat = images.flatten(1)
            lo = flat.amin(1).view(-1, 1, 1, 1)
            span = (flat.amax(1).view(-1, 1, 1, 1) - lo).clamp_min(1e-12)
            images = (images - lo) / span
        return (images * factor).clamp(0.0, 1.0)

    def apply_erasing(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, height, width = images.shape
        u = torch.rand(n, 5, generator=generator).to(images.device)
        low, high = self.erase_area
        area = (low + (high - low) * u[:, 0]) * height * width
        aspect = torch.exp((2 * u[:, 1] - 1) * math.log(2.0))
        box_h = (area * aspect).sqrt().view(-1, 1, 1)
        box_w = (area / aspect).sqrt().view(-1, 1, 1)
        rows = torch.arange(height, device=images.device).view(1, -1, 1)
        cols = torch.arange(width, device=images.device).view(1, 1, -1)
        in_box = ((rows - u[:, 2].view(-1, 1, 1) * height).abs() < box_h / 2) & (
            (cols - u[:, 3].view(-1, 1, 1) * width).abs() < box_w / 2
        )
        mask = (in_box & (u[:, 4] < self.erase_p).view(-1, 1, 1)).unsqueeze(1)
        fill = images.mean(dim=(1, 2, 3), keepdim=True).expand_as(images)
        return torch.where(mask, fill, images)


def affine_matrices(params: dict[str, Tensor], height: int, width: int) -> Tensor:
    """Keras's transform as ``affine_grid`` matrices (output -> input, normalised x/y).

    Keras works in (row, col) pixels: M = rotation @ shift @ shear @ zoom about the centre
    c = (side - 1) / 2, rotation [[cos, -sin], [sin, cos]], shear [[1, -sin s], [0, cos s]],
    zoom diag(zx, zy); the flips (applied after the warp) negate the output coordinates.
    """
    angle, shear = torch.deg2rad(params["angle_deg"]), torch.deg2rad(params["shear_deg"])
    zoom_row, zoom_col = params["zoom_row"], params["zoom_col"]
    shift_row, shift_col = params["shift_row"] * height, params["shift_col"] * width
    cos, sin = torch.cos(angle), torch.sin(angle)
    lin_rr = cos * zoom_row
    lin_rc = (-cos * torch.sin(shear) - sin * torch.cos(shear)) * zoom_col
    lin_cr = sin * zoom_row
    lin_cc = (-sin * torch.sin(shear) + cos * torch.cos(shear)) * zoom_col
    trans_r = cos * shift_row - sin * shift_col
    trans_c = sin * shift_row + cos * shift_col
    flip_x = 1.0 - 2.0 * params["flip_x"].double()
    flip_y = 1.0 - 2.0 * params["flip_y"].double()
    # To normalised (x = col, y = row) with align_corners: pixel = c + c * u.
    cx, cy = (width - 1) / 2, (height - 1) / 2
    theta = torch.zeros(len(angle), 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = lin_cc * flip_x
    theta[:, 0, 1] = lin_cr * cy / cx * flip_y
    theta[:, 0, 2] = trans_c / cx
    theta[:, 1, 0] = lin_rc * cx / cy * flip_x
    theta[:, 1, 1] = lin_rr * flip_y
    theta[:, 1, 2] = trans_r / cy
    return theta.float()


def warp(images: Tensor, theta: Tensor) -> Tensor:
    """One bilinear ``grid_sample`` for the batch; outside points take the edge pixel."""
    grid = F.affine_grid(
        theta.to(images.device, images.dtype), list(images.shape), align_corners=True
    )
    return F.grid_sample(images, grid, padding_mode="border", align_corners=True)


def create_augmentation(name: str | None) -> Augmentation | None:
    """The augmentation registered as ``name``; ``None`` or "none" means no augmentation."""
    if name is None or name == "none":
        return None
    return AUGMENTATIONS.create(name)


@AUGMENTATIONS.register("study")
def study() -> Augmentation:
    """The study's Keras ImageDataGenerator settings (see the module docstring)."""
    return Augmentation(
        name="study",
        rotation_deg=20.0,
        width_shift=0.2,
        height_shift=0.2,
        shear_deg=0.2,
        zoom=0.2,
        horizontal_flip=True,
        vertical_flip=True,
        brightness=(0.2, 1.2),
        brightness_stretch=True,
    )


@AUGMENTATIONS.register("standard")
def standard() -> Augmentation:
    """Face-appropriate augmentation (see the module docstring)."""
    return Augmentation(
        name="standard",
        rotation_deg=10.0,
        width_shift=0.1,
        height_shift=0.1,
        zoom=0.1,
        isotropic_zoom=True,
        horizontal_flip=True,
        brightness=(0.8, 1.2),
        erase_p=0.5,
    )
