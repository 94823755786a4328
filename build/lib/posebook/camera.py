"""The pinhole camera with lens distortion, its verbs, image reprojection and back-projection.

Convention: camera axes x right, y down, z forward. ``R`` is the world->camera rotation (its rows
are the camera axes in world coordinates), ``t`` the optical centre in world coordinates (mm), so
``X_cam = R (X_world - t)``. Pixel centres sit at integer coordinates (OpenCV's convention), so a
W x H image spans ``[-0.5, W - 0.5]`` and its centre is ``((W - 1) / 2, (H - 1) / 2)``.
Distortion (see `posebook.distortion`) is OpenCV's ``(k1, k2, p1, p2, k3)`` or Human3.6M's own
``(k1, k2, k3, p1, p2)`` model, chosen by ``distortion_model``.

Points that cannot be imaged (behind the camera, non-finite, outside the distortion model's
valid radius) come out as NaN; nothing raises for them.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import distortion as _dist


def _points(points: np.ndarray, dim: int, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim < 1 or points.shape[-1] != dim:
        raise ValueError(f"{name}: expected shape (..., {dim}), got {points.shape}")
    return points


_EYE = np.eye(3)
_R_TOL = 1e-6 + 1e-5 * _EYE  # np.allclose(R R^T, I, atol=1e-6), written out: 3x faster


def _check_K(K: np.ndarray) -> None:
    """Raise unless K is a finite, invertible (3, 3) float array with last row (0, 0, 1)
    (within np.allclose's default tolerance, written out for speed)."""
    if K.shape != (3, 3) or not np.isfinite(K).all():
        raise ValueError(f"K: expected a finite (3, 3) intrinsic matrix, got shape {K.shape}")
    k20, k21, k22 = K[2].tolist()
    if not (abs(k20) <= 1e-8 and abs(k21) <= 1e-8 and abs(k22 - 1.0) <= 1e-8 + 1e-5) or abs(
            np.linalg.det(K)) < 1e-9:
        raise ValueError(f"K: expected an invertible intrinsic matrix with last row (0, 0, 1), "
                         f"got {K.tolist()}")


class Camera:
    """A pinhole camera (see the module docstring for conventions).

    Args:
        K: (3, 3) intrinsic matrix, pixels; must be invertible with last row (0, 0, 1).
        R: (3, 3) world->camera rotation (orthonormal; det -1 is allowed and means a mirrored
            camera, as made by `horizontal_flip`). Default identity.
        t: (3,) optical centre in world coordinates, mm. Default zero.
        distortion: (5,) coefficients or None (no distortion).
        distortion_model: "opencv" (k1, k2, p1, p2, k3) or "h36m" (k1, k2, k3, p1, p2).
    """

    def __init__(self, K, R=None, t=None, distortion=None, distortion_model: str = "opencv"):
        K = np.array(K, dtype=np.float64)
        R = np.eye(3) if R is None else np.array(R, dtype=np.float64)
        t = np.zeros(3) if t is None else np.array(t, dtype=np.float64).reshape(-1)
        _check_K(K)
        if R.shape != (3, 3) or not np.isfinite(R).all() or not (
                np.abs(R @ R.T - _EYE) <= _R_TOL).all():
            raise ValueError(f"R: expected a (3, 3) rotation matrix (R R^T = I), got {R.tolist()}")
        if t.shape != (3,) or not np.isfinite(t).all():
            raise ValueError(f"t: expected a finite (3,) optical centre in mm, got shape {t.shape}")
        if distortion_model not in _dist.MODELS:
            raise ValueError(f"distortion_model: expected one of {_dist.MODELS}, "
                             f"got {distortion_model!r}")
        if distortion is not None:
            distortion = np.array(distortion, dtype=np.float64).reshape(-1)
            if distortion.shape != (5,) or not np.isfinite(distortion).all():
                raise ValueError(f"distortion: expected 5 finite coefficients, got {distortion}")
            if not distortion.any():
                distortion = None
        self.K, self.R, self.t = K, R, t
        self.distortion, self.distortion_model = distortion, distortion_model

    @classmethod
    def _trusted(cls, K, R, t, distortion, distortion_model) -> "Camera":
        """A Camera from fields that are already valid, not checked again (the verbs' path).

        The caller guarantees what `__init__` checks: float64 arrays K (3, 3) and R (3, 3), t
        (3,), distortion (5,) not all zero or None, a known model. The arrays are taken, not
        copied, so they must not be shared with another camera.
        """
        camera = object.__new__(cls)
        camera.K, camera.R, camera.t = K, R, t
        camera.distortion, camera.distortion_model = distortion, distortion_model
        return camera

    def __repr__(self) -> str:
        return (f"Camera(K={self.K.tolist()}, R={self.R.tolist()}, t={self.t.tolist()}, "
                f"distortion={None if self.distortion is None else self.distortion.tolist()}, "
                f"distortion_model={self.distortion_model!r})")

    def copy(self) -> "Camera":
        return self._replace()

    def _replace(self, K=None, R=None, distortion=...) -> "Camera":
        """A new camera with K and/or R replaced (or the distortion dropped), every array copied.

        This is the verbs' path, so it skips `__init__`'s checks: R must be a rotation (a verb's
        finite rotation times ``self.R`` keeps R R^T = I to rounding), and a new K is checked by
        `_check_K` (a zoom or an averaged focal length can make it singular). Copies are made
        as `__init__` makes them, so a verb's camera is the one `Camera(...)` would build.
        """
        if K is None:
            K = self.K
        else:
            _check_K(K)
        distortion = self.distortion if distortion is ... else distortion
        return Camera._trusted(
            np.array(K, dtype=np.float64), np.array(self.R if R is None else R, dtype=np.float64),
            np.array(self.t, dtype=np.float64).reshape(-1), None if distortion is None else
            np.array(distortion, dtype=np.float64).reshape(-1), self.distortion_model)

    # --- coordinates ---------------------------------------------------------------------------
    def world_to_camera(self, points_world_mm) -> np.ndarray:
        """(..., 3) world points, mm -> (..., 3) camera-frame points, mm."""
        points = _points(points_world_mm, 3, "points_world_mm")
        return (points - self.t) @ self.R.T

    def camera_to_world(self, points_cam_mm) -> np.ndarray:
        """(..., 3) camera-frame points, mm -> (..., 3) world points, mm."""
        return _points(points_cam_mm, 3, "points_cam_mm") @ self.R + self.t

    def camera_to_image(self, points_cam_mm) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 2) pixels, distortion applied.

        NaN for points with z <= 0, non-finite points, and points beyond the distortion model's
        valid radius.
        """
        points = _points(points_cam_mm, 3, "points_cam_mm")
        z = points[..., 2:]
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = np.where(z > 0, points[..., :2] / np.where(z > 0, z, 1.0), np.nan)
        if self.distortion is not None:
            xy = _dist.distort(xy, self.distortion, self.distortion_model)
        return xy @ self.K[:2, :2].T + self.K[:2, 2]

    def world_to_image(self, points_world_mm) -> np.ndarray:
        """(..., 3) world points, mm -> (..., 2) pixels."""
        return self.camera_to_image(self.world_to_camera(points_world_mm))

    def image_to_camera(self, points_px, depth_mm=1.0) -> np.ndarray:
        """(..., 2) pixels -> (..., 3) camera-frame points at depth z = `depth_mm` (scalar or
        (...,)), distortion removed. NaN where the pixel has no valid undistorted ray."""
        points = _points(points_px, 2, "points_px")
        xy = (points - self.K[:2, 2]) @ np.linalg.inv(self.K[:2, :2]).T
        if self.distortion is not None:
            xy = _dist.undistort(xy, self.distortion, self.distortion_model)
        depth = np.asarray(depth_mm, dtype=np.float64)[..., None]
        ray = np.concatenate([xy, np.where(np.isfinite(xy).all(-1, keepdims=True), 1.0, np.nan)],
                             axis=-1)
        return ray * depth

    def image_to_world(self, points_px, depth_mm=1.0) -> np.ndarray:
        """(..., 2) pixels -> (..., 3) world points at camera depth `depth_mm`."""
        return self.camera_to_world(self.image_to_camera(points_px, depth_mm))

    # --- verbs: each returns a new camera ------------------------------------------------------
    def turn_towards(self, image_point_px) -> "Camera":
        """Rotate about the optical centre so the ray through `image_point_px` (2,) becomes the
        optical axis; the new camera's x axis stays perpendicular to the old y axis (no roll)."""
        point = _points(image_point_px, 2, "image_point_px").reshape(2)
        new_z = self.image_to_camera(point)
        if not np.isfinite(new_z).all():
            raise ValueError(f"image_point_px: {point.tolist()} has no valid ray in this camera")
        new_z = new_z / np.linalg.norm(new_z)
        new_x = np.array(_cross((0.0, 1.0, 0.0), new_z.tolist()))
        norm_x = np.linalg.norm(new_x)
        if not norm_x > 0:
            raise ValueError(f"image_point_px: {point.tolist()} looks along the camera's y axis; "
                             f"no turn keeps the x axis level")
        new_x /= norm_x
        turn = np.array([new_x, _cross(new_z.tolist(), new_x.tolist()), new_z])  # old -> new cam
        return self._replace(R=turn @ self.R)

    def zoom(self, factor: float) -> "Camera":
        """Scale the focal lengths (and skew) by `factor`; the principal point stays."""
        if not (np.isfinite(factor) and factor > 0):
            raise ValueError(f"zoom factor must be finite and > 0, got {factor}")
        K = self.K.copy()
        K[:2, :2] *= factor
        return self._replace(K=K)

    def rotate(self, roll_rad: float = 0.0, yaw_rad: float = 0.0,
               pitch_rad: float = 0.0) -> "Camera":
        """Rotate the camera about its own axes (optical centre fixed).

        New camera coordinates are ``Rz(roll) Rx(pitch) Ry(yaw)`` applied to the old ones
        (right-handed rotation matrices). With x right and y down, a positive roll turns the
        image content clockwise as displayed, a positive yaw moves it to the right, a positive
        pitch moves it up.
        """
        def rot(axis, angle):
            c, s = np.cos(angle), np.sin(angle)
            i, j = [(1, 2), (2, 0), (0, 1)][axis]
            m = np.eye(3)
            m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
            return m
        turn = rot(2, roll_rad) @ rot(0, pitch_rad) @ rot(1, yaw_rad)
        if not np.isfinite(turn).all():
            raise ValueError(f"rotate: angles must be finite, got roll_rad={roll_rad}, "
                             f"yaw_rad={yaw_rad}, pitch_rad={pitch_rad}")
        return self._replace(R=turn @ self.R)

    def horizontal_flip(self) -> "Camera":
        """Mirror the camera's x axis: the image is mirrored about the vertical line through the
        principal point (R gets det -1). Joints seen by it swap sides: relabel with
        `skeleton.MIRROR`."""
        return self._replace(R=np.diag([-1.0, 1.0, 1.0]) @ self.R)

    def undistort(self) -> "Camera":
        """The same camera without lens distortion (reproject images to match)."""
        return self._replace(distortion=None)

    def square_pixels(self) -> "Camera":
        """Equal focal lengths (their mean) and zero skew; the principal point stays."""
        K = self.K.copy()
        K[0, 0] = K[1, 1] = 0.5 * (K[0, 0] + K[1, 1])
        K[0, 1] = 0.0
        return self._replace(K=K)

    def center_principal_point(self, image_size_wh) -> "Camera":
        """Put the principal point at the centre ((W-1)/2, (H-1)/2) of a W x H image."""
        width, height = image_size_wh
        return self.shift_image(np.array([(width - 1) / 2, (height - 1) / 2]) - self.K[:2, 2])

    def shift_image(self, offset_px) -> "Camera":
        """Move the principal point (and so all projections) by `offset_px` (2,) pixels."""
        K = self.K.copy()
        K[:2, 2] += _points(offset_px, 2, "offset_px").reshape(2)
        return self._replace(K=K)


