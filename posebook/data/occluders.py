"""Occluder banks: Pascal VOC cutouts when you have VOC, procedural objects otherwise.

An occluder is an RGBA uint8 array (h, w, 4) whose alpha is soft at the border. Banks are stored
at *reference scale*: sized as the object would appear in a 256 px person crop before the random
rescaling in `posebook.augment.occlude` (VOC cutouts at half their original resolution, as in the
authors' code).

The procedural bank is the **fallback** used when VOC is absent (the default outside the `paper`
profile). Its objects imitate the kinds of things VOC offers (rounded blobs and balls like
animals and pots, boxes like monitors and cabinets, bottles, chairs, potted plants) with a noise
texture, directional gradient shading and a soft edge. Their long sides are drawn log-normally
(median 90 px, clipped to 24-230 px at reference scale), roughly like VOC objects at half
resolution. `load_bank` returns the bank together with a label that every table stamps.
"""
from __future__ import annotations

import cv2
import numpy as np

from posebook.data import voc

KINDS = ("blob", "ball", "box", "bottle", "chair", "plant")
LONG_SIDE_MEDIAN_PX = 90.0
LONG_SIDE_SIGMA = 0.5
LONG_SIDE_RANGE_PX = (24, 230)


def _noise(rng: np.random.Generator, size: int, octaves: int = 3) -> np.ndarray:
    """(size, size) float32 smooth value noise in about [-1, 1]."""
    out = np.zeros((size, size), np.float32)
    for k in range(octaves):
        cells = 3 * 2 ** k
        grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
        out += cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC) / 2 ** k
    return out / 1.75


def _colour(rng: np.random.Generator, hue_range=(0, 180), sat_range=(40, 200),
            val_range=(60, 230)) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(*hue_range), rng.integers(*sat_range),
                      rng.integers(*val_range)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _poly(mask: np.ndarray, points_frac, size: int) -> None:
    pts = np.round(np.asarray(points_frac, np.float64) * (size - 1)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8)


def _parts_blob(rng, size):
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    radius = np.ones_like(theta)
    for k in (2, 3, 4):
        radius += rng.uniform(0, 0.25 / k * 2) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.5, 1.0)
    unit = np.stack([np.cos(theta), aspect * np.sin(theta)], 1)
    pts = 0.5 + 0.45 * radius[:, None] * unit / radius.max()
    mask = np.zeros((size, size), np.uint8)
    _poly(mask, pts, size)
    return [(mask, _colour(rng), True)]


def _parts_ball(rng, size):
    mask = np.zeros((size, size), np.uint8)
    axes = (int(size * 0.45), int(size * rng.uniform(0.3, 0.45)))
    cv2.ellipse(mask, (size // 2, size // 2), axes, 0, 0, 360, 1, -1)
    return [(mask, _colour(rng, sat_range=(80, 230)), True)]


def _parts_box(rng, size):
    w, h = rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9)
    depth = rng.uniform(0.05, 0.15)
    x0, y0 = 0.5 - w / 2, 0.5 - h / 2 + depth / 2
    front, top = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    _poly(front, [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)], size)
    _poly(top, [(x0, y0), (x0 + depth, y0 - depth), (x0 + w + depth, y0 - depth),
                (x0 + w + depth, y0 + h - depth), (x0 + w, y0 + h), (x0 + w, y0)], size)
    base = _colour(rng, sat_range=(0, 120))
    return [(front, base, False), (top * (1 - front), base * 0.7, False)]


def _parts_bottle(rng, size):
    body, neck = rng.uniform(0.14, 0.22), rng.uniform(0.04, 0.07)
    shoulder, top = rng.uniform(0.35, 0.5), 0.05
    ys = np.array([0.95, shoulder, shoulder - 0.12, top + 0.08, top])
    half = np.array([body, body, neck, neck, neck * 1.2])
    pts = np.concatenate([np.stack([0.5 - half, ys], 1), np.stack([0.5 + half, ys], 1)[::-1]])
    glass = np.zeros((size, size), np.uint8)
    _poly(glass, pts, size)
    label = np.zeros_like(glass)
    _poly(label, [(0.5 - body, 0.6), (0.5 + body, 0.6), (0.5 + body, 0.8), (0.5 - body, 0.8)], size)
    return [(glass * (1 - label), _colour(rng, hue_range=(30, 110)), True),
            (label, _colour(rng, sat_range=(0, 255), val_range=(150, 255)), True)]


