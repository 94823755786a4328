"""The training loss: L1 in the original camera's axes (the paper's) or the crop camera's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from posebook import crop, profiles, skeleton
from posebook.camera import Camera, intrinsics_from_fov
from posebook.config import RunConfig
from posebook.data.dataset import PoseDataset
from posebook.loss import l1_loss


def _scene(flip: bool):
    """A frame camera, a rotated crop camera (off-centre box, roll) and world joints."""
    frame_cam = Camera(intrinsics_from_fov(60, (1000, 1000)))
    joints_world = skeleton.STANDING_POSE_MM + np.array([900.0, -300.0, 4500.0])
    box = np.array([750.0, 150.0, 200.0, 400.0])   # far right of the image: the crop turns
    crop_cam = crop.crop_camera(frame_cam, box, out_side=64, roll_rad=0.5, flip=flip)
    return frame_cam, crop_cam, joints_world


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("mode", ["absolute", "root_relative"])
def test_loss_frames_differ_and_camera_frame_matches_hand_computation(flip, mode):
    frame_cam, crop_cam, joints_world = _scene(flip)
    error_frame = np.zeros_like(joints_world)
    error_frame[1::2, 0] = 40.0          # every other joint 40 mm off along the camera's x axis
    pred_world = joints_world + error_frame @ frame_cam.R   # R^T e, world axes
    gt_crop, pred_crop = crop_cam.world_to_camera(joints_world), crop_cam.world_to_camera(pred_world)
    if flip:   # the flipped crop sees the person mirrored: labels swap sides
        gt_crop, pred_crop = gt_crop[list(skeleton.MIRROR)], pred_crop[list(skeleton.MIRROR)]
    pred = {"joints_cam_mm": torch.tensor(pred_crop[None]),
            "joints_rel_mm": torch.tensor((pred_crop - pred_crop[:1])[None])}
    rotation = torch.tensor((frame_cam.R @ crop_cam.R.T)[None])
    camera = l1_loss(pred, torch.tensor(gt_crop[None]), rotation, mode).item()   # the default
    cropped = l1_loss(pred, torch.tensor(gt_crop[None]), rotation, mode, "crop").item()

    # by hand, in the original camera: its own coordinates of prediction and ground truth
    gt_frame, pred_frame = frame_cam.world_to_camera(joints_world), frame_cam.world_to_camera(pred_world)
    if mode == "root_relative":
        gt_frame, pred_frame = gt_frame - gt_frame[:1], pred_frame - pred_frame[:1]
        gt_crop, pred_crop = gt_crop - gt_crop[:1], pred_crop - pred_crop[:1]
    assert camera == pytest.approx(np.abs(pred_frame - gt_frame).mean(), abs=1e-3)
    assert cropped == pytest.approx(np.abs(pred_crop - gt_crop).mean(), abs=1e-3)
    assert camera == pytest.approx(40.0 * 8 / 17 / 3, abs=1e-3)   # one axis: the error itself
    assert cropped > camera + 2.0   # L1 is not rotation-invariant: the turned axes share it


def test_loss_checks_its_arguments():
    pred = {"joints_cam_mm": torch.zeros(2, 17, 3), "joints_rel_mm": torch.zeros(2, 17, 3)}
    gt, eye = torch.zeros(2, 17, 3), torch.eye(3).expand(2, 3, 3)
    with pytest.raises(ValueError, match="config.loss must be"):
        l1_loss(pred, gt, eye, "relative")
    with pytest.raises(ValueError, match="config.loss_frame must be"):
        l1_loss(pred, gt, eye, "absolute", "world")
    with pytest.raises(ValueError, match=r"\(B, 3, 3\), got \(3, 3\)"):
        l1_loss(pred, gt, torch.eye(3), "absolute")


def test_dataset_items_carry_the_crop_to_frame_rotation():
    config = profiles.get("smoke").replace(n_train=4)
    data = PoseDataset(config, "train", cache="none")
    item = data[(0, 1)]
    sample = data.plan((0, 1))
    plan, cam, joints_world = sample.plan, sample.crop_camera, sample.joints_world_mm
    frame_cam = sample.frame_camera
    joints_cam, _ = plan.crop_joints(cam, joints_world)
    rotation = item["crop_to_frame"].double().numpy()
    np.testing.assert_allclose(rotation, frame_cam.R @ cam.R.T, atol=1e-6)
    np.testing.assert_allclose(np.abs(np.linalg.det(rotation)), 1.0, atol=1e-5)
    # turning the crop-camera joints by it gives the frame camera's (up to the flip's relabel)
    back = joints_cam @ rotation.T
    frame_joints = frame_cam.world_to_camera(data.frames.frame(1).joints_world_mm)
    np.testing.assert_allclose(np.sort(back, axis=0), np.sort(frame_joints, axis=0), atol=1e-2)


def test_the_paper_frame_is_the_default():
    assert RunConfig().loss_frame == "camera"
    assert all(p.loss_frame == "camera" for p in profiles.PROFILES.values())


def test_runs_saved_before_loss_frame_existed_retrain():
    from posebook import checkpoint
    saved = profiles.get("smoke").to_dict()
    del saved["loss_frame"]                      # a run from before: its loss was in the crop frame
    assert checkpoint.config_diff(saved, profiles.get("smoke")) == {"loss_frame": ("crop", "camera")}
