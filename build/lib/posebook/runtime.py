"""One runtime setup for training, evaluation and the benchmarks: which process this is (rank,
world size, device, whether it writes), how many CPU threads (OpenCV's too, for DataLoader
workers: `one_opencv_thread`), how many DataLoader workers (`loader_workers`), determinism, and
the mixed-precision policy.

    process = runtime.process(config)           # decided once: rank, world size, device, writer?
    device = runtime.setup(config, process.device)   # threads + determinism / fast math
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
import os
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


@dataclass(frozen=True)
class Process:
    """This process among the processes of one run, decided once (`process`).

    One process by default; under torchrun (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` set) one of
    `world_size`. Only the writer (rank 0, nanoGPT's ``master_process``) locks the run folder and
    writes its files; the others train and read."""

    device: torch.device
    rank: int = 0             # 0 .. world_size - 1
    world_size: int = 1
    local_rank: int = 0       # rank among the processes of this machine (its GPU index)
    restarts: int = 0         # times torchrun restarted the job (--max-restarts) before this

    def __post_init__(self):
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"process rank must be in [0, world_size={self.world_size}), "
                             f"got {self.rank}")

    @property
    def is_writer(self) -> bool:
        """This process locks and writes the run folder (rank 0)."""
        return self.rank == 0


def process(config, device=None, environ=None) -> Process:
    """The `Process` running `config`: rank, world size, local rank and restarts from torchrun's
    ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``TORCHELASTIC_RESTART_COUNT`` in `environ` (default
    ``os.environ``) when set, else the one process; its device from `pick_device`, on CUDA
    with several processes the local rank's GPU."""
    environ = os.environ if environ is None else environ
    keys = (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0), ("TORCHELASTIC_RESTART_COUNT", 0))
    try:
        rank, world_size, local_rank, restarts = (int(environ.get(key) or default)
                                                  for key, default in keys)
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE, LOCAL_RANK and TORCHELASTIC_RESTART_COUNT must be "
                         "integers, got " + ", ".join(f"{k}={environ.get(k)!r}" for k, _ in keys)
                         ) from None
    picked = pick_device(config, device)
    if world_size > 1 and device is None and picked.type == "cuda":
        picked = torch.device("cuda", local_rank)
    return Process(picked, rank, world_size, local_rank, restarts)


def set_threads(config) -> None:
    """Apply ``config.num_threads`` (torch CPU threads; 0 leaves torch's default)."""
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)


def one_opencv_thread() -> None:
    """OpenCV on one thread, in this process and in the DataLoader workers forked from it (they
    inherit it). Its default pool is a thread per core in every worker (15 workers x 16 threads
    on a 16-core GPU host). Set here, in the parent: cv2.setNumThreads in a forked worker, once
    the parent's pool has started, deadlocks."""
    import cv2
    cv2.setNumThreads(1)


def usable_cores() -> int:
    """CPU cores this process may use (its affinity mask; else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def die_with_parent(parent_pid: int) -> None:
    """In a worker forked by `parent_pid` (a frame-cache renderer, a DataLoader worker): have
    Linux kill it (SIGKILL) when its parent dies, so no worker outlives a killed run, blocked
    forever on a pipe nobody reads; it exits at once if the parent is gone already. Elsewhere
    than Linux: nothing."""
    import ctypes
    import signal
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))   # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:           # died before the line above
        os._exit(1)


MAX_LOADER_WORKERS = 16


def loader_workers(config) -> int:
    """DataLoader workers of a run: ``config.num_workers``, or for -1 one per usable core less
    one for the training loop (at most `MAX_LOADER_WORKERS`), the cores shared among the
    torchrun processes of this machine (``LOCAL_WORLD_SIZE``). Items do not depend on the
    count, so neither does the run."""
    n = int(config.num_workers)
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return min(MAX_LOADER_WORKERS, max(0, usable_cores() // local - 1)) if n == -1 else n


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
