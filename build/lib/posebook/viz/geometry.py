"""Figures for cameras, crops, lens distortion, back-projection and frusta (chapter 04)."""
from __future__ import annotations

import matplotlib.figure
import numpy as np
import plotly.graph_objects as go

from .. import skeleton
from ..camera import Camera
from .core import SIDE_COLOURS, PlotlyHTML, _side, equal_axes_scene, skeleton_traces, to_plot_axes
from .predict import draw_overlay


def image_panels(panels: list[tuple], panel_in: float = 3.2) -> matplotlib.figure.Figure:
    """Images side by side, each ``(title, image (H, W, 3) uint8, joints_px (17, 2) or None,
    box_xywh_px (4,) or None)``; skeletons and boxes drawn on top."""
    fig = matplotlib.figure.Figure(figsize=(panel_in * len(panels), panel_in * 1.05))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, image, joints_px, box) in zip(axes, panels):
        ax.imshow(draw_overlay(image, joints_px, box))
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def distortion_field(camera: Camera, image_size_wh, step_px: int = 100,
                     title: str = "") -> matplotlib.figure.Figure:
    """Where the lens moves each pixel: arrows from the ideal (pinhole) position to the
    distorted one, coloured by length in pixels, on a grid over a W x H image."""
    if camera.distortion is None:
        raise ValueError("distortion_field: the camera has no lens distortion")
    width, height = image_size_wh
    grid = np.stack(np.meshgrid(np.arange(0, width + 1, step_px),
                                np.arange(0, height + 1, step_px)), -1).reshape(-1, 2).astype(float)
    ideal = grid
    rays = camera.undistort().image_to_camera(ideal)
    moved = camera.camera_to_image(rays) - ideal
    length = np.linalg.norm(moved, axis=-1)
    fig = matplotlib.figure.Figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    arrows = ax.quiver(ideal[:, 0], ideal[:, 1], moved[:, 0], moved[:, 1], length,
                       angles="xy", scale_units="xy", scale=1 / 3, cmap="viridis")
    fig.colorbar(arrows, ax=ax, label="displacement (px); arrows drawn 3x longer")
    ax.set_xlim(-step_px, width + step_px)
    ax.set_ylim(height + step_px, -step_px)
    ax.set_aspect("equal")
    ax.set_xlabel("u (px)")
    ax.set_ylabel("v (px)")
    ax.set_title(title or f"lens distortion ({camera.distortion_model} model)", fontsize=10)
    fig.tight_layout()
    return fig


def per_joint_errors_px(errors_px: dict[str, np.ndarray]) -> matplotlib.figure.Figure:
    """Bars of per-joint reprojection error, one series per name: ``{name: (17,) px}``."""
    fig = matplotlib.figure.Figure(figsize=(8, 3))
    ax = fig.subplots()
    width = 0.8 / len(errors_px)
    for i, (name, errors) in enumerate(errors_px.items()):
        ax.bar(np.arange(skeleton.N_JOINTS) + i * width, np.asarray(errors), width, label=name)
    ax.set_xticks(np.arange(skeleton.N_JOINTS) + 0.4 - width / 2, skeleton.JOINT_NAMES,
                  rotation=60, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("error (px, log scale)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def front_views(poses_cam_mm: dict[str, np.ndarray], title: str = "") -> matplotlib.figure.Figure:
    """Skeletons ``{name: (17, 3) mm}`` seen from the camera (x right, y down) and from above
    (x right, z forward), overlaid: how back-projection choices move and scale a pose."""
    fig = matplotlib.figure.Figure(figsize=(8, 4))
    front, top = fig.subplots(1, 2)
    styles = ["-", "--", ":", "-."]
    for k, ((name, joints), style) in enumerate(zip(poses_cam_mm.items(), styles * 4)):
        joints = np.asarray(joints, dtype=float)
        width, alpha = (4, 0.35) if k == 0 else (1.5, 1.0)  # the first (reference) pose underneath
        for ax, (a, b) in ((front, (0, 1)), (top, (0, 2))):
            for parent, child in skeleton.BONES:
                ax.plot(joints[[parent, child], a], joints[[parent, child], b], style,
                        color=SIDE_COLOURS[_side(child)], lw=width, alpha=alpha)
        front.plot([], [], style, color="k", lw=width, alpha=alpha, label=name)
    front.set(xlabel="x (mm)", ylabel="y (mm, down)", title="seen from the camera")
    top.set(xlabel="x (mm)", ylabel="z (mm, depth)", title="seen from above")
    front.invert_yaxis()
    for ax in (front, top):
        ax.set_aspect("equal", adjustable="datalim")
    front.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _frustum_lines(camera: Camera, image_size_wh, depth_mm: float, reference: Camera):
    width, height = image_size_wh
    corners = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5],
                        [-0.5, height - 0.5]])
    ends = reference.world_to_camera(camera.undistort().image_to_world(corners, depth_mm))
    apex = reference.world_to_camera(camera.t)
    points = []
    for corner in ends:
        points += [apex, corner, [np.nan] * 3]
    points += [*ends, ends[0], [np.nan] * 3]
    return to_plot_axes(np.array(points, dtype=float))


def frustum_3d(cameras: dict[str, tuple[Camera, tuple[int, int]]], joints_world_mm: np.ndarray,
               reference: Camera, depth_mm: float | None = None, height: int = 500) -> PlotlyHTML:
    """Interactive 3D view of camera frusta and a skeleton, in `reference`'s camera frame.

    Args:
        cameras: ``{name: (camera, (W, H) image size)}``; each frustum is drawn out to
            `depth_mm` (default: just beyond the skeleton's farthest joint).
        joints_world_mm: (17, 3) world joints, mm.
        reference: the camera whose frame (x right, y down, z forward) the plot uses.
    """
    joints_ref = reference.world_to_camera(np.asarray(joints_world_mm, dtype=float))
    if depth_mm is None:
        depth_mm = 1.1 * float(np.nanmax(joints_ref[:, 2]))
    fig = go.Figure()
    colours = ["#333333", "#2ca02c", "#9467bd", "#d62728"]
    all_points = [to_plot_axes(joints_ref)]
    for (name, (camera, size_wh)), colour in zip(cameras.items(), colours * 4):
        lines = _frustum_lines(camera, size_wh, depth_mm, reference)
        all_points.append(lines)
        fig.add_trace(go.Scatter3d(x=lines[:, 0], y=lines[:, 1], z=lines[:, 2], mode="lines",
                                   name=name, line=dict(color=colour, width=3), hoverinfo="name"))
    for trace in skeleton_traces(joints_ref, name="person"):
        fig.add_trace(trace)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0),
                      scene=equal_axes_scene(np.concatenate(all_points)),
                      legend=dict(orientation="h"))
    return PlotlyHTML(fig)
