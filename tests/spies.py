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


class DeviceSyncs:
    """Count, while active, what would make the host wait for a CUDA device, with the `meta`
    device standing in for it (meta tensors have shapes but no data, so nothing is computed and
    a read-back cannot silently succeed). A sync is:

    - a read of a device value: ``.item()``, ``float()``, ``int()``, ``bool()`` (an ``if`` on a
      tensor), ``.tolist()``, ``.cpu()``, ``.numpy()`` (aten ``_local_scalar_dense`` or a copy
      from the device to the host);
    - an op whose output size depends on device data: ``nonzero``, boolean-mask indexing,
      ``masked_select``, ``unique``, ``repeat_interleave`` without ``output_size``;
    - a host-to-device copy that is not ``non_blocking`` (``torch.tensor(x, device=...)`` is
      caught by `spy_device_tensors`, it copies below the dispatcher).

    Read-backs return zeros so that counting goes on; `where` keeps each sync's op name and
    the innermost posebook function that caused it (``file:function``). Setting one element of
    a device tensor from a Python number (``t[1] = 2.0``) counts too: on CUDA that is a blocking
    copy of a CPU scalar. `uploads` counts non-blocking host-to-device
    copies (one per batch tensor or per augmentation table is the design)."""

    DATA_DEPENDENT = ("nonzero", "masked_select", "unique", "_unique2", "unique_dim",
                      "unique_consecutive", "repeat_interleave")

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                return counter._dispatch(func, args, kwargs or {})
        self.mode, self.where, self.uploads = Mode(), [], 0

    def __enter__(self):
        real_setitem, counter = torch.Tensor.__setitem__, self

        def setitem(tensor, index, value):   # t[i] = 2.0 on CUDA: a 0-dim CPU tensor, copied
            if tensor.is_meta and not isinstance(value, torch.Tensor) and tensor[index].ndim == 0:
                counter._note("__setitem__ of a Python number")
            return real_setitem(tensor, index, value)
        self._real_setitem = real_setitem
        torch.Tensor.__setitem__ = setitem
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        torch.Tensor.__setitem__ = self._real_setitem
        return self.mode.__exit__(*exc)

    @property
    def count(self) -> int:
        return len(self.where)

    def _note(self, what) -> None:
        import os
        import sys

        import posebook
        package = os.path.dirname(posebook.__file__) + os.sep   # not any folder named posebook
        frame, origin = sys._getframe(2), "?"
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(package):
                origin = f"{name[len(package):]}:{frame.f_code.co_name}"
                break
            frame = frame.f_back
        self.where.append((getattr(what, "__name__", what), origin))

    def _dispatch(self, func, args, kwargs):
        from torch.utils._pytree import tree_leaves
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        on_device = any(t.is_meta for t in tensors)
        name = func.__name__.split(".")[0]
        if on_device and name == "_local_scalar_dense":
            self._note(func)
            return False if args[0].dtype == torch.bool else 0
        if on_device and (name in self.DATA_DEPENDENT and not (
                name == "repeat_interleave" and kwargs.get("output_size") is not None)):
            self._note(func)
            return torch.zeros(0, args[0].ndim, dtype=torch.long, device="meta") \
                if name == "nonzero" else func(*args, **kwargs)
        if on_device and name in ("index", "index_put", "index_put_", "_index_put_impl_") and any(
                i is not None and i.dtype in (torch.bool, torch.uint8) for i in args[1]):
            self._note(func)                         # a boolean mask: nonzero inside
            if name == "index":
                mask = next(i for i in args[1] if i is not None)
                return args[0].new_empty((0, *args[0].shape[mask.ndim:]))
            return args[0]
        if name in ("_to_copy", "copy_") and tensors:
            src = args[1] if name == "copy_" else args[0]
            dst_meta = (args[0].is_meta if name == "copy_" else
                        torch.device(kwargs.get("device") or src.device).type == "meta")
            if src.is_meta and not dst_meta:        # device -> host: a read-back
                self._note(func)
                return torch.zeros(src.shape, dtype=kwargs.get("dtype") or src.dtype) \
                    if name == "_to_copy" else args[0]
            if dst_meta and not src.is_meta:        # host -> device
                non_blocking = kwargs.get("non_blocking", args[2] if len(args) > 2 else False)
                if non_blocking:
                    self.uploads += 1
                else:
                    self._note(func)
        return func(*args, **kwargs)
