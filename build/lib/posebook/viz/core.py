"""Offline interactive plotly figures, and 3D skeletons.

Jupyter Book drops plotly's own mimetype output, and a CDN script needs the network. So a figure
is returned as an object whose only representation is ``text/html``: the first figure of a
kernel session carries plotly.js inline (about 4.8 MB, once per page), later ones only their
``<div>`` and a ``Plotly.newPlot`` call. On Colab every output lives in its own iframe, so there
each figure loads plotly.js itself (from the CDN, since Colab is online).
"""
from __future__ import annotations

import sys
import uuid

import numpy as np
import plotly.graph_objects as go

from .. import skeleton

_state = {"plotlyjs_sent": False}

# Colours by side: the person's left is blue, right is orange, the midline grey.
SIDE_COLOURS = {"left": "#1f77b4", "right": "#ff7f0e", "mid": "#555555"}

# Initial 3D view: from slightly above and beside the camera, looking along the depth axis.
FRONT_VIEW = dict(eye=dict(x=0.8, y=-1.5, z=0.5), up=dict(x=0, y=0, z=1))


def _side(joint: int) -> str:
    if joint in skeleton.LEFT:
        return "left"
    if joint in skeleton.RIGHT:
        return "right"
    return "mid"


class PlotlyHTML:
    """A plotly figure shown as self-contained HTML (see the module docstring)."""

    def __init__(self, figure: go.Figure):
        self.figure = figure

    def to_html(self, include_plotlyjs: bool | str) -> str:
        div_id = f"posebook-{uuid.uuid4().hex[:12]}"
        body = self.figure.to_html(
            full_html=False, include_plotlyjs=False, div_id=div_id,
            config={"displaylogo": False, "responsive": True})
        if include_plotlyjs == "cdn":
            return self.figure.to_html(full_html=False, include_plotlyjs="cdn", div_id=div_id)
        if include_plotlyjs:
            return plotlyjs_script() + body
        return body

    def _repr_html_(self) -> str:
        if "google.colab" in sys.modules:
            return self.to_html("cdn")
        first = not _state["plotlyjs_sent"]
        _state["plotlyjs_sent"] = True
        return self.to_html(include_plotlyjs=first)


def plotlyjs_script() -> str:
    """plotly.js as one inline ``<script>`` that always defines ``window.Plotly``.

    The bundle is wrapped so that a page's require.js (``define.amd``) or CommonJS globals cannot
    capture it as a module instead of a global.
    """
    from plotly.offline import get_plotlyjs
    return ("<script type=\"text/javascript\">(function(define, module, exports) {\n"
            + get_plotlyjs() + "\n})(undefined, undefined, undefined);</script>\n")


def reset_plotly() -> None:
    """Send plotly.js again with the next figure (e.g. after clearing a notebook's outputs)."""
    _state["plotlyjs_sent"] = False


def show_plotly(figure: go.Figure) -> PlotlyHTML:
    return PlotlyHTML(figure)


def standalone_html(figure: go.Figure, title: str = "posebook", body_prefix: str = "") -> str:
    """A complete HTML document with plotly.js inlined: opens offline, no external script."""
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + title + "</title>"
            "</head><body>" + body_prefix + PlotlyHTML(figure).to_html(True) + "</body></html>")


def to_plot_axes(points_cam_mm: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot frame (x right, depth, up)."""
    p = np.asarray(points_cam_mm, dtype=float)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def skeleton_traces(joints_cam_mm: np.ndarray, name: str = "pose", opacity: float = 1.0,
                    dash: str | None = None) -> list[go.Scatter3d]:
    """Scatter3d traces for one skeleton (bones coloured by side, joints as markers).

    Args:
        joints_cam_mm: (J, 3) joints in a camera frame, mm (x right, y down, z forward).
    """
    joints_cam_mm = np.asarray(joints_cam_mm, dtype=float)
    if joints_cam_mm.shape != (skeleton.N_JOINTS, 3):
        raise ValueError(f"expected joints of shape ({skeleton.N_JOINTS}, 3), got {joints_cam_mm.shape}")
    p = to_plot_axes(joints_cam_mm)
    traces = []
    for side, colour in SIDE_COLOURS.items():
        xs, ys, zs = [], [], []
        for parent, child in skeleton.BONES:
            if _side(child) != side:
                continue
            for value_list, axis in ((xs, 0), (ys, 1), (zs, 2)):
                value_list.extend([p[parent, axis], p[child, axis], None])
        traces.append(go.Scatter3d(
            x=xs, y=ys, z=zs, mode="lines", name=f"{name} ({side})", legendgroup=name,
            showlegend=side == "mid", opacity=opacity,
            line=dict(color=colour, width=6, dash=dash), hoverinfo="skip"))
    traces.append(go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name=f"{name} joints",
        legendgroup=name, showlegend=False, opacity=opacity,
        marker=dict(size=3, color=[SIDE_COLOURS[_side(j)] for j in range(len(p))]),
        text=list(skeleton.JOINT_NAMES), hoverinfo="text"))
    return traces


def skeleton_3d(poses_cam_mm: dict[str, np.ndarray] | np.ndarray, title: str = "",
                root_relative: bool = False, height: int = 480) -> PlotlyHTML:
    """Interactive 3D view of one or more skeletons (e.g. prediction vs ground truth).

    Args:
        poses_cam_mm: (J, 3) joints, or a dict name -> (J, 3), camera frame, mm.
        root_relative: subtract each pose's root joint before plotting.
    """
    if not isinstance(poses_cam_mm, dict):
        poses_cam_mm = {"pose": poses_cam_mm}
    poses = {name: np.asarray(joints, dtype=float) for name, joints in poses_cam_mm.items()}
    if root_relative:
        poses = {name: joints - joints[skeleton.ROOT] for name, joints in poses.items()}
    fig = go.Figure()
    for i, (name, joints) in enumerate(poses.items()):
        for trace in skeleton_traces(joints, name=name, dash=None if i == 0 else "dash"):
            fig.add_trace(trace)
    all_points = np.concatenate([to_plot_axes(joints) for joints in poses.values()])
    fig.update_layout(
        title=title or None, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        scene=equal_axes_scene(all_points), legend=dict(orientation="h"))
    return PlotlyHTML(fig)


def equal_axes_scene(points_plot: np.ndarray, margin: float = 1.15) -> dict:
    """A plotly 3D scene with one scale on all axes, framing `points_plot` (N, 3)."""
    points_plot = np.asarray(points_plot, dtype=float)
    points_plot = points_plot[np.isfinite(points_plot).all(axis=1)]
    low, high = points_plot.min(axis=0), points_plot.max(axis=0)
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2 * margin, 1.0)
    titles = ("x (mm)", "depth z (mm)", "up -y (mm)")
    axes = {f"{a}axis": dict(range=[c - half, c + half], title=t)
            for a, c, t in zip("xyz", centre, titles)}
    return dict(aspectmode="cube", camera=FRONT_VIEW, **axes)


def _show_matplotlib_figures_as_png() -> None:
    """Let a bare `matplotlib.figure.Figure` returned by a viz function display as PNG in a
    notebook even when pyplot (and with it the inline backend) was never imported."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(
            Figure, lambda fig: _figure_png(fig))


def _figure_png(fig) -> bytes:
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


_show_matplotlib_figures_as_png()
