"""What defines a run: `RunConfig` (every field, saved as ``runs/<name>/config.json``), its one
check (`RunConfig.validate`: types, ranges, relations), old saved configs read as their posebook
wrote them (`upgrade`), the run length in epochs or for a Table 1 run (`with_length`,
`ablation_length`), and ``key=value`` overrides parsed as each field's type (`apply_overrides`;
unknown keys and values that do not parse are errors that list what is valid).

The named sizes of a run (`smoke`, `cpu`, `gpu`, `gpu_small`, `paper`) are `posebook.profiles`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shlex
import typing
from dataclasses import dataclass

# The profiles of `posebook.profiles` (its test checks that its table names exactly these).
PROFILE_NAMES = ("smoke", "cpu", "gpu", "gpu_small", "paper")
# Version of the synthetic data (`posebook.data.poses`/`render`): part of every synthetic frame
# cache's key and of every run's config, so runs and caches made from older people are neither
# reused nor resumed. 1 = mirror-image people (left joints on the anatomical right; before
# 2026-12-06); 2 = anatomical left and right, as in Human3.6M.
DATA_VERSION = 2
# Valid ``backbone`` names (built by `posebook.model.backbones`, which imports this tuple).
BACKBONES = ("tiny", "mobilenet_v3_small", "resnet18", "resnet34", "resnet50", "resnet50v2")
# Valid ``dataset`` names (each served by a source in `posebook.data.sources`, whose test checks
# that every name here has one).
DATASETS = ("synthetic", "h36m", "synthetic_subjects")
# Past these a value is a typo: seeds fit int64, 1e5 threads crash torch, 1e300 px/mm make NaNs,
# and 1e8 synthetic samples are days of rendering.
MAX_SEED, MAX_THREADS, MAX_FOCAL_PX, MAX_LENGTH_MM = 2**63 - 1, 1024, 1e6, 1e6
MAX_SAMPLES = 10**8


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Saved as ``runs/<name>/config.json``."""

    profile: str = "cpu"
    seed: int = 0                       # initial weights, batch order, training augmentation
    data_seed: int = 0                  # synthetic people, occluder bank, held-out sets
    data_version: int = DATA_VERSION    # synthetic people's version (see DATA_VERSION)

    # --- data ---------------------------------------------------------------------------
    dataset: str = "synthetic"          # one of DATASETS: "synthetic" | "h36m" |
                                        # "synthetic_subjects" (Human3.6M-shaped, data.subjects)
    h36m_root: str = ""                 # prepared Human3.6M (see `posebook prepare-h36m`)
    setting: str = "protocol1"          # Human3.6M: "protocol1" (ground-truth boxes, calibrated
                                        # cameras) | "challenge" (cached detector boxes, one
                                        # global focal_px, root-relative ground truth)
    focal_px: float = 1000.0            # challenge: focal length assumed for every camera (posebook's choice)
    train_on_val: bool = False          # challenge final model: train on S9 S11 too (not held out then)
    occluders: str = "procedural"       # "procedural" | "voc"
    voc_root: str = ""                  # Pascal VOC 2012 root, for occluders="voc"
    n_occluders_bank: int = 300         # procedural occluder bank size
    frame_px: int = 512                 # synthetic full-frame side, pixels
    n_train: int = 4000                 # distinct training samples (synthetic: rendered once)
    n_val: int = 200
    n_test: int = 500
    frame_cache_gb: float = 8.0         # synthetic splits whose rendered frames fit are cached on disk
    occlusion_p: float = 0.5            # per-frame probability of pasting occluders (paper: 0.85)
    occluder_count_max: int = 8         # occluders per augmented frame: uniform 1..max (authors' code = 7)
    augment_geometry: bool = True       # scale / rotation / translation / flip on the crop
    augment_appearance: bool = True     # blur and colour changes
    num_workers: int = 0                # DataLoader workers (0 = main process, -1 = cores - 1)
    num_threads: int = 0                # torch.set_num_threads for training/eval on CPU; 0 = torch's default

    # --- model --------------------------------------------------------------------------
    backbone: str = "mobilenet_v3_small"  # one of BACKBONES
    pretrained: str = ""                # "imagenet" = library cache, else download; "" = cache only;
                                        # a weights file; "none" = random init
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
    loss_frame: str = "camera"          # L1 in the "camera" (original camera's axes; paper) or "crop" frame
    steps: int = 3000                   # update steps; derived from `epochs` when epochs > 0
    epochs: float = 0.0                 # > 0: run length in passes over the training set
    cycle_epochs: float = 0.0           # with epochs: one LR cycle in epochs (0 = the whole run)
    batch_size: int = 32
    lr_min: float = 1e-4
    lr_max: float = 2e-3
    cycle_steps: int = 1000             # one triangular LR cycle (min -> max -> min); from cycle_epochs
    weight_decay: float = 0.0
    bn_momentum: float = 0.0            # BatchNorm running-stat momentum in training; 0 = the backbone's own
    grad_clip: float = 0.0              # 0 = off
    snapshots: int = 3                  # keep weights at the last N LR minima
    eval_every: int = 500
    checkpoint_every: int = 0           # save checkpoints/last.pt every N steps; 0 = eval_every
    amp: bool = False                   # bf16 autocast (GPU)
    channels_last: bool = False
    compile: bool = False               # torch.compile
    compile_mode: str = "default"       # "default" | "reduce-overhead" (CUDA graphs: the host
                                        # stops launching kernels one by one; CUDA only)
    gpu_augment: bool = False   # training augmentation's pixel work on the device (posebook.augment.gpu)
    device: str = "auto"                # "auto" | "cpu" | "cuda"
    sync_batchnorm: bool = False        # torchrun: batch-norm statistics over all ranks' samples
    batch_rule: str = "global"          # torchrun: "global" | "per_process_linear_lr" (train.resolve)

    # --- evaluation ---------------------------------------------------------------------
    flip_test: bool = True
    ensemble: bool = True               # average the snapshot models
    # --- chapter 06, Table 1 (posebook.ablation) ------------------------------------------
    ablation_p: tuple[float, ...] = (0.0, 0.15, 0.5, 0.85)  # occlusion probabilities trained
    ablation_seeds: tuple[int, ...] = (0,)                # seeds trained at every p
    ablation_steps: int = 0             # steps of each ablation run; 0 = steps
    ablation_set: tuple[str, ...] = ()  # KEY=VALUE changes (as --set) that make the profile
                                        # Table 1's protocol, e.g. "dataset=synthetic_subjects"

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
        values = upgrade(values)
        for key in TUPLE_FIELDS:      # JSON gives lists
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def validate(self) -> "RunConfig":
        """Raise ValueError naming every field that is of the wrong type, out of range or
        inconsistent with another; returns self. `train.resolve` calls it: the one check of a
        config, before anything is written; consumers take a resolved config as valid."""
        problems = [f"{name} must be {_KIND[kind]}, got {value!r}"
                    for name, kind, value in _fields(self) if not _is(value, kind)]
        if not problems:
            problems = [text for ok, text in _rules(self) if not ok]
        if problems:
            raise ValueError(f"invalid config ({self.profile or 'no'} profile): "
                             + "; ".join(problems))
        return self


