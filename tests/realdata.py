"""The real Human3.6M samples in ``../shared/realdata/h36m`` (see its README), for tests."""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from posebook import paths
from posebook.camera import Camera


@dataclass
class H36MSample:
    image_path: Path
    K: np.ndarray                # (3, 3)
    distortion: list             # Human3.6M's own model: k1, k2, k3, p1, p2
    joints_cam_mm: np.ndarray    # (17, 3), the frame's camera coordinates (camera = world here)
    joints_px: np.ndarray        # (17, 2), distortion applied
    box_xywh_px: np.ndarray      # (4,), the sample's square person box

    def camera(self) -> Camera:
        return Camera(self.K, distortion=self.distortion, distortion_model="h36m")


def h36m_samples():
    """Yields an `H36MSample` per real frame; skips the calling test when the data is absent."""
    root = paths.realdata_dir()
    if root is None or not (root / "h36m" / "frames.npz").is_file():
        pytest.skip("real samples not found (posebook.paths.realdata_dir() is None)")
    cams = json.loads((root / "h36m" / "cameras.json").read_text())
    frames = np.load(root / "h36m" / "frames.npz")
    for i, name in enumerate(frames["imgname"]):
        subject, camera_id = name.split("/")[0], name.split(".")[1].split("/")[0]
        p = cams[subject][camera_id]
        side = frames["box_side_px"][i]
        yield H36MSample(
            image_path=root / "h36m" / name,
            K=np.array([[p["f"][0], 0, p["c"][0]], [0, p["f"][1], p["c"][1]], [0, 0, 1]]),
            distortion=list(p["k"]) + list(p["p"]),
            joints_cam_mm=frames["joints3d_cam_m"][i] * 1000, joints_px=frames["joints2d_px"][i],
            box_xywh_px=np.r_[frames["box_center_px"][i] - side / 2, side, side])
