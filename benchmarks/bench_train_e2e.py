"""End-to-end training speed (data loading + augmentation + update), images/s.

--augment cpu (default): `posebook.train.Trainer` itself (its DataLoader over PoseDataset with the
profile's num_workers, its update with the profile's amp / channels_last / compile), so this
measures what `posebook train` does. --augment gpu: the GPU augmentation path (workers draw the
augmentation and send cached wide crops; `gpu_augment.apply` renders on the device), with pinned
memory, persistent workers and fused Adam, and the same model step.

The frame cache (rendering --n-train frames) is built before timing; batches cycle over those
frames (an item's cost does not depend on which frame it shows).
--workers overrides num_workers.

    python benchmarks/bench_train_e2e.py --profile smoke --steps 10
    python benchmarks/bench_train_e2e.py --profile gpu --augment gpu --workers 14 --steps 50
"""
from __future__ import annotations

import os
import tempfile
import time

import torch

import common
import gpu_path
from posebook import gpu_augment as ga, train


def timed_loop(batches, step, steps: int, warmup: int, device) -> float:
    """Seconds for `steps` updates after `warmup` (data loading included)."""
    it = iter(batches)
    for _ in range(warmup):
        step(next(it))
    common.sync(device)
    tic = time.perf_counter()
    for _ in range(steps):
        step(next(it))
    common.sync(device)
    return time.perf_counter() - tic


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--augment", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--n-train", type=int, default=512,
                   help="distinct frames rendered into the cache before timing")
    args = p.parse_args()
    os.environ.setdefault("POSEBOOK_CACHE", tempfile.mkdtemp(prefix="posebook-bench-"))
    os.environ.setdefault("POSEBOOK_RUNS", tempfile.mkdtemp(prefix="posebook-bench-runs-"))
    config, device = common.setup(args)
    changes = dict(device=device.type, n_val=0, pretrained="none",
                   compile=bool(args.compile or config.compile))
    if args.batch:
        changes["batch_size"] = args.batch
    if args.workers is not None:
        changes["num_workers"] = args.workers
    total = args.steps + args.warmup
    changes["n_train"] = min(config.n_train, args.n_train)   # frames repeat; speed is the same
    config = config.replace(**changes)
    trainer = train.Trainer(config, train.run_dir_for("bench_e2e"), progress=False)
    ds = trainer.train_set
    tic = time.perf_counter()
    ds[0]                                                     # build the frame cache
    ds.occluders
    cache_s = time.perf_counter() - tic
    steps = list(range(total))
    if args.augment == "cpu":
        seconds = timed_loop(trainer.loader(0, steps), trainer.update, args.steps, args.warmup,
                             device)
        extra = dict(loader="posebook.train.Trainer.loader", fused_adam=False,
                     pin_memory=device.type == "cuda", persistent_workers=False)
    else:
        items = gpu_path.GpuPathItems(ds)
        batches = [train.batch_indices(config.seed, s, len(ds), config.batch_size)[1].tolist()
                   for s in steps]
        workers = config.num_workers
        loader = torch.utils.data.DataLoader(
            items, batch_sampler=batches, num_workers=workers, collate_fn=gpu_path.collate,
            pin_memory=device.type == "cuda", persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None)
        bank = ga.OccluderBank(ds.occluders, device)
        if device.type == "cuda":  # what train.py would change for the fast path (see RESULTS)
            trainer.optimizer = torch.optim.Adam(trainer.model.parameters(), lr=config.lr_min,
                                                 fused=True)

        def step(batch):
            out = gpu_path.render(batch, bank, config.input_px, device)
            batch = {"image": out["image"], "intrinsics": batch["intrinsics"],
                     "joints_cam_mm": batch["joints_cam_mm"]}
            return trainer.update(batch)

        seconds = timed_loop(loader, step, args.steps, args.warmup, device)
        extra = dict(loader="benchmarks/gpu_path.py", fused_adam=device.type == "cuda",
                     pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    batch = config.batch_size
    common.emit("train_e2e", args, config, device, batch, augment=args.augment,
                backbone=config.backbone, input_px=config.input_px, frame_px=config.frame_px,
                occlusion_p=config.occlusion_p, num_workers=config.num_workers,
                amp_bf16=config.amp, channels_last=config.channels_last, compile=config.compile,
                steps=args.steps, step_ms=round(1e3 * seconds / args.steps, 2),
                images_per_s=round(batch * args.steps / seconds, 2),
                frame_cache_build_s=round(cache_s, 2), **extra)


if __name__ == "__main__":
    main()
