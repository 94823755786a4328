"""`PoseDataset`: model-ready samples (perspective crops, camera, 3D/2D ground truth).

Every item is a dict (S = config.input_px)::

    image (3, S, S) uint8, intrinsics (3, 3) f32, crop_to_frame (3, 3) f32, joints_cam_mm (17, 3)
    f32, joints_px (17, 2) f32, root_depth_mm () f32, occluded (17,) bool, in_crop (17,) bool, n_occluders () int64,
    family () int64, index () int64

Determinism: item i draws its randomness from ``np.random.default_rng([seed, split_id, i,
epoch])`` (epoch only matters for the training augmentation: `set_epoch`, or an (epoch, i)
key), so it is the same bytes whatever the DataLoader worker count. The data -- synthetic
people, cameras, the procedural occluder bank and every held-out split -- follow
``config.data_seed``; ``config.seed`` changes only the training augmentation (and, in `train`,
the initial weights and batch order), so runs with different seeds are compared on the same
test images. Frames of the splits come from disjoint seed streams (`split_seed`);
``test_occluded`` shows the ``test`` people with fixed occluders (p = 1).

Caching: rendering is the slow part, so each frame is rendered once and kept as a perspective
crop with a wider field of view (`CACHE_FIELD` x the model crop, same pixel scale) in a ``.npy``
memory map under `paths.cache_dir()`, keyed by (data_seed, split, n, frame_px, input_px, version)
and checked against a stored checksum when opened (a corrupt or stale cache is rebuilt, never
used). An item is then one cheap reprojection from the cached crop camera to the (jittered) crop
camera.
Every core renders the cache (forked processes, `build_workers`; the bytes do not depend on how
many). Splits bigger than ``config.frame_cache_gb`` are rendered on the fly instead, a few times
slower per item (benchmarks/RESULTS.md: "frame supply").
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import warnings

import numpy as np
import torch

from .. import augment, crop, paths, skeleton
from ..camera import Camera
from . import synthetic

SPLITS = {"train": 0, "val": 1, "test": 2, "test_occluded": 2}
CACHE_VERSION = 1
CACHE_FIELD = 1.5                 # cached crop covers 1.5x the model crop's field of view
BUILD_CHUNK = 256                 # frames per task when several processes render a cache
FILL = 0.9


def split_seed(seed: int, split: str) -> int:
    """Seed of a split's frame source: disjoint streams via `np.random.SeedSequence`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    return int(np.random.SeedSequence([int(seed), 7919, SPLITS[split]]).generate_state(1)[0])


def split_size(config, split: str) -> int:
    n = {"train": config.n_train, "val": config.n_val}.get(split, config.n_test)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"config.n_{split.split('_')[0]} must be a positive int, got {n!r}")
    return n


class FrameCache:
    """Wide crops of every frame of a source, rendered once (see the module docstring).

    `get(i)` -> (image (C, C, 3) uint8, crop Camera, frame Camera, box_xywh_px (4,),
    joints_world_mm (17, 3), family_id). With ``path=None`` everything stays in memory.
    """

    def __init__(self, frames, input_px: int, path=None, workers: int = 1):
        self.frames, self.input_px, self.path = frames, int(input_px), path
        self.side = wide_side(input_px)
        self.workers = max(1, int(workers))
        self._images = None
        self._meta = None
        self.rebuilt = False

    def __getstate__(self):                     # memmaps reopen in each DataLoader worker
        state = dict(self.__dict__)
        state["_images"] = None
        return state

    def _build(self):
        n, c = len(self.frames), self.side
        if self.path is None:
            images = np.empty((n, c, c, 3), np.uint8)
            meta = _render_chunk(self.frames, self.input_px, images, 0, n)
            meta["checksum"] = np.asarray(_checksum(images, meta))
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            paths.remove_stale_temps(self.path.with_suffix(".npy"))   # a killed build's file
            _check_disk(self.path, n * c * c * 3)
            with paths.atomic_path(self.path.with_suffix(".npy")) as tmp:
                np.lib.format.open_memmap(tmp, "w+", np.uint8, (n, c, c, 3)).flush()
                meta = _render_into_file(self.frames, self.input_px, tmp, self.workers)
                images = np.load(tmp, mmap_mode="r")
                meta["checksum"] = np.asarray(_checksum(images, meta))
                del images
            with paths.atomic_path(self.path.with_suffix(".meta.npz")) as t:
                with open(t, "wb") as fh:
                    np.savez(fh, **meta)
            images = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
        self._images, self._meta, self.rebuilt = images, meta, True

    def _open(self):
        if self._images is not None:
            return
        if self.path is not None and self._meta is not None:
            self._images = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
            return
        if self.path is not None:
            try:
                images = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
                with np.load(self.path.with_suffix(".meta.npz")) as z:
                    meta = {k: z[k] for k in z.files}
                want = (len(self.frames), self.side, self.side, 3)
                if images.shape != want or images.dtype != np.uint8:
                    raise ValueError(f"shape {images.shape}, expected {want}")
                if str(meta["checksum"]) != _checksum(images, meta):
                    raise ValueError("checksum mismatch")
                self._images, self._meta = images, meta
                return
            except FileNotFoundError:
                pass
            except Exception as error:   # corrupt or truncated: say so, then rebuild
                warnings.warn(f"frame cache {self.path} is unusable ({error}); rebuilding it")
        self._build()

    def get(self, i: int):
        self._open()
        m = self._meta   # checksummed cameras built by `Camera`: no need to check them again
        K, R, t, crop_K, crop_R = (np.array(m[k][i], dtype=np.float64)
                                   for k in ("K", "R", "t", "crop_K", "crop_R"))
        frame_cam = Camera._trusted(K, R, t, None, "opencv")
        crop_cam = Camera._trusted(crop_K, crop_R, t.copy(), None, "opencv")
        return (self._images[i], crop_cam, frame_cam, m["box"][i], m["joints"][i],
                int(m["family"][i]))


