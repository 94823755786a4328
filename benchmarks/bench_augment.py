"""Speed of the training-time image pipeline on one CPU core: the Plan's draw, then the CPU
renderer's stages: perspective crop with geometric jitter, occlusion (p = 1, the worst case),
appearance.

Prints one JSON line per crop size (common fields plus side_px, ms_per_image and its parts).
Run: ``python benchmarks/bench_augment.py [--n 300] [--sides 256,128]``.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
import torch

import common
from posebook import augment, camera
from posebook.data import occluders, synthetic


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
