"""Pretrained weight files, fetched through the library that publishes them.

* torchvision models (ResNets, MobileNet, the person detector): ``torch.hub`` downloads the
  file named by the torchvision weights' URL into ``<torch hub dir>/checkpoints/`` (``$TORCH_HOME``,
  default ``~/.cache/torch/hub``) and reads it from there afterwards.
* timm models (ResNet-50 v2): ``huggingface_hub`` downloads the file of the model's Hugging Face
  repository (timm's ``pretrained_cfg.hf_hub_id``) into the Hugging Face cache (``$HF_HOME``,
  default ``~/.cache/huggingface/hub``) and reads it from there afterwards.

The cache is looked at first; a download is tried only when the file is not there and
``download`` is true and ``$POSEBOOK_OFFLINE`` (or ``$HF_HUB_OFFLINE``) is not set. When neither
works, `WeightsUnavailable` names the file to provide and where to put it.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import socket
import warnings
from pathlib import Path

import torch

OFFLINE_ENV = "POSEBOOK_OFFLINE"
DOWNLOAD_TIMEOUT_S = 60.0    # per network operation (connect, read), not for the whole file


class WeightsUnavailable(FileNotFoundError):
    """Neither the library's cache nor a download gave the weight file."""


def offline() -> bool:
    """True when ``$POSEBOOK_OFFLINE`` or ``$HF_HUB_OFFLINE`` is set to a true value."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes")
               for k in (OFFLINE_ENV, "HF_HUB_OFFLINE"))


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def torch_hub_file(url: str, download: bool = True) -> Path:
    """The torchvision weight file of `url`: from ``<hub dir>/checkpoints/<file name>``, else
    downloaded there by ``torch.hub`` (any URL urllib opens, ``file://`` included)."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if path.is_file():
        return path
    if not download or offline():
        raise WeightsUnavailable(f"{path} is not there and downloading is off; download {url} "
                                 f"and put it there")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            torch.hub.download_url_to_file(url, str(path), progress=False)
    except Exception as error:  # noqa: BLE001 - any network failure: say which file to provide
        raise WeightsUnavailable(f"could not download {url} ({type(error).__name__}: "
                                 f"{str(error)[:120]}); download it yourself and put it at "
                                 f"{path}") from error
    return path


def import_quietly(module: str):
    """`importlib.import_module(module)` for the hub libraries (``timm``, ``huggingface_hub``),
    without tqdm's "IProgress not found" warning: they import ``tqdm.auto``, which in a Jupyter
    kernel without ipywidgets warns, naming its file on this machine, on a reader's page."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        return importlib.import_module(module)


def hf_hub_file(repo_id: str, filename: str = "model.safetensors", download: bool = True) -> Path:
    """The file `filename` of the Hugging Face repository `repo_id`: from the Hugging Face cache,
    else downloaded into it by ``huggingface_hub``."""
    hub = import_quietly("huggingface_hub")
    constants, hf_hub_download = hub.constants, hub.hf_hub_download
    try:
        return Path(hf_hub_download(repo_id, filename, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (huggingface_hub raises several kinds)
        pass
    url = f"https://huggingface.co/{repo_id}/resolve/main/{filename}"
    where = (f"{constants.HF_HUB_CACHE}/models--{repo_id.replace('/', '--')}/snapshots/<rev>/"
             f"{filename} (or give the file as config.pretrained)")
    if not download or offline():
        raise WeightsUnavailable(f"{repo_id}/{filename} is not in the Hugging Face cache and "
                                 f"downloading is off; download {url} to {where}")
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return Path(hf_hub_download(repo_id, filename, etag_timeout=DOWNLOAD_TIMEOUT_S))
    except Exception as error:  # noqa: BLE001
        raise WeightsUnavailable(f"could not download {url} ({type(error).__name__}: "
                                 f"{str(error)[:120]}); download it yourself to {where}") from error


def read_state_dict(path: Path) -> dict:
    """A state dict from a ``.safetensors`` or ``torch.save`` file (a nested "state_dict" or
    "model" entry is unwrapped). ValueError when the file is no such thing: damaged, text, or a
    pickle holding objects other than tensors (refused unread: it could run code)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - junk fails in many ways (KeyError, ...)
        # torch's message opens with advice to load unsafely; the reason follows the unpickler's
        text = str(error).rpartition("WeightsUnpickler error:")[2]
        reason = next((line.strip() for line in text.splitlines() if line.strip()), "")
        reason = reason.split(". Please use")[0][:160]   # not torch's advice to allowlist it
        if isinstance(error, pickle.UnpicklingError) and "global" in reason.lower():
            raise ValueError(f"refusing to load weights file {path}: it holds objects other "
                             f"than tensors, which could run code ({reason})") from None
        raise ValueError(f"weights file {path} is damaged or not a weights file "
                         f"({type(error).__name__}: {reason})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path} holds no state dict (name -> tensor); got "
                         f"{type(state).__name__}")
    return state
