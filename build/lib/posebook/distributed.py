"""The processes of one torchrun job working as one run: joining them (`group`), waiting for the
writer (`barrier`, `writer_first`), the weights' gradients averaged (`wrap`: DistributedDataParallel),
batch-norm statistics over the whole batch (`sync_batchnorm`), a pass over a dataset split over the
ranks and put back together in dataset order (`shard`, `gather_rows`), and numbers summed over
the ranks (`sum_over_ranks`).

    with distributed.group(process):           # nothing to do for one process
        ...                                    # every rank runs the same code

Outside a group (one process, the default) every function here is the identity, so one-process
code calls them unconditionally. On the CPU the ranks talk over ``gloo``; on CUDA weights and
gradients go over ``nccl`` and the host-side numbers (`gather_rows`, `sum_over_ranks`) over
``gloo`` (``"cpu:gloo,cuda:nccl"``), so a group never needs a GPU to agree on a number.

A group that does not form within `join_timeout_s` (a rank that never starts, a wrong
``MASTER_ADDR``) is a `RendezvousTimeout` (a TimeoutError: ``posebook train`` prints one line and
exits 2) instead of a hang.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

JOIN_TIMEOUT_ENV = "POSEBOOK_JOIN_TIMEOUT_S"
JOIN_TIMEOUT_S = 300.0      # default: time for every rank to start and join the group


class RendezvousTimeout(TimeoutError):
    """The processes of a torchrun job did not all join within the timeout."""


def join_timeout_s() -> float:
    """``$POSEBOOK_JOIN_TIMEOUT_S`` (seconds > 0), else `JOIN_TIMEOUT_S`."""
    text = os.environ.get(JOIN_TIMEOUT_ENV, "")
    try:
        value = float(text) if text else JOIN_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"${JOIN_TIMEOUT_ENV} must be a number of seconds > 0, got {text!r}")
    return value


def active() -> bool:
    """This process belongs to a group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextlib.contextmanager
