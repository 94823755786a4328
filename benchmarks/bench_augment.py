"""Speed of the training-time image pipeline on one CPU core: perspective crop with geometric
jitter + occlusion (p = 1, the worst case) + appearance augmentation.

Prints one JSON line per crop size: {"bench", "side_px", "ms_per_image", ..., "device"}.
Run: ``python benchmarks/bench_augment.py [--n 300]``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import cv2
import numpy as np

from posebook import augment, crop
from posebook.data import occluders, synthetic


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    return {"bench": "augment", "side_px": side, "ms_per_image": round(sum(ms.values()), 3),
            **{f"ms_{k}": v for k, v in ms.items()}, "n": n, "threads": 1,
            "device": f"CPU {cpu_name()} (1 core)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="images per size")
    parser.add_argument("--frame-px", type=int, default=512)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    frames = [synthetic.make_frame(rng, args.frame_px) for _ in range(8)]
    bank = occluders.procedural_bank(rng, 300)
    for side in (256, 128):
        bench(frames, bank, side, 20, rng)  # warm-up
        print(json.dumps(bench(frames, bank, side, args.n, rng)), flush=True)


if __name__ == "__main__":
    main()
