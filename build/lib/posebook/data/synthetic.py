"""Synthetic people in rooms, seen by real pinhole cameras, with exact 3D ground truth.

A frame is: a person (`posebook.data.poses`: per-person proportions from anthropometric ratios,
joint angles in a posture family, any yaw, mild tilt) standing on the ground plane z = 0, a camera
2.5-8 m away at roughly human height (0.8-2.1 m) with a Human3.6M-like focal length (about
1150 px on a 1000 px frame, log-normal spread, scaled with `frame_px`), aimed so that the person
lands anywhere in the frame (not always centred) and fits into it, and an image drawn by
`posebook.data.render`. The person box comes from the rendered silhouette.

Convention: world mm with z up; `Camera` as in `posebook.camera` (x right, y down, z forward,
`X_cam = R (X_world - t)`, t = optical centre in the world).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import skeleton
from ..camera import Camera
from . import poses, render

FAMILIES = poses.FAMILIES
H36M_FOCAL_PX_PER_1000 = 1150.0      # Human3.6M: f ~ 1145-1150 px on 1000 x 1002 px frames
DISTANCE_RANGE_MM = (2500.0, 8000.0)
CAMERA_HEIGHT_RANGE_MM = (800.0, 2100.0)
MIN_FRAME_PX = 32


@dataclass
class Frame:
    """One rendered frame.

    image: (H, W, 3) uint8 RGB; camera: Camera; joints_world_mm: (17, 3); box_xywh_px: (4,)
    silhouette box; family: posture family name; family_id: its index in `FAMILIES`;
    self_visible: (17,) bool, joint pixel shows the body part the joint belongs to (not hidden by
    the person's own body); mask: (H, W) bool body silhouette.
    """

    image: np.ndarray
    camera: Camera
    joints_world_mm: np.ndarray
    box_xywh_px: np.ndarray
    family: str
    family_id: int
    self_visible: np.ndarray
    mask: np.ndarray


def look_at(eye_mm: np.ndarray, target_mm: np.ndarray, roll_rad: float) -> np.ndarray:
    """World->camera rotation (rows = camera x, y, z axes) looking from eye to target, z up."""
    z = target_mm - eye_mm
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    x, y = c * x + s * y, -s * x + c * y
    return np.stack([x, y, z])


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a to unit vector b (Rodrigues)."""
    v, c = np.cross(a, b), float(a @ b)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def sample_camera(rng: np.random.Generator, points_world_mm: np.ndarray, frame_px: int) -> Camera:
    """A camera that sees all `points_world_mm` (N, 3) inside a `frame_px` square frame.

    Distance 2.5-8 m from the pelvis (points[0]), height 0.8-2.1 m, focal length
    1150 * frame_px / 1000 px times a log-normal factor (sd 0.25), reduced if the person would
    not fit; the person is placed at a random position in the frame.
    """
    pelvis = points_world_mm[0]
    dist = rng.uniform(*DISTANCE_RANGE_MM)
    azimuth = rng.uniform(0, 2 * np.pi)
    eye = pelvis + np.array([dist * np.cos(azimuth), dist * np.sin(azimuth), 0.0])
    eye[2] = rng.uniform(*CAMERA_HEIGHT_RANGE_MM)
    rot = look_at(eye, pelvis, np.deg2rad(rng.normal(0, 2.0)))
    focal = H36M_FOCAL_PX_PER_1000 * frame_px / 1000 * float(np.exp(rng.normal(0, 0.25)))
    cam_pts = (points_world_mm - eye) @ rot.T
    xy = cam_pts[:, :2] / cam_pts[:, 2:]                      # normalised image coords
    extent = (xy.max(0) - xy.min(0)).max()
    focal = min(focal, 0.85 * frame_px / extent)               # the person must fit
    centre = (frame_px - 1) / 2 + rng.normal(0, 0.01 * frame_px, 2)
    K = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1.0]])
    # Place the body box anywhere inside the frame (5 px margin), by turning the camera.
    lo, hi = xy.min(0) * focal + centre, xy.max(0) * focal + centre
    margin = 5.0
    shift = np.array([rng.uniform(margin - lo[i], frame_px - margin - hi[i])
                      if frame_px - margin - hi[i] > margin - lo[i] else 0.0 for i in (0, 1)])
    target_px = centre + shift
    want = np.array([(target_px[0] - centre[0]) / focal, (target_px[1] - centre[1]) / focal, 1.0])
    turn = _rotation_between(want / np.linalg.norm(want), np.array([0.0, 0.0, 1.0]))
    return Camera(K, turn.T @ rot, eye)


def make_frame(rng: np.random.Generator, frame_px: int = 512, family: str | None = None) -> Frame:
    """Draw a person, a camera and a room, and render them. See the module docstring."""
    if not isinstance(frame_px, (int, np.integer)) or frame_px < MIN_FRAME_PX:
        raise ValueError(f"frame_px must be an int >= {MIN_FRAME_PX}, got {frame_px!r}")
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES} or None, got {family!r}")
    body, family, joints, extra = poses.sample_pose(rng, family)
    outline = np.concatenate([joints, extra["toe"], extra["hand"], extra["head_centre"][None]
                              + np.array([[0, 0, 0.07 * body.stature_mm]])])
    camera = sample_camera(rng, outline, int(frame_px))
    K, R, t = camera.K, camera.R, camera.t
    image = render.background(rng, K, R, t, int(frame_px))
    render.drop_shadow(image, K, R, t, joints[0], 0.25 * body.stature_mm, rng.uniform(0.2, 0.5))
    look, light = render.sample_look(rng), render.sample_light(rng)
    labels, self_visible = render.render_person(image, K, R, t, joints, extra, body.stature_mm,
                                                body.build, look, light)
    mask = labels > 0
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    return Frame(image=image, camera=camera, joints_world_mm=joints,
                 box_xywh_px=np.array([x, y, w, h], float), family=family,
                 family_id=FAMILIES.index(family), self_visible=self_visible, mask=mask)


class SyntheticFrames:
    """A frame source: `len(src)` frames, `src.frame(i)` deterministic in (seed, i).

    Frame i is drawn from `np.random.default_rng([seed, i])`; every call renders it afresh.
    """

    def __init__(self, seed: int, n: int, frame_px: int = 512):
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not isinstance(frame_px, (int, np.integer)) or frame_px < MIN_FRAME_PX:
            raise ValueError(f"frame_px must be an int >= {MIN_FRAME_PX}, got {frame_px!r}")
        self.seed, self.n, self.frame_px = int(seed), int(n), int(frame_px)

    def __len__(self) -> int:
        return self.n

    def frame(self, i: int) -> Frame:
        if not 0 <= int(i) < self.n:
            raise IndexError(f"frame index {i} out of range for {self.n} frames")
        return make_frame(np.random.default_rng([self.seed, int(i)]), self.frame_px)

    def __repr__(self) -> str:
        return f"SyntheticFrames(seed={self.seed}, n={self.n}, frame_px={self.frame_px})"


def joints_px(frame: Frame) -> np.ndarray:
    """(17, 2) projected joints of a frame, px."""
    return frame.camera.world_to_image(frame.joints_world_mm)


__all__ = ["FAMILIES", "Frame", "make_frame", "SyntheticFrames", "sample_camera", "look_at",
           "joints_px", "skeleton"]
