"""Speed of the synthetic data path, one core: prints one JSON line per measurement.

    python benchmarks/bench_synthetic.py [--frame-px 512] [--input-px 128] [--n 200]

(one core; the profile's data settings with these sizes)

render: frames/s of `make_frame` (person + room); sample_uncached: render + perspective crop +
augmentation per item (PoseDataset with cache="none"); sample_cached: the same items from the
frame cache (one reprojection of the cached wide crop + augmentation).
"""
import os
import tempfile
import time

import cv2
import numpy as np
import torch

import common
from posebook.data import synthetic
from posebook.data.dataset import PoseDataset


def _rate(fn, n):
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    seconds = time.perf_counter() - start
    return n / seconds, 1000 * seconds / n


def main():
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--frame-px", type=int, default=512)
    parser.add_argument("--input-px", type=int, default=128)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    base, _ = common.setup(args)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    config = base.replace(n_train=args.n, frame_px=args.frame_px, input_px=args.input_px)

    def emit(measure, **values):
        common.emit("synthetic", args, config, torch.device("cpu"), 1, measure=measure,
                    frame_px=args.frame_px, **values)
    per_s, ms = _rate(lambda i: synthetic.make_frame(np.random.default_rng(i), args.frame_px),
                      args.n)
    emit("render", images_per_s=round(per_s, 1), ms_per_frame=round(ms, 2))
    with tempfile.TemporaryDirectory() as cache:
        os.environ["POSEBOOK_CACHE"] = cache
        direct = PoseDataset(config, "train", cache="none")
        per_s, ms = _rate(lambda i: direct[i], args.n)
        emit("sample_uncached", images_per_s=round(per_s, 1), ms_per_sample=round(ms, 2),
             input_px=args.input_px)
        cached = PoseDataset(config, "train")
        start = time.perf_counter()
        cached[0]
        build_s = time.perf_counter() - start
        per_s, ms = _rate(lambda i: cached[i], args.n)
        emit("sample_cached", images_per_s=round(per_s, 1), ms_per_sample=round(ms, 2),
             cache_build_s=round(build_s, 2), input_px=args.input_px)


if __name__ == "__main__":
    main()
