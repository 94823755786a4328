"""Figures for your own image (chapter 08, ``posebook predict``): detections, 2D overlays, the
standalone result page.

A *prediction* here is any object with the attributes of `posebook.predict.Prediction`
(image, box_xywh_px, joints_px, joints_cam_mm, crop_image, crop_camera, ...).
"""
from __future__ import annotations

import base64
import html

import matplotlib.figure
import numpy as np

from .. import skeleton
from .core import SIDE_COLOURS, _side, skeleton_3d, standalone_html


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def draw_overlay(image: np.ndarray, joints_px: np.ndarray | None = None,
                 box_xywh_px: np.ndarray | None = None) -> np.ndarray:
    """A copy of `image` (H, W, 3) uint8 with the skeleton (17, 2) px and the box (4,) drawn."""
    import cv2
    canvas = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).copy())
    thick = max(1, round(max(canvas.shape[:2]) / 250))
    if box_xywh_px is not None:
        x, y, w, h = np.asarray(box_xywh_px, dtype=float)
        cv2.rectangle(canvas, (round(x), round(y)), (round(x + w), round(y + h)),
                      (40, 200, 40), thick)
    if joints_px is not None:
        p = np.asarray(joints_px, dtype=float)
        if p.shape != (skeleton.N_JOINTS, 2):
            raise ValueError(f"expected joints_px of shape ({skeleton.N_JOINTS}, 2), got {p.shape}")
        for parent, child in skeleton.BONES:
            if np.all(np.isfinite(p[[parent, child]])):
                cv2.line(canvas, tuple(np.round(p[parent]).astype(int)),
                         tuple(np.round(p[child]).astype(int)),
                         _rgb(SIDE_COLOURS[_side(child)]), thick + 1, cv2.LINE_AA)
        for j, point in enumerate(p):
            if np.all(np.isfinite(point)):
                cv2.circle(canvas, tuple(np.round(point).astype(int)), thick + 1,
                           _rgb(SIDE_COLOURS[_side(j)]), -1, cv2.LINE_AA)
    return canvas


def _box_patch(ax, box, colour, label=None):
    from matplotlib.patches import Rectangle
    x, y, w, h = np.asarray(box, dtype=float)
    ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=2))
    if label:
        ax.text(x, y - 3, label, color="white", fontsize=8,
                bbox=dict(facecolor=colour, edgecolor="none", pad=1))


def detections_grid(items: dict, boxes_shown: int = 3) -> matplotlib.figure.Figure:
    """Detector output on several images: ``{title: (image, Detections)}``.

    The best box is green, the next ones (up to `boxes_shown`) orange, each with its score.
    """
    fig = matplotlib.figure.Figure(figsize=(3.2 * len(items), 3.6), layout="constrained")
    axes = fig.subplots(1, len(items), squeeze=False)[0]
    for ax, (title, (image, detections)) in zip(axes, items.items()):
        ax.imshow(image)
        for k in range(min(len(detections), boxes_shown)):
            _box_patch(ax, detections.boxes_xywh_px[k], "tab:green" if k == 0 else "tab:orange",
                       f"{detections.scores[k]:.2f}")
        found = f"{len(detections)} box" + ("" if len(detections) == 1 else "es")
        ax.set_title(f"{title}\n{found}", fontsize=9)
        ax.axis("off")
    return fig


def prediction_2d(predictions: dict) -> matplotlib.figure.Figure:
    """For each ``{title: prediction}``: the image with box and projected skeleton, and the crop
    the model saw with the same joints projected into it."""
    fig = matplotlib.figure.Figure(figsize=(5.2, 2.8 * len(predictions)), layout="constrained")
    axes = fig.subplots(len(predictions), 2, squeeze=False)
    for row, (title, pred) in zip(axes, predictions.items()):
        row[0].imshow(draw_overlay(pred.image, pred.joints_px, pred.box_xywh_px))
        row[0].set_title(f"{title}: image", fontsize=9)
        joints_crop_px = pred.crop_camera.camera_to_image(
            pred.crop_camera.world_to_camera(pred.camera.camera_to_world(pred.joints_cam_mm)))
        row[1].imshow(draw_overlay(pred.crop_image, joints_crop_px))
        row[1].set_title("model input crop", fontsize=9)
        for ax in row:
            ax.axis("off")
    return fig


def prediction_3d(pred, title: str = "", height: int = 480):
    """Interactive 3D skeleton of a prediction, relative to its pelvis (offline plotly)."""
    joints_rel_mm = pred.joints_cam_mm - pred.joints_cam_mm[skeleton.ROOT]
    return skeleton_3d({"prediction": joints_rel_mm}, title=title, height=height)


def png_base64(image: np.ndarray) -> str:
    """(H, W, 3) uint8 RGB -> base64 PNG text."""
    import cv2
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return base64.b64encode(data.tobytes()).decode("ascii")


def report_html(pred) -> str:
    """Standalone page: image with overlay (inline PNG), facts, 3D skeleton (plotly.js inline)."""
    overlay = draw_overlay(pred.image, pred.joints_px, pred.box_xywh_px)
    root_mm = np.round(pred.joints_cam_mm[skeleton.ROOT]).astype(int).tolist()
    facts = [("model", f"{pred.checkpoint} (profile {pred.profile})"),
             ("camera", pred.intrinsics_note),
             ("box x,y,w,h (px)", ", ".join(f"{v:.0f}" for v in pred.box_xywh_px)),
             ("box from", pred.box_source),
             ("pelvis (camera frame, mm)", str(root_mm))]
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td>{html.escape(v)}</td></tr>" for k, v in facts)
    # Image and facts on the left, the 3D plot (plotly's <div>, the body's last) on the right.
    prefix = ("<style>body{display:flex;align-items:flex-start;gap:1em;font-family:sans-serif}"
              "body>div:last-of-type{flex:1 1 58%;min-width:0}</style>"
              "<div style='flex:0 0 40%'><h2>posebook: 3D pose</h2>"
              f"<img alt='image with the predicted skeleton' style='width:100%;height:auto' "
              f"src='data:image/png;base64,{png_base64(overlay)}'>"
              f"<table>{rows}</table>"
              "<p>Right: 3D joints relative to the pelvis (drag to rotate).</p></div>")
    figure = prediction_3d(pred, height=560).figure
    return standalone_html(figure, title="posebook predict", body_prefix=prefix)


CHECK_COLUMNS = (("height_mm", "height (mm)", "{:.0f}"), ("root_depth_mm", "pelvis depth (mm)",
                 "{:.0f}"), ("bone_error_pct", "bone-length error (%)", "{:.0f}"),
                 ("lr_asymmetry_pct", "left/right asymmetry (%)", "{:.0f}"),
                 ("in_box_pct", "joints in box (%)", "{:.0f}"),
                 ("ankles_v", "ankle row / image height", "{:.2f}"))


def checks_markdown(rows: dict) -> str:
    """Markdown table of ``{title: posebook.predict.pose_checks(...)}``."""
    head = "| image | " + " | ".join(label for _, label, _ in CHECK_COLUMNS) + " |"
    rule = "|---" * (len(CHECK_COLUMNS) + 1) + "|"
    body = ["| " + title + " | " + " | ".join(fmt.format(checks[key])
                                              for key, _, fmt in CHECK_COLUMNS) + " |"
            for title, checks in rows.items()]
    return "\n".join([head, rule, *body])
