"""What posebook chose where the paper does not say.

The paper's text leaves some values out (its plain-text copy lost the inline symbols: the input
size, the heatmap depth, the final occlusion probability, ...) and never states others (learning
rates, batch size, augmentation ranges). `unstated(config)` lists each of them with posebook's
value, read from the run's `RunConfig` and from the defaults of the functions that draw the
augmentation, so the list cannot drift from what runs.
"""
from __future__ import annotations

import inspect

from . import augment, report
from .data import h36m
from .config import RunConfig


def _defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _range(pair, unit: str = "") -> str:
    return f"{pair[0]:g}{unit} to {pair[1]:g}{unit}"


def unstated(config: RunConfig, metrics: report.RunMetrics | None = None) -> list[tuple[str, str]]:
    """(quantity, posebook's choice) for every value of `config`'s run the paper does not give.

    Every row is posebook's choice, not the paper's; values come from `config` (the run's own,
    `runs.load(...).config`) and from the defaults of `augment.draw_geometry`,
    `augment.draw_look` and `augment.draw_pastes` (what `augment.draw` uses). With the run's
    `metrics` (`report.RunMetrics`) the ensemble row says which weights the run used; without
    them, only what `config` asks for.
    """
    c = config
    geometry, look, occlusion = (_defaults(augment.draw_geometry), _defaults(augment.draw_look),
                                 _defaults(augment.draw_pastes))
    length = (f"{c.epochs:g} epochs, LR cycles of {c.cycle_epochs:g} epochs" if c.epochs > 0
              and c.cycle_epochs > 0 else f"{c.epochs:g} epochs, one LR cycle" if c.epochs > 0
              else f"{c.steps} steps, LR cycles of {c.cycle_steps} steps")
    return [
        ("input crop side", f"{c.input_px} px"),
        ("backbone output stride", f"{c.stride} (heatmaps of {c.input_px // c.stride} x "
                                   f"{c.input_px // c.stride} cells)"),
        ("depth cells D of each joint's volume", f"{c.depth_bins}"),
        ("depth extent of the volume, centred on the root", f"{c.box_depth_mm:g} mm"),
        ("focal length the depth head assumes", f"{c.canonical_focal_px or 1.5 * c.input_px:g} px"),
        ("learning-rate range (triangular cycles)", f"{c.lr_min:g} to {c.lr_max:g}"),
        ("run length and LR cycle", length),
        ("snapshots kept / ensembled",
         f"{c.snapshots} / {report.sentences.ensemble_used(metrics, c.ensemble)}"),
        ("batch size", f"{c.batch_size}"),
        ("Adam weight decay", f"{c.weight_decay:g}"),
        ("occlusion probability p of this run", f"{c.occlusion_p:g}"),
        ("occluder size (times crop side / 256)", _range(occlusion["scale"])),
        ("challenge setting: global focal length", f"{c.focal_px:g} px"),
        ("Human3.6M frames used (prepare-h36m)", f"every {h36m.TRAIN_STRIDE}th video frame of the "
                                                 f"training subjects, every {h36m.TEST_STRIDE}th "
                                                 f"of S9 and S11 (other papers' convention)"),
        ("augmentation: scale", _range(geometry["scale_range"])),
        ("augmentation: in-plane rotation", f"up to ±{geometry['roll_deg']:g}°"),
        ("augmentation: translation", f"up to ±{geometry['shift_frac']:g} of the crop side"),
        ("augmentation: horizontal flip probability", f"{geometry['flip_p']:g}"),
        ("augmentation: hue rotation", f"up to ±{look['hue_deg']:g}°"),
        ("augmentation: saturation, contrast factors", f"{_range(look['saturation'])}, "
                                                       f"{_range(look['contrast'])}"),
        ("augmentation: brightness shift", f"up to ±{look['brightness']:g} of full scale"),
        ("augmentation: blur", f"probability {look['blur_p']:g}, sigma "
                               f"{_range(look['blur_sigma_px'], ' px')}"),
    ]


def table(config: RunConfig, metrics: report.RunMetrics | None = None) -> report.Table:
    """`unstated` of a run (`metrics`, whose own config is used) as a table captioned with its
    name, or of `config` when there is no run."""
    if metrics is not None:
        config = metrics.config
    where = (f"in run {metrics.name}" if metrics is not None else
             f"in the {config.profile} profile's configuration (no Human3.6M run here)")
    return report.Table(("quantity", "posebook's choice"), unstated(config, metrics),
                        caption="values the paper does not give: posebook's choices " + where)
