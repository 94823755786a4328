"""Figures for the training chapter: the cyclical LR schedule, loss and validation curves,
per-joint errors. Each function returns a matplotlib Figure (the chapter displays it)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import schedule


def lr_schedule(config) -> Figure:
    """The triangular cyclical learning rate of a RunConfig, snapshot minima marked."""
    lr = schedule.curve(config)
    snaps = schedule.snapshot_steps(config.steps, config.cycle_steps, config.snapshots)
    fig = Figure(figsize=(7, 2.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(1, len(lr) + 1), lr, color="#1f77b4", lw=1.5)
    ax.scatter(snaps, [lr[s - 1] for s in snaps], color="#d62728", zorder=3,
               label="snapshot (LR minimum)")
    ax.set_xlabel("update")
    ax.set_ylabel("learning rate")
    ax.set_title(f"triangular cyclical LR: {schedule.n_cycles(config.steps, config.cycle_steps)}"
                 f" cycles, {config.lr_min:g} to {config.lr_max:g}")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window < 2:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def training_curves(history: dict, baseline_mm: float | None = None) -> Figure:
    """Training L1 loss (smoothed) and validation MPJPE against the update count.

    Args:
        history: a run's history.json (keys step, loss, lr, val_step, val_mpjpe_mm).
        baseline_mm: the mean-pose baseline MPJPE, drawn as a dashed line when given.
    """
    steps = np.asarray(history.get("step", []), dtype=float) + 1
    loss = np.asarray(history.get("loss", []), dtype=float)
    if len(steps) == 0:
        raise ValueError("history has no training steps (empty 'step' list)")
    window = max(1, len(loss) // 50)
    fig = Figure(figsize=(9, 3), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(steps, loss, color="#bbbbbb", lw=0.6, label="per update")
    left.plot(steps[window - 1:], _smooth(loss, window), color="#1f77b4", lw=1.5,
              label=f"mean of {window}")
    left.set_xlabel("update")
    left.set_ylabel("L1 loss (mm per coordinate)")
    left.set_title("training loss")
    left.legend(fontsize=8)
    val_mm = list(history.get("val_mpjpe_mm", []))
    right.plot(history.get("val_step", []), val_mm, "o-", color="#ff7f0e",
               label="validation MPJPE")
    if baseline_mm is not None:
        right.axhline(baseline_mm, color="#555555", ls="--",
                      label=f"mean-pose baseline ({baseline_mm:.0f} mm)")
    right.set_xlabel("update")
    right.set_ylabel("MPJPE (mm)")
    right.set_title("validation error")
    shown = [v for v in [*val_mm, baseline_mm] if v is not None and np.isfinite(v)]
    right.set_ylim(0, 1.15 * max(shown) if shown else None)   # the baseline stays on the axis
    right.legend(fontsize=8, loc="lower left")
    return fig


def per_joint_errors(metrics) -> Figure:
    """Per-joint MPJPE on the clean and the occluded test set of a `report.RunMetrics`."""
    clean, occl = metrics.test.per_joint_mm, metrics.split("test_occluded").per_joint_mm
    names = list(clean)
    x = np.arange(len(names))
    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x - 0.2, [clean[n] for n in names], 0.4, label="clean test")
    ax.bar(x + 0.2, [occl[n] for n in names], 0.4, label="occluded test")
    ax.set_xticks(x, names, rotation=60, fontsize=8)
    ax.set_ylabel("MPJPE (mm)")
    ax.legend(fontsize=8)
    return fig