def _cross(a, b) -> list:
    """a x b of two 3-vectors given as float sequences: np.cross's arithmetic (so the same
    bits) without its array overhead (~15 us a call)."""
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def intrinsics_from_fov(fov_deg: float, size_wh) -> np.ndarray:
    """(3, 3) K with square pixels, principal point at the image centre, and a field of view of
    `fov_deg` across the larger side of a W x H image."""
    width, height = size_wh
    if not 0 < fov_deg < 180:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    f = max(width, height) / (2 * np.tan(np.deg2rad(fov_deg) / 2))
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])


# --- images --------------------------------------------------------------------------------------
def _check_one_centre(src_camera: Camera, dst_camera: Camera, who: str) -> None:
    # np.allclose(src t, dst t, atol=1e-3), written out (np.allclose costs ~20 us)
    if not (np.abs(src_camera.t - dst_camera.t) <= 1e-3 + 1e-5 * np.abs(dst_camera.t)).all():
        raise ValueError(f"{who} needs one optical centre, got t={src_camera.t.tolist()} and "
                         f"t={dst_camera.t.tolist()}")


def zoom_factor(src_camera: Camera, dst_camera: Camera) -> float:
    """How many times larger `dst_camera` draws a small patch than `src_camera` (the square root
    of the ratio of their pixel areas); below 1 the destination shrinks the image."""
    return np.sqrt(abs(np.linalg.det(dst_camera.K[:2, :2]) / np.linalg.det(src_camera.K[:2, :2])))


