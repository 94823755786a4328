"""Figures for your own image (chapter 08, ``posebook predict``): detections, 2D overlays, the
standalone result page, and the command that writes it (`run`; the work is `posebook.predict`).

A *prediction* here is any object with the attributes of `posebook.predict.Prediction`
(image, box_xywh_px, joints_px, joints_cam_mm, crop_image, crop_camera, ...).
"""
from __future__ import annotations

import base64
import html
import json
import sys
from pathlib import Path

import matplotlib.figure
import numpy as np

from .. import detect, paths, skeleton
from .. import predict as predict_lib
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


# --- the `posebook predict` command: the work is `posebook.predict`, the page is drawn here ------
add_arguments = predict_lib.add_arguments


def write_outputs(prediction, out_html, force: bool = False):
    """Write ``out_html`` and the JSON beside it (same stem, .json); both only once both exist.
    Files there that posebook predict did not write are replaced only with `force`.
    Returns (page path, JSON path)."""
    out_html, out_json = predict_lib.output_paths(out_html, force)
    json_text = json.dumps(prediction.to_dict(), indent=2)
    html_text = report_html(prediction)
    with paths.atomic_paths(out_json, out_html) as (tmp_json, tmp_html):   # both or neither
        tmp_json.write_text(json_text)
        tmp_html.write_text(html_text, encoding="utf-8")
    return out_html, out_json


def run(args) -> int:
    """``posebook predict IMAGE``: predict (`posebook.predict.predict`), print what was
    assumed, write the page and the JSON."""
    image = predict_lib.load_image(args.image)
    box = detect.parse_box(args.box) if args.box is not None else None
    source = predict_lib.model_source(args.checkpoint)
    try:
        detector = None if box is not None else detect.make_detector(
            args.detector, args.detector_weights, args.detector_arch, args.min_score)
    except RuntimeError as error:
        raise ValueError(str(error)) from error
    out = Path(args.out) if args.out else Path(Path(args.image).stem + ".pose.html")
    predict_lib.output_paths(out, args.force)         # refuse before the work, not after
    note = predict_lib.unfinished_note(source)
    if note:
        print(f"posebook predict: note: {note}", file=sys.stderr)
    prediction = predict_lib.predict(image, source, box, detector, args.fov, args.focal,
                                     flip=not args.no_flip)
    print(f"camera: {prediction.intrinsics_note}")
    print(f"box (x,y,w,h px): {np.round(prediction.box_xywh_px, 1).tolist()} "
          f"from {prediction.box_source}")
    print(f"model: {prediction.checkpoint} (profile {prediction.profile})")
    root_mm = prediction.joints_cam_mm[skeleton.ROOT]
    print(f"pelvis at {np.round(root_mm).tolist()} mm (camera frame; depth scales with the "
          f"assumed focal length)")
    html_path, json_path = write_outputs(prediction, out, args.force)
    print(f"wrote {paths.shown(html_path)} and {paths.shown(json_path)}")
    return 0
