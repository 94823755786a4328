"""Pose errors in millimetres: MPJPE, PA-MPJPE, their breakdowns, and Human3.6M protocol 1.

MPJPE (mean per-joint position error) is the mean Euclidean distance between predicted and true
joints after subtracting each pose's root joint (pelvis), as in Human3.6M Protocol 1.
PA-MPJPE first aligns each prediction to its ground truth with the best similarity transform
(rotation, uniform scale, translation; Procrustes), so it measures the pose's shape only.

All functions take numpy arrays (torch tensors are converted) of shape (N, J, 3) in mm.
"""
from __future__ import annotations

import numpy as np

from . import skeleton


def _poses(name: str, value) -> np.ndarray:
    array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value,
                       dtype=np.float64)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, J, 3), got {array.shape}")
    return array


def _pair(pred_mm, gt_mm) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _poses("pred_mm", pred_mm), _poses("gt_mm", gt_mm)
    if pred.shape != gt.shape:
        raise ValueError(f"pred_mm {pred.shape} and gt_mm {gt.shape} must have the same shape")
    return pred, gt


def root_relative(joints_mm, root: int | None = skeleton.ROOT) -> np.ndarray:
    """(N, J, 3) joints minus each pose's `root` joint (unchanged when root is None)."""
    joints = _poses("joints_mm", joints_mm)
    return joints if root is None else joints - joints[:, root:root + 1]


def joint_errors(pred_mm, gt_mm, root: int | None = skeleton.ROOT) -> np.ndarray:
    """(N, J) Euclidean error of every joint, mm, after root subtraction (root=None: absolute)."""
    pred, gt = _pair(pred_mm, gt_mm)
    return np.linalg.norm(root_relative(pred, root) - root_relative(gt, root), axis=-1)


def mpjpe(pred_mm, gt_mm, root: int | None = skeleton.ROOT) -> float:
    """Mean per-joint position error, mm, over all poses and joints (after root subtraction)."""
    return float(joint_errors(pred_mm, gt_mm, root).mean())


def procrustes_align(pred_mm, gt_mm) -> np.ndarray:
    """Align each pose of `pred_mm` to `gt_mm` with the best rotation, scale and translation.

    Solves min_{s,R,t} sum_j |s R p_j + t - g_j|^2 with R a proper rotation (det R = +1): when
    the best orthogonal matrix is a reflection, the smallest singular direction is flipped
    (Umeyama 1991), so a mirrored prediction is not "fixed" by the alignment.

    Args:
        pred_mm, gt_mm: (N, J, 3) poses, mm.
    Returns:
        (N, J, 3) aligned predictions, mm.
    """
    pred, gt = _pair(pred_mm, gt_mm)
    mu_pred, mu_gt = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p, g = pred - mu_pred, gt - mu_gt
    cov = np.einsum("nji,njk->nik", g, p)            # (N, 3, 3) = sum_j g_j p_j^T
    u, sing, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))
    sign[sign == 0] = 1.0
    d = np.ones_like(sing)
    d[:, -1] = sign
    rotation = u @ (d[:, :, None] * vt)              # (N, 3, 3), det +1
    var_p = (p ** 2).sum(axis=(1, 2))
    scale = (sing * d).sum(axis=1) / np.where(var_p > 0, var_p, 1.0)
    aligned = scale[:, None, None] * np.einsum("nik,njk->nji", rotation, p)
    return aligned + mu_gt


def pa_mpjpe(pred_mm, gt_mm) -> float:
    """MPJPE after Procrustes alignment (rotation, scale, translation) of each pose, mm."""
    pred, gt = _pair(pred_mm, gt_mm)
    return float(np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1).mean())


def per_joint(errors_mm: np.ndarray) -> dict[str, float]:
    """Mean error of each joint by name, from (N, J) `joint_errors`."""
    errors = np.asarray(errors_mm)
    if errors.ndim != 2 or errors.shape[1] != skeleton.N_JOINTS:
        raise ValueError(f"errors_mm must have shape (N, {skeleton.N_JOINTS}), got {errors.shape}")
    return {name: float(e) for name, e in zip(skeleton.JOINT_NAMES, errors.mean(axis=0))}


