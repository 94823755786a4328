"""The GPU augmentation path for a training `PoseDataset`: workers only draw the augmentation
(the same numpy draws as `PoseDataset.__getitem__`) and hand over the cached wide crop; the
device does the crop warp, occluder compositing, colour and blur (`posebook.gpu_augment`).

Used by bench_pipeline.py and bench_train_e2e.py (and checked against PoseDataset's own pixels
in tests/test_benchmarks.py).
"""
from __future__ import annotations

import numpy as np
import torch

from posebook import augment, crop, gpu_augment as ga, skeleton
from posebook.data import dataset as dataset_lib


class GpuPathItems(torch.utils.data.Dataset):
    """Items of `dataset` (split "train") as plans: dict(frame (3, C, C) uint8 cached wide crop,
    homography (3, 3), scale, pastes, appearance, intrinsics (3, 3), joints_cam_mm (17, 3))."""

    def __init__(self, dataset: dataset_lib.PoseDataset):
        if dataset.split != "train":
            raise ValueError(f"GpuPathItems augments the train split, got {dataset.split!r}")
        self.dataset = dataset
        self.bank_shapes = [o.shape[:2] for o in dataset.occluders]

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict:
        ds, c, S = self.dataset, self.dataset.config, self.dataset.side
        rng = np.random.default_rng([c.seed, ds.split_id, int(index), ds.epoch, 0])
        image, image_cam, frame_cam, box, joints_world, _ = ds._source(int(index))
        geometry = augment.sample_geometry(rng) if c.augment_geometry else \
            dataset_lib.NO_GEOMETRY
        cam = crop.crop_camera(frame_cam, box, out_side=S, fill=dataset_lib.FILL, **geometry)
        joints_cam = cam.world_to_camera(joints_world)
        if geometry["flip"]:
            joints_cam = joints_cam[..., skeleton.MIRROR, :]
        pastes = ga.sample_occlusion(rng, self.bank_shapes, (S, S), c.occlusion_p) \
            if c.occlusion_p > 0 else []
        look = ga.sample_appearance(rng, (S, S)) if c.augment_appearance else None
        scale = np.sqrt(abs(np.linalg.det(cam.K[:2, :2]) / np.linalg.det(image_cam.K[:2, :2])))
        return {"frame": torch.from_numpy(np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1))),
                "homography": torch.as_tensor(ga.homography(image_cam, cam)),
                "scale": float(scale), "pastes": pastes, "appearance": look,
                "intrinsics": torch.as_tensor(cam.K, dtype=torch.float32),
                "joints_cam_mm": torch.as_tensor(joints_cam, dtype=torch.float32)}


def collate(items: list[dict]) -> dict:
    out = {k: torch.stack([it[k] for it in items]) for k in
           ("frame", "homography", "intrinsics", "joints_cam_mm")}
    out["scale"] = np.array([it["scale"] for it in items])
    out["pastes"] = [it["pastes"] for it in items]
    looks = [it["appearance"] for it in items]
    out["appearance"] = None if any(a is None for a in looks) else looks
    return out


def render(batch: dict, bank: ga.OccluderBank | None, side: int, device) -> dict:
    """Crops of a collated batch on `device`: dict(image (B, 3, S, S) uint8, mask, n_occluders)."""
    frames = batch["frame"].to(device, non_blocking=True)
    plan = ga.Plan(batch["homography"].numpy(), batch["scale"], [], batch["pastes"],
                   batch["appearance"])
    return ga.apply(frames, plan, bank, side)
