"""Training augmentation: synthetic occlusion, geometry through the camera, appearance.

Three independent pieces, applied on the crop (the dataset calls them in this order):

1. **Geometry** (`sample_geometry`) only draws numbers; they are keyword arguments for
   `posebook.crop.perspective_crop` / `crop_camera`, so scale, in-plane rotation, translation and
   the horizontal flip are camera edits followed by one reprojection (a flipped crop needs its
   joints relabelled with `posebook.skeleton.MIRROR`). Defaults: zoom factor U(0.75, 1.25),
   roll U(-20, 20) degrees, shift U(-0.1, 0.1) of the crop side on each axis, flip with p = 0.5.
2. **Occlusion** (`occlude`): with probability `p`, paste a uniformly random number of occluders
   (1 to 8 inclusive, as in the paper) at uniformly random centres. An occluder from a bank
   (stored at reference scale, see `posebook.data.occluders`) is resized by
   ``U(0.2, 1.0) * min(H, W) / 256``: at 256 px a VOC object appears at 0.2-1.0 x half its
   original size, the range of the authors' code; other image sizes scale along.
3. **Appearance** (`appearance`): hue rotation U(-12, 12) degrees, saturation x U(0.7, 1.3),
   contrast x U(0.7, 1.3) about the mean grey, brightness +U(-0.15, 0.15) x 255, and with
   probability 0.3 a Gaussian blur of sigma U(0.3, 1.5) px (at 256 px; scaled with the side).

Test time uses none of these, except the model-side horizontal flip (`model.flip_tta`).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

REFERENCE_SIDE_PX = 256  # banks are sized for a crop of this side


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


def _paste(dst: np.ndarray, mask: np.ndarray, occluder: np.ndarray, centre_xy: np.ndarray) -> None:
    """Alpha-blend `occluder` (h, w, 4) into `dst` (H, W, 3) in place, centred at `centre_xy`."""
    h, w = occluder.shape[:2]
    H, W = dst.shape[:2]
    x0, y0 = int(round(centre_xy[0] - w / 2)), int(round(centre_xy[1] - h / 2))
    dx0, dy0, dx1, dy1 = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
    if dx1 <= dx0 or dy1 <= dy0:
        return
    src = occluder[dy0 - y0:dy1 - y0, dx0 - x0:dx1 - x0]
    alpha = src[..., 3:].astype(np.float32) * (1 / 255)
    region = dst[dy0:dy1, dx0:dx1].astype(np.float32)
    blended = region + alpha * (src[..., :3].astype(np.float32) - region)
    dst[dy0:dy1, dx0:dx1] = (blended + 0.5).astype(np.uint8)
    mask[dy0:dy1, dx0:dx1] |= src[..., 3] > 127


def occlude(image: np.ndarray, occluders, rng: np.random.Generator, p: float,
            count: tuple[int, int] = (1, 8), scale: tuple[float, float] = (0.2, 1.0)) -> Occlusion:
    """Synthetic occlusion augmentation (Sárándi et al. 2018).

    With probability `p` paste ``n ~ U{count[0], ..., count[1]}`` occluders, each chosen uniformly
    from the bank, resized by ``U(*scale) * min(H, W) / 256`` and centred at a uniform position.

    Args:
        image: (H, W, 3) uint8 RGB; never modified.
        occluders: sequence of (h, w, 4) uint8 RGBA cutouts at reference scale.
        rng: randomness. p: probability of augmenting this image, in [0, 1].
    Returns:
        `Occlusion`; when not augmented its ``image`` is the input array itself and count is 0.
    """
    _check_image(image)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not 1 <= count[0] <= count[1]:
        raise ValueError(f"count must be (low, high) with 1 <= low <= high, got {count}")
    H, W = image.shape[:2]
    if rng.random() >= p:
        return Occlusion(image, np.zeros((H, W), bool), 0)
    if len(occluders) == 0:
        raise ValueError("occluders is empty: load a bank with posebook.data.occluders.load_bank")
    n = int(rng.integers(count[0], count[1] + 1))
    out = image.copy()
    mask = np.zeros((H, W), bool)
    side_factor = min(H, W) / REFERENCE_SIDE_PX
    for _ in range(n):
        occ = occluders[int(rng.integers(len(occluders)))]
        if occ.ndim != 3 or occ.shape[2] != 4:
            raise ValueError(f"occluders must be (h, w, 4) RGBA, got shape {occ.shape}")
        factor = rng.uniform(*scale) * side_factor
        size = (max(1, round(occ.shape[1] * factor)), max(1, round(occ.shape[0] * factor)))
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(occ, size, interpolation=interp).reshape(size[1], size[0], 4)
        centre = rng.uniform((0, 0), (W, H))
        _paste(out, mask, resized, centre)
    return Occlusion(out, mask, n)


def joints_covered(mask: np.ndarray, joints_px: np.ndarray) -> np.ndarray:
    """Which joints fall on a covered pixel.

    Convention: pixel (row i, col j) has its centre at (u, v) = (j, i) (OpenCV).
    Args:
        mask: (H, W) bool covered pixels (`Occlusion.mask`). joints_px: (..., J, 2) (u, v).
    Returns:
        (..., J) bool; False for joints outside the image or non-finite.
    """
    joints_px = np.asarray(joints_px, np.float64)
    if mask.ndim != 2 or joints_px.shape[-1] != 2:
        raise ValueError(f"need mask (H, W) and joints_px (..., J, 2), got {mask.shape} and "
                         f"{joints_px.shape}")
    H, W = mask.shape
    finite = np.isfinite(joints_px).all(-1)
    uv = np.where(finite[..., None], np.floor(joints_px + 0.5), -1).astype(np.int64)
    inside = finite & (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H)
    result = np.zeros(joints_px.shape[:-1], bool)
    result[inside] = mask[uv[..., 1][inside], uv[..., 0][inside]]
    return result


def sample_geometry(rng: np.random.Generator, scale_range: tuple[float, float] = (0.75, 1.25),
                    roll_deg: float = 20.0, shift_frac: float = 0.1, flip_p: float = 0.5) -> dict:
    """Draw one geometric augmentation, as keyword arguments for `crop.perspective_crop`.

    Returns:
        dict(scale=float ~ U(*scale_range), roll_rad=float ~ U(-roll_deg, roll_deg) in radians,
        shift_frac=(dx, dy) each ~ U(-shift_frac, shift_frac), flip=bool with probability flip_p).
    """
    if not 0 < scale_range[0] <= scale_range[1]:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
    if not 0 <= flip_p <= 1:
        raise ValueError(f"flip_p must be in [0, 1], got {flip_p}")
    return {
        "scale": float(rng.uniform(*scale_range)),
        "roll_rad": float(np.radians(rng.uniform(-roll_deg, roll_deg))),
        "shift_frac": tuple(float(s) for s in rng.uniform(-shift_frac, shift_frac, 2)),
        "flip": bool(rng.random() < flip_p),
    }


def _colour_matrix(hue_rad: float, saturation: float) -> np.ndarray:
    """(3, 3) RGB matrix: saturation scaling towards luma grey, then hue rotation about grey."""
    luma = np.array([0.299, 0.587, 0.114])
    sat = saturation * np.eye(3) + (1 - saturation) * np.outer(np.ones(3), luma)
    axis = np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = (np.cos(hue_rad) * np.eye(3) + np.sin(hue_rad) * cross
           + (1 - np.cos(hue_rad)) * np.outer(axis, axis))
    return rot @ sat


def appearance(image: np.ndarray, rng: np.random.Generator, hue_deg: float = 12.0,
               saturation: tuple[float, float] = (0.7, 1.3),
               contrast: tuple[float, float] = (0.7, 1.3), brightness: float = 0.15,
               blur_p: float = 0.3, blur_sigma_px: tuple[float, float] = (0.3, 1.5)) -> np.ndarray:
    """Random colour and blur distortion (ranges in the module docstring).

    Colour is one affine RGB map (so one pass over the image): saturation scales the distance
    from the pixel's luma grey, hue rotates colours about the grey axis, contrast scales about
    the image's mean grey, brightness adds a constant; the result saturates at 0 and 255.

    Args:
        image: (H, W, 3) uint8 RGB (not modified).
    Returns:
        (H, W, 3) uint8 RGB, a new array.
    """
    _check_image(image)
    colour = _colour_matrix(np.radians(rng.uniform(-hue_deg, hue_deg)), rng.uniform(*saturation))
    gain = rng.uniform(*contrast)
    mean_grey = float(image.mean())
    offset = (1 - gain) * mean_grey + 255 * rng.uniform(-brightness, brightness)
    affine = np.concatenate([gain * colour, np.full((3, 1), offset)], 1)
    out = cv2.transform(image, affine)
    if rng.random() < blur_p:
        sigma = rng.uniform(*blur_sigma_px) * min(image.shape[:2]) / REFERENCE_SIDE_PX
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma)
    return out
