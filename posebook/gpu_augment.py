"""Augmentation on an accelerator: the pixel work of `posebook.crop` and `posebook.augment`,
batched in torch (any device; the tests run it on CPU tensors).

The split of labour keeps both paths drawing from one distribution: every random number is still
drawn on the CPU with numpy, by the same calls in the same order as the CPU path
(`posebook.augment_plan`, re-exported here: `augment.sample_geometry`; `sample_occlusion`
mirrors `augment.occlude`; `sample_appearance` mirrors `augment.appearance`), and crop cameras
still come from `crop.crop_camera`. Given the same `rng`, the two paths therefore make the same
choices, and only the pixels are computed here:

- **perspective crop** (`warp`): the homography from destination to source pixels,
  ``H = K_src R_src R_dst^T K_dst^-1`` (`homography`; no lens distortion), sampled bilinearly
  with `torch.nn.functional.grid_sample`; strong shrinking is area-prefiltered first, like
  `camera.reproject_image`.
- **occluder compositing** (`composite`): the bank is uploaded once (`OccluderBank`: padded RGBA
  tensor plus a 2x area pyramid); every paste is an axis-aligned resample into its integer
  rectangle (the same rectangle `augment.occlude` computes) and an alpha blend, all pastes of a
  batch in one `grid_sample` call.
- **appearance** (`colour`, `blur`): one affine RGB map per image (saturation, hue rotation,
  contrast about the mean grey, brightness), then a per-image Gaussian blur (reflect-101 border,
  OpenCV's kernel size).

Per-batch numbers (homographies, paste rectangles, colour matrices, blur kernels) are made on the
host and sent by `to_device`; nothing is read back, so no step waits for the device. The kernel
count grows with the most pastes in one image (at most 8), not with the number of pastes.

Convention: images are (B, C, H, W) tensors with values in [0, 255] (uint8 or float); pixel
centres at integer coordinates (OpenCV's), as in `posebook.camera`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import augment
from .augment_plan import (Appearance, Paste, Plan, homography, plan_batch,  # noqa: F401
                           sample_appearance, sample_occlusion)   # the host-side draws


def to_device(array, device, dtype=torch.float32) -> torch.Tensor:
    """A host array as a `dtype` tensor on `device`; on CUDA by a non-blocking copy from pinned
    memory (``torch.tensor(x, device=...)`` and pageable ``.to`` wait for the device)."""
    host = torch.as_tensor(array, dtype=dtype)
    if torch.device(device).type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True)


def _check_images(images: torch.Tensor, name: str = "images") -> None:
    if not (isinstance(images, torch.Tensor) and images.ndim == 4):
        raise ValueError(f"{name}: expected a (B, C, H, W) tensor, got "
                         f"{tuple(getattr(images, 'shape', ())) or type(images).__name__}")


# --- perspective warp ----------------------------------------------------------------------------
def _sample(images: torch.Tensor, dst_to_src: torch.Tensor, out_hw: tuple[int, int],
            border_value: float) -> torch.Tensor:
    """Bilinear homography sampling of float images (B,C,H,W) -> (B,C,h,w)."""
    B, C, H, W = images.shape
    h, w = out_hw
    v, u = torch.meshgrid(torch.arange(h, dtype=images.dtype, device=images.device),
                          torch.arange(w, dtype=images.dtype, device=images.device), indexing="ij")
    dst = torch.stack([u, v, torch.ones_like(u)], -1).reshape(1, h * w, 3)
    src = dst @ dst_to_src.to(images.dtype).transpose(1, 2)              # (B, h*w, 3)
    z = src[..., 2:]
    ok = z > 1e-12
    xy = torch.where(ok, src[..., :2] / torch.where(ok, z, torch.ones_like(z)),
                     torch.full_like(src[..., :2], -1e4))
    # align_corners=False; Python scalars only (`t[i] = x` on a CUDA tensor waits for it)
    grid = torch.stack([(xy[..., 0] + 0.5) * (2.0 / W) - 1, (xy[..., 1] + 0.5) * (2.0 / H) - 1],
                       -1).reshape(B, h, w, 2)
    if border_value:
        images = torch.cat([images, torch.ones_like(images[:, :1])], 1)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if border_value:
        out = out[:, :C] + (1 - out[:, C:]) * border_value
    return out


def warp(images: torch.Tensor, dst_to_src, out_size_wh, border_value: float = 0.0,
         scales=None) -> torch.Tensor:
    """Reproject a batch of images with per-image homographies (see `homography`).

    Args:
        images: (B, C, H, W) uint8 or float, values in [0, 255].
        dst_to_src: (B, 3, 3) destination pixel -> source pixel homographies (numpy or a host
            tensor).
        out_size_wh: (w, h) of the output.
        border_value: fill for pixels that see outside the source image.
        scales: (B,) destination/source zoom per image (None = estimated from the upper-left
            2x2 blocks); images with scale < 0.7 are first area-downscaled by an integer
            factor, as `camera.reproject_image` downscales to the zoom.
    Returns:
        (B, C, h, w) float32 (uint8 input) or the input's float dtype, values in [0, 255].
    """
    _check_images(images)
    B, C, H, W = images.shape
    H_all = torch.as_tensor(np.asarray(torch.as_tensor(dst_to_src).cpu(), np.float64))
    if tuple(H_all.shape) != (B, 3, 3):
        raise ValueError(f"dst_to_src: expected ({B}, 3, 3) homographies, got {tuple(H_all.shape)}")
    out_w, out_h = (int(v) for v in out_size_wh)
    images = images.float() if not images.is_floating_point() else images
    if scales is None:
        scales = np.abs(np.linalg.det(H_all[:, :2, :2].numpy() / H_all[:, 2:, 2:].numpy())) ** -0.5
    scales = np.asarray(scales, np.float64)
    factors = np.where(scales < 0.7, np.maximum(1, np.round(1 / scales)), 1).astype(int)
    # images sharing a downscale factor k form a group (usually one, k = 1); on the host: the
    # homographies to pixels of each group's k-times area-downscaled source
    groups, homs = [], []
    for k in np.unique(factors):
        idx, (h, w) = np.nonzero(factors == k)[0], (max(1, round(H / k)), max(1, round(W / k)))
        resize = torch.tensor([[w / W, 0, 0.5 * w / W - 0.5], [0, h / H, 0.5 * h / H - 0.5],
                               [0, 0, 1]], dtype=torch.float64)
        homs.append(H_all[idx] if k == 1 else resize @ H_all[idx])
        groups.append((k, idx, (h, w)))
    order = torch.as_tensor(np.concatenate([idx for _, idx, _ in groups]), dtype=torch.float64)
    table = to_device(torch.cat([torch.cat(homs).reshape(B, 9), order[:, None]], 1),
                      images.device, torch.float64)           # (B, 10): homography, image index
    out, start = images.new_empty(B, C, out_h, out_w) if len(groups) > 1 else None, 0
    for k, idx, small_hw in groups:
        rows, start = table[start:start + len(idx)], start + len(idx)
        src = images if out is None else images[rows[:, 9].long()]
        src = F.adaptive_avg_pool2d(src, small_hw) if k > 1 else src
        warped = _sample(src, rows[:, :9].reshape(-1, 3, 3), (out_h, out_w), border_value)
        if out is None:             # one group (the usual case): no gather, no scatter
            return warped
        out[rows[:, 9].long()] = warped
    return out


# --- occlusion ------------------------------------------------------------------------------------
class OccluderBank:
    """An occluder bank on a device: (L, N, 4, P, P) uint8 RGBA pyramid, level l area-downscaled
    by 2**l (rounded to integer levels, as OpenCV's INTER_AREA would), each occluder at the
    top-left of its P x P slot (P a multiple of 2**(L-1)). uint8 keeps Pascal VOC's 2,638
    objects at about 2 GB on the device (float32: 8 GB); `composite` converts only the slots a
    batch pastes.

    Args:
        occluders: sequence of (h, w, 4) uint8 RGBA arrays (reference scale, see
            `posebook.data.occluders`). levels: pyramid levels L.
    """

    def __init__(self, occluders, device="cpu", levels: int = 3):
        if len(occluders) == 0:
            raise ValueError("OccluderBank: occluders is empty")
        for occ in occluders:
            if occ.ndim != 3 or occ.shape[2] != 4 or occ.dtype != np.uint8:
                raise ValueError(f"occluders must be (h, w, 4) uint8 RGBA, got {occ.shape} "
                                 f"{occ.dtype}")
        self.shapes = [tuple(o.shape[:2]) for o in occluders]
        step = 2 ** (levels - 1)
        P = -(-max(max(s) for s in self.shapes) // step) * step
        base = np.zeros((len(occluders), 4, P, P), np.uint8)   # uploaded as uint8, pooled there
        for i, occ in enumerate(occluders):
            base[i, :, :occ.shape[0], :occ.shape[1]] = occ.transpose(2, 0, 1)
        self.side, self.levels = P, levels
        self.tensor = torch.zeros(levels, len(occluders), 4, P, P, dtype=torch.uint8,
                                  device=device)
        self.tensor[0] = torch.from_numpy(base).to(device)
        for level in range(1, levels):      # level l fills the top-left P / 2**l of its slot
            s = P >> level
            for i in range(0, len(occluders), 256):   # float only for 256 objects at a time
                finer = self.tensor[level - 1, i:i + 256, :, :2 * s, :2 * s].float()
                self.tensor[level, i:i + 256, :, :s, :s] = F.avg_pool2d(finer, 2).round_()

    def __len__(self) -> int:
        return len(self.shapes)


def composite(images: torch.Tensor, bank: OccluderBank, pastes: list[list[Paste]]):
    """Alpha-blend the planned pastes into a batch, in order (as `augment.occlude`).

    Args:
        images: (B, 3, H, W) uint8 or float in [0, 255] (not modified).
        pastes: B lists of `Paste` (from `sample_occlusion`).
    Returns:
        (images (B, 3, H, W) float rounded to integer levels, mask (B, H, W) bool covered pixels
        (alpha > 0.5), count (B,) int64 pastes per image, on the host: it is known there).
    """
    _check_images(images)
    B, _, H, W = images.shape
    if len(pastes) != B:
        raise ValueError(f"pastes: expected {B} lists (one per image), got {len(pastes)}")
    dev = images.device
    out = images.to(torch.float32, copy=True)
    count = torch.tensor([len(p) for p in pastes], dtype=torch.int64)
    if not any(pastes):
        return out, torch.zeros(B, H, W, dtype=torch.bool, device=dev), count
    P, L = bank.side, bank.levels
    # pastes in (slot, image) order: the k-th pastes of all images are one contiguous slice
    per_slot = [sum(len(p) > k for p in pastes) for k in range(max(map(len, pastes)))]
    flat = [(b, plist[k]) for k in range(len(per_slot)) for b, plist in enumerate(pastes)
            if k < len(plist)]
    # per paste, on the host: rectangle, source size, pyramid level, image and bank index
    rect = np.array([[p.x0, p.y0, p.w, p.h, bank.shapes[p.bank_index][1],
                      bank.shapes[p.bank_index][0]] for _, p in flat], np.float64)
    level = np.clip(np.round(np.log2(1 / np.minimum(rect[:, 2] / rect[:, 4],
                                                    rect[:, 3] / rect[:, 5]))), 0, L - 1)
    table = to_device(np.concatenate([rect, 2.0 / P / 2.0 ** level[:, None], level[:, None],
                                      [[b, p.bank_index] for b, p in flat]], 1),
                      dev, torch.float64)                                 # (M, 10), one copy
    x0, y0, w, h, ow, oh, to_norm = table[:, :7].float().unbind(1)
    lv, b_idx, bank_idx = table[:, 7:].long().unbind(1)
    src = bank.tensor[lv, bank_idx].float()                              # (M, 4, P, P)
    u = torch.arange(W, dtype=torch.float32, device=dev)
    v = torch.arange(H, dtype=torch.float32, device=dev)
    # output pixel u -> occluder pixel s = (u - x0 + 0.5) ow / w - 0.5 (cv2.resize's mapping),
    # normalised for grid_sample in the level's (2**l times smaller) slot
    su = (u[None] - x0[:, None] + 0.5) * (ow / w * to_norm)[:, None] - 1   # (M, W)
    sv = (v[None] - y0[:, None] + 0.5) * (oh / h * to_norm)[:, None] - 1   # (M, H)
    grid = torch.stack(torch.broadcast_tensors(su[:, None, :], sv[:, :, None]), -1)
    patch = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = ((u[None] >= x0[:, None]) & (u[None] < (x0 + w)[:, None]))[:, None, :] & \
        ((v[None] >= y0[:, None]) & (v[None] < (y0 + h)[:, None]))[:, :, None]   # (M, H, W)
    alpha = patch[:, 3] * inside / 255                                    # (M, H, W)
    start = 0
    for n in per_slot:              # in paste order; within a slot every image at most once
        b, a = b_idx[start:start + n], alpha[start:start + n, None]
        under = out[b]
        blended = under + a * (patch[start:start + n, :3] - under)
        out[b] = torch.floor(blended + 0.5).clamp_(0, 255)
        start += n
    covered = (alpha * 255 > 127.5).float()
    mask = torch.zeros(B, H, W, device=dev).index_add_(0, b_idx, covered) > 0
    return out, mask, count


# --- appearance -----------------------------------------------------------------------------------
def colour(images: torch.Tensor, params: list[Appearance]) -> torch.Tensor:
    """The colour part of `augment.appearance`: one affine RGB map per image (saturation towards
    luma grey and hue rotation, `augment._colour_matrix`; contrast about the image's mean grey;
    brightness), saturated to [0, 255] and rounded.

    Args:
        images: (B, 3, H, W) RGB in [0, 255]. params: B `Appearance`.
    Returns:
        (B, 3, H, W) float, integer levels in [0, 255].
    """
    _check_images(images)
    B = images.shape[0]
    if len(params) != B or images.shape[1] != 3:
        raise ValueError(f"colour: expected (B, 3, H, W) images and B params, got "
                         f"{tuple(images.shape)} and {len(params)} params")
    x = images.float()
    matrices = np.stack([p.contrast * augment._colour_matrix(np.radians(p.hue_deg), p.saturation)
                         for p in params])
    table = to_device(np.concatenate([matrices.ravel(), [p.contrast for p in params],
                                      [255 * p.brightness for p in params]]), x.device)
    M = table[:9 * B].view(B, 3, 3)                                           # (B, 3, 3)
    gains, bright = table[9 * B:10 * B], table[10 * B:]                       # (B,), (B,)
    offset = (1 - gains) * x.mean(dim=(1, 2, 3)) + bright                     # (B,)
    out = torch.einsum("bij,bjhw->bihw", M, x) + offset.view(B, 1, 1, 1)
    return torch.round(torch.clamp(out, 0, 255))


def blur(images: torch.Tensor, sigmas_px) -> torch.Tensor:
    """Per-image Gaussian blur (sigma 0 = unchanged), OpenCV's kernel size for uint8
    (``round(6 sigma + 1) | 1``) and reflect-101 border; result rounded.

    Args:
        images: (B, C, H, W) float in [0, 255]. sigmas_px: (B,) sigmas, pixels.
    """
    _check_images(images)
    B, C, H, W = images.shape
    sigmas = np.asarray(sigmas_px, np.float64).reshape(-1)
    if sigmas.shape != (B,) or np.any(sigmas < 0):
        raise ValueError(f"sigmas_px: expected {B} values >= 0, got {sigmas.tolist()}")
    if not np.any(sigmas > 0):
        return images.float()
    sizes = np.where(sigmas > 0, (np.round(sigmas * 6 + 1).astype(int) | 1), 1)
    radius = int(min(sizes.max() // 2, H - 1, W - 1))
    taps = np.arange(-radius, radius + 1)
    s = np.where(sigmas > 0, sigmas, 1.0)[:, None]
    g = np.where(np.abs(taps) <= np.minimum(sizes // 2, radius)[:, None],
                 np.exp(-taps ** 2 / (2 * s * s)), 0)
    kernels = np.where(sigmas[:, None] > 0, g / g.sum(1, keepdims=True), taps == 0)  # (B, taps)
    k = to_device(kernels, images.device).repeat_interleave(C, 0)
    x = images.float().reshape(1, B * C, H, W)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(B * C, 1, 1, -1),
                 groups=B * C)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(B * C, 1, -1, 1),
                 groups=B * C)
    return torch.round(x.reshape(B, C, H, W))


# --- the whole training augmentation for a batch ---------------------------------------------------
def apply(frames: torch.Tensor, plan: Plan, bank: OccluderBank | None, out_side: int,
          border_value: float = 0.0) -> dict:
    """Render a `Plan` on the frames' device.

    Args:
        frames: (B, 3, H, W) uint8 source images that the plan's homographies refer to (full
            frames or cached wide crops), on the target device.
    Returns:
        dict(image (B, 3, S, S) uint8 and mask (B, S, S) bool covered by occluders, on the
        frames' device; n_occluders (B,) int64 on the host).
    """
    crops = warp(frames, plan.homographies, (out_side, out_side), border_value, plan.scales)
    crops = torch.round(crops).clamp_(0, 255)
    if bank is None and any(plan.pastes):
        raise ValueError("apply: the plan pastes occluders but bank is None")
    crops, mask, count = composite(crops, bank, plan.pastes)
    if plan.appearance is not None:
        crops = blur(colour(crops, plan.appearance), [a.blur_sigma_px for a in plan.appearance])
    return {"image": crops.clamp_(0, 255).to(torch.uint8), "mask": mask, "n_occluders": count}
