"""Data pipeline speed, training crops per second per CPU core, at each crop side:

- path "cpu": `PoseDataset("train")[i]` (cached wide crop -> perspective crop with geometric
  jitter, occlusion with the profile's p, appearance), one thread;
- path "gpu": the GPU augmentation path (`posebook.data.gpu_items`): the worker part (draw the
  same augmentation, no pixels) per core, and the batched pixel work (`augment.gpu.render`) on the
  device; with --device cpu the device part also runs on one CPU thread (a reference only).

Frames are rendered into the dataset's frame cache first (not timed; `render_ms_per_frame` says
what that costs on one core). With ``--cache none`` every item renders its frame (what a split
bigger than ``frame_cache_gb`` costs). The "gpu" line also gives the MiB that rendering one batch
allocates in all (counted on the `meta` device). One JSON line per (path, side).

    python benchmarks/bench_pipeline.py --profile cpu --sides 128,256 --n 64
    python benchmarks/bench_pipeline.py --profile gpu --sides 256 --n 64 --cache none
"""
from __future__ import annotations

import os
import tempfile
import time

import cv2
import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import common
from posebook.augment import gpu
from posebook.data import gpu_items
from posebook.data.dataset import PoseDataset


class AllocatedBytes(TorchDispatchMode):
    """Bytes of every tensor the ops under it create (on the `meta` device: no data), i.e.
    what one render allocates in all; views and in-place ops allocate nothing."""

    bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view and not func._schema.is_mutable:
            self.bytes += sum(t.nbytes for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        return out


def rate(fn, n: int) -> float:
    tic = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - tic)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], batch=32)
    p.add_argument("--sides", default="128,256", help="crop sides in pixels, comma-separated")
    p.add_argument("--n", type=int, default=64, help="distinct frames (cached) and timed items")
    p.add_argument("--occlusion-p", type=float, default=None,
                   help="occlusion probability (default: the profile's occlusion_p)")
    p.add_argument("--cache", choices=("memory", "none"), default="memory",
                   help="frame cache (default) or render every item's frame")
    args = p.parse_args()
    os.environ.setdefault("POSEBOOK_CACHE", tempfile.mkdtemp(prefix="posebook-bench-"))
    config, device = common.setup(args)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if args.occlusion_p is not None:
        config = config.replace(occlusion_p=args.occlusion_p)
    for side in [int(s) for s in args.sides.split(",")]:
        cfg = config.replace(input_px=side, n_train=args.n)
        ds = PoseDataset(cfg, "train", cache=args.cache)
        ds.occluders                                             # not timed: loads the bank
        tic = time.perf_counter()
        ds[0]                                                    # builds the frame cache
        render_ms = 1e3 * (time.perf_counter() - tic) / (args.n if args.cache != "none" else 1)
        common_fields = dict(side_px=side, frame_px=cfg.frame_px, n=args.n, cache=args.cache,
                             occlusion_p=cfg.occlusion_p, n_occluders_bank=len(ds.occluders),
                             render_ms_per_frame=round(render_ms, 2))
        for i in range(min(args.warmup, args.n)):
            ds[i]
        cpu_rate = rate(lambda i: ds[i % args.n], args.n)
        common.emit("pipeline", args, cfg, torch.device("cpu"), 1, path="cpu",
                    crops_per_s_per_core=round(cpu_rate, 2),
                    ms_per_crop=round(1e3 / cpu_rate, 3), **common_fields)

        items = gpu_items.GpuPathItems(ds)
        plan_rate = rate(lambda i: items[i % args.n], args.n)
        bank = gpu.OccluderBank(ds.occluders, device)
        batch = args.batch
        batches = [gpu_items.collate([items[(b * batch + j) % args.n] for j in range(batch)])
                   for b in range(2)]
        times = common.timed(lambda: gpu_items.render(batches[0], bank, device),
                             args.steps, args.warmup, device)
        render_rate = batch / float(np.median(times))
        meta_batch = {**batches[0], "frame": batches[0]["frame"].to("meta")}
        with AllocatedBytes() as allocated:
            gpu_items.render(meta_batch, gpu.OccluderBank(ds.occluders, "meta"), "meta")
        per_core = 1 / (1 / plan_rate + (1 / render_rate if device.type == "cpu" else 0))
        common.emit("pipeline", args, cfg, device, batch, path="gpu",
                    worker_plans_per_s_per_core=round(plan_rate, 2),
                    render_mib_allocated_per_batch=round(allocated.bytes / 2**20, 1),
                    device_crops_per_s=round(render_rate, 2),
                    crops_per_s_per_core=round(per_core, 2),
                    note=("device part on 1 CPU thread (reference)" if device.type == "cpu"
                          else "per core = worker part; device part is device_crops_per_s"),
                    **common_fields)


if __name__ == "__main__":
    main()
