"""One runtime setup for training, evaluation and the benchmarks: which device, how many CPU
threads, determinism, and the mixed-precision policy.

    device = runtime.setup(config)              # device + threads + determinism / fast math
    precision = runtime.precision_for(config, device)
    with runtime.autocast(precision, device):
        ...
    scaler = runtime.grad_scaler(precision, device)   # a no-op unless float16

Mixed precision (``config.amp``) is chosen from what the device supports: bfloat16 autocast where
the device has bfloat16 arithmetic (CUDA compute capability >= 8.0: Ampere, Ada, Hopper; and the
CPU), else float16 autocast with a gradient scaler (Turing and Volta, e.g. Colab's free T4):
float16's 5 exponent bits underflow small gradients unless the loss is scaled up first. The
scaler's checks stay on the device (`torch.amp.GradScaler` with a fused Adam), so neither policy
makes the host wait.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

BF16_MIN_CAPABILITY = (8, 0)   # CUDA compute capability with bfloat16 tensor cores (Ampere)


def pick_device(config, device=None) -> torch.device:
    """`device` if given, else ``config.device``: "auto" (CUDA when available), "cpu" or
    "cuda"; "cuda" without a CUDA device is an error naming the setting."""
    if device is not None:
        return torch.device(device)
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.device not in ("cpu", "cuda"):
        raise ValueError(f"config.device must be 'auto', 'cpu' or 'cuda', got {config.device!r}")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda, but torch sees no CUDA GPU here; use device=auto or cpu")
    return torch.device(config.device)


def set_threads(config) -> None:
    """Apply ``config.num_threads`` (torch CPU threads; 0 leaves torch's default)."""
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)


def setup(config, device=None) -> torch.device:
    """Pick the device and set the process up for it: CPU threads; on the CPU deterministic
    algorithms (a resumed run ends bit-identical); on CUDA autotuned convolutions and TF32
    matmuls (the fast path; not bit-reproducible)."""
    device = pick_device(config, device)
    set_threads(config)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return device


# --- mixed precision --------------------------------------------------------------------------
@dataclass(frozen=True)
class Precision:
    """The autocast dtype (None = full float32) and whether gradients need a scaler."""

    dtype: torch.dtype | None
    scaled: bool = False

    @property
    def name(self) -> str:
        return {None: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[self.dtype]


def supports_bf16(device: torch.device) -> bool:
    """bfloat16 arithmetic at full speed: the CPU, CUDA compute capability >= 8.0."""
    device = torch.device(device)
    if device.type != "cuda":
        return True
    return tuple(torch.cuda.get_device_capability(device)) >= BF16_MIN_CAPABILITY


def precision_for(config, device) -> Precision:
    """``config.amp`` False: float32. Else bfloat16 where supported, float16 + scaler if not."""
    if not config.amp:
        return Precision(None)
    if supports_bf16(device):
        return Precision(torch.bfloat16)
    return Precision(torch.float16, scaled=True)


def autocast(precision: Precision, device):
    """The autocast context of `precision` on `device` (a null context for float32)."""
    if precision.dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=precision.dtype)


def grad_scaler(precision: Precision, device) -> torch.amp.GradScaler:
    """A `torch.amp.GradScaler`, enabled only for float16 (disabled it passes everything
    through: ``scale(loss)`` is the loss, ``step`` is ``optimizer.step()``)."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision.scaled)
