"""The CPU renderer of a `Plan` (OpenCV), what `PoseDataset` uses, and two thin helpers.

`render` makes a sample's crop: one perspective reprojection from the source image's camera to
the Plan's crop camera (`camera.reproject_image`), the occluder pastes alpha-blended in order,
then the appearance change (one affine RGB map, then the blur). `occlude` and `appearance` draw
one stage with `posebook.augment.plan` and render it, for showing the steps one at a time
(chapter 01); `joints_covered` reads a covered-pixel mask at joint positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..camera import reproject_image
from .plan import (OCCLUDER_SCALE, Look, Plan, draw_look, draw_pastes, joint_pixels,
                   resized_occluder)


@dataclass(frozen=True)
class Occlusion:
    """Result of `occlude`.

    image: (H, W, 3) uint8. mask: (H, W) bool, pixels covered by a pasted occluder (alpha > 0.5).
    count: number of occluders pasted (0 when the frame was not augmented).
    """

    image: np.ndarray
    mask: np.ndarray
    count: int


def _check_image(image: np.ndarray) -> None:
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
            and image.dtype == np.uint8):
        got = getattr(image, "shape", type(image).__name__), getattr(image, "dtype", "")
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got shape {got[0]} {got[1]}")


def paste(image: np.ndarray, pastes, occluders, mask: np.ndarray | None = None) -> np.ndarray:
    """Alpha-blend the planned pastes into a copy of `image` (H, W, 3) uint8, in order; with
    `mask` (H, W) bool, also mark the pixels an occluder covers (alpha > 127) there."""
    out = image.copy()
    H, W = out.shape[:2]
    for p in pastes:
        occ = occluders[p.bank_index]
        if occ.ndim != 3 or occ.shape[2] != 4:
            raise ValueError(f"occluders must be (h, w, 4) RGBA, got shape {occ.shape}")
        x0, y0 = p.x0, p.y0
        dx0, dy0, dx1, dy1 = max(x0, 0), max(y0, 0), min(x0 + p.w, W), min(y0 + p.h, H)
        if dx1 <= dx0 or dy1 <= dy0:
            continue
        src = resized_occluder(occ, p)[dy0 - y0:dy1 - y0, dx0 - x0:dx1 - x0]
        alpha = src[..., 3:].astype(np.float32) * (1 / 255)
        region = out[dy0:dy1, dx0:dx1].astype(np.float32)
        blended = region + alpha * (src[..., :3].astype(np.float32) - region)
        out[dy0:dy1, dx0:dx1] = (blended + 0.5).astype(np.uint8)
        if mask is not None:
            mask[dy0:dy1, dx0:dx1] |= src[..., 3] > 127
    return out


def colour_matrix(hue_rad: float, saturation: float) -> np.ndarray:
    """(3, 3) RGB matrix: saturation scaling towards luma grey, then hue rotation about grey."""
    luma = np.array([0.299, 0.587, 0.114])
    sat = saturation * np.eye(3) + (1 - saturation) * np.outer(np.ones(3), luma)
    axis = np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = (np.cos(hue_rad) * np.eye(3) + np.sin(hue_rad) * cross
           + (1 - np.cos(hue_rad)) * np.outer(axis, axis))
    return rot @ sat


def restyle(image: np.ndarray, look: Look) -> np.ndarray:
    """Apply a `Look`: one affine RGB map (saturation towards the pixel's luma grey, hue rotation
    about grey, contrast about the image's mean grey, brightness), saturated at 0 and 255, then
    a Gaussian blur if its sigma is > 0. Returns a new (H, W, 3) uint8 array."""
    gain = look.contrast
    colour = colour_matrix(np.radians(look.hue_deg), look.saturation)
    offset = (1 - gain) * float(image.mean()) + 255 * look.brightness
    out = cv2.transform(image, np.concatenate([gain * colour, np.full((3, 1), offset)], 1))
    if look.blur_sigma_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=look.blur_sigma_px)
    return out


def render(image: np.ndarray, image_camera, crop_camera, plan: Plan,
           occluders=None) -> np.ndarray:
    """A sample's crop: (S, S, 3) uint8 for S = plan.side_px.

    Args:
        image: (H, W, 3) uint8 source seen by `image_camera` (a frame or a cached wide crop).
        crop_camera: `plan.crop_camera(...)` of the frame. occluders: the bank the plan
            indexes (only read when the plan pastes).
    """
    S = plan.side_px
    out = reproject_image(np.asarray(image), image_camera, crop_camera, (S, S))
    if plan.pastes:
        out = paste(out, plan.pastes, occluders)
    if plan.look is not None:
        out = restyle(out, plan.look)
    return out


def occlude(image: np.ndarray, occluders, rng: np.random.Generator, p: float,
            count: tuple[int, int] = (1, 8), scale: tuple[float, float] = OCCLUDER_SCALE
            ) -> Occlusion:
    """Synthetic occlusion (Sárándi et al. 2018): `plan.draw_pastes` with this rng, rendered.

    Args:
        image: (H, W, 3) uint8 RGB; never modified.
        occluders: sequence of (h, w, 4) uint8 RGBA cutouts at reference scale.
        rng: randomness. p: probability of augmenting this image, in [0, 1].
    Returns:
        `Occlusion`; when not augmented its ``image`` is the input array itself and count is 0.
    """
    _check_image(image)
    H, W = image.shape[:2]
    pastes = draw_pastes(rng, [o.shape for o in occluders], (H, W), p, count, scale)
    mask = np.zeros((H, W), bool)
    if not pastes:
        return Occlusion(image, mask, 0)
    return Occlusion(paste(image, pastes, occluders, mask), mask, len(pastes))


def appearance(image: np.ndarray, rng: np.random.Generator, **ranges) -> np.ndarray:
    """Random colour and blur change: `plan.draw_look(rng, ..., **ranges)`, rendered.

    Args:
        image: (H, W, 3) uint8 RGB (not modified).
    Returns:
        (H, W, 3) uint8 RGB, a new array.
    """
    _check_image(image)
    return restyle(image, draw_look(rng, image.shape[:2], **ranges))


def joints_covered(mask: np.ndarray, joints_px: np.ndarray) -> np.ndarray:
    """Which joints fall on a covered pixel of `mask` (H, W) bool (`Occlusion.mask`), with
    `plan.joint_pixels`' convention.

    Args:
        joints_px: (..., J, 2) (u, v).
    Returns:
        (..., J) bool; False for joints outside the image or non-finite.
    """
    joints_px = np.asarray(joints_px, np.float64)
    if mask.ndim != 2 or joints_px.shape[-1] != 2:
        raise ValueError(f"need mask (H, W) and joints_px (..., J, 2), got {mask.shape} and "
                         f"{joints_px.shape}")
    u, v, inside = joint_pixels(joints_px, mask.shape)
    result = np.zeros(inside.shape, bool)
    result[inside] = mask[v[inside], u[inside]]
    return result