def _checksum(images: np.ndarray, meta: dict) -> str:
    h = hashlib.blake2b(digest_size=16)
    for k in sorted(meta):
        if k != "checksum":
            h.update(np.ascontiguousarray(meta[k]).tobytes())
    for start in range(0, len(images), 256):
        h.update(np.ascontiguousarray(images[start:start + 256]).tobytes())
    return h.hexdigest()


META_KEYS = ("K", "R", "t", "crop_K", "crop_R", "box", "joints", "family")


def wide_side(input_px: int) -> int:
    """Side C of a frame's wide crop for `input_px` crops: ceil(CACHE_FIELD x input_px)."""
    return int(math.ceil(CACHE_FIELD * input_px))


def wide_crop(frame, input_px: int):
    """`frame` as the frame cache keeps it: (image (C, C, 3) uint8, its undistorted Camera), a
    perspective crop with `CACHE_FIELD` x the model crop's field of view at the same pixel
    scale, C = `wide_side(input_px)`."""
    return crop.perspective_crop(frame.image, frame.camera, frame.box_xywh_px,
                                 out_side=wide_side(input_px), fill=FILL / CACHE_FIELD)


def _render_chunk(frames, input_px: int, images, start: int, stop: int) -> dict:
    """Render frames [start, stop) as wide crops into ``images[start:stop]``; their metadata."""
    meta = {k: [] for k in META_KEYS}
    for i in range(start, stop):
        frame = frames.frame(i)
        img, cam = wide_crop(frame, input_px)
        images[i] = img
        for key, value in zip(META_KEYS, (frame.camera.K, frame.camera.R, frame.camera.t, cam.K,
                                          cam.R, frame.box_xywh_px, frame.joints_world_mm,
                                          frame.family_id)):
            meta[key].append(value)
    return {k: np.asarray(v) for k, v in meta.items()}


def _render_file_chunk(frames, input_px: int, file, start: int, stop: int) -> dict:
    images = np.load(file, mmap_mode="r+")
    meta = _render_chunk(frames, input_px, images, start, stop)
    images.flush()
    return meta


def _render_into_file(frames, input_px: int, file, workers: int) -> dict:
    """Fill the ``.npy`` memory map `file` with every frame's wide crop, in `workers`
    processes; frame i's pixels depend on i alone, so the bytes do not depend on `workers`."""
    n = len(frames)
    chunks = [(a, min(n, a + BUILD_CHUNK)) for a in range(0, n, BUILD_CHUNK)]
    workers = min(workers, len(chunks))
    if (workers <= 1 or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):   # a Pool worker may not fork
        parts = [_render_file_chunk(frames, input_px, file, a, b) for a, b in chunks]
    else:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(_render_file_chunk, *zip(*[(frames, input_px, file, a, b)
                                                             for a, b in chunks])))
    return {k: np.concatenate([part[k] for part in parts]) for k in META_KEYS}


