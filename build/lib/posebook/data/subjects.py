"""Synthetic people in a Human3.6M-shaped protocol: few fixed subjects, one lab, four cameras.

The paper's error on Human3.6M is a generalisation gap: a network trained on five people (S1,
S5-S8), seen by four fixed cameras in one room, is tested on two others (S9, S11) in the same
room. `SubjectFrames` draws that regime from `poses` and `render`:

- **Subjects** (`SUBJECTS`, named as Human3.6M's): each has one body (`poses.sample_body`:
  stature, segment proportions, build) and one look (`render.sample_look`: skin, hair, shirt,
  trousers, shoes, sleeve and leg lengths), drawn once from ``(data_seed, subject number)``
  and kept in every frame. `TRAIN_SUBJECTS` and `TEST_SUBJECTS` are disjoint.
- **Actions** (`ACTIONS`): named postures, each a posture family of `poses` with, for some,
  narrower joint-angle ranges (sitting vs crouching). They are the family ids of the frames,
  so the metrics' per-family numbers are per action and protocol 1 averages over them.
- **The lab**: four cameras at fixed places around a capture area (`RIG`), no lens distortion,
  one focal length (`FOCAL_PX_PER_1000` x frame_px / 1000); one room (floor and walls drawn
  once per camera from the same room seed, so every camera shows the same floor) and a fixed
  light per camera.
- **Moments**: a subject doing an action (pose, position in the capture area, facing) is seen
  by all four cameras at once, as in Human3.6M. Frame i of a split is camera ``i % 4`` of
  moment ``i // 4``; moments go round the split's subjects first, then the actions, then
  takes, so any number of frames covers the subjects and actions evenly (`FrameKey`).

Frame i is deterministic in (data_seed, split stream, subject, action, take, camera): the same
bytes whatever the split's size. "val" shows the test subjects in other takes than "test"
(Human3.6M has no validation people either); "test_occluded" is "test".

Convention: world mm, z up, ground z = 0; `Camera` as in `posebook.camera`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..camera import Camera
from . import poses, render
from .synthetic import MIN_FRAME_PX, Frame, look_at

TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS
# Split -> (its subjects, the stream its moments are drawn from); "test_occluded" is "test".
SPLIT_SUBJECTS = {"train": (TRAIN_SUBJECTS, 0), "val": (TEST_SUBJECTS, 1),
                  "test": (TEST_SUBJECTS, 2), "test_occluded": (TEST_SUBJECTS, 2)}
_SUBJECT_STREAM, _MOMENT_STREAM, _ROOM_STREAM, _LIGHT_STREAM = 6101, 6102, 6103, 6104


@dataclass(frozen=True)
class AngleRange:
    """A joint angle of both sides (`poses.sample_angles_deg` key without its _l/_r) redrawn
    uniformly in [low_deg, high_deg]."""
    joint: str
    low_deg: float
    high_deg: float


@dataclass(frozen=True)
class Action:
    """A named posture: a `poses.FAMILIES` family, some angles narrowed (`AngleRange`)."""
    name: str
    family: str
    ranges: tuple[AngleRange, ...] = ()


ACTIONS: tuple[Action, ...] = (
    Action("Standing", "standing"),
    Action("Walking", "walking"),
    Action("Reaching", "reaching"),
    Action("Sitting", "sitting/crouching",
           (AngleRange("hip_flex", 70, 100), AngleRange("knee", 70, 110))),
    Action("Crouching", "sitting/crouching",
           (AngleRange("hip_flex", 95, 125), AngleRange("knee", 110, 145))),
    Action("Bending", "bending"),
)
ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)


@dataclass(frozen=True)
class RigCamera:
    """One camera of the rig: where it stands around the capture area's centre (azimuth, ground
    distance, height), aimed at `RIG_TARGET_MM`."""
    azimuth_deg: float
    distance_mm: float
    height_mm: float


# Four cameras near the corners of the room at slightly different heights and distances, as
# Human3.6M's (about 4.5-6 m from the centre, 1.2-1.8 m high), all aimed at its centre.
RIG: tuple[RigCamera, ...] = (RigCamera(40.0, 5200.0, 1550.0), RigCamera(130.0, 4700.0, 1250.0),
                              RigCamera(220.0, 5500.0, 1700.0), RigCamera(310.0, 4900.0, 1350.0))
RIG_TARGET_MM = (0.0, 0.0, 1000.0)
FOCAL_PX_PER_1000 = 1000.0      # focal length on a 1000 px frame (Human3.6M: ~1150 at 4-6 m)
AREA_HALF_MM = 1000.0           # the pelvis stays within +-1 m of the centre (x and y)
PLACEMENT_TRIES = 20            # positions tried before the centre (which always fits)
MARGIN_PX = 5.0                 # the whole person is at least this far inside every frame
SHADOW_STRENGTH = 0.35


@dataclass(frozen=True, eq=False)
class Subject:
    """One synthetic person of the protocol: name ("S1" ...), body and look, fixed."""
    name: str
    body: poses.Body
    look: dict = field(repr=False)


def make_subject(data_seed: int, name: str) -> Subject:
    """Subject `name`, drawn from ``(data_seed, its number)``: the same person in every split."""
    if name not in SUBJECTS:
        raise ValueError(f"subject must be one of {SUBJECTS}, got {name!r}")
    rng = np.random.default_rng([int(data_seed), _SUBJECT_STREAM, int(name[1:])])
    body = poses.sample_body(rng)
    return Subject(name, body, render.sample_look(rng))


def rig_cameras(frame_px: int) -> tuple[Camera, ...]:
    """The rig's four cameras for a `frame_px` square frame (principal point at its centre)."""
    focal = FOCAL_PX_PER_1000 * frame_px / 1000
    centre = (frame_px - 1) / 2
    K = np.array([[focal, 0, centre], [0, focal, centre], [0, 0, 1.0]])
    target = np.array(RIG_TARGET_MM)
    cameras = []
    for rig in RIG:
        a = np.deg2rad(rig.azimuth_deg)
        eye = np.array([rig.distance_mm * np.cos(a), rig.distance_mm * np.sin(a), rig.height_mm])
        cameras.append(Camera(K, look_at(eye, target, 0.0), eye))
    return tuple(cameras)


