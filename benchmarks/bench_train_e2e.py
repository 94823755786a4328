"""End-to-end training speed (data loading + augmentation + update), images/s.

`posebook.train.Trainer` itself (its DataLoader with the profile's num_workers, its update with
the profile's amp / channels_last / compile), so this measures what `posebook train` does.
--augment cpu (default): items from PoseDataset (pixel work in the workers); --augment gpu:
`gpu_augment=True`, the GPU augmentation path (`posebook.data.gpu_items`: workers draw the
augmentation and send cached wide crops, `update` renders them on the device).

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

import common
from posebook import train


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
    changes["gpu_augment"] = args.augment == "gpu"
    config = config.replace(**changes)
    trainer = train.Trainer(config, train.run_dir_for("bench_e2e"), progress=False)
    ds = trainer.train_set.dataset if config.gpu_augment else trainer.train_set
    tic = time.perf_counter()
    ds[0]                                                     # build the frame cache
    ds.occluders
    cache_s = time.perf_counter() - tic
    steps = list(range(total))
    if config.gpu_augment and config.occlusion_p > 0:
        trainer.render(next(iter(trainer.loader(0, steps[:1]))))   # the occluder bank on device
    seconds = timed_loop(trainer.loader(0, steps), trainer.update, args.steps, args.warmup,
                         device)
    extra = dict(loader="posebook.train.Trainer.loader", fused_adam=device.type == "cuda",
                 pin_memory=device.type == "cuda", persistent_workers=False)
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
