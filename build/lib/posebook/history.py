"""What a run records as it trains: the curves of history.json, the mean-pose sums and the
training time (`History`); the run folder (`runs.RunFolder.save_last`) writes them, the training
state's checkpoint carries them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import skeleton


@dataclass(eq=False)
class History:
    """What a run records as it trains (`RunFolder.save_last` writes it): the curves of
    history.json and, in the checkpoint beside them, the mean-pose sums and the training time.

    step, lr: one entry per update (its index, its learning rate); loss: mm, one per update,
    appended once the losses reach the host; val_step, val_mpjpe_mm: one per validation;
    images_per_s: [the run's rate], set at the end. pose_sum: (J, 3) float64 sum of the
    root-relative training poses (mm) and pose_count their number (evaluate's mean-pose
    baseline). seconds: training time so far (the resumed runs' included).
    """
    step: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val_step: list = field(default_factory=list)
    val_mpjpe_mm: list = field(default_factory=list)
    images_per_s: list = field(default_factory=list)
    pose_sum: torch.Tensor = field(
        default_factory=lambda: torch.zeros(skeleton.N_JOINTS, 3, dtype=torch.float64))
    pose_count: int = 0
    seconds: float = 0.0

    CURVES = ("step", "loss", "lr", "val_step", "val_mpjpe_mm", "images_per_s")

    def add_update(self, step: int, lr: float, joints_cam_mm: torch.Tensor | None = None) -> None:
        """Update `step` at learning rate `lr` on the (B, J, 3) host poses `joints_cam_mm`
        (None: their sums come through `add_poses`)."""
        if joints_cam_mm is not None:
            self.add_poses(*pose_sums(joints_cam_mm))
        self.step.append(step)
        self.lr.append(lr)

    def add_poses(self, pose_sum: torch.Tensor, count: int) -> None:
        """Add (J, 3) float64 sums of `count` root-relative training poses (`pose_sums`)."""
        self.pose_sum += pose_sum
        self.pose_count += int(count)

    def add_validation(self, step: int, mpjpe_mm: float) -> None:
        self.val_step.append(step)
        self.val_mpjpe_mm.append(mpjpe_mm)

    def state_dict(self) -> dict:
        """The checkpoint's entries: "history" (history.json), "pose_sum", "pose_count",
        "seconds"."""
        return {"history": {k: getattr(self, k) for k in self.CURVES},
                "pose_sum": self.pose_sum, "pose_count": self.pose_count, "seconds": self.seconds}

    @classmethod
    def from_state(cls, state: dict) -> History:
        """The History of a checkpoint (`state_dict`'s entries)."""
        return cls(**state["history"], pose_sum=state["pose_sum"],
                   pose_count=int(state["pose_count"]), seconds=float(state.get("seconds", 0.0)))


def pose_sums(joints_cam_mm: torch.Tensor) -> tuple[torch.Tensor, int]:
    """((J, 3) float64 sum of the root-relative poses, their number) of (B, J, 3) host poses."""
    rel = joints_cam_mm.double()
    return (rel - rel[:, :1]).sum(0), len(rel)
