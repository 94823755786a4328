"""Measured facts about a built network: tensor shapes per stage, parameters, FLOPs (chapter 02).

Everything here runs a dummy forward pass (batch 1, zeros) on the model's own device (the CPU, a
GPU, or ``meta`` for shapes and counts without weights); nothing is typed in.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .posenet import PoseNet, build


def dummy_inputs(model: PoseNet, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,3,S,S) uint8 zeros and (B,3,3) intrinsics with f = f0 and the principal point centred,
    on the device of the model's parameters."""
    S, f0 = model.input_px, model.canonical_focal_px
    device = next(model.parameters()).device
    K = torch.zeros(batch, 3, 3, device=device)
    K[:, 0, 0], K[:, 1, 1], K[:, :2, 2], K[:, 2, 2] = f0, f0, (S - 1) / 2, 1.0
    return torch.zeros(batch, 3, S, S, dtype=torch.uint8, device=device), K


def _stages(model: PoseNet) -> list[tuple[str, nn.Module]]:
    body = model.backbone.body
    if hasattr(body, "net") and hasattr(body.net, "stages"):        # timm ResNet v2
        named = [("stem", body.net.stem)]
        named += [(f"stage {i + 1}", s) for i, s in enumerate(body.net.stages)]
        named.append(("final norm", body.net.norm))
    else:
        named = [(f"stage {i + 1}", s) for i, s in enumerate(body)]
    return named + [("volumetric head", model.volumetric_head),
                    ("root-depth head", model.root_depth_head)]


@torch.no_grad()
def layer_shapes(model: PoseNet) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape without batch) for the input, each backbone stage, the heads and the
    final outputs, recorded with forward hooks during one dummy forward pass."""
    shapes = [("input image", (3, model.input_px, model.input_px))]
    hooks = [module.register_forward_hook(
        lambda _m, _i, out, name=name: shapes.append((name, tuple(out.shape[1:]))))
        for name, module in _stages(model)]
    was_training = model.training
    model.eval()
    try:
        out = model(*dummy_inputs(model))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    shapes += [("coords (u, v, z_rel)", tuple(out["coords"].shape[1:])),
               ("joints_cam_mm", tuple(out["joints_cam_mm"].shape[1:]))]
    return shapes


@torch.no_grad()
def flops_per_image(model: PoseNet) -> int:
    """Floating-point operations of one forward pass of one image (FlopCounterMode: 2 per MAC)."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(*dummy_inputs(model))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def n_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe(config) -> dict:
    """Build the profile's network on the meta device (no weights, no lookup) and measure it.

    Returns:
        dict(profile, backbone, input_px, stride, depth_bins, shapes (list of (name, shape)),
        params_backbone, params_heads, params_total, gflops).
    """
    with torch.device("meta"):          # shapes, counts and FLOPs need no real weights
        model = build(config.replace(pretrained="none"))
        total = n_parameters(model)
        backbone = n_parameters(model.backbone)
        shapes, flops = layer_shapes(model), flops_per_image(model)
    return dict(profile=config.profile, backbone=config.backbone, input_px=config.input_px,
                stride=config.stride, depth_bins=config.depth_bins, shapes=shapes,
                params_backbone=backbone, params_heads=total - backbone, params_total=total,
                gflops=flops / 1e9)


def describe_profiles(configs) -> list[dict]:
    """`describe` for several configs, measuring each distinct network once (profiles that share
    backbone, input size, stride and D, e.g. ``gpu`` and ``paper``, share the numbers)."""
    measured, rows = {}, []
    for config in configs:
        key = (config.backbone, config.input_px, config.stride, config.depth_bins,
               config.root_depth_bins)
        if key not in measured:
            measured[key] = describe(config)
        rows.append({**measured[key], "profile": config.profile})
    return rows
