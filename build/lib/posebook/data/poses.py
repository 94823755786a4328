"""Random human poses: per-person bone lengths and joint angles in posture families.

Convention: world frame in mm with z up and the ground at z = 0 (as Human3.6M's world).
A person's own body frame is right-handed with x = the person's anatomical **right**, y = forward
(where the face and toes point), z = up (x = y x z), so the left joints lie along -x. A person
facing a camera therefore shows their left shoulder on the image's right, as in Human3.6M's
ground truth (`skeleton.handedness` checks it; tests compare it with real frames).

Proportions (`SEGMENT_RATIOS`) are fractions of stature H from the anthropometric table of
Drillis & Contini (1966), as reproduced in Winter, *Biomechanics and Motor Control of Human
Movement*, Fig. 4.1: hip joint height 0.530 H, knee 0.285 H, ankle 0.039 H (thigh 0.245 H, shank
0.246 H), shoulder height 0.818 H, upper arm 0.186 H, forearm 0.146 H, hand 0.108 H, foot length
0.152 H, chin 0.870 H, eye 0.936 H, biacromial breadth 0.259 H, hip breadth 0.191 H. Joint
centres lie inside the outline, so the shoulder joints are placed 0.200 H apart (≈ 0.77 of the
biacromial breadth) and the hip joints 0.146 H apart (≈ 0.76 of the hip breadth); the H36M
"spine" joint is put at 0.135 H above the pelvis (about half way to the thorax, as in Human3.6M).
Stature is drawn from N(1720 mm, 80 mm) clipped to [1520, 1950] (adult, sexes pooled), and every
ratio gets an independent factor N(1, 0.03) (the same for both sides of the body), so no two
people share proportions. `MEAN_BONE_LENGTHS_MM` lists the resulting means at H = 1720 mm.

Joint angles are sampled in degrees within anatomical ranges of motion (hip flexion -20..125,
abduction -15..45, knee 0..145, shoulder flexion -50..175, abduction 0..160, elbow 0..145, spine
flexion -20..90, neck flexion -40..60 / rotation +-70), per posture family (`FAMILIES`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import skeleton

FAMILIES: tuple[str, ...] = ("standing", "walking", "reaching", "sitting/crouching", "bending")

SEGMENT_RATIOS = dict(
    thigh=0.245, shank=0.246, ankle_height=0.039, foot=0.152,
    spine=0.135, thorax=0.288, nose_up=0.092, nose_forward=0.050, head_top_up=0.090,
    shoulder_half=0.100, shoulder_drop=0.010, hip_half=0.073,
    upper_arm=0.186, forearm=0.146, hand=0.108,
)
MEAN_STATURE_MM, SD_STATURE_MM, STATURE_RANGE_MM = 1720.0, 80.0, (1520.0, 1950.0)
RATIO_SD = 0.03


@dataclass(frozen=True)
class Body:
    """One person's proportions: segment lengths (mm) and a build factor for limb thickness."""

    stature_mm: float
    lengths_mm: dict
    build: float  # 1 = average girth


def sample_body(rng: np.random.Generator) -> Body:
    """Draw a person: stature, segment lengths (`SEGMENT_RATIOS` x stature x N(1, 0.03)), build."""
    stature = float(np.clip(rng.normal(MEAN_STATURE_MM, SD_STATURE_MM), *STATURE_RANGE_MM))
    factors = rng.normal(1.0, RATIO_SD, size=len(SEGMENT_RATIOS)).clip(0.9, 1.1)
    lengths = {k: r * stature * f for (k, r), f in zip(SEGMENT_RATIOS.items(), factors)}
    build = float(np.clip(rng.normal(1.0, 0.1), 0.8, 1.3))
    return Body(stature, lengths, build)


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def bone_offsets_mm(body: Body) -> dict:
    """Rest-pose offset of every joint from its parent, in the parent segment's frame (mm)."""
    L = body.lengths_mm
    return {
        "hip": np.array([L["hip_half"], 0.0, 0.0]),        # right side; x negated for the left
        "thigh": np.array([0.0, 0.0, -L["thigh"]]),
        "shank": np.array([0.0, 0.0, -L["shank"]]),
        "spine": np.array([0.0, 0.0, L["spine"]]),
        "chest": np.array([0.0, 0.0, L["thorax"] - L["spine"]]),
        "nose": np.array([0.0, L["nose_forward"], L["nose_up"]]),
        "head_top": np.array([0.0, -0.8 * L["nose_forward"], L["head_top_up"]]),
        "shoulder": np.array([L["shoulder_half"], 0.0, -L["shoulder_drop"]]),
        "upper_arm": np.array([0.0, 0.0, -L["upper_arm"]]),
        "forearm": np.array([0.0, 0.0, -L["forearm"]]),
    }