def upgrade(values: dict) -> dict:
    """A copy of a saved config dict with the fields it predates filled in as that older
    posebook behaved (fields added later with a behaviour-preserving default need nothing here).
    `RunConfig.from_dict` and `checkpoint.config_diff` both read old runs through it."""
    legacy = {}
    if "seed" in values:   # before `data_seed`, `seed` also chose the synthetic people
        legacy["data_seed"] = values["seed"]
    legacy["loss_frame"] = "crop"   # before `loss_frame`, the loss was in the crop camera's axes
    if values.get("dataset", "synthetic") == "synthetic":
        legacy["data_version"] = 1  # before `data_version`, synthetic people were mirror images
    return {**legacy, **values}


_KIND = {int: "an int", float: "a number", bool: "true or false", str: "a string",
         tuple[int, ...]: "a tuple of ints", tuple[float, ...]: "a tuple of numbers",
         tuple[str, ...]: "a tuple of strings"}
TUPLE_FIELDS = ("ablation_p", "ablation_seeds", "ablation_set")


def _fields(config: RunConfig):
    types = typing.get_type_hints(RunConfig)
    return [(f.name, types[f.name], getattr(config, f.name)) for f in dataclasses.fields(config)]


def _is(value, kind) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return isinstance(value, tuple) and all(_is(v, item) for v in value)
    return isinstance(value, kind)


def _rules(c: RunConfig) -> list[tuple[bool, str]]:
    """(holds, what is expected) for every range and relation of a well-typed config."""
    one_of = lambda name, options: (getattr(c, name) in options,  # noqa: E731
                                    f"{name} must be one of {options}, got {getattr(c, name)!r}")
    at_least = lambda name, low: (getattr(c, name) >= low,  # noqa: E731
                                  f"{name} must be >= {low}, got {getattr(c, name)!r}")
    within = lambda name, low, high: (low <= getattr(c, name) <= high,  # noqa: E731
                                      f"{name} must be in [{low}, {high}], got {getattr(c, name)!r}")
    return [
        one_of("profile", PROFILE_NAMES), one_of("dataset", DATASETS),
        one_of("occluders", ("procedural", "voc")), one_of("stride", (8, 16, 32)),
        one_of("loss", ("root_relative", "absolute")), one_of("device", ("auto", "cpu", "cuda")),
        one_of("compile_mode", ("default", "reduce-overhead")), one_of("backbone", BACKBONES),
        one_of("batch_rule", ("global", "per_process_linear_lr")),
        (c.dataset != "h36m" or bool(c.h36m_root.strip()),
         "dataset='h36m' needs h36m_root (a folder made by `posebook prepare-h36m`)"),
        (c.occluders != "voc" or bool(c.voc_root.strip()),
         "occluders='voc' needs voc_root (the VOCdevkit/VOC2012 folder)"),
        (c.data_version == DATA_VERSION,
         f"data_version must be {DATA_VERSION} (this posebook draws only version {DATA_VERSION} "
         f"of the synthetic people; retrain runs made from older ones), got {c.data_version!r}"),
        within("seed", 0, MAX_SEED), within("data_seed", 0, MAX_SEED),
        within("num_threads", 0, MAX_THREADS), within("focal_px", 1, MAX_FOCAL_PX),
        (c.canonical_focal_px == 0 or 1 <= c.canonical_focal_px <= MAX_FOCAL_PX,
         f"canonical_focal_px must be 0 (1.5 x input_px) or in [1, {MAX_FOCAL_PX}], got "
         f"{c.canonical_focal_px!r}"), within("box_depth_mm", 1, MAX_LENGTH_MM),
        within("root_depth_max_mm", 1, MAX_LENGTH_MM), at_least("n_occluders_bank", 1),
        at_least("frame_px", 32), within("n_train", 1, MAX_SAMPLES),
        within("n_val", 0, MAX_SAMPLES), within("n_test", 1, MAX_SAMPLES),
        at_least("frame_cache_gb", 0), at_least("num_workers", -1),
        at_least("depth_bins", 1), at_least("root_depth_bins", 1), at_least("batch_size", 1),
        (c.steps >= 1 or c.epochs > 0, f"steps must be >= 1 (or epochs > 0), got {c.steps!r}"),
        at_least("epochs", 0), at_least("cycle_epochs", 0),
        (c.cycle_epochs == 0 or c.epochs > 0, "cycle_epochs needs epochs > 0 (else set cycle_steps)"),
        one_of("setting", ("protocol1", "challenge")), one_of("loss_frame", ("camera", "crop")),
        (c.setting != "challenge" or c.loss == "root_relative",
         "setting='challenge' has root-relative ground truth only: set loss=root_relative"),
        (c.setting != "challenge" or c.dataset == "h36m",
         "setting='challenge' is a Human3.6M setting: set dataset=h36m"),
        (not c.train_on_val or c.setting == "challenge",
         "train_on_val is the challenge's final model: set setting=challenge"),
        at_least("lr_min", 0), at_least("cycle_steps", 1), at_least("weight_decay", 0),
        at_least("grad_clip", 0), at_least("snapshots", 0), at_least("eval_every", 0),
        at_least("checkpoint_every", 0), at_least("ablation_steps", 0),
        at_least("occluder_count_max", 1),
        (0 <= c.occlusion_p <= 1, f"occlusion_p must be in [0, 1], got {c.occlusion_p!r}"),
        (0 <= c.bn_momentum <= 1, f"bn_momentum must be in [0, 1], got {c.bn_momentum!r}"),
        (c.lr_max > 0, f"lr_max must be > 0, got {c.lr_max!r}"),
        (c.lr_min <= c.lr_max, f"lr_min ({c.lr_min!r}) must be <= lr_max ({c.lr_max!r})"),
        (c.input_px >= 16 and c.input_px % c.stride == 0,
         f"input_px must be a multiple of stride ({c.stride}) and >= 16, got {c.input_px!r}"),
        (c.dataset not in ("synthetic", "synthetic_subjects") or c.batch_size <= c.n_train,
         f"batch_size ({c.batch_size}) must be <= n_train ({c.n_train})"),
        (len(c.ablation_seeds) > 0 and min(c.ablation_seeds) >= 0
         and len(set(c.ablation_seeds)) == len(c.ablation_seeds),
         f"ablation_seeds must be one or more distinct seeds >= 0, got {c.ablation_seeds!r}"),
        (len(c.ablation_p) > 0 and all(0 <= p <= 1 for p in c.ablation_p)
         and len(set(c.ablation_p)) == len(c.ablation_p),
         f"ablation_p must be one or more distinct probabilities in [0, 1], got "
         f"{c.ablation_p!r}"),
        (all("=" in item for item in c.ablation_set),
         f"ablation_set must hold KEY=VALUE texts, got {c.ablation_set!r}"),
    ]


