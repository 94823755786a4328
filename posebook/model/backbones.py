"""Backbones behind one interface: image (B, 3, S, S) normalised -> features (B, C, S/s, S/s).

Names (``config.backbone``): ``resnet50v2`` (pre-activation ResNet-50 v2 as in the paper, timm's
``resnetv2_50``), ``resnet18``/``resnet34``/``resnet50`` (torchvision, v1), ``mobilenet_v3_small``
(torchvision) and ``tiny`` (a ~70k-parameter CNN for the smoke profile).

Output stride s (``config.stride``) is 32, 16 or 8: the last one or two stages lose their stride
and dilate their convolutions instead (DeepLab style), so the receptive field is kept.

Weights: never downloaded. ``config.pretrained`` may name a local state-dict file (``.pth``/``.pt``
or ``.safetensors``); ``""`` looks in the library's cache (torch hub's ``checkpoints/`` folder for
torchvision, the Hugging Face hub cache for timm); ``"none"`` asks for random init. When nothing is
found the backbone is randomly initialised and a warning names every place looked at
(``require_pretrained=True`` makes it an error). `Backbone.weights_source` says what was loaded.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

NAMES = ("tiny", "mobilenet_v3_small", "resnet18", "resnet34", "resnet50", "resnet50v2")
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
    import timm
    net = timm.create_model("resnetv2_50", pretrained=False, num_classes=0, global_pool="",
                            output_stride=stride)
    return _TimmFeatures(net), net.num_features, net


# ---- weights ---------------------------------------------------------------------------------

def _cache_candidates(name: str) -> list[Path]:
    """Where the libraries would have cached ImageNet weights for `name` (files or globs)."""
    if name == "resnet50v2":
        hub = Path(os.environ.get("HF_HUB_CACHE") or Path(
            os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
        return [hub / "models--timm--resnetv2_50.a1h_in1k" / "snapshots" / "*" / "model.safetensors",
                hub / "models--timm--resnetv2_50.a1h_in1k" / "snapshots" / "*" / "pytorch_model.bin"]
    import torchvision
    enum = {"mobilenet_v3_small": "MobileNet_V3_Small_Weights", "resnet18": "ResNet18_Weights",
            "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights"}[name]
    weights = getattr(torchvision.models, enum)
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    return [checkpoints / Path(w.url).name for w in weights]


def _read_state_dict(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return state


def _load_into(net: nn.Module, path: Path) -> None:
    state = _read_state_dict(path)
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
    """Load ImageNet weights into `net` from disk; returns a description of what was loaded."""
    if pretrained.lower() in ("none", "random"):
        return "random init (requested)"
    looked = []
    if pretrained:
        path = Path(pretrained).expanduser()
        if path.is_file():
            _load_into(net, path)
            return f"ImageNet weights from {path}"
        looked.append(str(path))
    for candidate in _cache_candidates(name):
        hits = sorted(candidate.parent.parent.glob(f"*/{candidate.name}")) \
            if candidate.parent.name == "*" else ([candidate] if candidate.is_file() else [])
        if hits:
            _load_into(net, hits[-1])
            return f"ImageNet weights from {hits[-1]}"
        looked.append(str(candidate))
    message = (f"no pretrained weights for backbone {name!r} on disk; looked at: "
               f"{', '.join(looked)}")
    if require:
        raise FileNotFoundError(message + " (require_pretrained=True; set config.pretrained to a "
                                "local state-dict file)")
    log.warning("%s -- using random init (set config.pretrained to a local file)", message)
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
