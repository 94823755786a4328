"""The frame cache: every frame of a source rendered once, as a wide perspective crop.

Rendering is the slow part, so each frame is rendered once and kept as a perspective crop with a
wider field of view (`CACHE_FIELD` x the model crop, same pixel scale) in a ``.npy`` memory map
under `paths.cache_dir()` (`cache_path`: keyed by what identifies the source's frames, e.g. the
synthetic split's data_seed, data_version, split, n and frame_px, plus input_px and the cache
version) and
checked against a stored checksum when opened (a corrupt or stale cache is rebuilt, never used).
A `PoseDataset` item is then one cheap reprojection from the cached crop camera to the
(jittered) crop camera. Every core renders the cache (forked processes, `runtime.usable_cores`;
the bytes do not depend on how many). Splits bigger than ``config.frame_cache_gb`` are rendered
on the fly instead, a few times slower per item (benchmarks/RESULTS.md: "frame supply").

    cache = FrameCache(frames, input_px, cache_path("synthetic", key, input_px), workers)
    view = cache.get(i)            # FrameView: wide crop, its camera, the frame's camera, ...
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import crop, paths, runtime
from ..camera import Camera

CACHE_VERSION = 1
CACHE_FIELD = 1.5                 # cached crop covers 1.5x the model crop's field of view
BUILD_CHUNK = 256                 # frames per task when several processes render a cache
FILL = 0.9                        # the person box fills this much of the model crop
META_KEYS = ("K", "R", "t", "crop_K", "crop_R", "box", "joints", "family")


@dataclass(frozen=True, eq=False)
class FrameView:
    """One frame as `PoseDataset` reads it: an image of it with that image's camera (the cached
    wide crop, the frame itself, or its wide crop), and the frame's own ground truth.

    image: (H, W, 3) uint8 RGB (a wide crop: (C, C, 3), C = `wide_side(input_px)`).
    image_camera: the camera of `image` (undistorted for a wide crop).
    frame_camera: the original frame's camera (its axes are the loss's frame).
    box_xywh_px: (4,) person box in the original frame, pixels.
    joints_world_mm: (17, 3) world joints, mm.
    family_id: index into the source's family names (posture family or action).
    """
    image: np.ndarray
    image_camera: Camera
    frame_camera: Camera
    box_xywh_px: np.ndarray
    joints_world_mm: np.ndarray
    family_id: int


class FrameCache:
    """Wide crops of every frame of a source, rendered once (see the module docstring).

    `get(i)` -> `FrameView` of frame i: image (C, C, 3) uint8, its crop Camera, the frame
    Camera, box_xywh_px (4,), joints_world_mm (17, 3), family_id. With ``path=None`` everything
    stays in memory.
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
        if self.path is not None:               # in-memory caches travel with the object
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

    def open(self) -> None:
        """Open the cache, rendering it when missing or unusable (what the first `get` does)."""
        if self._images is not None:
            return
        if self.path is not None and self._meta is not None:
            self._images = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
            return
        if self.path is not None:
            try:
                images = np.load(self.path.with_suffix(".npy"), mmap_mode="r")
                with paths.open_npz(self.path.with_suffix(".meta.npz")) as z:
                    meta = {k: z[k] for k in z.files}
                want = (len(self.frames), self.side, self.side, 3)
                if images.shape != want or images.dtype != np.uint8:
                    raise ValueError(f"shape {images.shape}, expected {want}")
                if str(meta["checksum"]) != _checksum(images, meta):
                    raise ValueError("checksum mismatch")
                self._images, self._meta = images, meta
                return
            except (FileNotFoundError, NotADirectoryError):   # none yet, or nowhere to put it
                pass
            except Exception as error:   # corrupt or truncated: say so, then rebuild
                warnings.warn(f"frame cache {self.path} is unusable ({error}); rebuilding it")
        self._build()

    def get(self, i: int) -> FrameView:
        self.open()
        m = self._meta   # checksummed cameras built by `Camera`: no need to check them again
        K, R, t, crop_K, crop_R = (np.array(m[k][i], dtype=np.float64)
                                   for k in ("K", "R", "t", "crop_K", "crop_R"))
        frame_cam = Camera._trusted(K, R, t, None, "opencv")
        crop_cam = Camera._trusted(crop_K, crop_R, t.copy(), None, "opencv")
        return FrameView(self._images[i], crop_cam, frame_cam, m["box"][i], m["joints"][i],
                         int(m["family"][i]))


def _checksum(images: np.ndarray, meta: dict) -> str:
    h = hashlib.blake2b(digest_size=16)
    for k in sorted(meta):
        if k != "checksum":
            h.update(np.ascontiguousarray(meta[k]).tobytes())
    for start in range(0, len(images), 256):
        h.update(np.ascontiguousarray(images[start:start + 256]).tobytes())
    return h.hexdigest()


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
        try:
            with concurrent.futures.ProcessPoolExecutor(
                    workers, mp_context=context, initializer=runtime.die_with_parent,
                    initargs=(os.getpid(),)) as pool:
                parts = list(pool.map(_render_file_chunk, *zip(
                    *[(frames, input_px, file, a, b) for a, b in chunks])))
        except concurrent.futures.BrokenExecutor:   # BrokenProcessPool
            raise OSError(f"frame cache {file}: a rendering process was killed (by the "
                          f"system, out of memory?); run again, or set frame_cache_gb=0 to "
                          f"render frames on the fly") from None
    return {k: np.concatenate([part[k] for part in parts]) for k in META_KEYS}


def _check_disk(path, needed_bytes: int) -> None:
    free = shutil.disk_usage(path.parent).free
    if needed_bytes + (1 << 30) > free:
        raise OSError(
            f"frame cache {path}.npy needs {needed_bytes / 2**30:.1f} GiB but "
            f"{path.parent} has {free / 2**30:.1f} GiB free (1 GiB kept spare): point "
            f"POSEBOOK_CACHE at a larger disk, or set frame_cache_gb=0 to render frames on "
            f"the fly (slower; different pixels, so a different run)")


def cache_path(source: str, frames_key: dict, input_px: int) -> Path:
    """Where the frame cache of a source's split lives: keyed by `frames_key` (what identifies
    the frames, given by the source: for a synthetic split data_seed, data_version, split, n,
    frame_px), input_px, the cache version and field."""
    key = dict(frames_key, input_px=input_px, version=CACHE_VERSION, field=CACHE_FIELD)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return paths.cache_dir() / "frames" / f"{source}-{digest}"
