"""Checkpoints: atomic save/load of a training state, and config comparison for `--resume`.

A checkpoint is one ``torch.save`` dict written to a temporary file and renamed into place, so
a run killed at any moment (even SIGKILL) leaves either the previous checkpoint or the new one,
never a torn file.

Loading never runs code from the file: ``torch.load(weights_only=True)`` accepts tensors and
plain values only (all a posebook checkpoint holds), so a downloaded run folder whose pickle
would do more is refused with a ValueError, as is a damaged file.

Every checkpoint `save` writes carries a SHA-256 of its contents (`CHECKSUM_KEY`: every tensor's
bytes, dtype and shape, every plain value, in order); `load` recomputes it, so a changed byte
inside a weight tensor (which ``torch.load`` does not notice: it never checks the zip's CRCs) is
a damaged checkpoint, not different weights. Checkpoints written before the checksum load as
they are.
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import torch

from .paths import atomic_path
from .config import RunConfig, upgrade

CHECKSUM_KEY = "checksum_sha256"   # hex digest of the rest of the state (`contents_digest`)


def save(path: str | Path, state: dict) -> Path:
    """Write `state` (tensors, numbers, dicts) to `path` atomically; returns the path."""
    path = Path(path)
    state = {**{k: v for k, v in state.items() if k != CHECKSUM_KEY},
             CHECKSUM_KEY: contents_digest(state)}
    try:   # through a Python file: a full disk is an OSError (ENOSPC), not torch's RuntimeError
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            torch.save(state, file)
    except OSError as error:
        raise OSError(error.errno, f"cannot write checkpoint {path}: {error.strerror}") from error
    return path


def load(path: str | Path) -> dict:
    """Read a checkpoint written by `save` (onto the CPU), tensors and plain values only.

    Raises FileNotFoundError when absent, ValueError when damaged (its checksum included, when
    it has one) or when it holds anything a posebook checkpoint does not (its code is never run).
    The checksum entry itself is not in the returned dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:   # text, HTML, random bytes fail in many ways (KeyError, ...)
        text = str(error)
        if isinstance(error, pickle.UnpicklingError) and (
                "GLOBAL" in text or "unsupported global" in text.lower()):
            raise ValueError(f"refusing to load checkpoint {path}: it holds objects other than "
                             f"tensors and plain values, which could run code "
                             f"({_reason(error, 'GLOBAL')})") from None
        raise ValueError(f"checkpoint {path} is damaged or not a posebook checkpoint "
                         f"({_reason(error)})") from None
    if isinstance(state, dict) and CHECKSUM_KEY in state:
        written = state.pop(CHECKSUM_KEY)
        if written != contents_digest(state):
            raise ValueError(f"checkpoint {path} is damaged: its contents do not match the "
                             f"SHA-256 written with it (changed bytes); restore it from a copy "
                             f"or retrain")
    return state


def contents_digest(state: dict) -> str:
    """SHA-256 (hex) of a checkpoint state without its checksum entry: keys in order, each
    tensor's dtype, shape and bytes, each plain value's repr."""
    digest = hashlib.sha256()

    def feed(value) -> None:
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"T{flat.dtype}{tuple(value.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy())
        elif isinstance(value, dict):
            digest.update(f"D{len(value)}".encode())
            for key, item in value.items():
                digest.update(f"K{key!r}".encode())
                feed(item)
        elif isinstance(value, (list, tuple)):
            digest.update(f"{type(value).__name__[0]}{len(value)}".encode())
            for item in value:
                feed(item)
        else:
            digest.update(f"V{type(value).__name__}:{value!r}".encode())

    feed({k: v for k, v in state.items() if k != CHECKSUM_KEY})
    return digest.hexdigest()


def _reason(error: Exception, prefer: str = "") -> str:
    """One short line of an exception: the first line holding `prefer`, else the first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    chosen = next((line for line in lines if prefer and prefer.lower() in line.lower()),
                  lines[0] if lines else "")
    chosen = chosen.split(". Please use")[0]     # not torch's advice to allowlist a global
    return f"{type(error).__name__}: {chosen[:160]}".rstrip(": ")


# what every checkpoint holds (a snapshot: these only), and what last.pt adds for --resume
ENTRIES = ("config", "step", "model")
RESUME_ENTRIES = (*ENTRIES, "optimizer", "torch_rng", "history", "pose_sum", "pose_count")


def checked(state, file: str | Path, keys=ENTRIES) -> dict:
    """`state`, a loaded checkpoint of `file`, when it has every entry of `keys`, a config
    and finite weights (training never saves others); else ValueError naming the file."""
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {file} is not a posebook checkpoint (no entries)")
    missing = [key for key in keys if key not in state]
    if "pose_count" in state and "pose_sum" not in state:
        missing.append("pose_sum")
    if missing:
        raise ValueError(f"checkpoint {file} is damaged or not a posebook checkpoint: it has "
                         f"no {', '.join(repr(k) for k in missing)}")
    if "config" in keys:
        try:
            RunConfig.from_dict(state["config"])
        except (AttributeError, TypeError, ValueError) as error:
            raise ValueError(f"checkpoint {file} holds no valid config ({error})") from None
    if "model" in keys:
        weights = state["model"]
        bad = [k for k, v in weights.items() if torch.is_tensor(v) and v.is_floating_point()
               and not torch.isfinite(v).all()] if isinstance(weights, dict) else ["model"]
        if bad:
            raise ValueError(f"checkpoint {file} is damaged: non-finite weights (NaN or inf) "
                             f"in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
    return state


def config_diff(saved: RunConfig | dict, wanted: RunConfig | dict) -> dict[str, tuple]:
    """{key: (saved value, wanted value)} for every field that differs.

    A field missing from a saved dict (a run from before that field existed) counts as having
    its default value, so adding a field with a behaviour-preserving default keeps old runs;
    fields whose old behaviour differs from the default are filled by `config.upgrade`.
    """
    a, b = _with_defaults(saved), _with_defaults(wanted)
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731 (json has no tuples)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if norm(a.get(k)) != norm(b.get(k))}


def _with_defaults(config: RunConfig | dict) -> dict:
    if isinstance(config, RunConfig):
        return config.to_dict()
    return {**RunConfig().to_dict(), **upgrade(config)}


def check_same_config(saved: RunConfig | dict, wanted: RunConfig | dict, where: str) -> None:
    """Raise ValueError listing the differing keys when `saved` != `wanted`."""
    diff = config_diff(saved, wanted)
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs requested {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"{where} was made with a different config; differing keys: {lines}")