def per_group(errors_mm: np.ndarray, group_ids, group_names=None) -> dict[str, float]:
    """Mean error of the poses in each group (action / posture family).

    Args:
        errors_mm: (N, J) joint errors.
        group_ids: (N,) integer group of each pose.
        group_names: names indexed by group id; default the id as text.
    Returns:
        {group name: mean error over its poses and joints}, for the groups present.
    """
    errors, ids = np.asarray(errors_mm), np.asarray(group_ids)
    if errors.ndim != 2 or ids.shape != errors.shape[:1]:
        raise ValueError(f"group_ids must have shape ({errors.shape[0]},), got {ids.shape}")
    out = {}
    for gid in np.unique(ids):
        name = group_names[gid] if group_names is not None and gid < len(group_names) else str(gid)
        out[str(name)] = float(errors[ids == gid].mean())
    return out


def occluded_vs_visible(errors_mm: np.ndarray, occluded) -> dict[str, float | int | None]:
    """Mean error of occluded and of visible joints, with their counts (None when empty)."""
    errors, mask = np.asarray(errors_mm), np.asarray(occluded, dtype=bool)
    if mask.shape != errors.shape:
        raise ValueError(f"occluded must have shape {errors.shape}, got {mask.shape}")
    out: dict[str, float | int | None] = {}
    for key, select in (("occluded", mask), ("visible", ~mask)):
        out[f"{key}_mm"] = float(errors[select].mean()) if select.any() else None
        out[f"n_{key}"] = int(select.sum())
    return out


def left_right_swapped_mpjpe(pred_mm, gt_mm, root: int = skeleton.ROOT) -> float:
    """MPJPE of the prediction against the ground truth with left/right joint labels swapped.

    Much larger than `mpjpe` when the model tells the person's left from right; about equal
    when it confuses them.
    """
    pred, gt = _pair(pred_mm, gt_mm)
    return mpjpe(pred, gt[:, list(skeleton.MIRROR)], root)


def root_depth_error_mm(pred_mm, gt_mm, root: int = skeleton.ROOT) -> float:
    """Mean absolute error of the root joint's depth (camera z), mm: how far off the predicted
    distance of the person is. `pred_mm`, `gt_mm`: (N, J, 3) absolute camera-frame joints."""
    pred, gt = _pair(pred_mm, gt_mm)
    return float(np.abs(pred[:, root, 2] - gt[:, root, 2]).mean())


def root_depth_error_pct(pred_mm, gt_mm, root: int = skeleton.ROOT) -> float:
    """`root_depth_error_mm` relative to the true depth of each pose, in percent (mean over
    poses of |z_pred - z_true| / z_true)."""
    pred, gt = _pair(pred_mm, gt_mm)
    z_true = gt[:, root, 2]
    if np.any(z_true <= 0):
        raise ValueError(f"gt_mm has a root depth <= 0 mm ({z_true.min():.1f}): not camera-frame")
    return float(100.0 * (np.abs(pred[:, root, 2] - z_true) / z_true).mean())


def mean_pose_baseline(train_gt_mm, test_gt_mm, root: int = skeleton.ROOT) -> float:
    """MPJPE of always predicting the training set's mean root-relative pose, mm."""
    mean_pose = root_relative(train_gt_mm, root).mean(axis=0, keepdims=True)
    test = root_relative(test_gt_mm, root)
    return mpjpe(np.broadcast_to(mean_pose, test.shape), test, root)


def protocol1(errors_mm: np.ndarray, action_ids, action_names) -> dict[str, float]:
    """Human3.6M protocol 1: mean error per action and their average over actions ("Average").

    The literature's tables average the per-action means (not all poses at once), so an action
    with fewer test frames weighs as much as any other.

    Args:
        errors_mm: (N, J) root-relative joint errors (`joint_errors`, no Procrustes).
        action_ids: (N,) index into `action_names` of each pose's canonical action.
    """
    table = per_group(errors_mm, action_ids, action_names)
    result = {name: table[name] for name in action_names if name in table}
    result["Average"] = float(np.mean(list(result.values())))
    return result
