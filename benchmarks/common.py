"""Shared bits of the speed benchmarks: arguments, device names, peak FLOP/s, timing, JSON lines.

Every benchmark prints one JSON object per line with at least: bench, device, device_kind,
profile, batch, threads, torch, loadavg_1min (other work on the machine skews CPU timings),
command (the exact command line), and its measurements.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from posebook import profiles, runtime  # noqa: E402
from posebook.config import RunConfig  # noqa: E402

# Dense bf16 tensor-core peaks (vendor datasheets, no sparsity), FLOP/s.
PEAK_BF16_FLOPS = {"H100 SXM": 989e12, "H100 PCIe": 756e12, "H100 NVL": 835e12, "H200": 989e12,
                   "A100": 312e12, "L40S": 362e12, "A10": 125e12, "RTX 4090": 165e12}


# environment variables that change speed; put in front of the recorded command when set
ENV_KEYS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "POSEBOOK_PROFILE")


def parser(description: str, batch: int | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--profile", default=None, choices=list(profiles.PROFILES),
                   help="run sizes (default: $POSEBOOK_PROFILE, else gpu with CUDA, else cpu)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a RunConfig field (repeatable)")
    p.add_argument("--batch", type=int, default=batch, help="batch size (default: profile's)")
    p.add_argument("--steps", type=int, default=10, help="timed iterations")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = the profile's num_threads, else torch's default)")
    return p


def setup(args) -> tuple[RunConfig, torch.device]:
    """Resolve the profile, then `posebook.runtime.setup` (the training's own device, threads,
    determinism / fast-math settings); --threads overrides the profile's num_threads."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    config = profiles.get(args.profile, args.overrides).replace(device=args.device)
    if args.threads:
        config = config.replace(num_threads=args.threads)
    return config, runtime.setup(config)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({os.cpu_count()} logical cores)"


def peak_flops(device: torch.device, measure_cpu: bool = True) -> tuple[float | None, str]:
    """(peak FLOP/s, how it was obtained). GPUs: datasheet bf16 dense; CPU: a measured fp32
    matmul rate with the current thread count (None when `measure_cpu` is False)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in PEAK_BF16_FLOPS.items():
            if all(part in name for part in key.split()):
                return value, f"{key} bf16 dense datasheet"
        return None, f"unknown peak for {name!r}"
    if not measure_cpu:
        return None, "n/a"
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(5):
        tic = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, (time.perf_counter() - tic) / 4)
    return 2 * 1024 ** 3 / best, f"measured fp32 1024^3 matmul, {torch.get_num_threads()} threads"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds per call of `fn()` for `steps` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        tic = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - tic)
    return times


def emit(bench: str, args, config, device: torch.device, batch: int, **values) -> dict:
    """Print one JSON line (and return it)."""
    record = {"bench": bench, "device": device_name(device), "device_kind": device.type,
              "profile": config.profile, "batch": batch, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "loadavg_1min": round(os.getloadavg()[0], 2), **values,
              "command": " ".join([f"{k}={os.environ[k]}" for k in ENV_KEYS if k in os.environ]
                                  + ["python"] + [shlex.quote(a) for a in sys.argv])}
    print(json.dumps(record), flush=True)
    return record


def autocast(config, device: torch.device):
    """The training's autocast for `config` on `device` (runtime.precision_for)."""
    return runtime.autocast(runtime.precision_for(config, device), device)


def run_fields(config, device: torch.device) -> dict:
    """The settings that change a training step's speed, as recorded in every train record."""
    return dict(backbone=config.backbone, input_px=config.input_px,
                precision=runtime.precision_for(config, device).name,
                channels_last=config.channels_last, compile=config.compile,
                compile_mode=config.compile_mode if config.compile else None)


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak memory allocated by tensors on a CUDA device since the last reset, GiB."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 3)