def _parts_chair(rng, size):
    mask = np.zeros((size, size), np.uint8)
    seat_y, thick = rng.uniform(0.45, 0.6), max(2, int(size * rng.uniform(0.03, 0.06)))
    seat_bottom = seat_y + 0.08
    _poly(mask, [(0.15, seat_y), (0.85, seat_y), (0.85, seat_bottom), (0.15, seat_bottom)], size)
    _poly(mask, [(0.15, 0.05), (0.28, 0.05), (0.28, seat_y), (0.15, seat_y)], size)  # backrest
    for x_top, x_bottom in ((0.18, 0.12), (0.82, 0.88), (0.32, 0.3), (0.68, 0.72)):
        p0 = (int(x_top * size), int((seat_y + 0.08) * size))
        cv2.line(mask, p0, (int(x_bottom * size), int(0.95 * size)), 1, thick)
    wood = _colour(rng, hue_range=(5, 25), sat_range=(60, 200), val_range=(50, 180))
    return [(mask, wood, False)]


def _parts_plant(rng, size):
    pot = np.zeros((size, size), np.uint8)
    _poly(pot, [(0.33, 0.65), (0.67, 0.65), (0.6, 0.95), (0.4, 0.95)], size)
    leaves = np.zeros_like(pot)
    for _ in range(rng.integers(5, 10)):
        angle = rng.uniform(-160, -20)
        length = rng.uniform(0.18, 0.32) * size
        cx = size * 0.5 + 0.6 * length * np.cos(np.radians(angle))
        cy = size * 0.62 + 0.6 * length * np.sin(np.radians(angle))
        cv2.ellipse(leaves, (int(cx), int(cy)), (int(length * 0.6), max(2, int(length * 0.18))),
                    angle, 0, 360, 1, -1)
    return [(leaves * (1 - pot), _colour(rng, hue_range=(35, 80), sat_range=(90, 230)), True),
            (pot, _colour(rng, hue_range=(5, 20), sat_range=(100, 200)), False)]


_SHAPES = {"blob": _parts_blob, "ball": _parts_ball, "box": _parts_box, "bottle": _parts_bottle,
           "chair": _parts_chair, "plant": _parts_plant}


def make_occluder(rng: np.random.Generator, kind: str | None = None,
                  long_side_px: int | None = None) -> np.ndarray:
    """One procedural occluder.

    Args:
        rng: randomness. kind: one of `KINDS` (None = uniform choice).
        long_side_px: target long side at reference scale (None = log-normal draw, see module).
    Returns:
        (h, w, 4) uint8 RGBA, alpha soft at the border and 0 outside the shape.
    """
    kind = kind or KINDS[rng.integers(len(KINDS))]
    if kind not in _SHAPES:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if long_side_px is None:
        long_side_px = np.exp(rng.normal(np.log(LONG_SIDE_MEDIAN_PX), LONG_SIDE_SIGMA))
    size = int(np.clip(long_side_px, *LONG_SIDE_RANGE_PX))
    size = max(size, 8)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    light = rng.uniform(0, 2 * np.pi)
    gradient = 0.75 + 0.35 * (np.cos(light) * grid[None, :] + np.sin(light) * grid[:, None] - 0.5)
    rgb = np.zeros((size, size, 3), np.float32)
    mask = np.zeros((size, size), bool)
    for part_mask, colour, rounded in _SHAPES[kind](rng, size):
        part = part_mask.astype(bool) & ~mask
        shade = gradient * (1 + 0.3 * _noise(rng, size))
        if rounded:  # brighter towards the middle of the part: a curved surface
            dist = cv2.distanceTransform(part.astype(np.uint8), cv2.DIST_L2, 3)
            shade = shade * (0.55 + 0.45 * np.sqrt(dist / max(dist.max(), 1)))
        rgb[part] = (colour[None, :] * shade[part][:, None])
        mask |= part
    rows, cols = np.nonzero(mask)
    if rows.size == 0:  # degenerate draw (cannot happen for the shapes above, but be safe)
        return make_occluder(rng, kind, long_side_px)
    crop = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    alpha = voc.soft_alpha(mask[crop], border_px=max(1.5, size / 40))
    return np.dstack([np.clip(rgb[crop], 0, 255).astype(np.uint8), alpha])


