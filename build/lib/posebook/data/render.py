"""A fast software renderer for the synthetic people: shaded tapered capsules, a torso, a head
with a face, shoes with toes, over a procedural room (tiled floor seen in perspective, walls).

Depth ordering is the painter's algorithm: body parts are sorted by their mean camera depth and
drawn far to near with OpenCV (sub-pixel, anti-aliased). A label image drawn alongside (part id
per pixel) gives the body mask and which joints the body itself hides.

Left and right are told apart the way they are in photos, from front/back cues only: a face
(skin, eyes, nose) on the front of the head and hair on the back, shoes that point forward, and a
shirt whose front (neckline, chest print) differs from its back. Colours are per body-part group
(shirt, trousers, shoes, skin, hair) and never per side.

Convention: world mm (z up), camera x right / y down / z forward, `X_cam = R (X_world - t)`.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

_SHIFT = 4                        # OpenCV fixed-point bits for sub-pixel drawing
_ONE = 1 << _SHIFT
_LAYERS = ((1.0, 0.55, 0.0), (0.72, 0.8, 0.18), (0.38, 1.0, 0.32))  # radius, brightness, offset
_TORSO_LAYERS = ((1.0, 0.62, 0.0), (0.8, 0.8, 0.12), (0.5, 0.95, 0.2))


def sample_look(rng: np.random.Generator) -> dict:
    """Clothing and skin colours (RGB 0..255 float) for one person, plus sleeve/leg lengths."""
    skin = np.array([[255, 219, 180], [234, 192, 134], [198, 134, 66], [141, 85, 36],
                     [90, 56, 37]], float)[rng.integers(5)] * rng.uniform(0.9, 1.08)

    def cloth():
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(20, 230), rng.integers(40, 240)]]])
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(float)

    top, bottom = cloth(), cloth()
    return dict(skin=skin.clip(0, 255), hair=np.array([30, 20, 10.0]) * rng.uniform(0.6, 4.5),
                top=top, bottom=bottom, shoes=cloth() * 0.6, print=255 - top,
                long_sleeves=bool(rng.random() < 0.6), long_legs=bool(rng.random() < 0.75))


def sample_light(rng: np.random.Generator) -> dict:
    """Light direction (camera frame, from above), intensity and a colour tint."""
    direction = np.array([rng.uniform(-1, 1), rng.uniform(-1.0, -0.2), rng.uniform(-0.8, 0.3)])
    return dict(direction=direction / np.linalg.norm(direction),
                intensity=float(rng.uniform(0.75, 1.2)), tint=rng.uniform(0.88, 1.12, size=3))


def _project(K, points_cam):
    return (points_cam[..., :2] / points_cam[..., 2:]) * K[[0, 1], [0, 1]] + K[:2, 2]


def _fx(K):
    return float(K[0, 0])


def background(rng: np.random.Generator, K, R, t, size_px: int) -> np.ndarray:
    """A room: a perspective-correct floor (checker tiles, planks or plain) below the horizon,
    walls with gradients, low-frequency noise and random shapes above it. (S, S, 3) uint8."""
    low = max(size_px // 4, 8)
    centres = ((np.arange(low) + 0.5) * size_px / low - 0.5).astype(np.float32)
    # A pixel's ray in the world is affine in (u, v): R^T K^-1 (u, v, 1).
    A = (R.T @ np.linalg.inv(K)).astype(np.float32)              # columns: d/du, d/dv, const
    u, v = centres[None, :], centres[:, None]
    rays_world = [A[i, 0] * u + A[i, 1] * v + A[i, 2] for i in range(3)]
    down = rays_world[2] < -1e-6
    dist = np.where(down, np.float32(-t[2]) / np.minimum(rays_world[2], np.float32(-1e-6)),
                    np.float32(1e9))
    px = np.float32(t[0]) + dist * rays_world[0]
    py = np.float32(t[1]) + dist * rays_world[1]
    c1, c2 = rng.uniform(40, 230, size=(2, 3)).astype(np.float32)
    kind = rng.integers(3)
    tile = np.float32(rng.uniform(300, 1000))
    if kind == 0:
        pattern = ((np.floor(px / tile) + np.floor(py / tile)) % 2)[..., None]
    elif kind == 1:
        pattern = (0.5 + 0.5 * np.sin(px / tile * 6.0 + 3 * np.sin(py / 2000.0)))[..., None]
    else:
        pattern = np.full(px.shape + (1,), 0.3, np.float32)
    fog = np.minimum(dist / np.float32(rng.uniform(9000, 25000)), 1)[..., None]
    contrast = np.float32(rng.uniform(0.2, 0.8))
    mean = c1 + (c2 - c1) * contrast * np.float32(0.5 if kind < 2 else 0.3)
    floor = (c1 + (c2 - c1) * (pattern * contrast)) * (1 - fog) + mean * fog
    w1, w2 = rng.uniform(30, 240, size=(2, 3)).astype(np.float32)
    g = np.linspace(0, 1, low, dtype=np.float32)
    g = g[:, None, None] if rng.random() < 0.5 else g[None, :, None]
    noise = cv2.resize(rng.normal(0, 1, (6, 6, 3)).astype(np.float32), (low, low))
    wall = w1 + (w2 - w1) * g + noise * np.float32(rng.uniform(5, 30))
    image_low = np.where(down[..., None], floor, wall).clip(0, 255).astype(np.uint8)
    image = cv2.resize(image_low, (size_px, size_px), interpolation=cv2.INTER_LINEAR)
    for _ in range(rng.integers(2, 7)):                           # shapes on the walls
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x, y = rng.uniform(0, size_px, 2)
        w, h = rng.uniform(0.03, 0.3, 2) * size_px
        # Ray z-component A[2] . (u, v, 1) < 0 is the floor: keep the shape above the horizon.
        horizon_y = -(A[2, 0] * (x + w / 2) + A[2, 2]) / A[2, 1] if A[2, 1] < 0 else size_px
        h = min(h, horizon_y - y - 2)
        if h < 2:
            continue
        if rng.random() < 0.6:
            cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), colour, -1)
        else:
            r = int(min(w, h) / 2)
            cv2.circle(image, (int(x + r), int(y + r)), r, colour, -1, cv2.LINE_AA)
    return image


class _Canvas:
    """Draws shaded primitives into an RGB image and their ids into a label image."""

    def __init__(self, image, labels, K, light):
        self.image, self.labels, self.K = image, labels, K
        ld = light["direction"]
        l2 = np.array([ld[0], ld[1]])
        self.light2d = l2 / (np.linalg.norm(l2) + 1e-9)
        self.gain = light["intensity"] * light["tint"]

    def _pts(self, p):
        return np.round(np.asarray(p) * _ONE).astype(np.int32)

    def _colour(self, rgb, level):
        return tuple(min(float(c), 255.0) for c in rgb * level * self.gain)

    def _tapered(self, img, c0, c1, r0, r1, colour, aa):
        axis = c1 - c0
        n = math.hypot(axis[0], axis[1])
        for c, r in ((c0, r0), (c1, r1)):
            cv2.circle(img, tuple(self._pts(c)), max(int(r * _ONE), 1), colour, -1, aa, _SHIFT)
        if n > 1e-3:
            perp = np.array([-axis[1], axis[0]]) / n
            quad = np.array([c0 + perp * r0, c1 + perp * r1, c1 - perp * r1, c0 - perp * r0])
            cv2.fillConvexPoly(img, self._pts(quad), colour, aa, _SHIFT)

    def capsule(self, label, c0, c1, r0, r1, rgb):
        """Tapered capsule between pixel points c0, c1 with pixel radii r0, r1."""
        self._tapered(self.labels, c0, c1, r0, r1, label, cv2.LINE_8)
        axis = c1 - c0
        n = np.linalg.norm(axis)
        side = self.light2d - (self.light2d @ axis) * axis / (n * n) if n > 1e-3 else self.light2d
        for size, level, shift in _LAYERS:
            off = side * shift * max(r0, r1)
            self._tapered(self.image, c0 + off, c1 + off, r0 * size, r1 * size,
                          self._colour(rgb, level), cv2.LINE_AA)

    def polygon(self, label, points, rgb):
        """Filled shaded polygon (torso): shrunk, light-shifted copies make the highlight."""
        cv2.fillPoly(self.labels, [self._pts(points)], label, cv2.LINE_8, _SHIFT)
        centre = points.mean(0)
        extent = np.abs(points - centre).max()
        for size, level, shift in _TORSO_LAYERS:
            p = centre + (points - centre) * size + self.light2d * shift * extent * 0.5
            cv2.fillPoly(self.image, [self._pts(p)], self._colour(rgb, level), cv2.LINE_AA,
                         _SHIFT)

    def ellipse(self, label, centre, axes, angle_deg, rgb, shade=True):
        ax = (max(int(axes[0] * _ONE), 1), max(int(axes[1] * _ONE), 1))
        if label is not None:
            cv2.ellipse(self.labels, tuple(self._pts(centre)), ax, angle_deg, 0, 360, label, -1,
                        cv2.LINE_8, _SHIFT)
        for size, level, shift in (_LAYERS if shade else ((1.0, 0.9, 0.0),)):
            c = centre + self.light2d * shift * max(axes)
            a = (max(int(ax[0] * size), 1), max(int(ax[1] * size), 1))
            cv2.ellipse(self.image, tuple(self._pts(c)), a, angle_deg, 0, 360,
                        self._colour(rgb, level), -1, cv2.LINE_AA, _SHIFT)


# Capsule limbs: (name, start joint/point, end joint/point, radius ratios of stature, colour
# key, joints the part owns for self-visibility). Extra points: "toe_l/r", "hand_l/r".
_LIMBS = (
    ("thigh_l", 4, 5, 0.064, 0.043, "bottom", (4, 5)), ("thigh_r", 1, 2, 0.064, 0.043, "bottom", (1, 2)),
    ("shank_l", 5, 6, 0.042, 0.030, "legs", (5, 6)), ("shank_r", 2, 3, 0.042, 0.030, "legs", (2, 3)),
    ("foot_l", 6, "toe_l", 0.030, 0.024, "shoes", (6,)), ("foot_r", 3, "toe_r", 0.030, 0.024, "shoes", (3,)),
    ("upper_l", 11, 12, 0.038, 0.030, "top", (11, 12)), ("upper_r", 14, 15, 0.038, 0.030, "top", (14, 15)),
    ("fore_l", 12, 13, 0.029, 0.021, "sleeves", (12, 13)), ("fore_r", 15, 16, 0.029, 0.021, "sleeves", (15, 16)),
    ("hand_l", 13, "hand_l", 0.021, 0.017, "skin", (13,)), ("hand_r", 16, "hand_r", 0.021, 0.017, "skin", (16,)),
    ("hips", 1, 4, 0.068, 0.068, "bottom", (0, 1, 4)),
)
_TORSO_OWNS = (0, 7, 8, 11, 14)
_HEAD_OWNS = (9, 10)


def render_person(image: np.ndarray, K, R, t, joints_world_mm, extra: dict, stature_mm: float,
                  build: float, look: dict, light: dict):
    """Draw one person into `image` (H, W, 3) uint8, in place.

    Returns (labels (H, W) uint8 part ids, 0 = background; self_visible (17,) bool).
    """
    K, R, t = (np.asarray(a, float) for a in (K, R, t))
    H = stature_mm
    labels = np.zeros(image.shape[:2], np.uint8)
    canvas = _Canvas(image, labels, K, light)
    points = {i: p for i, p in enumerate(joints_world_mm)}
    points.update(toe_l=extra["toe"][0], toe_r=extra["toe"][1], hand_l=extra["hand"][0],
                  hand_r=extra["hand"][1], head=extra["head_centre"])
    cam = {k: R @ (p - t) for k, p in points.items()}
    px = {k: _project(K, p) for k, p in cam.items()}
    f = _fx(K)
    colours = dict(look, legs=look["bottom"] if look["long_legs"] else look["skin"],
                   sleeves=look["top"] if look["long_sleeves"] else look["skin"])
    parts = []                                   # (depth, label, draw closure, owned joints)
    for name, a, b, ra, rb, key, owns in _LIMBS:
        r0, r1 = ra * H * build * f / cam[a][2], rb * H * build * f / cam[b][2]
        parts.append(((cam[a][2] + cam[b][2]) / 2, owns,
                      lambda lab, a=a, b=b, r0=r0, r1=r1, key=key:
                      canvas.capsule(lab, px[a], px[b], r0, r1, colours[key])))
    # Torso: shoulders and hips pushed outwards to the body outline, waist in between.
    rc = extra["R_chest"]
    right, fwd, up = rc[:, 0], rc[:, 1], rc[:, 2]         # the person's own axes (data.poses)
    sw, hw = 0.035 * H * build, 0.035 * H * build
    outline_w = [points[14] + right * sw + up * 0.01 * H, points[11] - right * sw + up * 0.01 * H,
                 points[7] - right * (0.075 * H * build), points[4] - right * hw,
                 points[1] + right * hw, points[7] + right * (0.075 * H * build)]
    outline = np.array([_project(K, R @ (p - t)) for p in outline_w])
    torso_depth = np.mean([cam[i][2] for i in (0, 7, 8, 11, 14)])
    front_cam = R @ fwd
    facing = -front_cam[2] / np.linalg.norm(front_cam)

    def draw_torso(lab):
        canvas.polygon(lab, outline, look["top"])
        if facing > 0.05:                         # shirt front: neckline and a chest print
            neck = [points[8] + right * 0.035 * H + fwd * 0.04 * H,
                    points[8] - right * 0.035 * H + fwd * 0.04 * H,
                    points[8] - up * 0.06 * H + fwd * 0.06 * H]
            canvas.polygon(0, np.array([_project(K, R @ (p - t)) for p in neck]), look["skin"])
            chest = points[8] - up * 0.12 * H + fwd * 0.07 * H * build
            c = _project(K, R @ (chest - t))
            rad = 0.03 * H * f / cam[8][2]
            canvas.ellipse(None, c, (rad * (0.3 + 0.7 * facing), rad), _angle(px[7], px[8]),
                           look["print"], shade=False)
    parts.append((torso_depth, _TORSO_OWNS, draw_torso))
    # Neck and head: hair all round, a face (skin, eyes, nose) on the front.
    rh = extra["R_head"]
    chin = points["head"] - rh[:, 2] * 0.05 * H
    chin_px, chin_z = _project(K, R @ (chin - t)), (R @ (chin - t))[2]
    parts.append(((cam[8][2] + chin_z) / 2, (8, 9), lambda lab: canvas.capsule(
        lab, px[8], chin_px, 0.024 * H * f / cam[8][2], 0.022 * H * f / chin_z, look["skin"])))

    def draw_head(lab):
        r = 0.062 * H * f / cam["head"][2]
        angle = _angle(chin_px, px[10])
        canvas.ellipse(lab, px["head"], (0.82 * r, 1.0 * r), angle, look["hair"])
        face_dir = R @ rh[:, 1]
        face = -face_dir[2]
        if face > -0.25:
            off = face_dir[:2] * 0.42 * r
            canvas.ellipse(None, px["head"] + off + np.array([0, 0.1 * r]),
                           (0.62 * r * (0.35 + 0.65 * max(face, 0)), 0.78 * r),
                           angle, look["skin"], shade=False)
        if face > 0.2:
            for side in (-1, 1):
                eye = points["head"] + rh @ np.array([side * 0.018 * H, 0.055 * H, 0.005 * H])
                canvas.ellipse(None, _project(K, R @ (eye - t)), (0.09 * r, 0.09 * r), 0,
                               np.array([25.0, 20, 20]), shade=False)
            canvas.ellipse(None, px[9] + face_dir[:2] * 0.1 * r, (0.1 * r, 0.14 * r), angle,
                           look["skin"] * 0.8, shade=False)
    parts.append((cam["head"][2], _HEAD_OWNS, draw_head))
    order = np.argsort([-p[0] for p in parts], kind="stable")
    owner_of = {}
    for label, k in enumerate(order, start=1):
        parts[k][2](label)
        owner_of[label] = parts[k][1]
    joints_px = _project(K, np.array([cam[i] for i in range(17)]))
    self_visible = np.zeros(17, bool)
    h, w = labels.shape
    for j, (x, y) in enumerate(joints_px):
        xi, yi = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
        self_visible[j] = j in owner_of.get(int(labels[yi, xi]), ())
    return labels, self_visible


def _angle(p_from, p_to) -> float:
    """Image angle (deg) of the segment p_from -> p_to, minus 90 (ellipse's long axis along it)."""
    d = np.asarray(p_to) - np.asarray(p_from)
    return float(np.degrees(np.arctan2(d[1], d[0])) - 90.0)


def drop_shadow(image: np.ndarray, K, R, t, centre_world_mm, radius_mm: float,
                strength: float) -> None:
    """Darken a soft ellipse on the ground plane (z = 0) around `centre_world_mm`, in place."""
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = np.stack([centre_world_mm[0] + radius_mm * np.cos(ang),
                     centre_world_mm[1] + radius_mm * np.sin(ang), np.zeros_like(ang)], -1)
    ring_cam = (ring - t) @ R.T
    if (ring_cam[:, 2] <= 1).any():
        return
    poly = np.round(_project(K, ring_cam) * _ONE).astype(np.int32)
    x, y, w, h = cv2.boundingRect(poly >> _SHIFT)
    k = int(max(w, h) * 0.12) + 1
    hh, ww = image.shape[:2]
    x0, y0, x1, y1 = max(x - 2 * k, 0), max(y - 2 * k, 0), min(x + w + 2 * k, ww), min(y + h + 2 * k, hh)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [poly - np.array([x0, y0]) * _ONE], 255, cv2.LINE_AA, _SHIFT)
    mask = cv2.blur(cv2.blur(mask, (k, k)), (k, k))
    region = image[y0:y1, x0:x1].astype(np.float32)
    region *= 1 - strength * mask[..., None] / 255.0
    image[y0:y1, x0:x1] = region.astype(np.uint8)
