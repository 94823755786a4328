"""End-to-end training speed (data loading + augmentation + update), images/s.

`posebook.train.Trainer` itself (its DataLoader with the profile's num_workers, its update with
the profile's precision / channels_last / compile), so this measures what `posebook train` does.
--augment cpu: items from PoseDataset (pixel work in the workers); --augment gpu: the GPU
augmentation path (workers draw the augmentation and send cached wide crops, `update` renders
them on the device); default: the profile's `gpu_augment`.

--ratio adds, in the same process, on the same Trainer (same batch, precision, memory format,
compile setting): model_only_images_per_s -- `Trainer.train_step` on one batch already on the
device, nothing loaded -- and the ratio e2e / model-only; and supply_images_per_s -- the loader
alone (plus the rendering on the device for --augment gpu), no model. Every rate is pipelined
(no sync per step; the host reads the losses back every `train.LOSS_FETCH_EVERY` updates, as in
`Trainer.fit`, and once at the end).
--sync-debug (CUDA) counts the host-device synchronisations of the timed updates
(`torch.cuda.set_sync_debug_mode`) and names where they happen (sync_sites).
--count-ops (with --augment gpu) adds a line: what rendering one batch dispatches.
The frame cache holds --n-train frames (built before timing; batches cycle over them: an item's
cost does not depend on which frame it shows, and a small cache builds in seconds).

    python benchmarks/bench_train_e2e.py --profile smoke --steps 10 --ratio
    python benchmarks/bench_train_e2e.py --profile gpu --augment cpu --ratio --sync-debug
"""
from __future__ import annotations

import os
import tempfile
import time
import traceback
import warnings
from collections import Counter

import torch

import common
from posebook import runs, train
from posebook.runtime import loader_workers


def site(stack) -> str:
    """file:line of the innermost posebook (or benchmark) frame of a stack."""
    for frame in reversed(stack):
        if "/posebook/" in frame.filename or "/benchmarks/" in frame.filename:
            return f"{frame.filename.rsplit('/', 2)[-2]}/{frame.filename.rsplit('/', 1)[-1]}" \
                   f":{frame.lineno}"
    return "?"


def run_timed(step, steps: int, warmup: int, trainer, device,
              sync_debug: bool = False) -> tuple[float, int | None, dict]:
    """(seconds, synchronisations, {site: count}) of `steps` calls of `step()` after `warmup`
    calls; the losses are read back as `Trainer.fit` does (and once at the end, timed).
    Synchronisations are counted on CUDA with `sync_debug`, else None."""
    for _ in range(warmup):
        step()
    trainer.fetch_losses()
    common.sync(device)
    count = sync_debug and device.type == "cuda"
    sites: Counter = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        if count:
            warnings.showwarning = lambda message, *a, **k: sites.update(
                [site(traceback.extract_stack()[:-1])] if "synchroniz" in str(message).lower()
                else [])
            torch.cuda.set_sync_debug_mode("warn")
            sites.clear()                  # (switching the mode may report one itself)
        tic = time.perf_counter()
        for _ in range(steps):
            step()
        trainer.fetch_losses()
        if count:
            torch.cuda.set_sync_debug_mode("default")
        common.sync(device)
        seconds = time.perf_counter() - tic
    return seconds, (sum(sites.values()) if count else None), dict(sites.most_common(8))


def render_ops(trainer, batch, device) -> dict:
    """What one `TrainingData.render` (gpu_augment) dispatches, counted by torch.profiler."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        trainer.data.render(batch)
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


def on_device(trainer, batch: dict) -> dict:
    """A loader batch as `train_step` takes it, with the image already on the device."""
    batch = trainer.data.render(batch) if trainer.config.gpu_augment else dict(batch)
    batch["image"] = trainer.images(batch)
    return batch


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--augment", choices=["cpu", "gpu"], default=None,
                   help="augmentation path (default: the profile's gpu_augment)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--compile-mode", default=None,
                   help="torch.compile mode, e.g. reduce-overhead (CUDA graphs)")
    p.add_argument("--ratio", action="store_true",
                   help="also model-only and loader-only rates, and e2e / model-only")
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
    changes = dict(n_val=0, pretrained="none", compile=bool(args.compile or config.compile),
                   n_train=min(config.n_train, args.n_train))   # frames repeat; same speed
    if args.batch:
        changes["batch_size"] = args.batch
    if args.workers is not None:
        changes["num_workers"] = args.workers
    if args.augment is not None:
        changes["gpu_augment"] = args.augment == "gpu"
    if args.compile_mode:
        changes["compile_mode"] = args.compile_mode
    config = config.replace(**changes)
    trainer = train.Trainer(config, runs.folder("bench_e2e"), progress=False)
    ds = trainer.data.dataset
    tic = time.perf_counter()
    ds[0]                                                     # build the frame cache
    ds.occluders
    cache_s = time.perf_counter() - tic
    B, total = config.batch_size, args.steps + args.warmup
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    extra, first = {}, next(iter(trainer.data.loader([0])))
    if args.ratio:                       # the model alone, on the same Trainer (compiles here)
        fixed = on_device(trainer, first)
        seconds, _, _ = run_timed(lambda: trainer.train_step(fixed), args.steps,
                                  args.warmup, trainer, device)
        extra["model_only_images_per_s"] = round(B * args.steps / seconds, 2)
    batches = iter(trainer.data.loader(range(total)))
    seconds, syncs, sites = run_timed(lambda: trainer.update(next(batches)), args.steps,
                                      args.warmup, trainer, device, args.sync_debug)
    e2e = B * args.steps / seconds
    if args.ratio:
        extra["e2e_over_model_only"] = round(e2e / extra["model_only_images_per_s"], 3)
        supply = iter(trainer.data.loader(range(total)))
        seconds, _, _ = run_timed(lambda: on_device(trainer, next(supply)), args.steps,
                                  args.warmup, trainer, device)
        extra["supply_images_per_s"] = round(B * args.steps / seconds, 2)
    common.emit("train_e2e", args, config, device, B,
                augment="gpu" if config.gpu_augment else "cpu", **common.run_fields(config, device),
                frame_px=config.frame_px,
                occlusion_p=config.occlusion_p, num_workers=loader_workers(config),
                n_train_frames=config.n_train, steps=args.steps,
                step_ms=round(1e3 * B / e2e, 2), images_per_s=round(e2e, 2), **extra,
                peak_mem_gib=common.peak_memory_gib(device),
                frame_cache_build_s=round(cache_s, 2), loader="posebook.data.training.TrainingData.loader",
                fused_adam=device.type == "cuda", pin_memory=device.type == "cuda",
                loss_fetch_every=trainer.loss_fetch_every, syncs_in_timed_steps=syncs,
                sync_sites=sites if args.sync_debug else None)
    if args.count_ops and config.gpu_augment:
        trainer.data.render(first)                                     # warm: bank, allocator
        common.emit("render_ops", args, config, device, B, input_px=config.input_px,
                    occlusion_p=config.occlusion_p, **render_ops(trainer, first, device))


if __name__ == "__main__":
    main()
