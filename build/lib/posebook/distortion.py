"""Lens distortion: OpenCV's 5-coefficient model and Human3.6M's own radial/tangential model.

Both act on normalised image coordinates ``(x, y) = (X/Z, Y/Z)`` (camera frame: x right, y down,
z forward) before the intrinsic matrix is applied. With ``r2 = x^2 + y^2`` and the radial factor
``rad = 1 + k1 r2 + k2 r2^2 + k3 r2^3``:

* ``"opencv"``, coefficients ``(k1, k2, p1, p2, k3)`` in OpenCV's order::

      x_d = x rad + 2 p1 x y + p2 (r2 + 2 x^2)
      y_d = y rad + p1 (r2 + 2 y^2) + 2 p2 x y

* ``"h36m"``, coefficients ``(k1, k2, k3, p1, p2)`` as Human3.6M's ``ProjectPointRadTan.m``
  stores them (``k`` then ``p``)::

      x_d = x (rad + p1 y + p2 x) + p2 r2
      y_d = y (rad + p1 y + p2 x) + p1 r2

  Its tangential terms lack OpenCV's factors of 2 on ``x y``/``x^2``/``y^2``, so the two models
  are not a reordering of each other.

Both fit one form, used below: with ``a = 2`` (OpenCV) or ``a = 1`` (H36M) and ``s = rad + a (p1
y + p2 x)``: ``x_d = x s + p2 r2``, ``y_d = y s + p1 r2``.
"""
from __future__ import annotations

import functools

import numpy as np

MODELS = ("opencv", "h36m")


def split_coefficients(coeffs: np.ndarray, model: str) -> tuple[float, float, float, float, float, float]:
    """(k1, k2, k3, p1, p2, a) from a model's 5 coefficients (see the module docstring)."""
    if model == "opencv":
        k1, k2, p1, p2, k3 = coeffs
        return k1, k2, k3, p1, p2, 2.0
    if model == "h36m":
        k1, k2, k3, p1, p2 = coeffs
        return k1, k2, k3, p1, p2, 1.0
    raise ValueError(f"distortion_model must be one of {MODELS}, got {model!r}")


def max_radius_sq(coeffs: np.ndarray, model: str) -> float:
    """Largest r2 up to which the radial map r -> r * rad(r) still increases (np.inf if always).

    Beyond it the polynomial folds back and far-away rays would land inside the image, so points
    there are treated as invalid (NaN) by `distort` and `undistort`.
    """
    return _max_radius_sq(tuple(float(c) for c in coeffs), model)


@functools.lru_cache(maxsize=256)
def _max_radius_sq(coeffs: tuple[float, ...], model: str) -> float:
    k1, k2, k3, *_ = split_coefficients(coeffs, model)
    r2 = np.linspace(0.0, 25.0, 25001)[1:]
    slope = 1 + 3 * k1 * r2 + 5 * k2 * r2**2 + 7 * k3 * r2**3  # d(r rad)/dr
    bad = np.nonzero(slope <= 0)[0]
    return float(r2[bad[0] - 1]) if len(bad) else float("inf")


def distort(xy: np.ndarray, coeffs: np.ndarray, model: str) -> np.ndarray:
    """Apply distortion to normalised coordinates.

    Args:
        xy: (..., 2) undistorted normalised coordinates.
        coeffs: (5,) coefficients in `model`'s order.
    Returns:
        (..., 2) distorted normalised coordinates; NaN beyond `max_radius_sq`.
    """
    xy = np.asarray(xy, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        out = distort_raw(xy, *split_coefficients(coeffs, model))
        out[~((xy**2).sum(-1) <= max_radius_sq(coeffs, model))] = np.nan
    return out


def _jacobian(x, y, k1, k2, k3, p1, p2, a):
    r2 = x * x + y * y
    s = 1 + r2 * (k1 + r2 * (k2 + r2 * k3)) + a * (p1 * y + p2 * x)
    g = k1 + 2 * k2 * r2 + 3 * k3 * r2 * r2  # d rad / d r2
    ds_dx = 2 * x * g + a * p2
    ds_dy = 2 * y * g + a * p1
    return (s + x * ds_dx + 2 * p2 * x, x * ds_dy + 2 * p2 * y,
            y * ds_dx + 2 * p1 * x, s + y * ds_dy + 2 * p1 * y)


def undistort(xy_distorted: np.ndarray, coeffs: np.ndarray, model: str,
              iterations: int = 20, tol: float = 1e-10) -> np.ndarray:
    """Invert `distort` by Newton's method (vectorised).

    Args:
        xy_distorted: (..., 2) distorted normalised coordinates.
    Returns:
        (..., 2) undistorted normalised coordinates; NaN where Newton did not reach `tol`
        or the result lies beyond `max_radius_sq` (no valid preimage).
    """
    k1, k2, k3, p1, p2, a = split_coefficients(coeffs, model)
    target = np.asarray(xy_distorted, dtype=np.float64)
    xy = target.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        for _ in range(iterations):
            residual = distort_raw(xy, k1, k2, k3, p1, p2, a) - target
            j00, j01, j10, j11 = _jacobian(xy[..., 0], xy[..., 1], k1, k2, k3, p1, p2, a)
            det = j00 * j11 - j01 * j10
            dx = (j11 * residual[..., 0] - j01 * residual[..., 1]) / det
            dy = (-j10 * residual[..., 0] + j00 * residual[..., 1]) / det
            xy = xy - np.stack([dx, dy], axis=-1)
        error = np.abs(distort_raw(xy, k1, k2, k3, p1, p2, a) - target).max(axis=-1)
        bad = ~(error < tol) | ((xy**2).sum(-1) > max_radius_sq(coeffs, model))
    xy[bad] = np.nan
    return xy


def distort_raw(xy, k1, k2, k3, p1, p2, a):
    """`distort` without the validity mask, from split coefficients."""
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    s = 1 + r2 * (k1 + r2 * (k2 + r2 * k3)) + a * (p1 * y + p2 * x)
    return np.stack([x * s + p2 * r2, y * s + p1 * r2], axis=-1)
