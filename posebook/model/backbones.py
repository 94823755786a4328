"""Backbones behind one interface: image (B, 3, S, S) normalised -> features (B, C, S/s, S/s).

Names (``config.backbone``): ``resnet50v2`` (pre-activation ResNet-50 v2 as in the paper, timm's
``resnetv2_50``), ``resnet18``/``resnet34``/``resnet50`` (torchvision, v1), ``mobilenet_v3_small``
(torchvision) and ``tiny`` (a ~70k-parameter CNN for the smoke profile).

Output stride s (``config.stride``) is 32, 16 or 8: the last one or two stages lose their stride
and dilate their convolutions instead (DeepLab style), so the receptive field is kept.

Weights (``config.pretrained``): ``"imagenet"`` (the gpu and paper profiles) loads the ImageNet
weights of the backbone's library -- timm's ``resnetv2_50.a1h_in1k`` from the Hugging Face hub,
torchvision's ``*_Weights.DEFAULT`` from torch hub -- from that library's cache, downloading them
into it when the machine is online (`posebook.weights`); ``""`` looks in the cache only; a path
names a local state-dict file (``.pth``/``.pt`` or ``.safetensors``); ``"none"`` asks for random
init. When no weights can be had the backbone is randomly initialised and a warning names the
file to provide and where (``require_pretrained=True`` makes it an error).
`Backbone.weights_source` says what was loaded (it goes into metrics.json).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from .. import weights
from ..config import BACKBONES as NAMES

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)


class Backbone(nn.Module):
    """A feature extractor; `stages` are the last stride-2 stages in order (for stride removal)."""

    def __init__(self, body: nn.Module, out_channels: int, name: str, stride: int):
        super().__init__()
        self.body = body
        self.out_channels = out_channels
        self.name = name
        self.stride = stride
        self.weights_source = "random init"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised image -> (B, C, S/stride, S/stride) features."""
        return self.body(x)


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


def _tiny(stride: int) -> tuple[nn.Module, list[nn.Module], int]:
    """Five 3x3 conv-BN-ReLU layers, 16-32-32-64-64 channels, stride 8 (69.5k parameters)."""
    stages = [nn.Sequential(*_conv_bn_relu(3, 16, 2)),
              nn.Sequential(*_conv_bn_relu(16, 32, 2), *_conv_bn_relu(32, 32, 1)),
              nn.Sequential(*_conv_bn_relu(32, 64, 2), *_conv_bn_relu(64, 64, 1))]
    extra = []
    for _ in range({8: 0, 16: 1, 32: 2}[stride]):
        extra.append(nn.Sequential(*_conv_bn_relu(64, 64, 2)))
    return nn.Sequential(*stages, *extra), [], 64


def _dilate(stage: nn.Module, prev_dilation: int, dilation: int) -> None:
    """Remove the stride of `stage` and dilate its spatial convs (the first strided one keeps
    `prev_dilation`, like torchvision's ``replace_stride_with_dilation``)."""
    for module in stage.modules():
        if not isinstance(module, nn.Conv2d):
            continue
        k = module.kernel_size[0]
        if module.stride[0] == 2:
            module.stride = (1, 1)
            d = prev_dilation
        else:
            d = dilation
        if k > 1:
            module.dilation = (d, d)
            module.padding = (d * (k - 1) // 2, d * (k - 1) // 2)


def _torchvision(name: str) -> tuple[nn.Module, list[nn.Module], int, nn.Module]:
    import torchvision
    if name == "mobilenet_v3_small":
        net = torchvision.models.mobilenet_v3_small(weights=None)
        f = net.features     # stride-2 blocks at 0, 1, 2, 4, 9; last conv 576 channels
        body = nn.Sequential(f[:4], f[4:9], f[9:])
        return body, [body[1], body[2]], 576, net
    net = getattr(torchvision.models, name)(weights=None)
    body = nn.Sequential(nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1,
                                       net.layer2), net.layer3, net.layer4)
    return body, [net.layer3, net.layer4], net.fc.in_features, net


