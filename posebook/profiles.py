"""Named run sizes: one profile name selects every size of a run.

A profile is a frozen `RunConfig` (`posebook.config`). `smoke` is for tests (seconds), `cpu` is
the default without a GPU (the whole book in about 40 minutes on 2 cores), `gpu` the default on an
A100/H100-class GPU (ResNet-50 v2 at 256 px on synthetic data), `gpu_small` on smaller GPUs such
as Colab's T4 (the same network at 192 px, shorter runs), `paper` the real reproduction
(Human3.6M + VOC). `get(name, overrides)` is a profile with ``key=value`` overrides; without a
name, `default_profile_name` picks one by `DEFAULT_RULE`.
"""
from __future__ import annotations

import os
import typing

from .config import RunConfig, apply_overrides

PROFILE_ENV = "POSEBOOK_PROFILE"

# Table 1 (chapter 06) on synthetic data runs in the Human3.6M-shaped protocol: five training
# subjects, two test subjects (`data.subjects`). The `paper` profile runs it on Human3.6M itself.
TABLE1_SUBJECTS = ("dataset=synthetic_subjects",)


def _table1_on_cpu(backbone: str, cycle_steps: int) -> tuple[str, ...]:
    """The ``ablation_set`` of Table 1 on 2 CPU cores: the subjects protocol on 200 training
    frames at 64 px, one run per core, no validation, last weights."""
    return (*TABLE1_SUBJECTS, "n_train=200", f"backbone={backbone}", "stride=16", "input_px=64",
            "num_workers=0", "n_val=0", "eval_every=0", "snapshots=1", f"cycle_steps={cycle_steps}")


# The CPU regime in which Table 1 took the paper's shape on this project's 2-core machine
# (benchmarks/RESULTS.md, "Table 1 regime probe 3": MobileNetV3-small at 64 px on 200 frames,
# 3000 updates, p = 0.5 against 0, three seeds each; about 31 minutes): `cpu` overrides,
# chapter 06's ``overrides`` parameter. Not the default: over chapter 06's 20-minute budget.
TABLE1_CPU_PAPER_SHAPE = ("ablation_set=" + ",".join(_table1_on_cpu("mobilenet_v3_small", 3000)),
                          "ablation_steps=3000", "ablation_p=0,0.5")

PROFILES: dict[str, RunConfig] = {
    "smoke": RunConfig(
        profile="smoke", backbone="tiny", input_px=64, stride=8, depth_bins=8, frame_px=256,
        n_train=256, n_val=32, n_test=64, n_occluders_bank=40, steps=120, batch_size=16,
        cycle_steps=40, lr_min=1e-4, lr_max=3e-3, eval_every=60, num_threads=1,
        ablation_steps=12, ablation_p=(0.0, 0.85), ablation_seeds=(0, 1),
        ablation_set=TABLE1_SUBJECTS,
    ),
    # Table 1 on 2 CPU cores (chapter 06 within 20 minutes, 6 runs side by side in pairs): the
    # subjects protocol with 200 training frames, the tiny net at stride 16 (its receptive
    # field covers the 64 px crop; ~600 img/s end to end on one core, MobileNetV3 ~175), 4000
    # updates (640 epochs). Measured alternatives: benchmarks/RESULTS.md, "regime probe 3".
    "cpu": RunConfig(
        profile="cpu", steps=1350, cycle_steps=450, snapshots=2, eval_every=225,
        bn_momentum=0.1, num_threads=1, num_workers=1,
        ablation_steps=4000, ablation_p=(0.0, 0.85), ablation_seeds=(0, 1, 2),
        ablation_set=_table1_on_cpu("tiny", 4000),
    ),
    # H100 / H200 / A100 class. Batch 64 (the batch whose accuracy the book was tuned at): on the
    # H200, batch 128 for the same images seen was 16.9 mm worse at a short schedule (2 seeds,
    # std 4.9 mm; benchmarks/RESULTS.md), so it is not used. torch.compile with CUDA graphs
    # ("reduce-overhead": same kernels, the host no longer launches them one by one) took the
    # end-to-end rate from 0.69 to 0.95 of the model-only rate at batch 128 (H200).
    # Augmentation on the CPU: on 16 cores its loader supplies more images/s than the GPU
    # path's (4,600 vs 3,050 img/s) and leaves the GPU to the model.
    "gpu": RunConfig(
        profile="gpu", backbone="resnet50v2", input_px=256, stride=16, depth_bins=16,
        n_train=50000, n_val=1000, n_test=2000, steps=12000, batch_size=64, cycle_steps=4000,
        lr_min=1e-5, lr_max=5e-4, amp=True, channels_last=True, compile=True,
        compile_mode="reduce-overhead", num_workers=-1, ablation_seeds=(0, 1, 2),
        eval_every=2000, ablation_steps=1000, ablation_set=(*TABLE1_SUBJECTS, "n_train=2000"),
        gpu_augment=False, frame_cache_gb=32.0, pretrained="imagenet",
    ),
    # Smaller GPUs (Colab's T4, L4, A10, V100): the same network at 192 px, a third of the
    # images; eager (compiling costs minutes on a 2-core host); augmentation on the GPU, since
    # such hosts have few CPU cores. The default there (`default_profile_name`).
    "gpu_small": RunConfig(
        profile="gpu_small", backbone="resnet50v2", input_px=192, stride=16, depth_bins=16,
        n_train=20000, n_val=500, n_test=1000, steps=2400, batch_size=64, cycle_steps=800,
        lr_min=1e-5, lr_max=5e-4, amp=True, channels_last=True, num_workers=-1,
        ablation_seeds=(0, 1), eval_every=800, ablation_steps=200,
        ablation_set=(*TABLE1_SUBJECTS, "n_train=2000"),
        gpu_augment=True, frame_cache_gb=16.0, pretrained="imagenet",
    ),
    # Like `gpu`: CPU augmentation, compiled with CUDA graphs. On the H200 the GPU augmentation
    # path reached 0.37 of the model-only rate end to end, the CPU path 0.69 compiled and 0.95
    # with CUDA graphs (benchmarks/RESULTS.md, "GPU path (issue 15)"). For Human3.6M (frames not
    # cached) the GPU path also renders from the wide crop only, so up to ~2% of pixels turn
    # black where the jittered crop leaves it; the CPU path crops from the full frame.
    "paper": RunConfig(
        profile="paper", dataset="h36m", occluders="voc", backbone="resnet50v2", input_px=256,
        stride=16, depth_bins=16, occlusion_p=0.85, loss="absolute", steps=0, epochs=40.0,
        cycle_epochs=10.0, batch_size=64, lr_min=1e-5, lr_max=5e-4, amp=True,
        channels_last=True, num_workers=-1, snapshots=1, ensemble=False,
        ablation_seeds=(0, 1, 2), compile=True, compile_mode="reduce-overhead",
        gpu_augment=False, pretrained="imagenet", eval_every=5000,
    ),
}


