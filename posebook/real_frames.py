"""Real frames with 3D ground truth: what a run does on real people, given their true boxes.

`h36m_frames(root)` reads real Human3.6M frames from a folder in the layout of the project's
test samples (the reader's own copy, e.g. ``$POSEBOOK_REALDATA``; nothing ships with posebook)::

    h36m/frames.npz     imgname (N,) paths relative to h36m/, joints3d_cam_m (N, 17, 3) in that
                        frame's camera (metres), box_center_px (N, 2), box_side_px (N,), and
                        optionally joints2d_px (N, 17, 2) the dataset's own 2D joints
    h36m/cameras.json   {subject: {camera_id: {f, c, k (3 radial), p (2 tangential)}}}, pixels
    h36m/<imgname>      the frames (JPEG)

`evaluate_run(run_dir, root)` crops each frame around its true box with its true camera (lens
distortion included), predicts with the run's last weights and flip TTA, and returns the
root-relative MPJPE next to the run's mean-pose baseline (always guessing the mean training pose),
and per frame the facing error: the angle between the predicted and true chest normals
(`skeleton.facing_error_deg`; near 180 degrees = the prediction is turned around).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import evaluate, metrics, paths, predict, runs, skeleton
from .camera import Camera
from .data import h36m_cameras

H36M_FILES = ("frames.npz", "cameras.json")


@dataclass
class RealFrame:
    name: str                  # path relative to h36m/
    image: np.ndarray          # (H, W, 3) uint8 RGB
    camera: Camera             # the frame's own camera (camera frame = world), H36M distortion
    joints_cam_mm: np.ndarray  # (17, 3)
    box_xywh_px: np.ndarray    # (4,) square person box
    joints_px: np.ndarray | None = None   # (17, 2) the dataset's 2D joints, when given


def available(root: str | Path | None) -> bool:
    """`root` holds real Human3.6M frames in the layout above (h36m/frames.npz at least)."""
    return root is not None and (Path(root) / "h36m" / "frames.npz").is_file()


def h36m_frames(root: str | Path) -> list[RealFrame]:
    """The real Human3.6M frames under `root`/h36m (see the module docstring for the layout)."""
    folder = Path(root) / "h36m"
    missing = [name for name in H36M_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: expected {', '.join(H36M_FILES)} (missing "
                                f"{', '.join(missing)})")
    cams = json.loads((folder / "cameras.json").read_text())
    with paths.open_npz(folder / "frames.npz") as data:
        arrays = {key: data[key] for key in ("imgname", "joints3d_cam_m", "box_center_px",
                                             "box_side_px", "joints2d_px") if key in data}
    frames = []
    for i, name in enumerate(arrays["imgname"]):
        subject, camera_id = str(name).split("/")[0], str(name).split(".")[1].split("/")[0]
        p = cams[subject][camera_id]
        side = float(arrays["box_side_px"][i])
        frames.append(RealFrame(
            name=str(name), image=predict.load_image(folder / str(name)),
            camera=Camera(h36m_cameras.intrinsic_matrix(p["f"], p["c"]),
                          distortion=list(p["k"]) + list(p["p"]), distortion_model="h36m"),
            joints_cam_mm=np.asarray(arrays["joints3d_cam_m"][i], np.float64) * 1000.0,
            box_xywh_px=np.r_[arrays["box_center_px"][i] - side / 2, side, side],
            joints_px=arrays["joints2d_px"][i] if "joints2d_px" in arrays else None))
    return frames


def evaluate_run(run_dir: str | Path, root: str | Path, flip: bool = True) -> dict:
    """Root-relative MPJPE of a run's last weights on the real frames under `root`, given their
    true boxes and cameras. Returns {"n", "mpjpe_mm", "mean_pose_baseline_mm" (None for a run
    without one), "per_frame_mm" {name: MPJPE}, "per_frame_facing_deg" {name: angle between
    predicted and true chest normals}}."""
    run = runs.load(run_dir)
    model, config = predict.load_model(run.path)
    frames = h36m_frames(root)
    gt = np.stack([f.joints_cam_mm for f in frames])
    pred = np.stack([predict.pose_in_box(model, config, f.image, f.camera, f.box_xywh_px,
                                         flip)[0] for f in frames])
    mean_pose = evaluate.mean_pose(run.state())
    errors = metrics.joint_errors(pred, gt).mean(axis=1)
    return {"n": len(frames), "mpjpe_mm": float(errors.mean()),
            "mean_pose_baseline_mm": None if mean_pose is None else
            metrics.mpjpe(np.broadcast_to(mean_pose, gt.shape), gt),
            "per_frame_mm": {f.name: float(e) for f, e in zip(frames, errors)},
            "per_frame_facing_deg": {f.name: float(a) for f, a in
                                     zip(frames, skeleton.facing_error_deg(pred, gt))}}