class _TimmFeatures(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_features(x)


def _resnet50v2(stride: int) -> tuple[nn.Module, int, nn.Module]:
    timm = weights.import_quietly("timm")
    net = timm.create_model("resnetv2_50", pretrained=False, num_classes=0, global_pool="",
                            output_stride=stride)
    return _TimmFeatures(net), net.num_features, net


# ---- weights ---------------------------------------------------------------------------------

TIMM_WEIGHTS = {"resnet50v2": "resnetv2_50.a1h_in1k"}
TORCHVISION_WEIGHTS = {"mobilenet_v3_small": "MobileNet_V3_Small_Weights",
                       "resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights",
                       "resnet50": "ResNet50_Weights"}


def library_weights_file(name: str, download: bool) -> Path:
    """The ImageNet weight file of backbone `name` from its library's cache, else downloaded
    by that library when `download` (`posebook.weights`); WeightsUnavailable names the file."""
    if name in TIMM_WEIGHTS:
        timm = weights.import_quietly("timm")
        repo_id = timm.models.get_pretrained_cfg(TIMM_WEIGHTS[name]).hf_hub_id
        return weights.hf_hub_file(repo_id, "model.safetensors", download)
    return weights.torch_hub_file(torchvision_url(name), download)


def torchvision_url(name: str) -> str:
    """Where torchvision publishes the ImageNet weights of backbone `name` (its DEFAULT)."""
    import torchvision
    return getattr(torchvision.models, TORCHVISION_WEIGHTS[name]).DEFAULT.url


def _load_into(net: nn.Module, path: Path) -> None:
    state = weights.read_state_dict(path)
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as error:                 # shape mismatches
        raise ValueError(f"weights file {path} does not fit the backbone: "
                         f"{str(error).splitlines()[1].strip()} ...") from error
    head = ("fc.", "classifier.", "head.")
    missing = [k for k in result.missing_keys if not k.startswith(head)]
    if missing:
        raise ValueError(f"weights file {path} does not fit the backbone: {len(missing)} missing "
                         f"keys, e.g. {missing[:3]}")


def load_pretrained(net: nn.Module, name: str, pretrained: str, require: bool) -> str:
    """Load ImageNet weights into `net` (see the module docstring); returns what was loaded."""
    if pretrained.lower() in ("none", "random"):
        return "random init (requested)"
    looked = []
    if pretrained and pretrained != "imagenet":
        path = Path(pretrained).expanduser()
        if path.is_file():
            _load_into(net, path)
            return f"ImageNet weights from {path}"
        looked.append(f"{path} does not exist")
    try:
        path = library_weights_file(name, download=pretrained == "imagenet")
        _load_into(net, path)
        return f"ImageNet weights from {path}"
    except weights.WeightsUnavailable as error:
        looked.append(str(error))
    message = f"no ImageNet weights for backbone {name!r}: {'; '.join(looked)}"
    if require:
        raise FileNotFoundError(message + " (require_pretrained=True)")
    log.warning("%s -- using random init", message)
    return "random init (no weights found)"


def build_backbone(name: str, stride: int = 32, pretrained: str = "",
                   require_pretrained: bool = False) -> Backbone:
    """Build backbone `name` with output stride `stride` (8, 16 or 32); see the module docstring."""
    if name not in NAMES:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(NAMES)}")
    if stride not in STRIDES:
        raise ValueError(f"backbone stride must be one of {STRIDES}, got {stride}")
    if name == "tiny":
        body, _, channels = _tiny(stride)
        backbone = Backbone(body, channels, name, stride)
        if pretrained and pretrained.lower() not in ("none", "random"):
            log.warning("backbone 'tiny' has no pretrained weights; ignoring pretrained=%r",
                        pretrained)
        backbone.weights_source = "random init (tiny has no ImageNet weights)"
        return backbone
    if name == "resnet50v2":
        body, channels, net = _resnet50v2(stride)
        source = load_pretrained(net, name, pretrained, require_pretrained)
    else:
        body, stages, channels, net = _torchvision(name)
        source = load_pretrained(net, name, pretrained, require_pretrained)
        if stride <= 16:
            _dilate(stages[1], 1 if stride == 16 else 2, 2 if stride == 16 else 4)
        if stride == 8:
            _dilate(stages[0], 1, 2)
    backbone = Backbone(body, channels, name, stride)
    backbone.weights_source = source
    return backbone
