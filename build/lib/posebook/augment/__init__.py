"""Training augmentation: one `Plan` per sample, drawn once, rendered by either of two renderers.

- `plan`: ``draw(rng, side_px, ...) -> Plan`` (crop camera jitter, occluder pastes, appearance;
  the only code that touches a sample's rng) and the labels computed from a Plan
  (`Plan.crop_joints`, `covered_joints`).
- `cpu`: the OpenCV renderer of a Plan (`render`), what `PoseDataset` uses, plus the thin
  helpers `occlude` and `appearance` (one stage drawn and rendered) and `joints_covered`.
- `gpu`: the batched torch renderer of the same Plans, on the device (imported on its own:
  ``from posebook.augment import gpu``).

Test time uses none of these, except the model-side horizontal flip (`model.flip`).
"""
from .cpu import Occlusion, appearance, joints_covered, occlude, render  # noqa: F401
from .plan import (REFERENCE_SIDE_PX, Geometry, Look, Paste, Plan, covered_joints,  # noqa: F401
                   draw, draw_geometry, draw_look, draw_pastes)
