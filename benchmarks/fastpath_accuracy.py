"""Does the fast path change accuracy? Train the same profile with the fast-path switches off and
on (bf16 autocast + channels_last; `--compile` adds torch.compile) over a few seeds and compare
the clean test MPJPE against the seed-to-seed spread.

    python benchmarks/fastpath_accuracy.py --profile smoke --seeds 0,1,2

Prints one JSON line per run and a summary line: mean +- std per setting and whether the
difference of the means is within two standard deviations of the spread.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile

import common

from posebook import train


def main() -> None:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    config, device = common.setup(args)
    fast = {"amp": True, "channels_last": True, "compile": args.compile}
    results: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as runs:
        os.environ["POSEBOOK_RUNS"] = runs  # throw-away runs
        for seed in (int(s) for s in args.seeds.split(",")):
            for setting, changes in (("off", {}), ("on", fast)):
                run_config = config.replace(seed=seed, device=device.type, **changes)
                run_dir = train.train(run_config, f"{setting}_{seed}", progress=False)
                mpjpe = json.loads((run_dir / "metrics.json").read_text())["test"]["mpjpe_mm"]
                results[setting].append(mpjpe)
                common.emit("fastpath_accuracy", args, config, device, config.batch_size,
                            seed=seed, fast_path=setting, test_mpjpe_mm=round(mpjpe, 2))
    off, on = results["off"], results["on"]
    spread = max(statistics.stdev(off), statistics.stdev(on)) if len(off) > 1 else float("nan")
    common.emit("fastpath_accuracy_summary", args, config, device, config.batch_size,
                off_mean_mm=round(statistics.mean(off), 2), on_mean_mm=round(statistics.mean(on), 2),
                seed_std_mm=round(spread, 2),
                within_noise=abs(statistics.mean(off) - statistics.mean(on)) <= 2 * spread)


if __name__ == "__main__":
    main()