def with_length(config: RunConfig, n_train: int) -> RunConfig:
    """`config` with ``steps`` and ``cycle_steps`` derived from ``epochs`` and ``cycle_epochs``
    for a training set of `n_train` samples (an epoch is ``n_train // batch_size`` steps, the
    whole batches of one pass); unchanged when ``epochs`` is 0. A ``steps`` value other than
    0 or the derived one is an error (give one length, not two)."""
    if config.epochs <= 0:
        return config
    per_epoch = int(n_train) // config.batch_size
    if per_epoch < 1:
        raise ValueError(f"batch_size {config.batch_size} exceeds the training set size {n_train}")
    steps = max(1, round(config.epochs * per_epoch))
    if config.steps not in (0, steps):
        raise ValueError(f"config.steps={config.steps} disagrees with epochs={config.epochs:g} "
                         f"({config.epochs:g} x {per_epoch} steps per epoch = {steps}); set "
                         f"steps=0 to derive it, or epochs=0 to give steps")
    cycle = round(config.cycle_epochs * per_epoch) if config.cycle_epochs > 0 else steps
    return dataclasses.replace(config, steps=steps, cycle_steps=max(1, min(cycle, steps)))


def ablation_length(config: RunConfig) -> RunConfig:
    """`config` with the run length of a chapter-06 ablation run: ``ablation_steps`` steps (the
    LR cycle kept, capped at the run length: a run shorter than one cycle is a single cycle;
    epochs cleared), or with ``ablation_steps`` 0 the profile's own length (its ``epochs``, else
    ``steps``)."""
    if config.epochs > 0 and not config.ablation_steps:     # the profile's length in epochs
        return config
    steps = config.ablation_steps or config.steps
    return dataclasses.replace(config, steps=steps, cycle_steps=min(config.cycle_steps, steps),
                               epochs=0.0, cycle_epochs=0.0)


def apply_overrides(config: RunConfig, overrides: typing.Iterable[str] | str) -> RunConfig:
    """Return `config` with each ``key=value`` applied; the value is parsed as the field's type.

    `overrides` is a list of ``key=value`` texts, one text of them separated by spaces
    (papermill's ``-p overrides "steps=10 batch_size=4"``; quote a value holding spaces), or
    a mapping of key to value."""
    types = typing.get_type_hints(RunConfig)
    changes = {}
    for item in _override_items(overrides):
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value")
        if key not in types:
            raise ValueError(f"unknown config key {key!r}; valid keys: {sorted(types)}")
        if key == "profile":   # it would stamp one profile's sizes with another's name
            raise ValueError(f"override {item!r}: choose the profile by name (--profile NAME)")
        changes[key] = _parse(key, text.strip(), types[key])
    return dataclasses.replace(config, **changes)


def _override_items(overrides) -> list[str]:
    if isinstance(overrides, str):
        try:
            return shlex.split(overrides)
        except ValueError as error:          # an unclosed quote
            raise ValueError(f"overrides {overrides!r}: {error}") from None
    if isinstance(overrides, typing.Mapping):   # papermill's -y "overrides: {steps: 10}"
        return [f"{key}={value}" for key, value in overrides.items()]
    items = list(overrides) if isinstance(overrides, typing.Iterable) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise ValueError(f"overrides must be key=value texts (a list of them, or one text "
                         f"separated by spaces), got {overrides!r}")
    return items


def parse_bool(value: bool | str, name: str) -> bool:
    """A bool, or text (``--set``, papermill's ``-p retrain false`` gives "false"): true/1/yes
    or false/0/no, any case; anything else is a ValueError naming `name`."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in ("true", "1", "yes", "false", "0", "no"):
        raise ValueError(f"{name} must be true or false (true/1/yes, false/0/no), got {value!r}")
    return text in ("true", "1", "yes")


def _parse(key: str, text: str, kind) -> object:
    try:
        if kind is bool:
            return parse_bool(text, key)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is str:
            return text
        if typing.get_origin(kind) is tuple:   # comma-separated
            item = typing.get_args(kind)[0]
            return tuple(_parse(key, x.strip(), item)
                         for x in text.strip("()[] ").split(",") if x.strip())
    except ValueError:
        pass
    name = getattr(kind, "__name__", str(kind))
    raise ValueError(f"config key {key!r} expects {name}, got {text!r}")
