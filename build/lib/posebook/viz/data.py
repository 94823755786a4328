"""Figures for the synthetic data (chapter 01): galleries with 2D overlays, a 3D view of a frame
and its camera, statistics, and the front/back cues that make left and right resolvable."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from matplotlib.figure import Figure

from .. import skeleton
from .core import SIDE_COLOURS, PlotlyHTML, _side, skeleton_traces, to_plot_axes


def _overlay(ax, image, joints_px, box_xywh_px=None, title=""):
    ax.imshow(image)
    for parent, child in skeleton.BONES:
        ax.plot(joints_px[[parent, child], 0], joints_px[[parent, child], 1], lw=1.2,
                color=SIDE_COLOURS[_side(child)])
    if box_xywh_px is not None:
        x, y, w, h = box_xywh_px
        ax.plot([x, x + w, x + w, x, x], [y, y, y + h, y + h, y], color="yellow", lw=0.8)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def gallery(frames, cols: int = 4, overlay: bool = True, zoom: bool = False) -> Figure:
    """Grid of frames (`synthetic.Frame`) with the projected skeleton (left blue, right orange)
    and the silhouette box; `zoom` crops each frame to its box."""
    rows = int(np.ceil(len(frames) / cols))
    fig = Figure(figsize=(2.6 * cols, 2.6 * rows))
    for k, f in enumerate(frames):
        ax = fig.add_subplot(rows, cols, k + 1)
        uv = f.camera.world_to_image(f.joints_world_mm)
        depth_m = f.camera.world_to_camera(f.joints_world_mm)[0, 2] / 1000
        _overlay(ax, f.image, uv if overlay else np.full_like(uv, np.nan),
                 f.box_xywh_px if overlay else None, f"{f.family}, {depth_m:.1f} m")
        if zoom:
            _zoom_to_box(ax, f.box_xywh_px)
    fig.tight_layout()
    return fig


def items_gallery(items, cols: int = 8) -> Figure:
    """Grid of `PoseDataset` items (model inputs) with their `joints_px` overlaid."""
    rows = int(np.ceil(len(items) / cols))
    fig = Figure(figsize=(1.6 * cols, 1.7 * rows))
    for k, item in enumerate(items):
        ax = fig.add_subplot(rows, cols, k + 1)
        _overlay(ax, item["image"].permute(1, 2, 0).numpy(), item["joints_px"].numpy(),
                 title=f"#{int(item['index'])} occ={int(item['n_occluders'])}")
    fig.tight_layout()
    return fig


def facing_camera(frame) -> bool:
    """Whether the person's chest faces the camera (from the hips' and spine's directions)."""
    cam = frame.camera.world_to_camera(frame.joints_world_mm)
    left = cam[4] - cam[1]
    up = cam[8] - cam[0]
    forward = np.cross(up, left)   # camera axes are right-handed: forward = up x left
    return bool(forward[2] < 0)


def front_back(frames, n: int = 4) -> Figure:
    """Zoomed people facing the camera (top row) and facing away (bottom row), wrists labelled
    L/R: the face, the shirt front and the toes tell which side is which, not colours."""
    toward = [f for f in frames if facing_camera(f)][:n]
    away = [f for f in frames if not facing_camera(f)][:n]
    fig = Figure(figsize=(2.4 * n, 5.2))
    for row, group in enumerate((toward, away)):
        for k, f in enumerate(group):
            ax = fig.add_subplot(2, n, row * n + k + 1)
            uv = f.camera.world_to_image(f.joints_world_mm)
            _overlay(ax, f.image, np.full_like(uv, np.nan), None,
                     ("facing the camera" if row == 0 else "facing away"))
            for j, label in ((13, "L"), (16, "R")):
                ax.text(*uv[j], label, color=SIDE_COLOURS[_side(j)], fontsize=9, weight="bold")
            _zoom_to_box(ax, f.box_xywh_px)
    fig.tight_layout()
    return fig


def _zoom_to_box(ax, box_xywh_px) -> None:
    """Show a square region 1.2x the box's larger side around its centre."""
    x, y, w, h = box_xywh_px
    c, s = np.array([x + w / 2, y + h / 2]), 0.6 * max(w, h)
    ax.set_xlim(c[0] - s, c[0] + s)
    ax.set_ylim(c[1] + s, c[1] - s)


def scene_3d(frame, height: int = 480) -> PlotlyHTML:
    """Interactive 3D view of a frame in its camera's coordinates: the skeleton, the ground
    plane around the feet, and the camera (origin) with its viewing frustum."""
    K = frame.camera.K
    joints_cam = frame.camera.world_to_camera(frame.joints_world_mm)
    fig = go.Figure(skeleton_traces(joints_cam, name="person"))
    size = 2 * K[0, 2] + 1
    corners_px = np.array([[0, 0], [size, 0], [size, size], [0, size], [0, 0]]) - 0.5
    depth = joints_cam[0, 2] * 1.1
    rays = np.c_[(corners_px - K[:2, 2]) / np.diag(K)[:2], np.ones(5)] * depth
    p = to_plot_axes(np.vstack([np.zeros(3), rays]))
    xs, ys, zs = [], [], []
    for i in range(1, 5):
        for a, b in ((0, i), (i, i + 1)):
            xs += [p[a, 0], p[b, 0], None]
            ys += [p[a, 1], p[b, 1], None]
            zs += [p[a, 2], p[b, 2], None]
    fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", name="camera frustum",
                               line=dict(color="#888", width=2)))
    pelvis = frame.joints_world_mm[0]
    g = np.linspace(-1500, 1500, 7)
    gx, gy = np.meshgrid(g + pelvis[0], g + pelvis[1])
    ground = frame.camera.world_to_camera(np.stack([gx, gy, np.zeros_like(gx)], -1).reshape(-1, 3))
    q = to_plot_axes(ground).reshape(7, 7, 3)
    fig.add_trace(go.Surface(x=q[..., 0], y=q[..., 1], z=q[..., 2], opacity=0.3,
                             showscale=False, colorscale=[[0, "#8a7"], [1, "#8a7"]], name="ground"))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0), legend=dict(orientation="h"),
                      scene=dict(aspectmode="data", xaxis_title="x (mm)",
                                 yaxis_title="depth z (mm)", zaxis_title="up -y (mm)"))
    return PlotlyHTML(fig)


def statistics(frames) -> Figure:
    """Root depth histogram, posture family counts, and per-joint self-visibility."""
    from ..data.synthetic import FAMILIES
    fig = Figure(figsize=(12, 3.2))
    ax = fig.add_subplot(1, 3, 1)
    depth_m = [f.camera.world_to_camera(f.joints_world_mm)[0, 2] / 1000 for f in frames]
    ax.hist(depth_m, bins=20, color="#4c72b0")
    ax.set_xlabel("root depth (m)")
    ax.set_ylabel("frames")
    ax = fig.add_subplot(1, 3, 2)
    counts = [sum(f.family == name for f in frames) for name in FAMILIES]
    ax.barh(FAMILIES, counts, color="#55a868")
    ax.set_xlabel("frames")
    ax = fig.add_subplot(1, 3, 3)
    visible = np.mean([f.self_visible for f in frames], axis=0)
    ax.bar(range(skeleton.N_JOINTS), visible,
           color=[SIDE_COLOURS[_side(j)] for j in range(skeleton.N_JOINTS)])
    ax.set_xticks(range(skeleton.N_JOINTS), skeleton.JOINT_NAMES, rotation=90, fontsize=7)
    ax.set_ylabel("not hidden by own body")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    return fig
