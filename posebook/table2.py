"""Table 2 of the paper: Human3.6M protocol 1, and the runs that give posebook's rows.

The study owns its runs: with a prepared Human3.6M copy it trains (or re-uses, through
`train.run_cached`) ``runs/h36m_<profile>_<setting>`` in the profile's setting, shows a finished
run of the other setting too, and always shows the book's synthetic run (chapter 05,
`train.book_run_name`) apart, as a different test set. Settings: ``protocol1`` (ground-truth
boxes, calibrated cameras, the loss on absolute camera coordinates) and ``challenge`` (the ECCV
2018 challenge's detector boxes, one global focal length, root-relative ground truth).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import report, train
from .data import h36m
from .config import RunConfig

SETTINGS = ("protocol1", "challenge")


def run_name(profile: str, setting: str) -> str:
    """``h36m_<profile>_<setting>``, the folder of a Human3.6M run under runs/."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    return f"h36m_{profile}_{setting}"


def run_config(config: RunConfig, h36m_root: str | os.PathLike) -> RunConfig:
    """`config` trained on the prepared Human3.6M copy at `h36m_root` in its own setting; the
    protocol-1 setting trains with the absolute loss (the paper's full model)."""
    loss = "absolute" if config.setting == "protocol1" else config.loss
    return config.replace(dataset="h36m", h36m_root=str(h36m_root), loss=loss)


@dataclass(frozen=True)
class Study:
    """What Table 2 shows: Human3.6M runs by setting, and the book's synthetic run (None when
    chapter 05 has not run); `data_status` is `data.h36m.status` of the root looked at."""
    config: RunConfig
    h36m_root: str
    data_status: str
    h36m: dict[str, report.RunMetrics]
    synthetic: report.RunMetrics | None

    @property
    def own(self) -> report.RunMetrics | None:
        """The Human3.6M run in the profile's own setting, if there is one."""
        return self.h36m.get(self.config.setting)


def run(config: RunConfig, h36m_root: str | os.PathLike | None = None,
        progress: bool | str = True) -> Study:
    """Train or re-use the Human3.6M run of `config`'s setting when `h36m_root` (default
    ``$H36M_ROOT``) holds a prepared copy, find a finished run of the other setting, and the
    book's synthetic run."""
    root = str(h36m_root or os.environ.get("H36M_ROOT", ""))
    status = h36m.status(root)
    found: dict[str, report.RunMetrics] = {}
    if status == "prepared":
        run_dir = train.run_cached(run_config(config, root), run_name(config.profile,
                                                                       config.setting),
                                   progress=progress)
        found[config.setting] = report.read(run_dir)
        other = next(s for s in SETTINGS if s != config.setting)
        metrics = report.find(run_name(config.profile, other))
        if metrics is not None and metrics.test.protocol1_mm is not None:  # by this posebook
            found[other] = metrics
    return Study(config, root, status, found,
                 report.find(train.book_run_name(config.profile)))


def n_train_frames(study: Study) -> int | None:
    """Training frames of the prepared copy (protocol 1's training subjects), None without one."""
    if study.data_status != "prepared":
        return None
    index = h36m.load_index(Path(study.h36m_root))
    return int(sum(s in h36m.TRAIN_SUBJECTS for s in index["subject"]))
