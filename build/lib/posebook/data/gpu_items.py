"""Training items for the GPU renderer (``RunConfig.gpu_augment``).

DataLoader workers make a training `PoseDataset` item's `Plan` and labels exactly as
`PoseDataset.__getitem__` does (`PoseDataset.plan`, `PoseDataset.labels`) and hand over the
frame's wide crop (uint8; cached, or cropped by the worker) with the Plan and its crop
homography; `render` then makes the pixels of the whole batch on the device
(`posebook.augment.gpu.render`). The result has the keys, shapes and dtypes of a collated
`PoseDataset` batch and the same labels; for cached frames (wide crops on disk) its pixels match
the CPU renderer's to interpolation rounding (tests/test_gpu_items.py). Uncached sources
(Human3.6M) differ where the jittered crop leaves the wide crop: the GPU path renders black
corners there, where the CPU renderer crops from the full frame.

    items = GpuPathItems(PoseDataset(config, "train"))
    loader = DataLoader(items, batch_sampler=..., collate_fn=collate)
    batch = render(next(iter(loader)), OccluderBank(items.dataset.occluders, dev), dev)
"""
from __future__ import annotations

import numpy as np
import torch

from ..augment import gpu
from ..camera import homography, zoom_factor
from . import dataset as dataset_lib

LABELS = ("intrinsics", "crop_to_frame", "joints_cam_mm", "joints_px", "root_depth_mm",
          "occluded", "in_crop", "n_occluders", "family", "index")


def collate(items: list[dict]) -> dict:
    """DataLoader `collate_fn` for `GpuPathItems` (frames must share one size)."""
    out = {k: torch.stack([it[k] for it in items]) for k in ("frame", "homography", *LABELS)}
    out["scale"] = np.array([it["scale"] for it in items])
    out["plan"] = [it["plan"] for it in items]
    return out


class GpuPathItems(torch.utils.data.Dataset):
    """Items of `dataset` (split "train") as plans: dict(frame (3, C, C) uint8 wide crop,
    homography (3, 3) float64 crop -> wide-crop pixels, scale, plan, and the labels of the
    PoseDataset item (`LABELS`)).

    The wide crop is the frame cache's, or, without a cache, made by the worker
    (`frame_cache.wide_crop`): every frame then reaches the device at one size and without lens
    distortion, whatever its source (Human3.6M: 1000x1000 and 1000x1002 frames, distorted)."""

    collate = staticmethod(collate)   # the DataLoader's collate_fn (TrainingData.loader)

    def __init__(self, dataset: dataset_lib.PoseDataset):
        if dataset.split != "train":
            raise ValueError(f"GpuPathItems augments the train split, got {dataset.split!r}")
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, key) -> dict:
        sample = self.dataset.plan(key, wide=True)
        image_cam, cam = sample.image_camera, sample.crop_camera
        frame = np.ascontiguousarray(np.asarray(sample.image).transpose(2, 0, 1))
        return {"frame": torch.from_numpy(frame),
                "homography": torch.as_tensor(homography(image_cam, cam)),
                "scale": float(zoom_factor(image_cam, cam)), "plan": sample.plan,
                **self.dataset.labels(sample)}


def render(batch: dict, bank: gpu.OccluderBank | None, device) -> dict:
    """A collated `GpuPathItems` batch as a PoseDataset batch: image (B, 3, S, S) uint8 made on
    `device`; the labels stay in host memory, where they are known (nothing is read back)."""
    frames = batch["frame"].to(device, non_blocking=True)     # pinned by the DataLoader on CUDA
    image = gpu.render(frames, batch["homography"].numpy(), batch["scale"], batch["plan"], bank)
    return {"image": image, **{k: batch[k] for k in LABELS}}