def procedural_bank(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """`n` procedural occluders, kinds cycled evenly (see `make_occluder`)."""
    if n < 1:
        raise ValueError(f"n must be >= 1 for an occluder bank, got {n}")
    return [make_occluder(rng, KINDS[i % len(KINDS)]) for i in range(n)]


# The procedural bank's random stream: drawn from [config.data_seed, BANK_STREAM], apart from
# the people (data_seed alone) and from everything `seed` draws.
BANK_STREAM = 4242


def load_bank(config) -> tuple[list[np.ndarray], str]:
    """The occluder bank a run uses, and the label that tables stamp.

    ``config.occluders == "voc"`` loads Pascal VOC from ``config.voc_root`` (an error if unset or
    unusable: never a silent fallback); ``"procedural"`` draws ``config.n_occluders_bank`` objects
    from ``config.data_seed`` (`BANK_STREAM`): the same objects wherever they are asked for (the
    training set, chapter 01's figures, the label).
    Returns:
        (bank, label) with label ``"Pascal VOC 2012 (N objects)"`` or
        ``"procedural fallback (N objects)"``.
    """
    if config.occluders == "voc":
        if not config.voc_root:
            raise ValueError("config.occluders='voc' needs config.voc_root (the VOCdevkit/VOC2012 "
                             "folder); set voc_root=... or occluders=procedural")
        bank = voc.load_occluders(config.voc_root)
        return bank, f"Pascal VOC 2012 ({len(bank)} objects)"
    if config.occluders == "procedural":
        bank = procedural_bank(np.random.default_rng([config.data_seed, BANK_STREAM]),
                               config.n_occluders_bank)
        return bank, f"procedural fallback ({len(bank)} objects)"
    raise ValueError(f"config.occluders must be 'voc' or 'procedural', got {config.occluders!r}")


def bank_stats(bank: list[np.ndarray]) -> dict:
    """Sizes of a bank at reference scale: n, median/min/max long side (px), mean covered area."""
    long_sides = np.array([max(o.shape[:2]) for o in bank])
    areas = np.array([(o[..., 3] > 127).sum() for o in bank])
    return {"n": len(bank), "median_long_side_px": float(np.median(long_sides)),
            "min_long_side_px": int(long_sides.min()), "max_long_side_px": int(long_sides.max()),
            "mean_area_px": float(areas.mean())}


def joint_coverage(bank: list[np.ndarray], rng: np.random.Generator, frame_px: int,
                   ps=(0, 0.15, 0.5, 0.85, 1.0), n_frames: int = 64, n_draws: int = 20,
                   count=(1, 8), side_px: int = 256) -> dict[float, float]:
    """The fraction of joints that land on a covered pixel when `augment.occlude` pastes
    occluders of `bank` with probability p: over `n_frames` synthetic frames cropped to
    `side_px` (`crop.perspective_crop`) and `n_draws` draws each, for every p in `ps`, with
    `count` = (fewest, most) occluders per augmented image. Returns {p: fraction}."""
    from posebook import augment, crop
    from posebook.data import synthetic

    samples = []
    for _ in range(n_frames):
        frame = synthetic.make_frame(rng, frame_px)
        image, cam = crop.perspective_crop(frame.image, frame.camera, frame.box_xywh_px,
                                           out_side=side_px)
        samples.append((image, cam.world_to_image(frame.joints_world_mm)))
    coverage = {}
    for p in ps:
        covered = [augment.joints_covered(augment.occlude(image, bank, rng, p, count).mask, uv)
                   for image, uv in samples for _ in range(n_draws)]
        coverage[p] = float(np.mean(covered))
    return coverage
