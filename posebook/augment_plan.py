"""What the GPU augmentation path draws on the host, per image: the crop homography
(`camera.homography`), the occluder pastes (`sample_occlusion`, the draws of `augment.occlude`)
and the appearance parameters (`sample_appearance`, the draws of `augment.appearance`), and a
whole batch's `Plan` (`plan_batch`). Every draw is the CPU path's numpy call in the CPU path's
order, so one `rng` makes the same choices on both paths; `posebook.gpu_augment` renders the pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import augment
from .camera import homography, zoom_factor
from .crop import crop_camera


@dataclass(frozen=True)
class Paste:
    """One occluder paste: bank index and its integer rectangle in the image (as `augment`)."""

    bank_index: int
    x0: int
    y0: int
    w: int
    h: int


def sample_occlusion(rng: np.random.Generator, bank_shapes, image_hw, p: float,
                     count: tuple[int, int] = (1, 8),
                     scale: tuple[float, float] = (0.2, 1.0)) -> list[Paste]:
    """The pastes `augment.occlude` would make with this `rng` (same draws, same order).

    Args:
        bank_shapes: sequence of (h, w[, 4]) occluder shapes. image_hw: (H, W) of the image.
    Returns:
        list of `Paste` (empty when this image is not augmented), in paste order.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not 1 <= count[0] <= count[1]:
        raise ValueError(f"count must be (low, high) with 1 <= low <= high, got {count}")
    H, W = image_hw
    if rng.random() >= p:
        return []
    if len(bank_shapes) == 0:
        raise ValueError("bank_shapes is empty: load a bank with posebook.data.occluders.load_bank")
    n = int(rng.integers(count[0], count[1] + 1))
    side_factor = min(H, W) / augment.REFERENCE_SIDE_PX
    pastes = []
    for _ in range(n):
        i = int(rng.integers(len(bank_shapes)))
        oh, ow = bank_shapes[i][:2]
        factor = rng.uniform(*scale) * side_factor
        w, h = max(1, round(ow * factor)), max(1, round(oh * factor))
        cx, cy = rng.uniform((0, 0), (W, H))
        pastes.append(Paste(i, int(round(cx - w / 2)), int(round(cy - h / 2)), w, h))
    return pastes


@dataclass(frozen=True)
class Appearance:
    """Parameters of one `augment.appearance` call: hue shift (deg), saturation and contrast
    factors, brightness (fraction of 255), blur sigma at the image size (0 = no blur)."""

    hue_deg: float
    saturation: float
    contrast: float
    brightness: float
    blur_sigma_px: float


def sample_appearance(rng: np.random.Generator, image_hw, hue_deg: float = 12.0,
                      saturation=(0.7, 1.3), contrast=(0.7, 1.3), brightness: float = 0.15,
                      blur_p: float = 0.3, blur_sigma_px=(0.3, 1.5)) -> Appearance:
    """The parameters `augment.appearance` draws with this `rng` (same draws, same order)."""
    hue = rng.uniform(-hue_deg, hue_deg)
    sat = rng.uniform(*saturation)
    con = rng.uniform(*contrast)
    bri = rng.uniform(-brightness, brightness)
    sigma = 0.0
    if rng.random() < blur_p:
        sigma = rng.uniform(*blur_sigma_px) * min(image_hw) / augment.REFERENCE_SIDE_PX
    return Appearance(float(hue), float(sat), float(con), float(bri), float(sigma))


@dataclass(frozen=True)
class Plan:
    """Everything drawn on the CPU for one batch: (B, 3, 3) crop homographies (crop pixel ->
    frame pixel), (B,) zooms, B crop cameras, B paste lists, B `Appearance` (or None)."""

    homographies: np.ndarray
    scales: np.ndarray
    cameras: list
    pastes: list
    appearance: list | None


def plan_batch(rngs, cameras, boxes_xywh_px, out_side: int, bank_shapes, occlusion_p: float,
               geometry: bool = True, appearance: bool = True, fill: float = 0.9) -> Plan:
    """Draw one batch's augmentation, per image in the CPU path's order: geometry
    (`augment.sample_geometry` -> `crop.crop_camera`), occlusion, appearance.

    Args:
        rngs: B numpy Generators (one per image). cameras: B undistorted frame cameras.
        boxes_xywh_px: (B, 4) person boxes in the frames. bank_shapes: occluder (h, w) shapes.
    """
    if not (len(rngs) == len(cameras) == len(boxes_xywh_px)):
        raise ValueError(f"rngs, cameras, boxes_xywh_px: expected equal lengths, got "
                         f"{len(rngs)}, {len(cameras)}, {len(boxes_xywh_px)}")
    homs, scales, crop_cams, pastes, looks = [], [], [], [], []
    for rng, cam, box in zip(rngs, cameras, boxes_xywh_px):
        kwargs = augment.sample_geometry(rng) if geometry else {}
        new = crop_camera(cam, box, out_side, fill, **kwargs)
        homs.append(homography(cam, new))
        scales.append(zoom_factor(cam, new))
        crop_cams.append(new)
        pastes.append(sample_occlusion(rng, bank_shapes, (out_side, out_side), occlusion_p)
                      if occlusion_p > 0 else [])
        if appearance:
            looks.append(sample_appearance(rng, (out_side, out_side)))
    return Plan(np.stack(homs), np.array(scales), crop_cams, pastes,
                looks if appearance else None)