@dataclass(frozen=True)
class FrameKey:
    """What frame i of a split shows: `subject` doing `action` (index into `ACTIONS`) in its
    take `take`, seen by rig camera `camera`."""
    subject: str
    action: int
    take: int
    camera: int


def frame_key(split: str, i: int) -> FrameKey:
    """Frame i of `split` (see the module docstring: camera fastest, then subject, action,
    take)."""
    subjects = split_subjects(split)
    moment, camera = divmod(int(i), len(RIG))
    rest, s = divmod(moment, len(subjects))
    take, action = divmod(rest, len(ACTIONS))
    return FrameKey(subjects[s], action, take, camera)


def split_subjects(split: str) -> tuple[str, ...]:
    if split not in SPLIT_SUBJECTS:
        raise ValueError(f"split must be one of {tuple(SPLIT_SUBJECTS)}, got {split!r}")
    return SPLIT_SUBJECTS[split][0]


def _outline(joints, extra, stature_mm: float) -> np.ndarray:
    """Points the whole rendered person lies within (joints, toes, hand tips, top of the head)."""
    head_top = extra["head_centre"] + np.array([0, 0, 0.07 * stature_mm])
    return np.concatenate([joints, extra["toe"], extra["hand"], head_top[None]])


def _fits(points_world_mm: np.ndarray, cameras, frame_px: int) -> bool:
    for cam in cameras:
        uv = cam.world_to_image(points_world_mm)
        if not (np.isfinite(uv).all() and (uv >= MARGIN_PX).all()
                and (uv <= frame_px - 1 - MARGIN_PX).all()):
            return False
    return True


