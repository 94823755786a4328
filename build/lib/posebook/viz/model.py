"""Figures for the model chapters: architecture shapes, heatmap volumes, soft-argmax studies."""
from __future__ import annotations

import matplotlib.figure
import numpy as np
import plotly.graph_objects as go

from .. import skeleton
from ..report import Table
from .core import PlotlyHTML


def _shape(shape) -> str:
    return " x ".join(str(s) for s in shape)


def architecture_diagram(summary: dict) -> matplotlib.figure.Figure:
    """Boxes for each stage of one profile's network, labelled with measured output shapes.

    Args:
        summary: a dict from `posebook.model.describe(config)`.
    """
    shapes = summary["shapes"]
    fig = matplotlib.figure.Figure(figsize=(10, 0.55 * len(shapes) + 0.8))
    ax = fig.add_subplot()
    n = len(shapes)
    for i, (name, shape) in enumerate(shapes):
        y = n - i
        head = "head" in name
        colour = "#ffe0b3" if head else ("#dbe9f6" if i else "#e6e6e6")
        ax.add_patch(matplotlib.patches.FancyBboxPatch(
            (0.02, y - 0.38), 0.42, 0.76, boxstyle="round,pad=0.02", fc=colour, ec="#555"))
        ax.text(0.23, y, name, ha="center", va="center", fontsize=10)
        ax.text(0.50, y, _shape(shape), ha="left", va="center", fontsize=10, family="monospace")
        if i:
            ax.annotate("", (0.23, y + 0.4), (0.23, y + 0.62),
                        arrowprops=dict(arrowstyle="<-", color="#555"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0.3, n + 0.7)
    ax.axis("off")
    ax.set_title(f"{summary['profile']}: {summary['backbone']}, input {summary['input_px']} px, "
                 f"stride {summary['stride']}  (output shapes without the batch axis)", fontsize=10)
    return fig


def profiles_table(summaries: list[dict]) -> Table:
    """One row per profile: backbone, sizes, heatmap shape, parameters and GFLOPs per image."""
    rows = []
    for s in summaries:
        heatmap = dict(s["shapes"])["volumetric head"]
        rows.append([s["profile"], s["backbone"], s["input_px"], s["stride"], s["depth_bins"],
                     _shape(heatmap), f"{s['params_backbone']:,}", f"{s['params_heads']:,}",
                     f"{s['gflops']:.3f}"])
    return Table(("profile", "backbone", "input px", "stride", "D", "heatmaps (J x D x h x w)",
                  "backbone params", "head params", "GFLOPs / image"), rows)


def heatmap_volume(heatmaps, joint: int = 16, title: str = "") -> PlotlyHTML:
    """Interactive 3D view of one joint's softmax volume, with its soft- and hard-argmax.

    Args:
        heatmaps: (J, D, h, w) logits of one sample (tensor or array).
        joint: which joint to show (default right wrist).
    """
    logits = np.asarray(heatmaps.detach().cpu() if hasattr(heatmaps, "detach") else heatmaps,
                        dtype=np.float64)
    if logits.ndim != 4:
        raise ValueError(f"expected heatmaps of shape (J, D, h, w), got {logits.shape}")
    volume = logits[joint]
    probs = np.exp(volume - volume.max())
    probs /= probs.sum()
    D, H, W = probs.shape
    z, y, x = np.meshgrid((np.arange(D) + 0.5) / D, (np.arange(H) + 0.5) / H,
                          (np.arange(W) + 0.5) / W, indexing="ij")
    soft = [(probs * c).sum() for c in (x, y, z)]
    hard = np.unravel_index(probs.argmax(), probs.shape)
    fig = go.Figure(go.Volume(
        x=x.ravel(), y=z.ravel(), z=-y.ravel(), value=probs.ravel(), opacity=0.15,
        surface_count=12, isomin=probs.max() * 0.05, isomax=probs.max(), colorscale="Viridis",
        colorbar=dict(title="p")))
    fig.add_trace(go.Scatter3d(x=[soft[0]], y=[soft[2]], z=[-soft[1]], mode="markers",
                               marker=dict(size=6, color="red"), name="soft-argmax"))
    fig.add_trace(go.Scatter3d(x=[(hard[2] + 0.5) / W], y=[(hard[0] + 0.5) / D],
                               z=[-(hard[1] + 0.5) / H], mode="markers",
                               marker=dict(size=6, color="black", symbol="x"), name="hard argmax"))
    fig.update_layout(
        title=title or f"{skeleton.JOINT_NAMES[joint]}: softmax over its {D}x{H}x{W} volume",
        height=480, margin=dict(l=0, r=0, t=40, b=0), legend=dict(orientation="h"),
        scene=dict(xaxis_title="x (image)", yaxis_title="z (depth)", zaxis_title="-y (image)",
                   xaxis_range=[0, 1], yaxis_range=[0, 1], zaxis_range=[-1, 0]))
    return PlotlyHTML(fig)


def heatmap_overlay(image, heatmaps, coords_px=None, title: str = "") -> matplotlib.figure.Figure:
    """The crop with every joint's x-y heatmap (softmax, summed over depth) and predictions,
    with a colour bar of the probabilities.

    Args:
        image: (3, S, S) or (S, S, 3) uint8. heatmaps: (J, D, h, w) logits.
        coords_px: optional (J, >=2) predicted (u, v) in crop pixels.
        title: the figure's title (which network made the heatmaps).
    """
    image = np.asarray(image.cpu() if hasattr(image, "cpu") else image)
    if image.shape[0] == 3:
        image = image.transpose(1, 2, 0)
    logits = np.asarray(heatmaps.detach().cpu() if hasattr(heatmaps, "detach") else heatmaps,
                        dtype=np.float64)
    J = logits.shape[0]
    flat = logits.reshape(J, -1)
    probs = np.exp(flat - flat.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).reshape(logits.shape).sum(1)     # (J, h, w)
    S = image.shape[0]
    fig = matplotlib.figure.Figure(figsize=(8.6, 4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    ax0.imshow(image)
    ax0.set_title("input crop")
    ax1.imshow(image, alpha=0.5)
    shown = ax1.imshow(probs.max(0), extent=(-0.5, S - 0.5, S - 0.5, -0.5), cmap="magma",
                       alpha=0.6, vmin=0.0)
    fig.colorbar(shown, ax=ax1, shrink=0.8,
                 label=f"probability of an x-y cell (uniform: {1 / probs[0].size:.3f})")
    ax1.set_title("max over joints of the x-y marginals")
    if title:
        fig.suptitle(title)
    if coords_px is not None:
        c = np.asarray(coords_px.detach().cpu() if hasattr(coords_px, "detach") else coords_px)
        ax1.scatter(c[:, 0], c[:, 1], s=12, c="cyan", label="soft-argmax")
        ax1.legend(loc="lower right", fontsize=8)
    for ax in (ax0, ax1):
        ax.axis("off")
    return fig


def quantization_table(rows: list[dict]) -> Table:
    """Rows of `softargmax.quantization_errors` as a table (errors in pixels of the crop)."""
    return Table(("cells per axis", "hard argmax mean px", "soft-argmax mean px",
                  "hard argmax max px", "soft-argmax max px"),
                 [(r["cells"], f"{r['hard_px']:.3f}", f"{r['soft_px']:.3g}",
                   f"{r['hard_max_px']:.3f}", f"{r['soft_max_px']:.3g}") for r in rows])


def quantization_plot(results: dict[str, list[dict]], side_px: float = 256) -> matplotlib.figure.Figure:
    """Mean error vs cells per axis, log-log; `results` maps a label to quantization rows."""
    fig = matplotlib.figure.Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    first = next(iter(results.values()))
    ax.plot([r["cells"] for r in first], [r["hard_px"] for r in first], "o-k", label="hard argmax")
    for label, rows in results.items():
        ax.plot([r["cells"] for r in rows], [max(r["soft_px"], 1e-6) for r in rows], "s--",
                label=f"soft-argmax, {label}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("heatmap cells per axis")
    ax.set_ylabel(f"mean 3D error (px of a {side_px:g}-px crop)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def gradient_map(logits_2d, grad_2d) -> matplotlib.figure.Figure:
    """A 2D heatmap's softmax and d(x)/d(logit) for every cell (a single depth cell)."""
    logits_2d, grad_2d = np.asarray(logits_2d), np.asarray(grad_2d)
    probs = np.exp(logits_2d - logits_2d.max())
    probs /= probs.sum()
    fig = matplotlib.figure.Figure(figsize=(8, 3.5))
    ax0, ax1 = fig.subplots(1, 2)
    im0 = ax0.imshow(probs, cmap="viridis")
    ax0.set_title("softmax p")
    fig.colorbar(im0, ax=ax0, shrink=0.8)
    limit = np.abs(grad_2d).max()
    im1 = ax1.imshow(grad_2d, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax1.set_title("d x / d logit = p (x_cell - x)")
    fig.colorbar(im1, ax=ax1, shrink=0.8)
    return fig


def fit_demo(result: dict, target_xy) -> matplotlib.figure.Figure:
    """Heatmap before/after fitting with a coordinate-only L1 loss, and the loss curve."""
    cells = result["initial"].shape[0]
    fig = matplotlib.figure.Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 3)
    for ax, key in zip(axes[:2], ("initial", "final")):
        p = np.exp(result[key] - result[key].max())
        ax.imshow(p / p.sum(), cmap="viridis", extent=(0, 1, 1, 0))
        ax.scatter([target_xy[0]], [target_xy[1]], marker="x", c="red", label="target")
        ax.set_title(f"softmax, {key} ({cells}x{cells})")
    axes[0].legend(loc="lower left", fontsize=8)
    axes[2].plot(result["loss"])
    axes[2].set_yscale("log")
    axes[2].set_xlabel("step")
    axes[2].set_title("L1 coordinate loss (cells)")
    return fig
