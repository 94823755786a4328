"""Test helper: spot ``torch.tensor(x, device=...)``, which copies to the device below the
dispatcher (a TorchDispatchMode does not see it) and waits for the device on CUDA."""
import torch


def spy_device_tensors(monkeypatch) -> list:
    """Patch `torch.tensor`; the returned list collects the `device` of every call that gave one."""
    seen, real_tensor = [], torch.tensor

    def spy_tensor(*args, **kwargs):
        if kwargs.get("device") is not None:
            seen.append(kwargs["device"])
        return real_tensor(*args, **kwargs)
    monkeypatch.setattr(torch, "tensor", spy_tensor)
    return seen
