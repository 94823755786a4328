"""`draw(rng, ...) -> Plan`: every random choice of one training sample, drawn once, as a value.

A `Plan` holds the crop camera's jitter (`Geometry`: zoom, roll, shift, flip), the occluder
pastes (`Paste`: bank index, size, position) and the appearance change (`Look`: colour and
blur). `draw` is the only code that touches a sample's rng; the CPU renderer
(`posebook.augment.cpu`, OpenCV) and the GPU renderer (`posebook.augment.gpu`, batched torch)
only render a Plan, and the labels (joints in the crop camera, covered joints) are computed from
the Plan once (`crop_joints`, `covered_joints`), whichever renderer makes the pixels.

Ranges (defaults; the paper's where it gives them):

- geometry: zoom factor U(0.75, 1.25), roll U(-20, 20) degrees, shift U(-0.1, 0.1) of the crop
  side on each axis, horizontal flip with p = 0.5;
- occlusion: with probability `p`, a uniformly random number of occluders, 1 to `count_max`
  inclusive (paper text: 1-8; the authors' code: 1-7), each a uniformly chosen bank object
  resized by ``U(0.2, 1.0) * min(H, W) / 256`` (banks are stored for 256 px crops) and centred
  at a uniform position;
- appearance: hue rotation U(-12, 12) degrees, saturation and contrast x U(0.7, 1.3),
  brightness +U(-0.15, 0.15) x 255, and with probability 0.3 a Gaussian blur of sigma
  U(0.3, 1.5) px at 256 px (scaled with the side).

Draw order (fixed, so a seeded run's items never change): geometry, then occlusion, then
appearance, each stage skipped entirely (no draws) when it is off.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import crop, skeleton

REFERENCE_SIDE_PX = 256  # banks are sized for a crop of this side
OCCLUDER_SCALE = (0.2, 1.0)


@dataclass(frozen=True)
class Geometry:
    """Crop camera jitter, keyword arguments of `crop.crop_camera` (identity by default)."""

    scale: float = 1.0
    roll_rad: float = 0.0
    shift_frac: tuple[float, float] = (0.0, 0.0)
    flip: bool = False

    def kwargs(self) -> dict:
        return dict(scale=self.scale, roll_rad=self.roll_rad, shift_frac=self.shift_frac,
                    flip=self.flip)


@dataclass(frozen=True)
class Paste:
    """One occluder paste: bank index, resize factor and the integer rectangle it covers."""

    bank_index: int
    factor: float
    x0: int
    y0: int
    w: int
    h: int


@dataclass(frozen=True)
class Look:
    """Appearance: hue shift (deg), saturation and contrast factors, brightness (fraction of
    255), blur sigma in pixels at the image size (0 = no blur)."""

    hue_deg: float
    saturation: float
    contrast: float
    brightness: float
    blur_sigma_px: float


@dataclass(frozen=True)
class Plan:
    """Everything random about one sample (see the module docstring); `side_px` is the crop's
    side, `look` None when appearance augmentation is off."""

    side_px: int
    geometry: Geometry = Geometry()
    pastes: tuple[Paste, ...] = ()
    look: Look | None = None

    def crop_camera(self, camera, box_xywh_px, fill: float = 0.9):
        """The crop camera for a frame's (undistorted or not) `camera` and person box."""
        return crop.crop_camera(camera, box_xywh_px, out_side=self.side_px, fill=fill,
                                **self.geometry.kwargs())

    def crop_joints(self, crop_camera, joints_world_mm):
        """(joints_cam_mm (J, 3), joints_px (J, 2)) in the crop camera; a flipped crop relabels
        left and right (`skeleton.MIRROR`)."""
        joints_cam_mm = crop_camera.world_to_camera(joints_world_mm)
        if self.geometry.flip:
            joints_cam_mm = joints_cam_mm[..., skeleton.MIRROR, :]
        return joints_cam_mm, crop_camera.camera_to_image(joints_cam_mm)


def draw_geometry(rng: np.random.Generator, scale_range: tuple[float, float] = (0.75, 1.25),
                  roll_deg: float = 20.0, shift_frac: float = 0.1,
                  flip_p: float = 0.5) -> Geometry:
    """One geometric jitter: zoom ~ U(*scale_range), roll ~ U(+-roll_deg) (stored in radians),
    shift (dx, dy) each ~ U(+-shift_frac), flip with probability flip_p."""
    if not 0 < scale_range[0] <= scale_range[1]:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
    if not 0 <= flip_p <= 1:
        raise ValueError(f"flip_p must be in [0, 1], got {flip_p}")
    return Geometry(float(rng.uniform(*scale_range)),
                    float(np.radians(rng.uniform(-roll_deg, roll_deg))),
                    tuple(float(s) for s in rng.uniform(-shift_frac, shift_frac, 2)),
                    bool(rng.random() < flip_p))


