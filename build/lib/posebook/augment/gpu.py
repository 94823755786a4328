"""The GPU renderer of `Plan`s: a batch's pixel work in torch, on any device (the tests run it
on CPU tensors). It makes the pixels of `posebook.augment.cpu.render` for the same Plans.

- **perspective crop** (`warp`): the homography from crop to source pixels
  (`camera.homography`, no lens distortion), sampled bilinearly with `grid_sample`; strong
  shrinking is area-prefiltered first, like `camera.reproject_image`.
- **occluder compositing** (`composite`): the bank is uploaded once (`OccluderBank`: uint8 RGBA
  slots plus a 2x area pyramid). The k-th pastes of all images form one slot; each paste is
  resampled only over a square window of the crop that holds it (side = the slot's largest
  paste, inside the image) from the top-left part of its bank slot that holds the object, then
  alpha-blended into the crop through a gather and a scatter of those window pixels. Memory and
  kernels per slot do not grow with the crop area or the number of pastes; the number of
  slots is the most pastes in one image (at most `occluder_count_max`).
- **appearance** (`colour`, `blur`): one affine RGB map per image (`cpu.colour_matrix`,
  contrast about the mean grey, brightness), then a per-image separable Gaussian blur
  (reflect-101 border, OpenCV's kernel size).

`render` packs a batch's numbers (homographies, paste windows, colour maps, blur kernels) on
the host into one array and uploads it with one pinned non-blocking copy (`to_device`);
nothing is read back, so no step waits for the device.

Convention: images are (B, C, H, W) tensors with values in [0, 255] (uint8 or float); pixel
centres at integer coordinates (OpenCV's), as in `posebook.camera`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .cpu import colour_matrix
from .plan import Look, Plan

PASTE_COLUMNS = 12   # x0, y0, w, h, ow, oh, window x, window y, to_norm, level, image, bank index


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
def _warp_table(dst_to_src, scales, B: int, H: int, W: int):
    """Host part of `warp`: (B, 10) rows (homography to the group's source pixels, image index)
    ordered by downscale group, and the groups [(factor k, count, (h, w) of the source)]."""
    H_all = np.asarray(torch.as_tensor(dst_to_src).cpu(), np.float64)
    if H_all.shape != (B, 3, 3):
        raise ValueError(f"dst_to_src: expected ({B}, 3, 3) homographies, got {H_all.shape}")
    if scales is None:
        scales = np.abs(np.linalg.det(H_all[:, :2, :2] / H_all[:, 2:, 2:])) ** -0.5
    scales = np.asarray(scales, np.float64)
    factors = np.where(scales < 0.7, np.maximum(1, np.round(1 / scales)), 1).astype(int)
    rows, groups = [], []
    for k in np.unique(factors):
        idx, (h, w) = np.nonzero(factors == k)[0], (max(1, round(H / k)), max(1, round(W / k)))
        resize = np.array([[w / W, 0, 0.5 * w / W - 0.5], [0, h / H, 0.5 * h / H - 0.5],
                           [0, 0, 1]])
        homs = H_all[idx] if k == 1 else resize @ H_all[idx]
        rows.append(np.concatenate([homs.reshape(-1, 9), idx[:, None]], 1))
        groups.append((int(k), len(idx), (h, w)))
    return np.concatenate(rows), groups


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


def _warp(images, table, groups, out_hw, border_value):
    """Device part of `warp` (`table`: `_warp_table`'s rows on the device)."""
    images = images.float() if not images.is_floating_point() else images
    out, start = images.new_empty(images.shape[0], images.shape[1], *out_hw) \
        if len(groups) > 1 else None, 0
    for k, n, small_hw in groups:
        rows, start = table[start:start + n], start + n
        src = images if out is None else images[rows[:, 9].long()]
        src = F.adaptive_avg_pool2d(src, small_hw) if k > 1 else src
        warped = _sample(src, rows[:, :9].reshape(-1, 3, 3), out_hw, border_value)
        if out is None:             # one group (the usual case): no gather, no scatter
            return warped
        out[rows[:, 9].long()] = warped
    return out


def warp(images: torch.Tensor, dst_to_src, out_size_wh, border_value: float = 0.0,
         scales=None) -> torch.Tensor:
    """Reproject a batch of images with per-image homographies (see `camera.homography`).

    Args:
        images: (B, C, H, W) uint8 or float, values in [0, 255].
        dst_to_src: (B, 3, 3) destination pixel -> source pixel homographies (host).
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
    table, groups = _warp_table(dst_to_src, scales, B, H, W)
    out_w, out_h = (int(v) for v in out_size_wh)
    return _warp(images, to_device(table, images.device, torch.float64), groups, (out_h, out_w),
                 border_value)


# --- occlusion ------------------------------------------------------------------------------------
class OccluderBank:
    """An occluder bank on a device: (L, N, 4, P, P) uint8 RGBA pyramid, level l area-downscaled
    by 2**l (rounded to integer levels, as OpenCV's INTER_AREA would), each occluder at the
    top-left of its P x P slot (P a multiple of 2**(L-1)). uint8 keeps Pascal VOC's 2,638
    objects at about 2 GB on the device (float32: 8 GB); `composite` converts only the parts
    of the slots a batch pastes.

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


def _round_up(n: int, step: int, cap: int) -> int:
    return int(min(cap, -(-n // step) * step))


def _paste_table(pastes: list, bank: OccluderBank, out_hw: tuple[int, int]):
    """Host part of `composite`: (M, PASTE_COLUMNS) rows in slot order (the k-th pastes of all
    images, k = 0, 1, ...) and per slot (count, window side Q, source side R)."""
    H, W = out_hw
    rows, slots = [], []
    for k in range(max(map(len, pastes), default=0)):
        flat = [(b, plist[k]) for b, plist in enumerate(pastes) if k < len(plist)]
        r = np.array([[p.x0, p.y0, p.w, p.h, bank.shapes[p.bank_index][1],
                       bank.shapes[p.bank_index][0]] for _, p in flat], np.float64)
        level = np.clip(np.round(np.log2(1 / np.minimum(r[:, 2] / r[:, 4], r[:, 3] / r[:, 5]))),
                        0, bank.levels - 1)
        Q = _round_up(int(r[:, 2:4].max()), 8, min(H, W))       # window: the slot's largest
        R = _round_up(int(np.ceil(r[:, 4:6].max(1) / 2 ** level).max()), 8, bank.side)
        window = np.stack([np.clip(r[:, 0], 0, W - Q), np.clip(r[:, 1], 0, H - Q)], 1)
        rows.append(np.concatenate([r, window, 2.0 / R / 2.0 ** level[:, None], level[:, None],
                                    [[b, p.bank_index] for b, p in flat]], 1))
        slots.append((len(flat), Q, R))
    table = np.concatenate(rows) if rows else np.zeros((0, PASTE_COLUMNS))
    return table, slots


def _composite(images: torch.Tensor, bank: OccluderBank, table: torch.Tensor, slots):
    """Device part of `composite` (`table`: `_paste_table`'s rows on the device)."""
    B, C, H, W = images.shape
    out = images.permute(0, 2, 3, 1).reshape(B * H * W, C).float()     # pixels x RGB, a copy
    start = 0
    for n, Q, R in slots:
        rows, start = table[start:start + n], start + n
        x0, y0, w, h, ow, oh, wx, wy, to_norm = rows[:, :9].float().unbind(1)
        level, b, bank_index = rows[:, 9:].long().unbind(1)
        src = bank.tensor[:, :, :, :R, :R][level, bank_index].float()   # (n, 4, R, R)
        step = torch.arange(Q, dtype=torch.float32, device=images.device)
        u, v = wx[:, None] + step, wy[:, None] + step                      # (n, Q) window pixels
        # crop pixel u -> occluder pixel s = (u - x0 + 0.5) ow / w - 0.5 (cv2.resize's mapping),
        # normalised for grid_sample in the level's (2**l times smaller) part of the slot
        su = (u - x0[:, None] + 0.5) * (ow / w * to_norm)[:, None] - 1
        sv = (v - y0[:, None] + 0.5) * (oh / h * to_norm)[:, None] - 1
        grid = torch.stack(torch.broadcast_tensors(su[:, None, :], sv[:, :, None]), -1)
        patch = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False).permute(0, 2, 3, 1)    # (n, Q, Q, 4)
        inside = ((u >= x0[:, None]) & (u < (x0 + w)[:, None]))[:, None, :] & \
            ((v >= y0[:, None]) & (v < (y0 + h)[:, None]))[:, :, None]   # (n, Q, Q)
        alpha = (patch[..., 3] * inside / 255)[..., None]
        pixel = (b[:, None, None] * H + v.long()[:, :, None]) * W + u.long()[:, None, :]
        under = out[pixel]                   # (n, Q, Q, C); windows of one slot never overlap
        out[pixel] = torch.floor(under + alpha * (patch[..., :3] - under) + 0.5).clamp_(0, 255)
    return out.reshape(B, H, W, C).permute(0, 3, 1, 2)


def composite(images: torch.Tensor, bank: OccluderBank, pastes: list) -> torch.Tensor:
    """Alpha-blend planned pastes into a batch, in order (as `cpu.paste`).

    Args:
        images: (B, 3, H, W) uint8 or float in [0, 255] (not modified).
        pastes: B sequences of `Paste` (a Plan's ``pastes``).
    Returns:
        (B, 3, H, W) float, rounded to integer levels.
    """
    _check_images(images)
    if len(pastes) != images.shape[0]:
        raise ValueError(f"pastes: expected {images.shape[0]} lists (one per image), got "
                         f"{len(pastes)}")
    table, slots = _paste_table(pastes, bank, images.shape[2:])
    return _composite(images, bank, to_device(table, images.device, torch.float64), slots)


# --- appearance -----------------------------------------------------------------------------------
def _colour_table(looks: list[Look]) -> np.ndarray:
    """(B, 11) rows: contrast x colour matrix (9), contrast, brightness x 255."""
    return np.array([np.concatenate([l.contrast * colour_matrix(np.radians(l.hue_deg),
                                                                l.saturation).ravel(),
                                     [l.contrast, 255 * l.brightness]]) for l in looks])


def _colour(images: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    B = images.shape[0]
    x, table = images.float(), table.float()
    M, gains, bright = table[:, :9].view(B, 3, 3), table[:, 9], table[:, 10]
    offset = (1 - gains) * x.mean(dim=(1, 2, 3)) + bright                     # (B,)
    out = torch.einsum("bij,bjhw->bihw", M, x) + offset.view(B, 1, 1, 1)
    return torch.round(torch.clamp(out, 0, 255))


def colour(images: torch.Tensor, looks: list[Look]) -> torch.Tensor:
    """The colour part of `cpu.restyle`: one affine RGB map per image, saturated and rounded.

    Args:
        images: (B, 3, H, W) RGB in [0, 255]. looks: B `Look`.
    Returns:
        (B, 3, H, W) float, integer levels in [0, 255].
    """
    _check_images(images)
    if len(looks) != images.shape[0] or images.shape[1] != 3:
        raise ValueError(f"colour: expected (B, 3, H, W) images and B looks, got "
                         f"{tuple(images.shape)} and {len(looks)} looks")
    return _colour(images, to_device(_colour_table(looks), images.device, torch.float64))


def _blur_table(sigmas_px, H: int, W: int):
    """(B, taps) normalised 1D kernels (a unit impulse for sigma 0) and their radius; None
    when no image is blurred."""
    sigmas = np.asarray(sigmas_px, np.float64).reshape(-1)
    if np.any(sigmas < 0):
        raise ValueError(f"sigmas_px: expected values >= 0, got {sigmas.tolist()}")
    if not np.any(sigmas > 0):
        return None, 0
    sizes = np.where(sigmas > 0, (np.round(sigmas * 6 + 1).astype(int) | 1), 1)
    radius = int(min(sizes.max() // 2, H - 1, W - 1))
    taps = np.arange(-radius, radius + 1)
    s = np.where(sigmas > 0, sigmas, 1.0)[:, None]
    g = np.where(np.abs(taps) <= np.minimum(sizes // 2, radius)[:, None],
                 np.exp(-taps ** 2 / (2 * s * s)), 0)
    return np.where(sigmas[:, None] > 0, g / g.sum(1, keepdims=True), taps == 0), radius


def _blur(images: torch.Tensor, kernels: torch.Tensor, radius: int) -> torch.Tensor:
    B, C, H, W = images.shape
    k = kernels.float().repeat_interleave(C, 0)
    x = images.float().reshape(1, B * C, H, W)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(B * C, 1, 1, -1),
                 groups=B * C)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(B * C, 1, -1, 1),
                 groups=B * C)
    return torch.round(x.reshape(B, C, H, W))


def blur(images: torch.Tensor, sigmas_px) -> torch.Tensor:
    """Per-image Gaussian blur (sigma 0 = unchanged), OpenCV's kernel size for uint8
    (``round(6 sigma + 1) | 1``) and reflect-101 border; result rounded.

    Args:
        images: (B, C, H, W) float in [0, 255]. sigmas_px: (B,) sigmas, pixels.
    """
    _check_images(images)
    B, C, H, W = images.shape
    if np.size(sigmas_px) != B:
        raise ValueError(f"sigmas_px: expected {B} values, got {np.size(sigmas_px)}")
    kernels, radius = _blur_table(sigmas_px, H, W)
    if kernels is None:
        return images.float()
    return _blur(images, to_device(kernels, images.device), radius)


# --- a whole batch ------------------------------------------------------------------------------
def render(frames: torch.Tensor, dst_to_src, scales, plans: list[Plan],
           bank: OccluderBank | None, border_value: float = 0.0) -> torch.Tensor:
    """Render a batch of Plans on the frames' device: crop, occluders, colour, blur.

    Args:
        frames: (B, 3, H, W) uint8 sources the homographies refer to (cached wide crops or
            full undistorted frames), on the target device.
        dst_to_src: (B, 3, 3) crop pixel -> source pixel homographies (host, float64);
            scales: (B,) crop/source zoom (`camera.zoom_factor`). plans: B Plans, one side S.
        bank: the plans' occluder bank on the device (None when no plan pastes).
    Returns:
        (B, 3, S, S) uint8 on the frames' device.
    """
    _check_images(frames, "frames")
    B, _, H, W = frames.shape
    sides, looks = {p.side_px for p in plans}, [p.look for p in plans]
    if len(plans) != B or len(sides) != 1:
        raise ValueError(f"render: expected {B} plans of one side, got {len(plans)} of sides "
                         f"{sorted(sides)}")
    if any(lk is None for lk in looks) and any(lk is not None for lk in looks):
        raise ValueError("render: either every plan of a batch has a look or none has")
    pastes = [p.pastes for p in plans]
    if bank is None and any(pastes):
        raise ValueError("render: the plans paste occluders but bank is None")
    S = sides.pop()
    # every number of the batch, packed on the host and uploaded in one copy
    warp_rows, groups = _warp_table(dst_to_src, scales, B, H, W)
    paste_rows, slots = _paste_table(pastes, bank, (S, S)) if any(pastes) else (None, [])
    colour_rows = _colour_table(looks) if looks[0] is not None else None
    kernels, radius = _blur_table([lk.blur_sigma_px for lk in looks], S, S) \
        if colour_rows is not None else (None, 0)
    parts = [a for a in (warp_rows, paste_rows, colour_rows, kernels) if a is not None]
    table = to_device(np.concatenate([a.ravel() for a in parts]), frames.device, torch.float64)
    views, start = [], 0
    for a in parts:
        views.append(table[start:start + a.size].view(a.shape))
        start += a.size
    views = iter(views)
    crops = torch.round(_warp(frames, next(views), groups, (S, S), border_value)).clamp_(0, 255)
    if paste_rows is not None:
        crops = _composite(crops, bank, next(views), slots)
    if colour_rows is not None:
        crops = _colour(crops, next(views))
        if kernels is not None:
            crops = _blur(crops, next(views), radius)
    return crops.clamp_(0, 255).to(torch.uint8)
