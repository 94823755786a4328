"""The training loss: L1 on 3D joint coordinates, taken in the original camera's axes.

The network sees a perspective crop, whose camera is the original camera turned towards the
person (plus the augmentation's roll and flip), and predicts joints in that crop camera. The
paper minimises the L1 loss "in the original camera space". L1 is not rotation-invariant
(|x| + |y| + |z| of an error vector changes when the axes turn), so the frame matters: with
``loss_frame="camera"`` (the default, the paper's) the error vectors are turned back into the
original camera's axes by ``crop_to_frame = R_frame R_crop^T`` before the absolute values are
taken; ``loss_frame="crop"`` takes them in the crop camera's axes (for comparison). The two
cameras share the optical centre, so absolute coordinates need the rotation only.
"""
from __future__ import annotations

import torch

from . import skeleton

MODES = ("root_relative", "absolute")
FRAMES = ("camera", "crop")


def l1_loss(pred: dict, joints_cam_mm: torch.Tensor, crop_to_frame: torch.Tensor,
            mode: str = "root_relative", frame: str = "camera") -> torch.Tensor:
    """Mean absolute coordinate error, mm.

    Args:
        pred: `PoseNet` output; uses joints_rel_mm or joints_cam_mm (B, J, 3), crop camera.
        joints_cam_mm: (B, J, 3) ground truth in the crop camera, mm.
        crop_to_frame: (B, 3, 3) rotation from crop-camera to original-camera axes.
        mode: "root_relative" (pelvis subtracted; the challenge) or "absolute" (full Human3.6M).
        frame: "camera" (original camera's axes; the paper) or "crop".
    Returns:
        () the mean over batch, joints and the three coordinates.
    """
    if mode not in MODES:
        raise ValueError(f"config.loss must be one of {MODES}, got {mode!r}")
    if frame not in FRAMES:
        raise ValueError(f"config.loss_frame must be one of {FRAMES}, got {frame!r}")
    if crop_to_frame.shape != (*joints_cam_mm.shape[:-2], 3, 3):
        raise ValueError(f"crop_to_frame must have shape (B, 3, 3), got "
                         f"{tuple(crop_to_frame.shape)} for joints {tuple(joints_cam_mm.shape)}")
    if mode == "root_relative":
        root = skeleton.ROOT
        error = pred["joints_rel_mm"].float() - (joints_cam_mm - joints_cam_mm[:, root:root + 1])
    else:
        error = pred["joints_cam_mm"].float() - joints_cam_mm
    if frame == "camera":
        error = error @ crop_to_frame.to(error.dtype).transpose(-1, -2)   # (B, J, 3): R e_j
    return error.abs().mean()
