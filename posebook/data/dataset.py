"""`PoseDataset`: model-ready samples (perspective crops, camera, 3D/2D ground truth).

Every item is a dict (S = config.input_px)::

    image (3, S, S) uint8, intrinsics (3, 3) f32, crop_to_frame (3, 3) f32, joints_cam_mm (17, 3)
    f32, joints_px (17, 2) f32, root_depth_mm () f32, occluded (17,) bool, in_crop (17,) bool, n_occluders () int64,
    family () int64, index () int64

Before its pixels are rendered an item is a `Sample` (`PoseDataset.plan`): its augmentation
`Plan`, the image it is cropped from and the cameras and ground truth that go with it.

Determinism: item i draws its randomness from ``np.random.default_rng([seed, split_id, i,
epoch])`` (epoch only matters for the training augmentation: `set_epoch`, or an (epoch, i)
key), so it is the same bytes whatever the DataLoader worker count. The data -- synthetic
people, cameras, the procedural occluder bank and every held-out split -- follow
``config.data_seed``; ``config.seed`` changes only the training augmentation (and, in `train`,
the initial weights and batch order), so runs with different seeds are compared on the same
test images. The frames of a split come from the config's data source (`sources.for_config`);
``test_occluded`` shows the ``test`` people with fixed occluders (p = 1).

Caching: each frame is rendered once into the frame cache (`frame_cache`: wide crops on disk,
where the source has a cache path and the split fits ``config.frame_cache_gb``); an item is
then one cheap reprojection from the cached crop camera to the (jittered) crop camera.

The config is taken as resolved (`train.resolve`: validated once); only the arguments are
checked here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import augment, runtime, skeleton
from ..camera import Camera
from . import sources, synthetic
from .frame_cache import FILL, FrameCache, FrameView, wide_crop, wide_side

SPLITS = sources.SPLITS


@dataclass(frozen=True, eq=False)
class Sample:
    """One item before its pixels are made (`PoseDataset.plan`).

    plan: the item's augmentation `augment.Plan` (drawn from the item's own rng).
    image: (H, W, 3) uint8 the crop is made from (cached wide crop, frame, or its wide crop).
    image_camera: the camera of `image`.
    crop_camera: the model crop's camera (the plan's jittered crop of the person box).
    frame_camera: the original frame's camera (its axes are the loss's frame).
    joints_world_mm: (17, 3) world joints, mm.
    family_id: index into the dataset's `family_names`.
    index: the item's index in the split.
    """
    plan: augment.Plan
    image: np.ndarray
    image_camera: Camera
    crop_camera: Camera
    frame_camera: Camera
    joints_world_mm: np.ndarray
    family_id: int
    index: int


class PoseDataset(torch.utils.data.Dataset):
    """Model-ready samples of one split (see the module docstring for the item dict).

    Args:
        config: a resolved RunConfig (input_px, seed, data_seed, occlusion_p, augment_geometry,
            augment_appearance, occluders, frame_cache_gb; the source's own fields).
        split: "train" | "val" | "test" | "test_occluded".
        frames: a frame source (`__len__`, `frame(i)`); default the split's frames from
            `sources.for_config(config)`.
        occluders: an occluder bank (list of RGBA arrays); default `occluders.load_bank(config)`.
        cache: keep rendered frames (see `FrameCache`); "disk" (default for sources with a
            frame cache path whose split fits ``config.frame_cache_gb``), "memory" or "none".
    """

    def __init__(self, config, split: str, frames=None, occluders=None, cache: str = "auto"):
        sources.check_split(split)
        if cache not in ("auto", "disk", "memory", "none"):
            raise ValueError(f"cache must be 'auto', 'disk', 'memory' or 'none', got {cache!r}")
        self.config, self.split, self.split_id = config, split, SPLITS[split]
        self.side = config.input_px
        # Names of the "family" ids: posture families (synthetic) or the 15 actions (Human3.6M).
        names, path = getattr(frames, "family_names", synthetic.FAMILIES), None
        if frames is None:
            source = sources.for_config(config)
            frames, path = source.frames(split), source.frame_cache_path(split)
            names = source.family_names
        self.frames, self.family_names = frames, tuple(names)
        self._bank, self._bank_shapes = occluders, None
        self.epoch = 0
        fits = len(frames) * wide_side(self.side) ** 2 * 3 <= config.frame_cache_gb * 2**30
        if cache == "auto":
            cache = "disk" if path is not None and fits else "none"
        if cache == "disk" and path is None:
            raise ValueError("cache='disk' needs frames from a source with a frame cache "
                             "(sources.for_config(config).frame_cache_path)")
        self.cache = FrameCache(frames, self.side, path if cache == "disk" else None,
                                runtime.usable_cores()) if cache != "none" else None

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        """Training augmentation of item i differs per epoch (same epoch -> same bytes)."""
        self.epoch = int(epoch)

    def prepare(self) -> "PoseDataset":
        """Open (or render) the frame cache and load the occluder bank now, in this process.
        A training run calls it before anything is written and before its loader starts: their
        errors (a full disk, an unusable cache folder) are one line naming the file, not a
        DataLoader worker's traceback, and the workers inherit both instead of each building
        its own. Returns self."""
        if self.cache is not None:
            self.cache.open()
        if self._occlusion_p() > 0:
            _ = self.bank_shapes
        return self

    def _occlusion_p(self) -> float:
        """Occlusion probability of this split's items (test_occluded: always; train: the
        config's occlusion_p; the others never)."""
        if self.split == "test_occluded":
            return 1.0
        return self.config.occlusion_p if self.split == "train" else 0.0

    @property
    def occluders(self):
        if self._bank is None:
            from . import occluders as occluder_bank
            self._bank, _ = occluder_bank.load_bank(self.config)
        return self._bank

    def _source(self, index: int, wide: bool = False) -> FrameView:
        """Frame `index` as a `FrameView`: the cached wide crop, else the frame itself, or with
        `wide` its `wide_crop` (what the GPU path ships: one size for every frame, no lens
        distortion)."""
        if self.cache is not None:
            return self.cache.get(index)
        f = self.frames.frame(index)
        image, camera = wide_crop(f, self.side) if wide else (f.image, f.camera)
        return FrameView(image, camera, f.camera, f.box_xywh_px, f.joints_world_mm, f.family_id)

    @property
    def bank_shapes(self) -> list:
        """(h, w, 4) shapes of the occluder bank (what `augment.draw` needs of it)."""
        if self._bank_shapes is None:
            self._bank_shapes = [o.shape for o in self.occluders]
        return self._bank_shapes

    def plan(self, key, wide: bool = False) -> Sample:
        """Item `key` as a `Sample`: its augmentation `Plan` and what it applies to; `key` is an
        index, or (epoch, index) for the training augmentation of that epoch; `wide`: see
        `_source`. The item's rng is made and used here only (by `augment.draw`).
        """
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        c, train = self.config, self.split == "train"   # augmentation follows `seed`
        epoch = int(epoch) if train else 0
        rng = np.random.default_rng([c.seed if train else c.data_seed, self.split_id, index,
                                     epoch, int(self.split == "test_occluded")])
        p = self._occlusion_p()
        plan = augment.draw(rng, self.side, self.bank_shapes if p > 0 else (), p,
                            geometry=train and c.augment_geometry,
                            appearance=train and c.augment_appearance,
                            count_max=c.occluder_count_max)
        view = self._source(index, wide)
        return Sample(plan=plan, image=view.image, image_camera=view.image_camera,
                      crop_camera=plan.crop_camera(view.frame_camera, view.box_xywh_px, FILL),
                      frame_camera=view.frame_camera, joints_world_mm=view.joints_world_mm,
                      family_id=view.family_id, index=index)

    def __getitem__(self, key) -> dict:
        """Item `key`: an index (epoch from `set_epoch`) or (epoch, index)."""
        sample = self.plan(key)
        crop_image = augment.render(sample.image, sample.image_camera, sample.crop_camera,
                                    sample.plan, self._bank)
        return {"image": torch.from_numpy(np.ascontiguousarray(crop_image.transpose(2, 0, 1))),
                **self.labels(sample)}

    def labels(self, sample: Sample) -> dict:
        """The ground truth of an item (everything but the image), from its `Sample`.
        crop_to_frame (3, 3) turns crop-camera coordinates into the original (frame) camera's
        axes (both share the optical centre), for the loss in the paper's frame
        (`posebook.loss`)."""
        S, plan, cam = self.side, sample.plan, sample.crop_camera
        joints_cam_mm, joints_px = plan.crop_joints(cam, sample.joints_world_mm)
        occluded = augment.covered_joints(plan.pastes, self._bank, joints_px, (S, S)) \
            if plan.pastes else np.zeros(skeleton.N_JOINTS, bool)
        in_crop = np.all((joints_px >= -0.5) & (joints_px <= S - 0.5), axis=-1)
        return {
            "intrinsics": torch.as_tensor(cam.K, dtype=torch.float32),
            "crop_to_frame": torch.as_tensor(sample.frame_camera.R @ cam.R.T,
                                             dtype=torch.float32),
            "joints_cam_mm": torch.as_tensor(joints_cam_mm, dtype=torch.float32),
            "joints_px": torch.as_tensor(joints_px, dtype=torch.float32),
            "root_depth_mm": torch.tensor(joints_cam_mm[skeleton.ROOT, 2], dtype=torch.float32),
            "occluded": torch.as_tensor(occluded, dtype=torch.bool),
            "in_crop": torch.as_tensor(in_crop, dtype=torch.bool),
            "n_occluders": torch.tensor(len(plan.pastes), dtype=torch.int64),
            "family": torch.tensor(sample.family_id, dtype=torch.int64),
            "index": torch.tensor(sample.index, dtype=torch.int64),
        }