def group(process):
    """Join the group of `process` (a `runtime.Process`) for the block and leave it after; for
    one process, or when a group is already joined, nothing. RendezvousTimeout when the other
    ranks have not joined within `join_timeout_s`."""
    if process.world_size <= 1 or dist.is_initialized():
        yield
        return
    timeout_s = join_timeout_s()
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    me = f"rank {process.rank} of {process.world_size}"
    backend = "gloo"
    if process.device.type == "cuda":
        torch.cuda.set_device(process.device)
        backend = "cpu:gloo,cuda:nccl"
    tic = time.monotonic()
    try:
        with _stderr_kept_unless_failed():     # torch's C++ retries log stack traces there
            timeout = datetime.timedelta(seconds=timeout_s)
            store, rank, world = next(dist.rendezvous("env://", timeout=timeout))
            # keys of its own per torchrun attempt: a restarted group never reads the
            # addresses of the ranks of the attempt before (gloo: "connection refused")
            store = dist.PrefixStore(f"posebook/attempt_{process.restarts}", store)
            dist.init_process_group(backend, store=store, rank=rank, world_size=world,
                                    timeout=timeout)
            dist.all_reduce(torch.zeros(1))    # over gloo: waits for every rank, or times out
    except (RuntimeError, TimeoutError) as error:   # torch's DistStoreError, gloo's timeout
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
        if time.monotonic() - tic >= timeout_s:
            raise RendezvousTimeout(f"{me}: the torchrun group at {where} did not form within "
                                    f"{timeout_s:g} s (${JOIN_TIMEOUT_ENV}); did every rank "
                                    f"start?") from error
        cause = " ".join(str(error).split())[:300]
        raise RendezvousTimeout(f"{me}: joining the torchrun group at {where} failed: "
                                f"{cause}") from error
    try:
        yield
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def _stderr_kept_unless_failed():
    """Hold what is written to file descriptor 2 during the block (C++ logging included);
    write it out when the block succeeds, drop it when it raises (one line says why then)."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        text = held.read()
        if text:
            sys.stderr.write(text.decode(errors="replace"))


def barrier() -> None:
    """Wait until every rank gets here (over gloo, on the host)."""
    if active():
        dist.all_reduce(torch.zeros(1))


@contextlib.contextmanager
def writer_first(process):
    """The writer (rank 0) runs the block first -- it builds what the ranks share on disk, e.g.
    a frame cache -- then the other ranks run it and find it built."""
    if not process.is_writer:
        barrier()
    yield
    if process.is_writer:
        barrier()


# --- data split over the ranks ---------------------------------------------------------------------
def rank_slice(n: int) -> range:
    """The items of `n` this rank takes in a pass split over the ranks: a contiguous block
    (rank r: ``r*n//W .. (r+1)*n//W``), so the blocks in rank order are the dataset order."""
    if not active():
        return range(n)
    rank, world = dist.get_rank(), dist.get_world_size()
    return range(rank * n // world, (rank + 1) * n // world)


def shard(dataset):
    """`dataset` itself, or in a group this rank's `rank_slice` of it (a Subset)."""
    if not active():
        return dataset
    return torch.utils.data.Subset(dataset, list(rank_slice(len(dataset))))


def gather_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """This rank's rows (its `rank_slice(n)`) of an (n, ...) array, put together with every
    other rank's in rank order: the (n, ...) array on every rank. Exact for float64, int and
    bool values (they travel as float64; integers up to 2**53)."""
    rows = np.asarray(rows)
    if not active():
        return rows
    world = dist.get_world_size()
    sizes = [(r + 1) * n // world - r * n // world for r in range(world)]
    if len(rows) != sizes[dist.get_rank()]:
        raise ValueError(f"gather_rows: rank {dist.get_rank()} has {len(rows)} rows, its slice "
                         f"of {n} is {sizes[dist.get_rank()]}")
    padded = torch.zeros((max(sizes), *rows.shape[1:]), dtype=torch.float64)
    padded[:len(rows)] = torch.from_numpy(rows.astype(np.float64, copy=False))
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    whole = torch.cat([part[:size] for part, size in zip(parts, sizes)]).numpy()
    return whole.astype(rows.dtype, copy=False)


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """`values` summed over the ranks (float64, on the host); `values` itself outside a group."""
    if not active():
        return values
    total = values.detach().to("cpu", torch.float64).clone()
    dist.all_reduce(total)
    return total


# --- the model ------------------------------------------------------------------------------------
def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` in DistributedDataParallel (its gradients averaged over the ranks in backward;
    its buffers, e.g. batch-norm running statistics, broadcast from rank 0 before every
    forward); `model` itself outside a group. ``static_graph``: the same parameters take part
    in every step (the root-depth head of a root-relative run takes none, every step)."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, static_graph=True)


def broadcast_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every rank: the model a rank
    evaluates is then the one rank 0 saves."""
    if not active():
        return
    for buffer in model.buffers():
        host = buffer.detach().to("cpu").clone()
        dist.broadcast(host, src=0)
        buffer.copy_(host)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` whose batch norms normalise with the statistics of the whole global batch (every
    rank's samples), as one process with that batch does: torch's SyncBatchNorm on CUDA,
    `GlobalBatchNorm2d` on the CPU (torch's is GPU-only). Same parameters and buffers, so
    checkpoints load into a plain model."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            swapped = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum,
                                        child.affine, child.track_running_stats)
            swapped.load_state_dict(child.state_dict())
            setattr(model, name, swapped.to(device))
        else:
            sync_batchnorm(child, device)
    return model


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are over every rank's batch (sums all-reduced,
    differentiably), for the CPU; outside a group, or in eval mode, plain BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W)."""
        if not (self.training and active()):
            return super().forward(x)
        count = torch.tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=x.dtype)
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        total = _SumOverRanks.apply(local)       # (2C + 1,)
        C = self.num_features
        n = total[-1]
        mean = total[:C] / n
        var = (total[C:2 * C] / n - mean * mean).clamp_min(0)     # biased, as BatchNorm uses
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1 / int(self.num_batches_tracked)
            with torch.no_grad():
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


class _SumOverRanks(torch.autograd.Function):
    """A tensor summed over the ranks; the gradient of each rank's part is the sum of every
    rank's gradient of the total (each rank's loss depends on every part)."""

    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:
        total = local.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad
