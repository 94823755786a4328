"""PoseNet: crop image -> volumetric heatmaps + root depth -> 3D joints in the crop camera.

Pipeline (B batch, J joints, D depth cells, h = w = S / stride)::

    images (B,3,S,S) uint8 --normalise--> backbone --> features (B,C,h,w)
      -> VolumetricHead -> heatmaps (B,J,D,h,w) -> soft_argmax_3d -> (x,y,z) in [0,1]
           u_px = x·S + PIXEL_OFFSET_PX, v_px = y·S + PIXEL_OFFSET_PX,
           z_rel_mm = (z - 0.5)·box_depth_mm
      -> RootDepthHead -> (B,32) logits -> soft_argmax_1d -> d in [0,1]
           root_depth_mm = d·root_depth_max_mm · (f_crop / f0)
      -> camera.backproject(uv_px, z_rel_mm, root_depth_mm, K, focal_correction)
           -> joints_cam_mm (B,J,3); joints_rel_mm = joints_cam_mm - joints_cam_mm[:, root]

Convention (pixels): the crop spans [0, S] in continuous coordinates along each axis and heatmap
cell i of n covers [i·S/n, (i+1)·S/n]; ``PIXEL_OFFSET_PX`` shifts this to the camera module's
pixel-centre convention (see `PIXEL_OFFSET_PX`).

Convention (root depth): a person who appears the same size in the crop is farther away when the
crop's focal length is longer (depth ∝ f·height/size). The depth head therefore predicts the depth
as a camera with the canonical focal length ``f0 = config.canonical_focal_px`` (0 -> 1.5·S) would
see it, and the actual depth is that times ``f_crop / f0``, with f_crop = sqrt(fx·fy) of the crop
intrinsics. The learned focal correction c is deliberately not part of this factor: with it,
c would cancel out of the root-relative x, y (X ≈ Δu·Z/(c·f)) and get no signal from them.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import camera, skeleton
from .backbones import build_backbone
from .heads import RootDepthHead, VolumetricHead
from .softargmax import soft_argmax_1d, soft_argmax_3d

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Added to x_norm·S to get the pixel coordinate in the camera module's convention, where pixel
# (i, j)'s centre is at integer coordinates (u, v) = (j, i) (OpenCV's): a cell spanning pixels
# [a, a+s) has its centre at a + (s-1)/2 = (i+0.5)·s - 0.5.
PIXEL_OFFSET_PX = -0.5


class PoseNet(nn.Module):
    """Volumetric-heatmap 3D pose network (Sárándi et al. 2018). See the module docstring."""

    def __init__(self, backbone: nn.Module, input_px: int, depth_bins: int, box_depth_mm: float,
                 root_depth_bins: int = 32, root_depth_max_mm: float = 10000.0,
                 canonical_focal_px: float = 0.0, joints: int = skeleton.N_JOINTS):
        super().__init__()
        self.backbone = backbone
        self.input_px = int(input_px)
        self.box_depth_mm = float(box_depth_mm)
        self.root_depth_max_mm = float(root_depth_max_mm)
        self.canonical_focal_px = float(canonical_focal_px) or 1.5 * self.input_px
        self.volumetric_head = VolumetricHead(backbone.out_channels, joints, depth_bins)
        self.root_depth_head = RootDepthHead(backbone.out_channels, root_depth_bins)
        # Input-independent focal-length correction factor, learned with the network.
        self.focal_correction = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255,
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255,
                             persistent=False)

    def check_inputs(self, images: torch.Tensor, intrinsics: torch.Tensor) -> None:
        S = self.input_px
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, S, S):
            raise ValueError(f"PoseNet expects images of shape (B, 3, S, S) = (B, 3, {S}, {S}) "
                             f"(uint8 or float in [0, 255]), got {tuple(images.shape)}")
        if tuple(intrinsics.shape) != (images.shape[0], 3, 3):
            raise ValueError(f"PoseNet expects intrinsics of shape (B, 3, 3) = "
                             f"({images.shape[0]}, 3, 3), got {tuple(intrinsics.shape)}")

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) uint8 or float in [0, 255] -> ImageNet-normalised float."""
        images = images.float() if not images.is_floating_point() else images
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def forward(self, images: torch.Tensor, intrinsics: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict 3D joints.

        Args:
            images: (B, 3, S, S) uint8 (or float in [0, 255]) RGB crops, S = input_px.
            intrinsics: (B, 3, 3) crop camera K, pixels.
        Returns:
            dict(joints_cam_mm (B,J,3) absolute in the crop camera, joints_rel_mm (B,J,3)
            root-relative, coords (B,J,3) = (u_px, v_px, z_rel_mm), root_depth_mm (B,),
            heatmaps (B,J,D,h,w) logits).
        """
        self.check_inputs(images, intrinsics)
        features = self.backbone(self.normalise(images))
        heatmaps = self.volumetric_head(features)
        depth_logits = self.root_depth_head(features)
        return self.decode(heatmaps, depth_logits, intrinsics)

    def decode(self, heatmaps: torch.Tensor, depth_logits: torch.Tensor,
               intrinsics: torch.Tensor) -> dict[str, torch.Tensor]:
        """Heatmap logits (B,J,D,h,w), depth logits (B,bins), K (B,3,3) -> `forward`'s dict."""
        S = self.input_px
        xyz = soft_argmax_3d(heatmaps)                                   # (B, J, 3) in [0, 1]
        uv_px = xyz[..., :2] * S + PIXEL_OFFSET_PX
        z_rel_mm = (xyz[..., 2] - 0.5) * self.box_depth_mm
        K = intrinsics.to(xyz.dtype)
        f_crop = torch.sqrt(K[:, 0, 0] * K[:, 1, 1])
        root_depth_mm = (soft_argmax_1d(depth_logits) * self.root_depth_max_mm
                         * f_crop / self.canonical_focal_px)
        joints_cam_mm = camera.backproject(uv_px, z_rel_mm, root_depth_mm, K,
                                           self.focal_correction.to(xyz.dtype))
        joints_rel_mm = joints_cam_mm - joints_cam_mm[:, skeleton.ROOT:skeleton.ROOT + 1]
        return dict(joints_cam_mm=joints_cam_mm, joints_rel_mm=joints_rel_mm,
                    coords=torch.cat([uv_px, z_rel_mm[..., None]], dim=-1),
                    root_depth_mm=root_depth_mm, heatmaps=heatmaps)


def build(config, require_pretrained: bool | None = None) -> PoseNet:
    """The PoseNet described by a `RunConfig` (backbone, input_px, stride, depth bins, ...).

    `require_pretrained` (default: ``config.require_pretrained`` if present, else False) makes
    missing ImageNet weights an error instead of a warning plus random init.
    """
    if require_pretrained is None:
        require_pretrained = bool(getattr(config, "require_pretrained", False))
    if config.input_px % config.stride:
        raise ValueError(f"input_px={config.input_px} must be a multiple of stride={config.stride}")
    backbone = build_backbone(config.backbone, config.stride, config.pretrained, require_pretrained)
    return PoseNet(backbone, config.input_px, config.depth_bins, config.box_depth_mm,
                   config.root_depth_bins, config.root_depth_max_mm, config.canonical_focal_px)


def for_training(config, device: torch.device) -> PoseNet:
    """`build(config)` on `device`, as a run trains it: with ``config.bn_momentum`` > 0 every
    batch norm takes that momentum (short runs: the running statistics must catch up with the
    weights), with ``config.channels_last`` in channels-last memory format. Its initial weights
    come from torch's global RNG: seed it first."""
    model = build(config).to(device)
    if config.bn_momentum > 0:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = config.bn_momentum
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def compiled(model: PoseNet, config):
    """`model`'s forward as a run calls it: ``torch.compile``d (``config.compile_mode``) with
    ``config.compile``, else `model` itself. The module (its weights, `state_dict`) stays
    `model`."""
    return torch.compile(model, mode=config.compile_mode) if config.compile else model
