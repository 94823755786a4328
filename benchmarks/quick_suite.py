"""How long `make test-quick` takes (target: under 90 s on the 2-core CPU machine) and whether
it runs code of every posebook module (coverage.py, when installed).

    python benchmarks/quick_suite.py                 # wall time of `pytest -m "not slow"`, 3 runs
    python benchmarks/quick_suite.py --coverage      # one run under coverage: lines run per module

Prints one JSON line: the command, wall seconds per run (min/median/max), tests passed, the
1-minute load average before each run, the commit; with --coverage, each module's share of lines
run and the modules of which no line ran (only the pytest process is measured: code that runs
only in spawned workers or subprocesses counts as not run).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ["-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider"]


def run_suite(prefix: list[str]) -> tuple[float, int]:
    """Wall seconds and tests passed of one quick-suite run; a failing suite is an error."""
    tic = time.perf_counter()
    proc = subprocess.run([sys.executable, *prefix, *PYTEST], cwd=ROOT, capture_output=True,
                          text=True)
    wall = time.perf_counter() - tic
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0:
        failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
        sys.exit("\n".join([f"quick_suite: the quick suite failed: {last}", *failed]))
    return wall, int(re.search(r"(\d+) passed", last).group(1))


def module_coverage(data_file: Path) -> dict[str, float]:
    """Share of lines run per posebook module (dotted name), from a coverage data file."""
    import coverage
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    shares = {}
    for path in sorted((ROOT / "posebook").rglob("*.py")):
        _, statements, _, missing, _ = cov.analysis2(str(path))
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        shares[name] = 1.0 if not statements else 1 - len(missing) / len(statements)
    return shares


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    p.add_argument("--coverage", action="store_true",
                   help="one run under coverage.py instead (slower; not a timing)")
    args = p.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    record = {"bench": "quick_suite", "commit": commit, "python": sys.version.split()[0],
              "command": "python " + " ".join(["benchmarks/quick_suite.py", *sys.argv[1:]])}
    if args.coverage:
        try:
            import coverage  # noqa: F401
        except ImportError:
            sys.exit("quick_suite: --coverage needs coverage.py (pip install coverage)")
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / ".coverage"
            _, passed = run_suite(["-m", "coverage", "run", f"--data-file={data}",
                                   f"--source={ROOT / 'posebook'}"])
            shares = module_coverage(data)
        record |= {"passed": passed, "modules": len(shares),
                   "no_line_run": [m for m, s in shares.items() if s == 0],
                   "lowest": dict(sorted(shares.items(), key=lambda kv: kv[1])[:8]),
                   "lines_run_share": {m: round(s, 3) for m, s in shares.items()}}
    else:
        walls, loads = [], []
        for _ in range(args.repeat):
            loads.append(round(os.getloadavg()[0], 2))
            wall, passed = run_suite([])
            walls.append(round(wall, 1))
        record |= {"passed": passed, "wall_s": walls, "min_s": min(walls),
                   "median_s": statistics.median(walls), "max_s": max(walls),
                   "loadavg_1min_before": loads, "target_s": 90}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
