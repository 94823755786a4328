"""A finished run's metrics.json as typed, frozen values: `RunMetrics` with one `SplitMetrics`
per test set and the `EnsembleChoice` that `evaluate.choose_members` recorded.

The raw dict comes from the run folder's reader (`runs.load(...).metrics`); this module is the
one place that knows metrics.json's keys (the writer is `evaluate.evaluate_all`). Keys an older
posebook did not write read as None (or empty), so every saved run still loads.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import runs
from ..config import RunConfig

SPLITS = ("test", "test_occluded", "train")


@dataclass(frozen=True)
class SplitMetrics:
    """Every number of one test set (`evaluate.split_metrics`); errors in mm, root-relative."""
    mpjpe_mm: float
    n: int | None = None                          # test images
    pa_mpjpe_mm: float | None = None              # after the best similarity alignment
    lr_swapped_mpjpe_mm: float | None = None      # against the left/right-swapped ground truth
    mean_pose_baseline_mm: float | None = None    # always guessing the mean training pose
    mpjpe_abs_mm: float | None = None             # no root subtraction; absolute-loss runs only
    root_depth_error_mm: float | None = None      # |predicted - true| pelvis depth (newer runs)
    root_depth_error_pct: float | None = None     # the same, % of the true depth
    protocol1_mm: float | None = None             # Human3.6M: mean over actions
    occluded_mm: float | None = None              # joints under an occluder
    visible_mm: float | None = None               # the other joints
    n_occluded: int = 0
    n_visible: int = 0
    per_joint_mm: dict[str, float] = field(default_factory=dict)    # joint name -> mm
    per_family_mm: dict[str, float] = field(default_factory=dict)   # action / family -> mm

    @classmethod
    def from_dict(cls, raw: dict) -> SplitMetrics:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


@dataclass(frozen=True)
class EnsembleChoice:
    """Which weights a run was measured with (`evaluate.choose_members`)."""
    members: tuple[str, ...]                      # checkpoint names averaged
    used: str = ""                                # "ensemble" | "last"
    rule: str = ""                                # "validation" | "fixed"
    reason: str | None = None
    val_mpjpe_mm: dict[str, float] = field(default_factory=dict)   # candidate -> validation mm

    @classmethod
    def from_dict(cls, raw: dict) -> EnsembleChoice:
        return cls(members=tuple(raw.get("members", ())), used=raw.get("used", ""),
                   rule=raw.get("rule", ""), reason=raw.get("reason"),
                   val_mpjpe_mm=dict(raw.get("val_mpjpe_mm") or {}))


@dataclass(frozen=True)
class RunMetrics:
    """A finished run's metrics.json (`evaluate.evaluate_all` writes every key)."""
    name: str                                     # the run folder's name
    config: RunConfig                             # the run's full config, as trained
    test: SplitMetrics
    test_occluded: SplitMetrics | None = None
    train: SplitMetrics | None = None             # own training samples, unaugmented (newer runs)
    occluders: str = "unknown"                    # occluder source label
    backbone_weights: str = "unknown"             # ImageNet file or random init, as trained
    steps: int = 0
    snapshots: tuple[str, ...] = ()
    ensemble_choice: EnsembleChoice | None = None
    train_seconds: float = 0.0
    variants: dict[str, float] = field(default_factory=dict)  # "<split>/<flip>/<weights>" -> mm

    @property
    def members(self) -> tuple[str, ...]:
        """Checkpoint names of the models the run's numbers average ("last" alone by default)."""
        return self.ensemble_choice.members if self.ensemble_choice else (runs.LAST,)

    @property
    def uses_ensemble(self) -> bool:
        return bool(self.ensemble_choice) and self.ensemble_choice.used == "ensemble"

    def split(self, name: str) -> SplitMetrics:
        """"test", "test_occluded" or "train"; ValueError when the run has no such split."""
        value = getattr(self, name, None) if name in SPLITS else None
        if value is None:
            raise ValueError(f"run {self.name!r} has no {name!r} split (has {SPLITS})")
        return value

    @classmethod
    def from_dict(cls, raw: dict) -> RunMetrics:
        """From a metrics.json dict (ValueError naming the run when it is not one)."""
        if not isinstance(raw.get("test"), dict) or "config" not in raw:
            raise ValueError(f"metrics of run {raw.get('name')!r} have no config and test split")
        choice = raw.get("ensemble_choice")
        occluded, train = raw.get("test_occluded"), raw.get("train")
        return cls(
            name=str(raw.get("name", "")), config=RunConfig.from_dict(dict(raw["config"])),
            test=SplitMetrics.from_dict(raw["test"]),
            test_occluded=SplitMetrics.from_dict(occluded) if occluded else None,
            train=SplitMetrics.from_dict(train) if train else None,
            occluders=raw.get("occluders", "unknown"),
            backbone_weights=raw.get("backbone_weights", "unknown"),
            steps=int(raw.get("steps", 0)), snapshots=tuple(raw.get("snapshots", ())),
            ensemble_choice=EnsembleChoice.from_dict(choice) if choice else None,
            train_seconds=float(raw.get("train_seconds", 0.0)),
            variants=dict(raw.get("variants") or {}))


def of(run: runs.Run) -> RunMetrics:
    """The typed metrics of a run read by `runs.load`; FileNotFoundError when it has none."""
    if not run.finished:
        raise FileNotFoundError(f"{run.path} has no {runs.METRICS_FILE}: the run has not "
                                f"finished")
    return RunMetrics.from_dict(run.metrics)


def read(name_or_dir: str | os.PathLike) -> RunMetrics:
    """The typed metrics of a finished run (`runs.resolve` rules for `name_or_dir`)."""
    return of(runs.load(name_or_dir))


def find(name_or_dir: str | os.PathLike) -> RunMetrics | None:
    """`read(name_or_dir)`, or None when there is no finished run there (or it does not read)."""
    try:
        return read(name_or_dir)
    except (FileNotFoundError, ValueError):
        return None
