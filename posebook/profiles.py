"""Named run sizes: one profile name selects every size of a run.

A profile is a frozen `RunConfig`. `smoke` is for tests (seconds), `cpu` is the default without
a GPU (the whole book in about 40 minutes on 2 cores), `gpu` the default with CUDA (ResNet-50 v2
at 256 px on synthetic data), `paper` the real reproduction (Human3.6M + Pascal VOC).

Overrides come as ``key=value`` strings (`apply_overrides`); unknown keys and values that do not
parse as the field's type are errors that list what is valid.
"""
from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass

PROFILE_ENV = "POSEBOOK_PROFILE"


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Saved as ``runs/<name>/config.json``."""

    profile: str = "cpu"
    seed: int = 0                       # initial weights, batch order, training augmentation
    data_seed: int = 0                  # synthetic people, occluder bank, held-out sets

    # --- data ---------------------------------------------------------------------------
    dataset: str = "synthetic"          # "synthetic" | "h36m"
    h36m_root: str = ""                 # prepared Human3.6M (see `posebook prepare-h36m`)
    occluders: str = "procedural"       # "procedural" | "voc"
    voc_root: str = ""                  # Pascal VOC 2012 root, for occluders="voc"
    n_occluders_bank: int = 300         # procedural occluder bank size
    frame_px: int = 512                 # synthetic full-frame side, pixels
    n_train: int = 4000                 # distinct training samples (synthetic: rendered once)
    n_val: int = 200
    n_test: int = 500
    frame_cache_gb: float = 8.0         # synthetic splits whose rendered frames fit are cached on disk
    occlusion_p: float = 0.5            # per-frame probability of pasting occluders (paper: 0.85)
    occluder_count_max: int = 8         # occluders per pasted image ~ U{1..max} (paper text: 8; authors' code: 7)
    augment_geometry: bool = True       # scale / rotation / translation / flip on the crop
    augment_appearance: bool = True     # blur and colour changes
    num_workers: int = 0                # DataLoader workers (0 = main process, -1 = cores - 1)
    num_threads: int = 0                # torch.set_num_threads for training/eval on CPU; 0 = torch's default

    # --- model --------------------------------------------------------------------------
    backbone: str = "mobilenet_v3_small"  # "tiny" | "mobilenet_v3_small" | "resnet18|34|50" | "resnet50v2"
    pretrained: str = ""                # weights file; "" = look in the torch/timm caches; "none" = random init
    require_pretrained: bool = False    # missing ImageNet weights: error instead of warning
    input_px: int = 128                 # crop side fed to the network
    stride: int = 16                    # backbone output stride (16 or 32)
    depth_bins: int = 16                # D: depth cells of each joint's volumetric heatmap
    box_depth_mm: float = 2200.0        # depth extent covered by the D cells, centred on the root
    root_depth_bins: int = 32           # 1D absolute-depth heatmap (paper: 32 bins over 10 m)
    root_depth_max_mm: float = 10000.0
    canonical_focal_px: float = 0.0     # focal length the depth head assumes; 0 = 1.5 x input_px

    # --- training -----------------------------------------------------------------------
    loss: str = "root_relative"         # "root_relative" (challenge) | "absolute" (full H36M)
    steps: int = 3000
    batch_size: int = 32
    lr_min: float = 1e-4
    lr_max: float = 2e-3
    cycle_steps: int = 1000             # one triangular LR cycle (min -> max -> min)
    weight_decay: float = 0.0
    bn_momentum: float = 0.0            # BatchNorm running-stat momentum in training; 0 = the backbone's own
    grad_clip: float = 0.0              # 0 = off
    snapshots: int = 3                  # keep weights at the last N LR minima
    eval_every: int = 500
    checkpoint_every: int = 0           # save checkpoints/last.pt every N steps; 0 = eval_every
    amp: bool = False                   # bf16 autocast (GPU)
    channels_last: bool = False
    compile: bool = False               # torch.compile
    gpu_augment: bool = False   # training augmentation's pixel work on the device (posebook.augment.gpu)
    device: str = "auto"                # "auto" | "cpu" | "cuda"

    # --- evaluation ---------------------------------------------------------------------
    flip_test: bool = True
    ensemble: bool = True               # average the snapshot models
    ablation_seeds: tuple[int, ...] = (0,)
    ablation_steps: int = 0             # steps of each chapter-06 ablation run; 0 = steps

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {sorted(known)}")
        values = dict(values)
        if "ablation_seeds" in values:
            values["ablation_seeds"] = tuple(values["ablation_seeds"])
        return cls(**values)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, RunConfig] = {
    "smoke": RunConfig(
        profile="smoke", backbone="tiny", input_px=64, stride=8, depth_bins=8, frame_px=256,
        n_train=256, n_val=32, n_test=64, n_occluders_bank=40, steps=120, batch_size=16,
        cycle_steps=40, lr_min=1e-4, lr_max=3e-3, eval_every=60, num_threads=1,
        ablation_steps=12,
    ),
    "cpu": RunConfig(
        profile="cpu", steps=1350, cycle_steps=450, snapshots=2, eval_every=225,
        bn_momentum=0.1, num_threads=1, num_workers=1,
        ablation_steps=450,
    ),
    "gpu": RunConfig(
        profile="gpu", backbone="resnet50v2", input_px=256, stride=16, depth_bins=16,
        n_train=50000, n_val=1000, n_test=2000, steps=12000, batch_size=64, cycle_steps=4000,
        lr_min=1e-5, lr_max=5e-4, amp=True, channels_last=True, num_workers=-1,
        ablation_seeds=(0, 1, 2), eval_every=2000, ablation_steps=1000,
        gpu_augment=True, frame_cache_gb=32.0,
    ),
    "paper": RunConfig(
        profile="paper", dataset="h36m", occluders="voc", backbone="resnet50v2", input_px=256,
        stride=16, depth_bins=16, occlusion_p=0.85, loss="absolute", steps=0, batch_size=64,
        lr_min=1e-5, lr_max=5e-4, amp=True, channels_last=True, num_workers=-1, snapshots=1,
        ensemble=False, ablation_seeds=(0, 1, 2), gpu_augment=True,
    ),
}


def default_profile_name() -> str:
    """``$POSEBOOK_PROFILE`` if set, else ``gpu`` when CUDA is available, else ``cpu``."""
    name = os.environ.get(PROFILE_ENV, "").strip()
    if name:
        check_name(name)
        return name
    try:
        import torch
        return "gpu" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def check_name(name: str) -> str:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return name


def get(name: str | None = None, overrides: typing.Iterable[str] = ()) -> RunConfig:
    """The profile `name` (None = `default_profile_name()`), with ``key=value`` overrides."""
    config = PROFILES[check_name(name or default_profile_name())]
    return apply_overrides(config, overrides)


def apply_overrides(config: RunConfig, overrides: typing.Iterable[str]) -> RunConfig:
    """Return `config` with each ``key=value`` applied; the value is parsed as the field's type."""
    types = typing.get_type_hints(RunConfig)
    changes = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value")
        if key not in types:
            raise ValueError(f"unknown config key {key!r}; valid keys: {sorted(types)}")
        changes[key] = _parse(key, text.strip(), types[key])
    return dataclasses.replace(config, **changes)


def _parse(key: str, text: str, kind) -> object:
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return lowered in ("true", "1", "yes")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is str:
            return text
        if typing.get_origin(kind) is tuple:
            return tuple(int(x) for x in text.strip("()[] ").split(",") if x.strip())
    except ValueError:
        pass
    name = getattr(kind, "__name__", str(kind))
    raise ValueError(f"config key {key!r} expects {name}, got {text!r}")