def pose_moment(data_seed: int, split: str, key: FrameKey, subject: Subject, cameras,
                frame_px: int):
    """The pose of a moment (the same for its four cameras): (joints_world_mm (17, 3), extra)
    of `subject` doing `ACTIONS[key.action]`, placed in the capture area where every camera
    sees all of it."""
    action = ACTIONS[key.action]
    rng = np.random.default_rng([int(data_seed), _MOMENT_STREAM, SPLIT_SUBJECTS[split][1],
                                 int(key.subject[1:]), key.action, key.take])
    angles = poses.sample_angles_deg(action.family, rng)
    for r in action.ranges:
        for side in "lr":
            angles[f"{r.joint}_{side}"] = float(rng.uniform(r.low_deg, r.high_deg))
    yaw = float(rng.uniform(0, 2 * np.pi))
    tilt = (float(np.deg2rad(rng.normal(0, 4))), float(np.deg2rad(rng.normal(0, 4))))
    joints, extra = poses.pose_world_mm(subject.body, angles, yaw, tilt)
    places = rng.uniform(-AREA_HALF_MM, AREA_HALF_MM, (PLACEMENT_TRIES, 2))
    outline = _outline(joints, extra, subject.body.stature_mm)
    for x, y in [*places, (0.0, 0.0)]:     # first place where every camera sees the person
        offset = np.array([x - joints[0, 0], y - joints[0, 1], 0.0])
        if _fits(outline + offset, cameras, frame_px):
            break
    extra = dict(extra, toe=extra["toe"] + offset, hand=extra["hand"] + offset,
                 head_centre=extra["head_centre"] + offset)
    return joints + offset, extra


class SubjectFrames:
    """A frame source (`len`, `frame(i)` -> `synthetic.Frame`, family = action) of one split of
    the subjects protocol; `key(i)` says whom and from where frame i shows."""

    def __init__(self, data_seed: int, split: str, n: int, frame_px: int = 512):
        if not isinstance(data_seed, (int, np.integer)) or data_seed < 0:
            raise ValueError(f"data_seed must be a non-negative int, got {data_seed!r}")
        split_subjects(split)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not isinstance(frame_px, (int, np.integer)) or frame_px < MIN_FRAME_PX:
            raise ValueError(f"frame_px must be an int >= {MIN_FRAME_PX}, got {frame_px!r}")
        self.data_seed, self.split, self.n, self.frame_px = (int(data_seed), split, int(n),
                                                             int(frame_px))
        self.family_names = ACTION_NAMES
        self.cameras = rig_cameras(self.frame_px)
        self.subjects = {s: make_subject(self.data_seed, s) for s in split_subjects(split)}
        self._rooms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.n

    def key(self, i: int) -> FrameKey:
        if not 0 <= int(i) < self.n:
            raise IndexError(f"frame index {i} out of range for {self.n} frames")
        return frame_key(self.split, i)

    def room(self, camera: int) -> np.ndarray:
        """(S, S, 3) uint8: the empty room as rig camera `camera` sees it (drawn once)."""
        if camera not in self._rooms:
            cam = self.cameras[camera]
            rng = np.random.default_rng([self.data_seed, _ROOM_STREAM])   # one room for all
            self._rooms[camera] = render.background(rng, cam.K, cam.R, cam.t, self.frame_px)
        return self._rooms[camera]

    def frame(self, i: int) -> Frame:
        key = self.key(i)
        subject, cam = self.subjects[key.subject], self.cameras[key.camera]
        joints, extra = pose_moment(self.data_seed, self.split, key, subject, self.cameras,
                                    self.frame_px)
        K, R, t = cam.K, cam.R, cam.t
        image = self.room(key.camera).copy()
        render.drop_shadow(image, K, R, t, joints[0], 0.25 * subject.body.stature_mm,
                           SHADOW_STRENGTH)
        light = render.sample_light(np.random.default_rng([self.data_seed, _LIGHT_STREAM,
                                                           key.camera]))
        labels, self_visible = render.render_person(image, K, R, t, joints, extra,
                                                    subject.body.stature_mm, subject.body.build,
                                                    subject.look, light)
        mask = labels > 0
        x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
        action = ACTIONS[key.action]
        return Frame(image=image, camera=cam.copy(), joints_world_mm=joints,
                     box_xywh_px=np.array([x, y, w, h], float), family=action.name,
                     family_id=key.action, self_visible=self_visible, mask=mask)

    def __repr__(self) -> str:
        return (f"SubjectFrames(data_seed={self.data_seed}, split={self.split!r}, n={self.n}, "
                f"frame_px={self.frame_px})")
