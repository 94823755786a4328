"""Training items for the GPU augmentation path (``RunConfig.gpu_augment``).

DataLoader workers only *draw* the augmentation of a training `PoseDataset` item -- the same
numpy draws, in the same order, as `PoseDataset.__getitem__` -- and hand over the frame's wide
crop (uint8; cached, or cropped by the worker) with that plan; `render` then does the pixel
work for the whole batch on the device: crop warp, occluder compositing, colour and blur
(`posebook.gpu_augment`). The result has the keys, shapes and dtypes of a collated
`PoseDataset` batch; its pixels match the CPU path's to interpolation rounding
(tests/test_benchmarks.py, tests/test_gpu_items.py).

    items = GpuPathItems(PoseDataset(config, "train"))
    loader = DataLoader(items, batch_sampler=..., collate_fn=collate)
    batch = render(next(iter(loader)), OccluderBank(items.dataset.occluders, dev), S, dev)
"""
from __future__ import annotations

import numpy as np
import torch

from .. import gpu_augment as ga
from ..camera import zoom_factor
from . import dataset as dataset_lib

LABELS = ("intrinsics", "crop_to_frame", "joints_cam_mm", "joints_px", "root_depth_mm", "in_crop", "family",
          "index")


def collate(items: list[dict]) -> dict:
    """DataLoader `collate_fn` for `GpuPathItems` (frames must share one size)."""
    out = {k: torch.stack([it[k] for it in items]) for k in ("frame", "homography", *LABELS)}
    out["scale"] = np.array([it["scale"] for it in items])
    out["pastes"] = [it["pastes"] for it in items]
    looks = [it["appearance"] for it in items]
    out["appearance"] = None if any(a is None for a in looks) else looks
    return out


class GpuPathItems(torch.utils.data.Dataset):
    """Items of `dataset` (split "train") as plans: dict(frame (3, C, C) uint8 wide crop,
    homography (3, 3), scale, pastes, appearance, and the labels of a PoseDataset item:
    intrinsics, joints_cam_mm, joints_px, root_depth_mm, in_crop, family, index).

    The wide crop is the frame cache's, or, without a cache, made by the worker
    (`dataset.wide_crop`): every frame then reaches the device at one size and without lens
    distortion, whatever its source (Human3.6M: 1000x1000 and 1000x1002 frames, distorted)."""

    collate = staticmethod(collate)   # the DataLoader's collate_fn (Trainer.loader)

    def __init__(self, dataset: dataset_lib.PoseDataset):
        if dataset.split != "train":
            raise ValueError(f"GpuPathItems augments the train split, got {dataset.split!r}")
        self.dataset = dataset
        self._bank_shapes = None

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    @property
    def bank_shapes(self) -> list:
        if self._bank_shapes is None:
            self._bank_shapes = [o.shape[:2] for o in self.dataset.occluders]
        return self._bank_shapes

    def __getitem__(self, key) -> dict:
        ds, c, S = self.dataset, self.dataset.config, self.dataset.side
        rng, image, image_cam, cam, joints_cam, joints_px, family, index, frame_cam = \
            ds.draw_crop(key, wide=True)        # frames of any size and lens: the wide crop, undistorted
        pastes = ga.sample_occlusion(rng, self.bank_shapes, (S, S), c.occlusion_p,
                                     count=(1, c.occluder_count_max)) if c.occlusion_p > 0 else []
        look = ga.sample_appearance(rng, (S, S)) if c.augment_appearance else None
        scale = zoom_factor(image_cam, cam)
        frame = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1))
        return {"frame": torch.from_numpy(frame),
                "homography": torch.as_tensor(ga.homography(image_cam, cam)),
                "scale": float(scale), "pastes": pastes, "appearance": look,
                **dataset_lib.labels(cam, joints_cam, joints_px, family, index, S,
                                     frame_cam)}


def render(batch: dict, bank: ga.OccluderBank | None, side: int, device) -> dict:
    """A collated `GpuPathItems` batch as a PoseDataset batch: image (B, 3, S, S) uint8 and
    occluded (B, 17) bool computed on `device`; n_occluders (B,) int64 and the labels stay in
    host memory, where they are known (nothing is read back from the device)."""
    frames = batch["frame"].to(device, non_blocking=True)     # pinned by the DataLoader on CUDA
    plan = ga.Plan(batch["homography"].numpy(), batch["scale"], [], batch["pastes"],
                   batch["appearance"])
    out = ga.apply(frames, plan, bank, side)
    # occluded: the joint's nearest pixel is covered (augment.joints_covered's convention); its
    # flat pixel index is found on the host, where the joints are, and sent in one copy
    uv = torch.floor(batch["joints_px"].double() + 0.5)
    inside = torch.isfinite(uv).all(-1) & (uv >= 0).all(-1) & (uv < side).all(-1)
    uv = torch.where(inside[..., None], uv, torch.zeros_like(uv)).long()
    pixel = (torch.arange(len(uv))[:, None] * side + uv[..., 1]) * side + uv[..., 0]  # (B, J)
    lookup = ga.to_device(torch.stack([pixel, inside.long()]), out["mask"].device, torch.int64)
    occluded = out["mask"].reshape(-1)[lookup[0]] & lookup[1].bool()
    return {"image": out["image"], **{k: batch[k] for k in LABELS}, "occluded": occluded,
            "n_occluders": out["n_occluders"]}
