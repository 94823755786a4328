"""Speed of the training-time image pipeline on one CPU core: the Plan's draw, then the CPU
renderer's stages: perspective crop with geometric jitter, occlusion (p = 1, the worst case),
appearance.

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

from posebook import augment, camera
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
    parts = {"draw": 0.0, "crop": 0.0, "occlude": 0.0, "appearance": 0.0}
    shapes = [o.shape for o in bank]
    for i in range(n):
        frame = frames[i % len(frames)]
        t0 = time.perf_counter()
        plan = augment.draw(rng, side, shapes, occlusion_p=1.0)
        t1 = time.perf_counter()
        cam = plan.crop_camera(frame.camera, frame.box_xywh_px)
        image = camera.reproject_image(frame.image, frame.camera, cam, (side, side))
        t2 = time.perf_counter()
        image = augment.cpu.paste(image, plan.pastes, bank)
        t3 = time.perf_counter()
        augment.cpu.restyle(image, plan.look)
        t4 = time.perf_counter()
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            parts[key] += dt
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