def draw_pastes(rng: np.random.Generator, bank_shapes, image_hw, p: float,
                count: tuple[int, int] = (1, 8),
                scale: tuple[float, float] = OCCLUDER_SCALE) -> tuple[Paste, ...]:
    """The occluder pastes of one image (empty when it is not occluded, probability 1 - p).

    Args:
        bank_shapes: sequence of (h, w[, 4]) occluder shapes. image_hw: (H, W) of the image.
        count: (low, high) pastes, inclusive.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not 1 <= count[0] <= count[1]:
        raise ValueError(f"count must be (low, high) with 1 <= low <= high, got {count}")
    H, W = image_hw
    if rng.random() >= p:
        return ()
    if len(bank_shapes) == 0:
        raise ValueError("occluders is empty: load a bank with posebook.data.occluders.load_bank")
    n = int(rng.integers(count[0], count[1] + 1))
    side_factor = min(H, W) / REFERENCE_SIDE_PX
    pastes = []
    for _ in range(n):
        i = int(rng.integers(len(bank_shapes)))
        oh, ow = bank_shapes[i][:2]
        factor = rng.uniform(*scale) * side_factor
        w, h = max(1, round(ow * factor)), max(1, round(oh * factor))
        cx, cy = rng.uniform((0, 0), (W, H))
        pastes.append(Paste(i, float(factor), int(round(cx - w / 2)), int(round(cy - h / 2)),
                            w, h))
    return tuple(pastes)


def draw_look(rng: np.random.Generator, image_hw, hue_deg: float = 12.0,
              saturation=(0.7, 1.3), contrast=(0.7, 1.3), brightness: float = 0.15,
              blur_p: float = 0.3, blur_sigma_px=(0.3, 1.5)) -> Look:
    """One appearance change (ranges in the module docstring)."""
    hue = rng.uniform(-hue_deg, hue_deg)
    sat = rng.uniform(*saturation)
    con = rng.uniform(*contrast)
    bri = rng.uniform(-brightness, brightness)
    sigma = 0.0
    if rng.random() < blur_p:
        sigma = rng.uniform(*blur_sigma_px) * min(image_hw) / REFERENCE_SIDE_PX
    return Look(float(hue), float(sat), float(con), float(bri), float(sigma))


def draw(rng: np.random.Generator, side_px: int, bank_shapes=(), occlusion_p: float = 0.0,
         geometry: bool = True, appearance: bool = True, count_max: int = 8) -> Plan:
    """Every random choice of one sample, in the fixed order geometry, occlusion, appearance.

    Args:
        rng: the sample's generator (the only one it uses). side_px: crop side S.
        bank_shapes: (h, w[, 4]) shapes of the occluder bank (needed when occlusion_p > 0).
        occlusion_p: probability of pasting occluders; 0 draws nothing for occlusion.
        geometry / appearance: draw that stage (False: identity, nothing drawn).
        count_max: most occluders in one image (drawn from 1..count_max).
    """
    if not isinstance(count_max, (int, np.integer)) or count_max < 1:
        raise ValueError(f"occluder count_max must be an int >= 1, got {count_max!r}")
    geo = draw_geometry(rng) if geometry else Geometry()
    pastes = draw_pastes(rng, bank_shapes, (side_px, side_px), occlusion_p,
                         count=(1, int(count_max))) if occlusion_p > 0 else ()
    look = draw_look(rng, (side_px, side_px)) if appearance else None
    return Plan(int(side_px), geo, pastes, look)


def resized_occluder(occluder: np.ndarray, paste: Paste) -> np.ndarray:
    """(h, w, C) the occluder at its pasted size (area averaging when shrinking, else bilinear)."""
    interp = cv2.INTER_AREA if paste.factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(occluder, (paste.w, paste.h), interpolation=interp).reshape(
        paste.h, paste.w, occluder.shape[2])


def joint_pixels(joints_px, image_hw):
    """Each joint's nearest pixel: (u, v) int64 arrays (..., J) and `inside` (..., J) bool
    (False outside the image or non-finite).

    Convention: pixel (row i, col j) has its centre at (u, v) = (j, i) (OpenCV).
    """
    joints_px = np.asarray(joints_px, np.float64)
    H, W = image_hw
    finite = np.isfinite(joints_px).all(-1)
    uv = np.where(finite[..., None], np.floor(joints_px + 0.5), -1).astype(np.int64)
    u, v = uv[..., 0], uv[..., 1]
    return u, v, finite & (u >= 0) & (u < W) & (v >= 0) & (v < H)


def covered_joints(pastes, occluders, joints_px, image_hw) -> np.ndarray:
    """Which joints fall on a pixel an occluder covers (alpha > 127 of the resized occluder),
    computed from a Plan's pastes without rendering the image.

    Args:
        pastes: a Plan's pastes. occluders: the bank, (h, w, 4) uint8 RGBA each.
        joints_px: (J, 2) (u, v). image_hw: (H, W).
    Returns:
        (J,) bool; False for joints outside the image or non-finite.
    """
    u, v, inside = joint_pixels(joints_px, image_hw)
    covered = np.zeros(inside.shape, bool)
    for paste in pastes:
        hit = inside & (u >= paste.x0) & (u < paste.x0 + paste.w) & (v >= paste.y0) & \
            (v < paste.y0 + paste.h) & ~covered
        if hit.any():
            alpha = resized_occluder(occluders[paste.bank_index], paste)[..., 3]
            covered[hit] = alpha[v[hit] - paste.y0, u[hit] - paste.x0] > 127
    return covered