# `gpu` needs bfloat16 tensor cores and at least this many streaming multiprocessors (A100:
# 108, H100 SXM: 132, H200: 132, RTX 4090: 128); smaller GPUs (T4: 40, L4: 58, A10: 72) get
# `gpu_small`, which keeps the whole book near 30 minutes there (estimate, unmeasured; README,
# "GPU timing").
GPU_PROFILE_MIN_SMS = 100


def gpu_profile_name(device: int = 0) -> str:
    """``gpu`` for an A100/H100-class CUDA device, else ``gpu_small``."""
    import torch
    props = torch.cuda.get_device_properties(device)
    big = (props.major, props.minor) >= (8, 0) and props.multi_processor_count >= GPU_PROFILE_MIN_SMS
    return "gpu" if big else "gpu_small"


# The rule `default_profile_name` follows, as the CLI's help and README word it. BinderHub sets
# BINDER_REQUEST in every Binder session, whose 1-2 shared cores make `smoke` the sane start.
DEFAULT_RULE = (f"${PROFILE_ENV}, else smoke on Binder, else with CUDA gpu (GPUs with bfloat16 "
                f"and at least {GPU_PROFILE_MIN_SMS} multiprocessors) or gpu_small (smaller "
                f"GPUs such as Colab's T4), else cpu")


def default_profile_name() -> str:
    """`DEFAULT_RULE`: ``$POSEBOOK_PROFILE`` if set (empty = unset; blanks are an error), else
    ``smoke`` on Binder, else with CUDA `gpu_profile_name()`, else ``cpu``."""
    name = os.environ.get(PROFILE_ENV, "")
    if name:
        return check_name(name, f"${PROFILE_ENV}")
    if os.environ.get("BINDER_REQUEST"):
        return "smoke"
    try:
        import torch
        return gpu_profile_name() if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def check_name(name: str, what: str = "profile") -> str:
    if not isinstance(name, str) or name not in PROFILES:
        raise ValueError(f"unknown {what} {name!r}; valid profiles: {', '.join(PROFILES)}")
    return name


def get(name: str | None = None, overrides: typing.Iterable[str] = ()) -> RunConfig:
    """The profile `name` (None = `default_profile_name()`), with ``key=value`` overrides."""
    config = PROFILES[check_name(default_profile_name() if name is None else name)]
    return apply_overrides(config, overrides)


