"""Does a speed setting change accuracy? Train setting A and setting B of one profile on the same
data over a few seeds and compare the clean test MPJPE against the seed-to-seed spread.

A and B are lists of overrides (``key=value,key=value``) on top of the profile and its --set
overrides. Default: A = the fast path off (float32, NCHW, eager), B = the profile as it is. The
`gpu` profile's switch to batch 128 + compile, at a tenth of its length (same images seen):

    python benchmarks/fastpath_accuracy.py --profile gpu --seeds 0,1 \\
        --set n_train=8000,n_val=0,n_test=1000 \\
        --a batch_size=64,steps=1200,cycle_steps=400,compile=false \\
        --b batch_size=128,steps=600,cycle_steps=200
    python benchmarks/fastpath_accuracy.py --profile smoke --seeds 0,1

Prints one JSON line per run and a summary line: mean and standard deviation per setting and
whether the difference of the means is within two standard deviations of the larger spread.
"""
from __future__ import annotations

import os
import statistics
import tempfile

import common
from posebook import report, train
from posebook.config import apply_overrides

FAST_PATH_OFF = "amp=false,channels_last=false,compile=false"


def overrides(text: str) -> list[str]:
    return [item for item in text.split(",") if item.strip()]


def main() -> None:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--a", default=FAST_PATH_OFF, help="overrides of setting A")
    parser.add_argument("--b", default="", help="overrides of setting B")
    args = parser.parse_args()
    args.overrides = [item for text in args.overrides for item in overrides(text)]
    config, device = common.setup(args)
    settings = {"a": apply_overrides(config, overrides(args.a)),
                "b": apply_overrides(config, overrides(args.b))}
    results: dict[str, list[float]] = {"a": [], "b": []}
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["POSEBOOK_RUNS"] = scratch  # throw-away runs
        for seed in (int(s) for s in args.seeds.split(",")):
            for name, setting in settings.items():
                run_dir = train.train(setting.replace(seed=seed), f"{name}_{seed}",
                                      progress=False)
                metrics = report.read(run_dir)
                results[name].append(metrics.test.mpjpe_mm)
                common.emit("fastpath_accuracy", args, setting, device, setting.batch_size,
                            seed=seed, setting=name, overrides=getattr(args, name),
                            **common.run_fields(setting, device), steps=setting.steps,
                            train_seconds=round(metrics.train_seconds, 2),
                            test_mpjpe_mm=round(metrics.test.mpjpe_mm, 2))
    a, b = results["a"], results["b"]
    spread = max(statistics.stdev(a), statistics.stdev(b)) if len(a) > 1 else float("nan")
    common.emit("fastpath_accuracy_summary", args, config, device, config.batch_size,
                a=args.a, b=args.b, seeds=len(a), a_mean_mm=round(statistics.mean(a), 2),
                b_mean_mm=round(statistics.mean(b), 2), seed_std_mm=round(spread, 2),
                within_noise=abs(statistics.mean(a) - statistics.mean(b)) <= 2 * spread)


if __name__ == "__main__":
    main()
