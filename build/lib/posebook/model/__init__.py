"""The network: backbones, volumetric and root-depth heads, soft-argmax, flip TTA.

`build(config) -> PoseNet`; `for_training(config, device)` and `compiled(model, config)` (as
a run trains it); `flip_tta(model, images, intrinsics)`; pure functions
`soft_argmax_3d`, `soft_argmax_1d`. Back-projection uses `posebook.camera.backproject`.
"""
from .backbones import NAMES as BACKBONES, build_backbone  # noqa: F401
from . import flip  # noqa: F401
from .flip import flip_tta, mirror_intrinsics, mirror_output  # noqa: F401
from .posenet import PIXEL_OFFSET_PX, PoseNet, build, compiled, for_training  # noqa: F401
from .softargmax import hard_argmax_3d, soft_argmax_1d, soft_argmax_3d  # noqa: F401
from .summary import describe, describe_profiles, flops_per_image, layer_shapes  # noqa: F401
