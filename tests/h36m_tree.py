"""A tiny Human3.6M release that tests write themselves: official folder names, ``.cdf`` pose
files (cdflib) and ``.mp4`` videos (OpenCV), each frame showing its number as 7 black/white
blocks."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from cdflib.cdfwrite import CDF

from posebook import skeleton
from posebook.data import h36m_cameras

BITS = 7  # frame number written into each video frame as 7 black/white blocks


def _pose32_world_mm(n_frames: int, seed: int) -> np.ndarray:
    """(N, 32, 3) standing people at the capture-volume centre, pelvis x = 10 mm * frame."""
    rng = np.random.default_rng(seed)
    stand = skeleton.STANDING_POSE_MM
    world17 = np.stack([stand[:, 0], stand[:, 2], 950.0 - stand[:, 1]], axis=-1)  # z up
    pose = np.repeat(world17[skeleton.ROOT][None], 32, axis=0) + rng.normal(0, 40, (32, 3))
    pose[list(skeleton.H36M32_TO_17)] = world17
    poses = np.repeat(pose[None], n_frames, axis=0)
    poses[:, :, 0] += 10.0 * np.arange(n_frames)[:, None]
    return poses


def _write_cdf(path: Path, poses: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cdf = CDF(str(path))
    n = len(poses)
    cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_DOUBLE, "Num_Elements": 1,
                   "Rec_Vary": True, "Dim_Sizes": [n, 96]}, var_attrs={},
                  var_data=poses.reshape(1, n, 96))
    cdf.close()


def _write_video(path: Path, n_frames: int, size_wh: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 50, size_wh)
    for i in range(n_frames):
        image = np.full((size_wh[1], size_wh[0], 3), 90, np.uint8)
        for bit in range(BITS):
            image[100:200, 100 * bit + 100:100 * bit + 200] = 255 if (i >> bit) & 1 else 0
        writer.write(image)
    writer.release()


def _frame_number(image: np.ndarray) -> int:
    return sum(1 << bit for bit in range(BITS) if image[150, 100 * bit + 150].mean() > 128)


# (subject, action as in the file name, camera, video frames, pose frames)
FIXTURE = [
    ("S1", "Directions 1", "54138969", 12, 12),
    ("S1", "TakingPhoto", "55011271", 11, 13),   # video 2 frames shorter: use the minimum
    ("S9", "WalkingDog", "58860488", 70, 70),    # test subject: every 64th frame
]


def make_release(root: Path, fixture=FIXTURE, size_wh: dict | None = None,
                 nan_frames: dict | None = None) -> Path:
    """Write `fixture` under `root`. size_wh: {(subject, action, camera): (w, h)} for videos
    whose frames are not the camera's calibrated size; nan_frames: {(subject, action): [frame,
    ...]} whose poses are NaN."""
    for k, (subject, action, camera_id, n_video, n_pose) in enumerate(fixture):
        cdf = root / subject / "MyPoseFeatures" / "D3_Positions" / f"{action}.cdf"
        if not cdf.exists():
            poses = _pose32_world_mm(n_pose, seed=k)
            poses[(nan_frames or {}).get((subject, action), [])] = np.nan
            _write_cdf(cdf, poses)
        size = (size_wh or {}).get((subject, action, camera_id),
                                   h36m_cameras.IMAGE_SIZE_WH[camera_id])
        _write_video(root / subject / "Videos" / f"{action}.{camera_id}.mp4", n_video, size)
    return root
