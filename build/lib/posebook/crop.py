"""Perspective crops: a crop is a new camera aimed at the person box, plus one reprojection.

The crop camera turns towards the box centre (so an off-centre person is seen head-on, without
the sideways stretch an affine crop would keep), drops lens distortion, gets square pixels, is
zoomed so the larger side of the box spans ``fill * out_side`` pixels and has its principal
point at the crop centre. Geometric augmentation (scale, roll, shift, flip) is a further edit of
that camera, so ground truth follows by projecting 3D joints with it.

A flipped crop camera mirrors the image; the joints it sees swap sides, so the caller relabels
them: ``joints_cam = crop_cam.world_to_camera(joints_world)[..., skeleton.MIRROR, :]``.
"""
from __future__ import annotations

import cv2
import numpy as np

from .camera import Camera, reproject_image


def _box(box_xywh_px) -> np.ndarray:
    box = np.asarray(box_xywh_px, dtype=np.float64)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box_xywh_px: expected 4 finite numbers (x, y, w, h) with w, h > 0, "
                         f"got {box.tolist() if box.ndim else box}")
    return box


def box_side_midpoints(box_xywh_px) -> np.ndarray:
    """(4, 2) midpoints of the left, right, top and bottom sides of a box, pixels."""
    x, y, w, h = _box(box_xywh_px)
    cx, cy = x + w / 2, y + h / 2
    return np.array([[x, cy], [x + w, cy], [cx, y], [cx, y + h]])


def reproject_box(src_camera: Camera, dst_camera: Camera, box_xywh_px) -> np.ndarray:
    """(4,) box (x, y, w, h) in `dst_camera`'s image for a box in `src_camera`'s image: centred
    on the reprojected box centre, sized by the distances between the reprojected side
    midpoints, pixels (both cameras must share the optical centre)."""
    box = _box(box_xywh_px)
    points = np.concatenate([box_side_midpoints(box), [box[:2] + box[2:] / 2]])
    left, right, top, bottom, centre = dst_camera.world_to_image(src_camera.image_to_world(points))
    size = np.array([np.linalg.norm(right - left), np.linalg.norm(bottom - top)])
    return np.concatenate([centre - size / 2, size])


def crop_camera(camera: Camera, box_xywh_px, out_side: int = 256, fill: float = 0.9,
                scale: float = 1.0, roll_rad: float = 0.0, shift_frac=(0.0, 0.0),
                flip: bool = False) -> Camera:
    """The camera of a perspective crop around a box.

    Args:
        camera: the camera of the full image (distortion allowed).
        box_xywh_px: (4,) person box (x, y, w, h) in the full image, pixels; may reach outside.
        out_side: side of the square crop, pixels.
        fill: fraction of `out_side` the larger box side spans (0.9 in the paper).
        scale: zoom-out jitter: the box spans ``fill * out_side / scale``.
        roll_rad: in-plane rotation jitter (content turns clockwise as displayed).
        shift_frac: (2,) translation jitter: the box centre moves by about ``shift_frac *
            out_side`` pixels (done by turning the camera, so the crop stays perspective).
        flip: mirror horizontally (joints then need `skeleton.MIRROR`, see the module docstring).
    Returns:
        Undistorted Camera for an ``out_side`` x ``out_side`` image, principal point at its centre.
    """
    box = _box(box_xywh_px)
    if not (out_side > 0 and fill > 0 and scale > 0):
        raise ValueError(f"out_side, fill and scale must be > 0, got {out_side}, {fill}, {scale}")
    centre_px = box[:2] + box[2:] / 2
    new = camera.turn_towards(centre_px).undistort().square_pixels()
    larger_side_px = reproject_box(camera, new, box)[2:].max()
    new = new.zoom(fill * out_side / (scale * larger_side_px))
    new = new.rotate(roll_rad=roll_rad).center_principal_point((out_side, out_side))
    shift_px = np.asarray(shift_frac, dtype=np.float64) * out_side
    if np.any(shift_px):
        new = new.turn_towards(new.K[:2, 2] - shift_px)
    return new.horizontal_flip() if flip else new


def perspective_crop(image: np.ndarray, camera: Camera, box_xywh_px, out_side: int = 256,
                     fill: float = 0.9, scale: float = 1.0, roll_rad: float = 0.0,
                     shift_frac=(0.0, 0.0), flip: bool = False, border_value=0,
                     interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, Camera]:
    """Crop `image` around a box by reprojecting it into `crop_camera(...)`.

    Args:
        image: (H, W, 3) uint8 full image seen by `camera`.
        other args: as `crop_camera`; `border_value` fills what lies outside the image.
    Returns:
        crop_image (out_side, out_side, 3) of the image's dtype, and its Camera.
    """
    new = crop_camera(camera, box_xywh_px, out_side, fill, scale, roll_rad, shift_frac, flip)
    crop = reproject_image(image, camera, new, (out_side, out_side), border_value=border_value,
                           interpolation=interpolation)
    return crop, new


def affine_crop_camera(camera: Camera, box_xywh_px, out_side: int = 256,
                       fill: float = 0.9) -> Camera:
    """The camera of a plain (affine) crop: scale and shift the image, no turning. For
    comparison with `crop_camera`: an off-centre person keeps its perspective stretch."""
    box = _box(box_xywh_px)
    zoom = fill * out_side / box[2:].max()
    centre = box[:2] + box[2:] / 2
    offset = (out_side - 1) / 2 - zoom * centre
    affine = np.array([[zoom, 0, offset[0]], [0, zoom, offset[1]], [0, 0, 1]])
    return Camera(affine @ camera.K, camera.R, camera.t)
