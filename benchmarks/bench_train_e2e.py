"""End-to-end training speed (data loading + augmentation + update), images/s.

`posebook.train.Trainer` itself (its DataLoader with the profile's num_workers, its update with
the profile's amp / channels_last / compile), so this measures what `posebook train` does.
--augment cpu (default): items from PoseDataset (pixel work in the workers); --augment gpu:
`gpu_augment=True`, the GPU augmentation path (`posebook.data.gpu_items`: workers draw the
augmentation and send cached wide crops, `update` renders them on the device).

The frame cache (rendering --n-train frames) is built before timing; batches cycle over those
frames (an item's cost does not depend on which frame it shows).
--count-ops (with --augment gpu) adds a second line: what rendering one batch dispatches, from
torch.profiler (top-level aten ops; on CUDA also kernels, memcpys and synchronising calls).
--sync-debug (CUDA) counts the host-device synchronisations of the timed updates
(`torch.cuda.set_sync_debug_mode`); the design allows one per `train.LOSS_FETCH_EVERY` updates.
--workers overrides num_workers. As in `Trainer.fit`, the host reads the losses back every
`train.LOSS_FETCH_EVERY` updates (inside `update`) and once at the end, nowhere else.

    python benchmarks/bench_train_e2e.py --profile smoke --steps 10
    python benchmarks/bench_train_e2e.py --profile gpu --augment gpu --workers 14 --steps 50
    python benchmarks/bench_train_e2e.py --profile gpu --augment gpu --count-ops --steps 20
"""
from __future__ import annotations

import os
import tempfile
import time
import warnings

import torch

import common
from posebook import runs, train
from posebook.data.dataset import loader_workers


def timed_loop(batches, trainer, steps: int, warmup: int, device,
               sync_debug: bool = False) -> tuple[float, int | None]:
    """(seconds, synchronisations) of `steps` updates after `warmup` (data loading and reading
    the losses back included); synchronisations are counted on CUDA with `sync_debug`, else None."""
    it = iter(batches)
    for _ in range(warmup):
        trainer.update(next(it))
    trainer.fetch_losses()
    common.sync(device)
    count = sync_debug and device.type == "cuda"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if count:
            torch.cuda.set_sync_debug_mode("warn")
        tic = time.perf_counter()
        for _ in range(steps):
            trainer.update(next(it))
        trainer.fetch_losses()
        if count:
            torch.cuda.set_sync_debug_mode("default")
        common.sync(device)
        seconds = time.perf_counter() - tic
    syncs = sum("synchroniz" in str(w.message).lower() for w in caught) if count else None
    return seconds, syncs


def render_ops(trainer, batch, device) -> dict:
    """What one `Trainer.render` (gpu_augment) dispatches, counted by torch.profiler."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        trainer.render(batch)
    common.sync(device)
    events = prof.events()
    aten = [e for e in events if e.name.startswith("aten::")]
    counts = {"render_aten_ops": sum(e.cpu_parent is None or not e.cpu_parent.name.startswith(
        "aten::") for e in aten), "pastes": sum(len(p.pastes) for p in batch["plan"]),
        "max_pastes_per_image": max(len(p.pastes) for p in batch["plan"])}
    if device.type == "cuda":
        on_gpu = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        counts["render_cuda_kernels"] = sum("memcpy" not in e.name.lower() for e in on_gpu)
        counts["render_memcpys"] = sum("memcpy" in e.name.lower() for e in on_gpu)
        counts["render_syncs"] = sum("Synchronize" in e.name for e in events)
    return counts


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--augment", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--sync-debug", action="store_true",
                   help="CUDA: count host-device synchronisations in the timed updates")
    p.add_argument("--count-ops", action="store_true",
                   help="--augment gpu: also count what rendering one batch dispatches")
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
    changes["gpu_augment"] = args.augment == "gpu"
    config = config.replace(**changes)
    trainer = train.Trainer(config, runs.folder("bench_e2e"), progress=False)
    ds = trainer.train_set.dataset if config.gpu_augment else trainer.train_set
    tic = time.perf_counter()
    ds[0]                                                     # build the frame cache
    ds.occluders
    cache_s = time.perf_counter() - tic
    steps = list(range(total))
    if config.gpu_augment and config.occlusion_p > 0:
        trainer.render(next(iter(trainer.loader(steps[:1]))))   # the occluder bank on device
    seconds, syncs = timed_loop(trainer.loader(steps), trainer, args.steps, args.warmup, device,
                                args.sync_debug)
    extra = dict(loader="posebook.train.Trainer.loader", fused_adam=device.type == "cuda",
                 pin_memory=device.type == "cuda", one_loader_per_run=True,
                 loss_fetch_every=trainer.loss_fetch_every, syncs_in_timed_steps=syncs)
    batch = config.batch_size
    common.emit("train_e2e", args, config, device, batch, augment=args.augment,
                backbone=config.backbone, input_px=config.input_px, frame_px=config.frame_px,
                occlusion_p=config.occlusion_p, num_workers=loader_workers(config),
                amp_bf16=config.amp, channels_last=config.channels_last, compile=config.compile,
                steps=args.steps, step_ms=round(1e3 * seconds / args.steps, 2),
                images_per_s=round(batch * args.steps / seconds, 2),
                frame_cache_build_s=round(cache_s, 2), **extra)
    if args.count_ops and config.gpu_augment:
        batch = next(iter(trainer.loader(steps[:1])))
        trainer.render(batch)                                     # warm: bank, allocator
        common.emit("render_ops", args, config, device, config.batch_size,
                    input_px=config.input_px, occlusion_p=config.occlusion_p,
                    **render_ops(trainer, batch, device))


if __name__ == "__main__":
    main()