def _check_disk(path, needed_bytes: int) -> None:
    free = shutil.disk_usage(path.parent).free
    if needed_bytes + (1 << 30) > free:
        raise OSError(
            f"frame cache {path}.npy needs {needed_bytes / 2**30:.1f} GiB but "
            f"{path.parent} has {free / 2**30:.1f} GiB free (1 GiB kept spare): point "
            f"POSEBOOK_CACHE at a larger disk, or set frame_cache_gb=0 to render frames on "
            f"the fly (slower; different pixels, so a different run)")


def build_workers() -> int:
    """Processes that render a frame cache: every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


MAX_LOADER_WORKERS = 16


def loader_workers(config) -> int:
    """DataLoader workers of a run: ``config.num_workers``, or for -1 one per core this process
    may use less one for the training loop (at most `MAX_LOADER_WORKERS`). Items do not depend
    on the count, so neither does the run."""
    n = int(config.num_workers)
    if n < -1:
        raise ValueError(f"config.num_workers must be >= 0, or -1 for one per core, got {n}")
    return min(MAX_LOADER_WORKERS, max(0, build_workers() - 1)) if n == -1 else n


def cache_path(config, split: str, n: int):
    """Where a synthetic split's frame cache lives (key: data_seed, data_version, split, n,
    frame_px, input_px)."""
    key = dict(seed=config.data_seed, split=SPLITS[split], n=n, frame_px=config.frame_px,
               input_px=config.input_px, version=CACHE_VERSION, field=CACHE_FIELD,
               data_version=config.data_version)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return paths.cache_dir() / "frames" / f"synthetic-{digest}"


class PoseDataset(torch.utils.data.Dataset):
    """Model-ready samples of one split (see the module docstring for the item dict).

    Args:
        config: RunConfig (input_px, frame_px, n_train/n_val/n_test, seed, data_seed, occlusion_p,
            augment_geometry, augment_appearance, occluders ...).
        split: "train" | "val" | "test" | "test_occluded".
        frames: a frame source (`__len__`, `frame(i)`); default `SyntheticFrames` of the split.
        occluders: an occluder bank (list of RGBA arrays); default `occluders.load_bank(config)`.
        cache: keep rendered frames (see `FrameCache`); "disk" (default for synthetic sources
            whose cache fits ``config.frame_cache_gb``), "memory" or "none".
    """

    def __init__(self, config, split: str, frames=None, occluders=None, cache: str = "auto"):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
        if not isinstance(config.input_px, int) or config.input_px < 16:
            raise ValueError(f"config.input_px must be an int >= 16, got {config.input_px!r}")
        if not 0.0 <= config.occlusion_p <= 1.0:
            raise ValueError(f"config.occlusion_p must be in [0, 1], got {config.occlusion_p!r}")
        if cache not in ("auto", "disk", "memory", "none"):
            raise ValueError(f"cache must be 'auto', 'disk', 'memory' or 'none', got {cache!r}")
        self.config, self.split, self.split_id = config, split, SPLITS[split]
        self.side = config.input_px
        synthetic_source = frames is None and config.dataset == "synthetic"
        if frames is None and config.dataset == "h36m":
            from . import h36m
            frames = h36m.frames_for_split(config, split)
        elif frames is None and config.dataset != "synthetic":
            raise ValueError(f"config.dataset must be 'synthetic' or 'h36m', got {config.dataset!r}")
        elif frames is None:
            frames = synthetic.SyntheticFrames(split_seed(config.data_seed, split),
                                               split_size(config, split), config.frame_px)
        self.frames = frames
        # Names of the "family" ids: posture families (synthetic) or the 15 actions (Human3.6M).
        self.family_names = tuple(getattr(frames, "family_names", synthetic.FAMILIES))
        self._bank, self._bank_shapes = occluders, None
        self.epoch = 0
        fits = len(frames) * wide_side(self.side) ** 2 * 3 <= config.frame_cache_gb * 2**30
        if cache == "auto":
            cache = "disk" if synthetic_source and fits else "none"
        path = cache_path(config, split, len(frames)) if cache == "disk" else None
        self.cache = FrameCache(frames, self.side, path, build_workers()) \
            if cache != "none" else None

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        """Training augmentation of item i differs per epoch (same epoch -> same bytes)."""
        self.epoch = int(epoch)

    @property
    def occluders(self):
        if self._bank is None:
            from . import occluders as occluder_bank
            self._bank, _ = occluder_bank.load_bank(
                self.config, np.random.default_rng([self.config.data_seed, 4242]))
        return self._bank

    def _source(self, index: int, wide: bool = False):
        """(image, its camera, frame camera, box, joints_world_mm, family_id) for one frame:
        the cached wide crop, else the frame itself, or with `wide` its `wide_crop` (what the
        GPU path ships: one size for every frame, no lens distortion)."""
        if self.cache is not None:
            return self.cache.get(index)
        f = self.frames.frame(index)
        image, camera = wide_crop(f, self.side) if wide else (f.image, f.camera)
        return image, camera, f.camera, f.box_xywh_px, f.joints_world_mm, f.family_id

    @property
    def bank_shapes(self) -> list:
        """(h, w, 4) shapes of the occluder bank (what `augment.draw` needs of it)."""
        if self._bank_shapes is None:
            self._bank_shapes = [o.shape for o in self.occluders]
        return self._bank_shapes

    def plan(self, key, wide: bool = False):
        """Item `key`'s augmentation `Plan` and what it applies to; `key` is an index, or
        (epoch, index) for the training augmentation of that epoch; `wide`: see `_source`.

        Returns (plan, image, image_camera, crop_camera, joints_world_mm (17, 3), family, index,
        frame_camera).
        The item's rng is made and used here only (by `augment.draw`).
        """
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        c, train = self.config, self.split == "train"   # augmentation follows `seed`
        epoch = int(epoch) if train else 0
        rng = np.random.default_rng([c.seed if train else c.data_seed, self.split_id, index,
                                     epoch, int(self.split == "test_occluded")])
        p = 1.0 if self.split == "test_occluded" else c.occlusion_p if train else 0.0
        plan = augment.draw(rng, self.side, self.bank_shapes if p > 0 else (), p,
                            geometry=train and c.augment_geometry,
                            appearance=train and c.augment_appearance,
                            count_max=c.occluder_count_max)
        image, image_cam, frame_cam, box, joints_world, family = self._source(index, wide)
        return (plan, image, image_cam, plan.crop_camera(frame_cam, box, FILL), joints_world,
                family, index, frame_cam)

    def __getitem__(self, key) -> dict:
        """Item `key`: an index (epoch from `set_epoch`) or (epoch, index)."""
        plan, image, image_cam, cam, joints_world, family, index, frame_cam = self.plan(key)
        crop_image = augment.render(image, image_cam, cam, plan, self._bank)
        return {"image": torch.from_numpy(np.ascontiguousarray(crop_image.transpose(2, 0, 1))),
                **self.labels(plan, cam, joints_world, family, index, frame_cam)}

    def labels(self, plan, cam, joints_world_mm, family: int, index: int, frame_cam) -> dict:
        """The ground truth of an item (everything but the image), from its Plan.
        crop_to_frame (3, 3) turns crop-camera coordinates into the original (frame) camera's
        axes (both share the optical centre), for the loss in the paper's frame
        (`posebook.loss`)."""
        S = self.side
        joints_cam_mm, joints_px = plan.crop_joints(cam, joints_world_mm)
        occluded = augment.covered_joints(plan.pastes, self._bank, joints_px, (S, S)) \
            if plan.pastes else np.zeros(skeleton.N_JOINTS, bool)
        in_crop = np.all((joints_px >= -0.5) & (joints_px <= S - 0.5), axis=-1)
        return {
            "intrinsics": torch.as_tensor(cam.K, dtype=torch.float32),
            "crop_to_frame": torch.as_tensor(frame_cam.R @ cam.R.T, dtype=torch.float32),
            "joints_cam_mm": torch.as_tensor(joints_cam_mm, dtype=torch.float32),
            "joints_px": torch.as_tensor(joints_px, dtype=torch.float32),
            "root_depth_mm": torch.tensor(joints_cam_mm[skeleton.ROOT, 2], dtype=torch.float32),
            "occluded": torch.as_tensor(occluded, dtype=torch.bool),
            "in_crop": torch.as_tensor(in_crop, dtype=torch.bool),
            "n_occluders": torch.tensor(len(plan.pastes), dtype=torch.int64),
            "family": torch.tensor(family, dtype=torch.int64),
            "index": torch.tensor(int(index), dtype=torch.int64),
        }