def bone_lengths_mm(body: Body) -> np.ndarray:
    """(16,) lengths of `skeleton.BONES` for this body, mm (what every pose of it must have)."""
    off = {k: float(np.linalg.norm(v)) for k, v in bone_offsets_mm(body).items()}
    by_child = {1: "hip", 2: "thigh", 3: "shank", 4: "hip", 5: "thigh", 6: "shank", 7: "spine",
                8: "chest", 9: "nose", 10: "head_top", 11: "shoulder", 12: "upper_arm",
                13: "forearm", 14: "shoulder", 15: "upper_arm", 16: "forearm"}
    return np.array([off[by_child[c]] for _, c in skeleton.BONES])


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def sample_angles_deg(family: str, rng: np.random.Generator) -> dict:
    """Joint angles (degrees) for one posture family; left/right limbs get separate draws.

    Keys: spine_flex/lat/twist, neck_flex/rot, and per side s in 'lr': hip_flex_s, hip_abd_s,
    hip_rot_s, knee_s, sh_flex_s, sh_abd_s, sh_rot_s, elbow_s, ankle_s.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    a = dict(spine_flex=_u(rng, -10, 15), spine_lat=_u(rng, -10, 10), spine_twist=_u(rng, -20, 20),
             neck_flex=_u(rng, -20, 30), neck_rot=_u(rng, -50, 50), neck_lat=_u(rng, -15, 15))
    for s in "lr":
        a.update({f"hip_flex_{s}": _u(rng, -10, 20), f"hip_abd_{s}": _u(rng, -5, 15),
                  f"hip_rot_{s}": _u(rng, -20, 30), f"knee_{s}": _u(rng, 0, 20),
                  f"sh_flex_{s}": _u(rng, -30, 50), f"sh_abd_{s}": _u(rng, 5, 40),
                  f"sh_rot_{s}": _u(rng, -40, 60), f"elbow_{s}": _u(rng, 0, 90),
                  f"ankle_{s}": _u(rng, -15, 15)})
    if family == "walking":
        lead, back = ("l", "r") if rng.random() < 0.5 else ("r", "l")
        swing = _u(rng, 15, 35)
        a.update({f"hip_flex_{lead}": swing, f"hip_flex_{back}": -_u(rng, 5, 18),
                  f"knee_{lead}": _u(rng, 0, 25), f"knee_{back}": _u(rng, 10, 60),
                  f"hip_abd_{lead}": _u(rng, -3, 8), f"hip_abd_{back}": _u(rng, -3, 8),
                  f"sh_flex_{back}": _u(rng, 10, 40), f"sh_flex_{lead}": -_u(rng, 10, 35),
                  "sh_abd_l": _u(rng, 5, 15), "sh_abd_r": _u(rng, 5, 15),
                  "elbow_l": _u(rng, 10, 50), "elbow_r": _u(rng, 10, 50)})
    elif family == "reaching":
        for s in "lr" if rng.random() < 0.4 else ("l" if rng.random() < 0.5 else "r"):
            a.update({f"sh_flex_{s}": _u(rng, 50, 175), f"sh_abd_{s}": _u(rng, 0, 120),
                      f"elbow_{s}": _u(rng, 0, 50)})
        a.update(spine_twist=_u(rng, -35, 35), spine_lat=_u(rng, -20, 20),
                 neck_flex=_u(rng, -40, 10))
    elif family == "sitting/crouching":
        crouch = rng.random() < 0.5
        for s in "lr":
            a.update({f"hip_flex_{s}": _u(rng, 95, 125) if crouch else _u(rng, 70, 100),
                      f"knee_{s}": _u(rng, 110, 145) if crouch else _u(rng, 70, 110),
                      f"hip_abd_{s}": _u(rng, 0, 35), f"ankle_{s}": _u(rng, -10, 20),
                      f"sh_flex_{s}": _u(rng, 0, 80), f"elbow_{s}": _u(rng, 20, 120)})
        a.update(spine_flex=_u(rng, 10, 45) if crouch else _u(rng, -10, 25))
    elif family == "bending":
        a.update(spine_flex=_u(rng, 35, 90), neck_flex=_u(rng, -40, 20))
        for s in "lr":
            a.update({f"hip_flex_{s}": _u(rng, 15, 70), f"knee_{s}": _u(rng, 0, 35),
                      f"sh_flex_{s}": _u(rng, 20, 110), f"elbow_{s}": _u(rng, 0, 60)})
    return a


def pose_world_mm(body: Body, angles_deg: dict, yaw_rad: float = 0.0,
                  tilt_rad: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, dict]:
    """Forward kinematics: joints (17, 3) in the world (z up), feet on the ground plane z = 0.

    Returns the joints and extra render points (toes (2, 3) l/r, hand tips (2, 3), head centre,
    and the body frame `R_chest`, `R_head`, `R_pelvis` (3, 3), columns = right, forward, up).
    """
    a = {k: np.deg2rad(v) for k, v in angles_deg.items()}
    off = bone_offsets_mm(body)
    L = body.lengths_mm
    r_pelvis = _rz(yaw_rad) @ _rx(-tilt_rad[0]) @ _ry(tilt_rad[1])
    half = _rx(-a["spine_flex"] / 2) @ _ry(a["spine_lat"] / 2) @ _rz(a["spine_twist"] / 2)
    r_spine = r_pelvis @ half
    r_chest = r_spine @ half
    r_head = r_chest @ _rz(a["neck_rot"]) @ _rx(-a["neck_flex"]) @ _ry(a["neck_lat"])
    joints = np.zeros((skeleton.N_JOINTS, 3))
    extra: dict = {"toe": np.zeros((2, 3)), "hand": np.zeros((2, 3))}
    joints[7] = r_spine @ off["spine"]
    joints[8] = joints[7] + r_chest @ off["chest"]
    joints[9] = joints[8] + r_head @ off["nose"]
    joints[10] = joints[9] + r_head @ off["head_top"]
    for k, (s, sign, hip, knee, ankle, sho, elb, wri) in enumerate(
            [("l", -1, 4, 5, 6, 11, 12, 13), ("r", 1, 1, 2, 3, 14, 15, 16)]):
        flip = np.array([sign, 1.0, 1.0])
        joints[hip] = r_pelvis @ (off["hip"] * flip)
        r_thigh = (r_pelvis @ _ry(-sign * a[f"hip_abd_{s}"]) @ _rx(a[f"hip_flex_{s}"])
                   @ _rz(sign * a[f"hip_rot_{s}"]))
        joints[knee] = joints[hip] + r_thigh @ off["thigh"]
        r_shank = r_thigh @ _rx(-a[f"knee_{s}"])
        joints[ankle] = joints[knee] + r_shank @ off["shank"]
        r_foot = r_shank @ _rx(a[f"ankle_{s}"])
        extra["toe"][k] = joints[ankle] + r_foot @ np.array(
            [0.0, 0.78 * L["foot"], -0.6 * L["ankle_height"]])
        joints[sho] = joints[8] + r_chest @ (off["shoulder"] * flip)
        r_upper = (r_chest @ _ry(-sign * a[f"sh_abd_{s}"]) @ _rx(a[f"sh_flex_{s}"])
                   @ _rz(sign * a[f"sh_rot_{s}"]))
        joints[elb] = joints[sho] + r_upper @ off["upper_arm"]
        r_fore = r_upper @ _rx(a[f"elbow_{s}"])
        joints[wri] = joints[elb] + r_fore @ off["forearm"]
        extra["hand"][k] = joints[wri] + r_fore @ np.array([0.0, 0.0, -0.55 * L["hand"]])
    head_centre = joints[8] + r_head @ np.array([0.0, 0.2 * L["nose_forward"],
                                                 L["nose_up"] + 0.3 * L["head_top_up"]])
    # Stand on the ground: the lowest ankle sits one ankle height above z = 0.
    lowest = min(joints[[3, 6], 2].min() - L["ankle_height"], extra["toe"][:, 2].min())
    ground = np.array([0.0, 0.0, -lowest])
    joints += ground
    extra["toe"] += ground
    extra["hand"] += ground
    extra.update(head_centre=head_centre + ground, R_pelvis=r_pelvis, R_chest=r_chest,
                 R_head=r_head)
    return joints, extra


def sample_pose(rng: np.random.Generator, family: str | None = None):
    """Draw (body, family, joints_world_mm (17, 3), extra) with the pelvis above the origin."""
    family = FAMILIES[int(rng.integers(len(FAMILIES)))] if family is None else family
    body = sample_body(rng)
    angles = sample_angles_deg(family, rng)
    yaw = float(rng.uniform(0, 2 * np.pi))
    tilt = (float(np.deg2rad(rng.normal(0, 4))), float(np.deg2rad(rng.normal(0, 4))))
    joints, extra = pose_world_mm(body, angles, yaw, tilt)
    return body, family, joints, extra


MEAN_BONE_LENGTHS_MM = dict(zip(
    (f"{skeleton.JOINT_NAMES[p]}-{skeleton.JOINT_NAMES[c]}" for p, c in skeleton.BONES),
    np.round(bone_lengths_mm(Body(MEAN_STATURE_MM, {k: r * MEAN_STATURE_MM for k, r in
                                                    SEGMENT_RATIOS.items()}, 1.0)), 1)))
