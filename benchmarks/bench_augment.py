"""Speed of the training-time image pipeline on one CPU core: perspective crop with geometric
jitter + occlusion (p = 1, the worst case) + appearance augmentation.

Prints one JSON line per crop size (common fields plus side_px, ms_per_image and its parts).
Run: ``python benchmarks/bench_augment.py [--n 300] [--sides 256,128]``.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
import torch

import common
from posebook import augment, crop
from posebook.data import occluders, synthetic


def bench(frames, bank, side: int, n: int, rng: np.random.Generator) -> dict:
    parts = {"crop": 0.0, "occlude": 0.0, "appearance": 0.0}
    for i in range(n):
        frame = frames[i % len(frames)]
        t0 = time.perf_counter()
        image, _ = crop.perspective_crop(frame.image, frame.camera, frame.box_xywh_px,
                                         out_side=side, **augment.sample_geometry(rng))
        t1 = time.perf_counter()
        image = augment.occlude(image, bank, rng, p=1.0).image
        t2 = time.perf_counter()
        augment.appearance(image, rng)
        t3 = time.perf_counter()
        parts["crop"] += t1 - t0
        parts["occlude"] += t2 - t1
        parts["appearance"] += t3 - t2
    ms = {k: round(1e3 * v / n, 3) for k, v in parts.items()}
    return {"side_px": side, "ms_per_image": round(sum(ms.values()), 3),
            "images_per_s": round(1e3 / max(sum(ms.values()), 1e-9), 1),
            **{f"ms_{k}": v for k, v in ms.items()}, "n": n}


def main() -> None:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="images per size")
    parser.add_argument("--frame-px", type=int, default=512)
    parser.add_argument("--sides", default="256,128", help="crop sides, comma-separated")
    args = parser.parse_args()
    config, _ = common.setup(args)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    frames = [synthetic.make_frame(rng, args.frame_px) for _ in range(8)]
    bank = occluders.procedural_bank(rng, 300)
    for side in (int(s) for s in args.sides.split(",")):
        bench(frames, bank, side, args.warmup, rng)
        common.emit("augment", args, config, torch.device("cpu"), 1, frame_px=args.frame_px,
                    **bench(frames, bank, side, args.n, rng))


if __name__ == "__main__":
    main()
