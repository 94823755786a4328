"""Soft-argmax: heatmap logits -> continuous coordinates, differentiably.

Convention: a heatmap axis with ``n`` cells spans the normalised interval [0, 1]; cell ``i`` covers
[i/n, (i+1)/n] and stands for its centre ``(i + 0.5) / n``. Soft-argmax is the expectation of the
cell centres under the softmax of the logits taken *jointly* over all cells of one heatmap (a whole
D x H x W volume for the 3D version), so the result is always inside [0.5/n, 1 - 0.5/n].
Axis order of a volume is (D, H, W) = (z, y, x); the output order is (x, y, z).

Hard argmax, for comparison, returns the centre of the largest cell, so its error is up to half a
cell; `quantization_errors` measures both on synthetic peaked heatmaps (chapter 03).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def cell_centres(n: int, device=None, dtype=torch.float32) -> Tensor:
    """(n,) normalised cell centres ``(i + 0.5) / n``."""
    return (torch.arange(n, device=device, dtype=dtype) + 0.5) / n


def soft_argmax_1d(logits: Tensor) -> Tensor:
    """Expected normalised position under ``softmax(logits)`` along the last axis.

    Args:
        logits: (..., N) heatmap logits (any float dtype; computed in at least float32).
    Returns:
        (...,) position in [0, 1] (cell centres at ``(i + 0.5) / N``).
    """
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"expected logits of shape (..., N) with N >= 1, got {tuple(logits.shape)}")
    logits = logits if logits.dtype == torch.float64 else logits.float()
    probs = torch.softmax(logits, dim=-1)
    return (probs * cell_centres(logits.shape[-1], logits.device, logits.dtype)).sum(-1)


def soft_argmax_3d(logits: Tensor) -> Tensor:
    """Expected normalised (x, y, z) under the softmax taken jointly over each D x H x W volume.

    Args:
        logits: (..., D, H, W) volumetric heatmap logits.
    Returns:
        (..., 3) normalised (x, y, z) in [0, 1]; x runs along W, y along H, z along D.
    """
    if logits.ndim < 3:
        raise ValueError(f"expected logits of shape (..., D, H, W), got {tuple(logits.shape)}")
    logits = logits if logits.dtype == torch.float64 else logits.float()
    D, H, W = logits.shape[-3:]
    probs = torch.softmax(logits.flatten(-3), dim=-1).unflatten(-1, (D, H, W))
    kw = dict(device=logits.device, dtype=logits.dtype)
    x = (probs.sum((-3, -2)) * cell_centres(W, **kw)).sum(-1)   # marginal over W
    y = (probs.sum((-3, -1)) * cell_centres(H, **kw)).sum(-1)   # marginal over H
    z = (probs.sum((-2, -1)) * cell_centres(D, **kw)).sum(-1)   # marginal over D
    return torch.stack([x, y, z], dim=-1)


def hard_argmax_3d(logits: Tensor) -> Tensor:
    """Centre of the largest cell of each volume, same convention as `soft_argmax_3d`.

    Args:
        logits: (..., D, H, W).
    Returns:
        (..., 3) normalised (x, y, z) cell centre of the argmax.
    """
    if logits.ndim < 3:
        raise ValueError(f"expected logits of shape (..., D, H, W), got {tuple(logits.shape)}")
    D, H, W = logits.shape[-3:]
    flat = logits.flatten(-3).argmax(-1)
    z, y, x = flat // (H * W), (flat // W) % H, flat % W
    return torch.stack([(x + 0.5) / W, (y + 0.5) / H, (z + 0.5) / D], dim=-1).to(torch.float32)


def gaussian_logits(centres: Tensor, cells: int, sigma_cells: float = 1.0) -> Tensor:
    """Log of an isotropic Gaussian peak on a cells^3 grid (a synthetic "ideal" heatmap).

    Args:
        centres: (B, 3) normalised (x, y, z) peak positions in [0, 1].
        cells: cells per axis.
        sigma_cells: the peak's standard deviation, in cells.
    Returns:
        (B, cells, cells, cells) logits ``-d^2 / (2 sigma^2)``, d the distance to the peak in cells.
    """
    if centres.ndim != 2 or centres.shape[-1] != 3:
        raise ValueError(f"expected centres of shape (B, 3), got {tuple(centres.shape)}")
    c = cell_centres(cells, centres.device, centres.dtype) * cells           # cell units
    p = centres * cells
    dx = (c[None, :] - p[:, 0:1]) ** 2                                        # (B, W)
    dy = (c[None, :] - p[:, 1:2]) ** 2
    dz = (c[None, :] - p[:, 2:3]) ** 2
    d2 = dz[:, :, None, None] + dy[:, None, :, None] + dx[:, None, None, :]
    return -d2 / (2 * sigma_cells ** 2)


def quantization_errors(cells=(8, 16, 32, 64), n: int = 256, sigma_cells: float = 1.0,
                        noise: float = 0.0, side_px: float = 256.0,
                        rng: np.random.Generator | None = None) -> list[dict]:
    """Mean 3D error of hard vs soft argmax on Gaussian peaks at random continuous positions.

    Peak positions are uniform in [0.1, 0.9]^3 (away from the border, where the truncated softmax
    pulls soft-argmax inwards). Errors are Euclidean, in pixels of a ``side_px`` crop (all three
    axes scaled by ``side_px``).

    Args:
        cells: resolutions to test (cells per axis).
        n: number of random peaks per resolution.
        sigma_cells: peak width in cells.
        noise: standard deviation of i.i.d. Gaussian noise added to the logits.
        rng: numpy Generator for positions and noise (default seed 0).
    Returns:
        one dict per resolution: cells, hard_px, soft_px (mean errors), hard_max_px, soft_max_px.
    """
    rng = rng or np.random.default_rng(0)
    rows = []
    for k in cells:
        centres = torch.as_tensor(rng.uniform(0.1, 0.9, size=(n, 3)))
        hard, soft = [], []
        for chunk in centres.split(max(1, 2 ** 21 // k ** 3)):
            logits = gaussian_logits(chunk, k, sigma_cells)
            if noise:
                logits = logits + torch.as_tensor(rng.normal(0, noise, logits.shape))
            hard.append((hard_argmax_3d(logits).double() - chunk).norm(dim=-1))
            soft.append((soft_argmax_3d(logits) - chunk).norm(dim=-1))
        hard, soft = torch.cat(hard) * side_px, torch.cat(soft) * side_px
        rows.append(dict(cells=int(k), hard_px=float(hard.mean()), soft_px=float(soft.mean()),
                         hard_max_px=float(hard.max()), soft_max_px=float(soft.max())))
    return rows


def fit_logits_to_target(target_xy: tuple[float, float], cells: int = 16, steps: int = 200,
                         lr: float = 0.05, seed: int = 0) -> dict:
    """Gradient descent on 2D heatmap logits with only an L1 loss on the soft-argmax coordinate.

    Shows that no heatmap loss is needed: the coordinate loss alone moves mass to the target.

    Args:
        target_xy: normalised (x, y) target in [0, 1].
        cells: heatmap side (cells x cells, a single depth cell).
        steps, lr: Adam settings. seed: torch seed for the random initial logits.
    Returns:
        dict(initial (cells, cells) logits, final (cells, cells) logits, loss (steps,),
        coords (steps, 2) normalised soft-argmax positions along the way).
    """
    gen = torch.Generator().manual_seed(seed)
    logits = (0.1 * torch.randn(1, cells, cells, generator=gen, dtype=torch.float64)).requires_grad_()
    initial = logits.detach().clone()
    target = torch.tensor(target_xy, dtype=torch.float64)
    optimiser = torch.optim.Adam([logits], lr=lr)
    losses, coords = [], []
    for _ in range(steps):
        xy = soft_argmax_3d(logits)[:2]
        loss = (xy - target).abs().sum() * cells          # L1 in cell units
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        coords.append(xy.detach().numpy())
    return dict(initial=initial[0].numpy(), final=logits.detach()[0].numpy(),
                loss=np.array(losses), coords=np.array(coords))


def coordinate_gradient(logits: Tensor, axis: int = 0) -> Tensor:
    """d(soft-argmax coordinate `axis`)/d(logits): ``p_i (c_i - mean)`` for each cell.

    Args:
        logits: (D, H, W) one volume. axis: 0 = x, 1 = y, 2 = z.
    Returns:
        (D, H, W) gradient of that normalised coordinate with respect to every logit.
    """
    if logits.ndim != 3:
        raise ValueError(f"expected logits of shape (D, H, W), got {tuple(logits.shape)}")
    logits = logits.detach().double().requires_grad_()
    soft_argmax_3d(logits)[axis].backward()
    return logits.grad


def interpolated_logits_1d(position: Tensor, n: int) -> Tensor:
    """Logits whose softmax puts all mass on the two cells around `position` (linear split), so
    that `soft_argmax_1d` returns `position` exactly: an "ideal" heatmap for a known coordinate.

    Args:
        position: (...,) normalised positions in [0.5/n, 1 - 0.5/n].
        n: number of cells.
    Returns:
        (..., n) logits (log weights; -1e4 for empty cells).
    """
    lo_c, hi_c = 0.5 / n, 1 - 0.5 / n
    if bool(((position < lo_c - 1e-12) | (position > hi_c + 1e-12)).any()):
        raise ValueError(f"positions must lie within the cell centres [{lo_c}, {hi_c}] for n={n}")
    t = (position * n - 0.5).clamp(0, n - 1)                  # continuous cell index
    lo = t.floor().clamp(max=max(n - 2, 0)).long()
    frac = t - lo
    weights = torch.zeros(*position.shape, n, dtype=position.dtype, device=position.device)
    weights.scatter_(-1, lo[..., None], (1 - frac)[..., None])
    if n > 1:
        weights.scatter_add_(-1, (lo + 1)[..., None], frac[..., None])
    return torch.log(weights.clamp_min(0)).clamp_min(-1e4)
