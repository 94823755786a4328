"""Figures for occluders and occlusion augmentation (chapter 01).

All functions return a matplotlib Figure (not shown twice: built with `Figure()` directly).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

BACKGROUND_RGB = (215, 215, 215)


def _over_background(rgba: np.ndarray, background=BACKGROUND_RGB) -> np.ndarray:
    alpha = rgba[..., 3:].astype(np.float32) / 255
    out = rgba[..., :3] * alpha + np.asarray(background, np.float32) * (1 - alpha)
    return out.astype(np.uint8)


def occluder_grid(bank, n: int = 24, cols: int = 8, title: str = "",
                  panel_in: float = 1.1) -> Figure:
    """The first `n` occluders of a bank on grey, each panel at the same pixel scale.

    Args:
        bank: list of (h, w, 4) uint8 RGBA occluders (reference scale: sized for a 256 px crop).
    """
    if not len(bank):
        raise ValueError("bank is empty")
    items = list(bank[:n])
    rows = -(-len(items) // cols)
    side = max(max(o.shape[:2]) for o in items)
    fig = Figure(figsize=(cols * panel_in, rows * panel_in + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, occ in zip(axes.ravel(), items):
        ax.imshow(_over_background(occ), extent=(0, occ.shape[1], occ.shape[0], 0))
        ax.set_xlim(-(side - occ.shape[1]) / 2, occ.shape[1] + (side - occ.shape[1]) / 2)
        ax.set_ylim(occ.shape[0] + (side - occ.shape[0]) / 2, -(side - occ.shape[0]) / 2)
    if title:
        fig.suptitle(title)
    return fig


def cutout_on_source(image: np.ndarray, occluder: np.ndarray, box_xyxy_px,
                     title: str = "") -> Figure:
    """A VOC source image with its box, next to the cutout (alpha shown on grey)."""
    x0, y0, x1, y1 = box_xyxy_px
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    left.imshow(image)
    left.add_patch(_rect(x0, y0, x1 - x0, y1 - y0))
    left.set_title("JPEG + box")
    middle.imshow(occluder[..., 3], cmap="gray", vmin=0, vmax=255)
    middle.set_title("alpha (instance mask, soft edge)")
    right.imshow(_over_background(occluder))
    right.set_title("cutout")
    for ax in (left, middle, right):
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def _rect(x, y, w, h):
    from matplotlib.patches import Rectangle
    return Rectangle((x, y), w, h, fill=False, edgecolor="yellow", linewidth=1.5)


def occlusion_levels(draws: dict, joints_px: np.ndarray | None = None,
                     panel_in: float = 1.6) -> Figure:
    """Rows: occlusion probabilities p; columns: independent draws on the same crop.

    Args:
        draws: {p: list of `augment.Occlusion`} (same number per row).
        joints_px: (J, 2) joints in the crop; drawn green when visible, red x when covered.
    """
    from posebook.augment import joints_covered

    ps = list(draws)
    cols = max(len(v) for v in draws.values())
    fig = Figure(figsize=(cols * panel_in + 0.6, len(ps) * panel_in), layout="constrained")
    axes = fig.subplots(len(ps), cols, squeeze=False)
    for row, p in zip(axes, ps):
        for ax, occ in zip(row, draws[p]):
            ax.imshow(occ.image)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{occ.count} occluder{'s' if occ.count != 1 else ''}", fontsize=8)
            if joints_px is not None:
                covered = joints_covered(occ.mask, joints_px)
                ax.scatter(*joints_px[~covered].T, s=8, c="lime", edgecolors="black",
                           linewidths=0.3)
                ax.scatter(*joints_px[covered].T, s=18, c="red", marker="x", linewidths=1.2)
            ax.set_xlim(-0.5, occ.image.shape[1] - 0.5)
            ax.set_ylim(occ.image.shape[0] - 0.5, -0.5)
        row[0].set_ylabel(f"p = {p:g}")
    return fig


def coverage_bars(fraction_by_p: dict, label: str = "") -> Figure:
    """Bar chart: fraction of (in-crop) joints covered by an occluder, per probability p."""
    ps = list(fraction_by_p)
    values = [100 * fraction_by_p[p] for p in ps]
    fig = Figure(figsize=(4.5, 2.8), layout="constrained")
    ax = fig.subplots()
    bars = ax.bar([f"{p:g}" for p in ps], values, color="#4878a8")
    ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
    ax.set_xlabel("occlusion probability p")
    ax.set_ylabel("joints covered (%)")
    ax.set_ylim(0, max(values + [1]) * 1.25)
    if label:
        ax.set_title(label, fontsize=9)
    return fig


def augmentation_row(images, joints_px=None, titles=None, panel_in: float = 1.8) -> Figure:
    """Augmented crops side by side, with their skeletons: left side blue, right side orange.

    Args:
        images: list of (S, S, 3) uint8 crops. joints_px: list of (J, 2) joints per crop, already
            relabelled after a flip (so a correct flip keeps blue on the person's left).
        titles: optional list of panel titles.
    """
    from posebook import skeleton
    from posebook.viz.core import SIDE_COLOURS

    fig = Figure(figsize=(len(images) * panel_in, panel_in + 0.3), layout="constrained")
    axes = fig.subplots(1, len(images), squeeze=False)[0]
    for k, (ax, image) in enumerate(zip(axes, images)):
        ax.imshow(image)
        ax.axis("off")
        if titles is not None:
            ax.set_title(titles[k], fontsize=7)
        if joints_px is None:
            continue
        uv = np.asarray(joints_px[k])
        for parent, child in skeleton.BONES:
            side = SIDE_COLOURS["left"] if child in skeleton.LEFT else \
                SIDE_COLOURS["right"] if child in skeleton.RIGHT else "white"
            ax.plot(*uv[[parent, child]].T, color=side, linewidth=1.5)
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
    return fig
