"""Horizontal-flip test-time augmentation at the model level.

Derivation. Mirroring the crop about its vertical centre line maps pixel coordinate u to
``u' = 2·c - u`` with ``c = S/2 + PIXEL_OFFSET_PX`` the image centre in the camera module's pixel
convention (``u' = S - 1 - u`` for integer pixel centres); v is unchanged. A point (X, Y, Z) of the
original camera projects to ``u = fx·X/Z + cx``, so in the mirrored image it appears at
``u' = fx·(-X)/Z + (2c - cx)``: the mirrored image is what a camera with principal point
``cx' = 2c - cx`` sees of the mirrored point (-X, Y, Z). So we run the net on the mirrored image
with ``cx'``, negate X of its camera-space output (X is already relative to the principal ray),
mirror u back, flip the heatmaps along W, and relabel joints with `skeleton.MIRROR` (the person's
left hand looks like a right hand in the mirror). The two predictions are then averaged.
"""
from __future__ import annotations

import torch

from .. import skeleton
from .posenet import PIXEL_OFFSET_PX, PoseNet


def mirror_intrinsics(intrinsics: torch.Tensor, input_px: int) -> torch.Tensor:
    """(B, 3, 3) K of the crop -> K of the horizontally mirrored crop (cx' = 2c - cx)."""
    flipped = intrinsics.clone()
    flipped[:, 0, 2] = input_px + 2 * PIXEL_OFFSET_PX - intrinsics[:, 0, 2]
    return flipped


def mirror_output(output: dict[str, torch.Tensor], input_px: int) -> dict[str, torch.Tensor]:
    """A PoseNet output for the mirrored crop -> the same prediction in the original crop.

    Negates camera-space X, mirrors u (u = 2c - u'), flips heatmaps along W and swaps left/right
    joints with `skeleton.MIRROR`. Applying it twice gives back the input.
    """
    m = list(skeleton.MIRROR)
    sign = output["joints_cam_mm"].new_tensor([-1.0, 1.0, 1.0])
    coords = output["coords"][:, m].clone()
    coords[..., 0] = input_px + 2 * PIXEL_OFFSET_PX - coords[..., 0]
    return dict(joints_cam_mm=output["joints_cam_mm"][:, m] * sign,
                joints_rel_mm=output["joints_rel_mm"][:, m] * sign,
                coords=coords, root_depth_mm=output["root_depth_mm"],
                heatmaps=output["heatmaps"][:, m].flip(-1))


def views(model: PoseNet, images: torch.Tensor, intrinsics: torch.Tensor,
          flip: bool = True) -> dict[bool, dict[str, torch.Tensor]]:
    """The plain prediction and, with `flip`, the flip-TTA one, from one forward pass.

    Args:
        model: a PoseNet (put it in eval mode first; with `flip` both views go through one batch
            of 2B). images: (B, 3, S, S) uint8 or float in [0, 255]. intrinsics: (B, 3, 3) crop K.
    Returns:
        {False: the dict of `PoseNet.forward` for the images, True (with `flip`): every entry
        averaged over the plain view and the mirrored view mapped back}.
    """
    model.check_inputs(images, intrinsics)
    if not flip:
        return {False: model(images, intrinsics)}
    S, B = model.input_px, images.shape[0]
    both = model(torch.cat([images, images.flip(-1)]),
                 torch.cat([intrinsics, mirror_intrinsics(intrinsics, S)]))
    plain = {k: v[:B] for k, v in both.items()}
    mirrored = mirror_output({k: v[B:] for k, v in both.items()}, S)
    return {False: plain, True: {k: (plain[k] + mirrored[k]) / 2 for k in plain}}


def flip_tta(model: PoseNet, images: torch.Tensor,
             intrinsics: torch.Tensor) -> dict[str, torch.Tensor]:
    """Average of the plain prediction and the mirrored-input prediction mapped back (the
    flip view of `views`)."""
    return views(model, images, intrinsics, flip=True)[True]
