"""Triangular cyclical learning rate (Smith 2017, "Cyclical Learning Rates for Training Neural
Networks"), arranged so that training ends exactly at a learning-rate minimum.

The rate climbs linearly from `lr_min` to `lr_max` over half a cycle and falls back over the
other half. The cycle length is stretched slightly so that a whole number of cycles fills the
run (`config.steps` updates, `config.cycle_steps` per cycle as asked); the last update of every
cycle uses `lr_min`. The weights after those updates are the snapshot-ensemble members.

The schedule is a pure function of the step, so resuming needs only the step count.
"""
from __future__ import annotations

import numpy as np


def n_cycles(steps: int, cycle_steps: int) -> int:
    """Whole cycles in a run of `steps` updates (at least one)."""
    if steps < 1 or cycle_steps < 1:
        raise ValueError(f"steps and cycle_steps must be >= 1, got {steps} and {cycle_steps}")
    return max(1, round(steps / cycle_steps))


def lr_at(step: int, steps: int, cycle_steps: int, lr_min: float, lr_max: float) -> float:
    """Learning rate of update number `step` (0-based) in a run of `steps` updates."""
    ends = minima_steps(steps, cycle_steps)
    k = next((i for i, end in enumerate(ends) if step < end), len(ends) - 1)
    start = ends[k - 1] if k > 0 else 0
    frac = (step + 1 - start) / (ends[k] - start)   # in (0, 1]; 1 at the cycle's last update
    height = 1.0 - abs(2.0 * frac - 1.0)           # 0 at the cycle ends, 1 in the middle
    return lr_min + (lr_max - lr_min) * height


def minima_steps(steps: int, cycle_steps: int) -> list[int]:
    """Update counts after which the learning rate was at a minimum (cycle ends), ascending."""
    n = n_cycles(steps, cycle_steps)
    return [round(k * steps / n) for k in range(1, n + 1)]


def snapshot_steps(steps: int, cycle_steps: int, snapshots: int) -> list[int]:
    """The last `snapshots` minima: when the snapshot-ensemble weights are saved."""
    return minima_steps(steps, cycle_steps)[-max(1, snapshots):]


def curve(config) -> np.ndarray:
    """(steps,) learning rate of every update of `config` (a RunConfig)."""
    return np.array([lr_at(s, config.steps, config.cycle_steps, config.lr_min, config.lr_max)
                     for s in range(config.steps)])
