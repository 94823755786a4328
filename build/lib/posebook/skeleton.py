"""The Human3.6M 17-joint skeleton: names, kinematic tree, left/right mirror map.

Convention: joint order is the common H36M-17 order with the pelvis (root) at index 0::

    0 pelvis, 1 R hip, 2 R knee, 3 R ankle, 4 L hip, 5 L knee, 6 L ankle, 7 spine,
    8 thorax, 9 neck/nose, 10 head top, 11 L shoulder, 12 L elbow, 13 L wrist,
    14 R shoulder, 15 R elbow, 16 R wrist

"Left" and "right" are the person's own, anatomical sides, as in Human3.6M: a person facing the
camera has `l_shoulder` on the image's right. Every skeleton convention of the package lives
here: the joint order, the tree (`PARENTS`, `BONES`), the flip map (`MIRROR`), Human3.6M's
32-joint subset (`H36M32_TO_17`), the sides (`LEFT`, `RIGHT`), and the anatomy checks
`chest_normal_unit` (where the chest faces) and `handedness` (is this a real person or a mirror
image?), which tests compare with real Human3.6M ground truth.
"""
from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine",
    "thorax", "neck", "head_top", "l_shoulder", "l_elbow", "l_wrist",
    "r_shoulder", "r_elbow", "r_wrist",
)
N_JOINTS = len(JOINT_NAMES)
ROOT = 0

# Parent of each joint in the kinematic tree (root has parent -1).
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

# Bones as (parent, child) pairs, in joint order.
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)


def _mirror_indices() -> tuple[int, ...]:
    index = {name: i for i, name in enumerate(JOINT_NAMES)}
    swapped = []
    for name in JOINT_NAMES:
        if name.startswith("l_"):
            name = "r_" + name[2:]
        elif name.startswith("r_"):
            name = "l_" + name[2:]
        swapped.append(index[name])
    return tuple(swapped)


# MIRROR[i] is the joint that plays joint i's role after a horizontal flip of the image:
# flipped_joints = joints[..., MIRROR, :] with the x coordinate negated (or mirrored in pixels).
MIRROR: tuple[int, ...] = _mirror_indices()

# Which of Human3.6M's 32 pose-file joints make up the 17 above (same order).
H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# Joints that belong to the left side, the right side, or neither (for plotting colours).
LEFT = tuple(i for i, n in enumerate(JOINT_NAMES) if n.startswith("l_"))
RIGHT = tuple(i for i, n in enumerate(JOINT_NAMES) if n.startswith("r_"))


def bone_lengths_mm(joints_mm: np.ndarray) -> np.ndarray:
    """Length of every bone.

    Args:
        joints_mm: (..., J, 3) joints, mm.
    Returns:
        (..., len(BONES)) bone lengths, mm, in the order of `BONES`.
    """
    joints_mm = _checked(joints_mm)
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return np.linalg.norm(joints_mm[..., children, :] - joints_mm[..., parents, :], axis=-1)


def chest_normal_unit(joints_mm: np.ndarray) -> np.ndarray:
    """Unit vector out of the chest (the way the person faces): (r→l shoulder) x (pelvis→thorax).

    For a real person it points forward: with x = right, y = forward, z = up, left is -x and
    (-x) x z = +y. Args: joints_mm (..., 17, 3), any right-handed frame (camera or world), mm.
    Returns: (..., 3) unit vectors.
    """
    joints_mm = _checked(joints_mm)
    across = joints_mm[..., 11, :] - joints_mm[..., 14, :]
    up = joints_mm[..., 8, :] - joints_mm[..., ROOT, :]
    normal = np.cross(across, up)
    return normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)


def handedness(joints_mm: np.ndarray) -> np.ndarray:
    """Is the pose a real person (< 0) or a mirror image (> 0)? Cosine in [-1, 1].

    (pelvis→thorax x r→l shoulder) · (the nose's offset in front of the thorax→head-top
    axis), normalised: the first factor is minus `chest_normal_unit`, so a nose in front of the
    chest gives a negative value. Real Human3.6M ground truth measures -0.76 to -0.99 (4 frames);
    mirror-image people (left and right swapped) measure the opposite sign. A frame-independent
    check: a rotation keeps the sign, a reflection flips it.

    Args: joints_mm (..., 17, 3), mm. Returns: (...,) cosines.
    """
    joints_mm = _checked(joints_mm)
    thorax, head_top, nose = joints_mm[..., 8, :], joints_mm[..., 10, :], joints_mm[..., 9, :]
    axis = head_top - thorax
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
    offset = nose - thorax
    offset = offset - np.sum(offset * axis, axis=-1, keepdims=True) * axis
    offset = offset / np.maximum(np.linalg.norm(offset, axis=-1, keepdims=True), 1e-9)
    return np.sum(-chest_normal_unit(joints_mm) * offset, axis=-1)


def facing_error_deg(pred_mm: np.ndarray, true_mm: np.ndarray) -> np.ndarray:
    """Angle between predicted and true chest normals (`chest_normal_unit`), degrees.

    0 = the prediction faces the way the person does; near 180 = turned around (as a model
    trained on mirror-image people does on real photos). Args: (..., 17, 3) each, one frame.
    Returns: (...,) degrees in [0, 180].
    """
    cos = np.sum(chest_normal_unit(pred_mm) * chest_normal_unit(true_mm), axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _checked(joints_mm) -> np.ndarray:
    joints_mm = np.asarray(joints_mm, dtype=float)
    if joints_mm.shape[-2:] != (N_JOINTS, 3):
        raise ValueError(f"expected joints of shape (..., {N_JOINTS}, 3), got {joints_mm.shape}")
    return joints_mm


# A neutral standing pose (person facing the camera along -z, y down), root-relative, mm.
# For figures and placeholders only; real poses come from `posebook.data`.
STANDING_POSE_MM = np.array([
    [0, 0, 0], [-130, 0, 0], [-130, 440, 0], [-130, 880, 30],      # pelvis, R hip/knee/ankle
    [130, 0, 0], [130, 440, 0], [130, 880, 30],                      # L hip/knee/ankle
    [0, -230, 0], [0, -480, 0], [0, -580, -20], [0, -760, 0],        # spine, thorax, nose, head top
    [180, -450, 0], [200, -170, 0], [210, 90, 0],                    # L shoulder/elbow/wrist
    [-180, -450, 0], [-200, -170, 0], [-210, 90, 0],                 # R shoulder/elbow/wrist
], dtype=float)
# Facing the camera, the person's right side appears on the image's left (x < 0).