def homography(src_camera: Camera, dst_camera: Camera) -> np.ndarray:
    """(3, 3) map from `dst_camera` pixels to `src_camera` pixels (homogeneous), for two
    undistorted cameras sharing one optical centre."""
    if src_camera.distortion is not None or dst_camera.distortion is not None:
        raise ValueError("homography: both cameras must be undistorted (distortion=None); with "
                         "lens distortion there is none (reproject_image remaps per pixel; the "
                         "GPU warp needs undistorted frames)")
    _check_one_centre(src_camera, dst_camera, "homography")
    return src_camera.K @ src_camera.R @ dst_camera.R.T @ np.linalg.inv(dst_camera.K)


def reproject_image(image: np.ndarray, src_camera: Camera, dst_camera: Camera, output_size_wh,
                    border_value=0, interpolation: int = cv2.INTER_LINEAR,
                    antialias: bool = True) -> np.ndarray:
    """The image `dst_camera` would have seen, given what `src_camera` saw.

    Both cameras must share the optical centre (a rotation, zoom, flip, shift or distortion
    change; no parallax). Without distortion this is one homography; otherwise a per-pixel
    remap. When the destination shrinks the image (scale < 0.7) the source is first area-
    downscaled to avoid aliasing.

    Args:
        image: (H, W) or (H, W, C) image.
        output_size_wh: (W_out, H_out).
        border_value: fill for pixels outside the source image.
    Returns:
        (H_out, W_out[, C]) image of the same dtype.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image: expected (H, W) or (H, W, C), got shape {image.shape}")
    _check_one_centre(src_camera, dst_camera, "reproject_image")
    out_w, out_h = (int(v) for v in output_size_wh)
    out_shape = (out_h, out_w) + image.shape[2:]
    scale = zoom_factor(src_camera, dst_camera)
    if antialias and scale < 0.7:
        height, width = image.shape[:2]
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        sx, sy = new_w / width, new_h / height
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        # Pixel centres at integers: u_new = (u + 0.5) * sx - 0.5.
        resize = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
        src_camera = src_camera._replace(K=resize @ src_camera.K)
    border = border_value if np.ndim(border_value) else (border_value,) * 4
    if src_camera.distortion is None and dst_camera.distortion is None:
        return cv2.warpPerspective(image, homography(src_camera, dst_camera), (out_w, out_h),
                                   flags=interpolation | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT,
                                   borderValue=border).reshape(out_shape)
    grid = np.stack(np.meshgrid(np.arange(out_w), np.arange(out_h)), axis=-1).astype(np.float64)
    rays_world = dst_camera.image_to_camera(grid) @ dst_camera.R
    maps = src_camera.camera_to_image(rays_world @ src_camera.R.T).astype(np.float32)
    maps[~np.isfinite(maps)] = -1e4  # rays without a source pixel -> border
    return cv2.remap(image, maps[..., 0], maps[..., 1], interpolation,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=border).reshape(out_shape)


# --- pure functions for the model (numpy or torch, differentiable in torch) ------------------------
def project_px(points_cam_mm, K):
    """Project camera-frame points to pixels without distortion (numpy or torch).

    Convention: x right, y down, z forward; output (u, v). Points with z <= 0 give NaN.

    Args:
        points_cam_mm: (..., J, 3) camera-frame points, mm.
        K: (3, 3) or (..., 3, 3) intrinsics (leading dims broadcast with the points').
    Returns:
        (..., J, 2) pixel coordinates.
    """
    if points_cam_mm.shape[-1] != 3 or K.shape[-2:] != (3, 3):
        raise ValueError(f"project_px: expected points (..., J, 3) and K (..., 3, 3), got "
                         f"{tuple(points_cam_mm.shape)} and {tuple(K.shape)}")
    lib = _lib(points_cam_mm)
    z = points_cam_mm[..., 2:3]
    in_front = z > 0
    xy = points_cam_mm[..., :2] / lib.where(in_front, z, lib.ones_like(z))
    xy = lib.where(in_front, xy, lib.full_like(xy, float("nan")))
    uv = (K[..., None, :2, :2] @ xy[..., None])[..., 0]
    return uv + K[..., None, :2, 2]


def backproject(uv_px, z_rel_mm, root_depth_mm, K, focal_correction=1.0):
    """Heatmap-space coordinates -> camera-frame points, mm (numpy or torch, differentiable).

    ``Z = root_depth + z_rel``, ``X = (u - cx) Z / (c fx)``, ``Y = (v - cy) Z / (c fy)``, where
    ``c`` is the focal correction (the paper's learned factor; skew, if any, is handled too).

    Args:
        uv_px: (..., J, 2) pixel coordinates in the crop.
        z_rel_mm: (..., J) depth relative to the root, mm.
        root_depth_mm: (...) absolute root depth, mm.
        K: (3, 3) or (..., 3, 3) crop intrinsics.
        focal_correction: scalar or (...) factor multiplying the focal lengths.
    Returns:
        (..., J, 3) camera-frame points, mm.
    """
    if uv_px.shape[-1] != 2 or tuple(z_rel_mm.shape) != tuple(uv_px.shape[:-1]) or \
            K.shape[-2:] != (3, 3):
        raise ValueError(f"backproject: expected uv (..., J, 2), z_rel (..., J), K (..., 3, 3); "
                         f"got {tuple(uv_px.shape)}, {tuple(z_rel_mm.shape)}, {tuple(K.shape)}")
    lib = _lib(uv_px)
    c = focal_correction if not hasattr(focal_correction, "shape") or \
        focal_correction.ndim == 0 else focal_correction[..., None]
    depth = root_depth_mm[..., None] + z_rel_mm if hasattr(root_depth_mm, "shape") \
        else root_depth_mm + z_rel_mm
    y_norm = (uv_px[..., 1] - K[..., None, 1, 2]) / (c * K[..., None, 1, 1])
    x_norm = (uv_px[..., 0] - K[..., None, 0, 2] - c * K[..., None, 0, 1] * y_norm) / (
        c * K[..., None, 0, 0])
    return lib.stack([x_norm * depth, y_norm * depth, depth], -1)


def _lib(array):
    if type(array).__module__.startswith("torch"):
        import torch
        return torch
    return np
