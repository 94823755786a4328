"""What one training run reads: its training items, validation split, batch order and loader.

    data = training_data(config, device)
    for batch in data.loader(range(start, config.steps)):    # one DataLoader for the run
        batch = data.render(batch) if config.gpu_augment else batch

The data order is a pure function of (seed, step): each epoch is the permutation
``np.random.default_rng([seed, epoch])`` (`epoch_order`), step s takes its slice of it
(`batch_indices`), and every item key carries its epoch (`RunBatches`), so the augmentation of
every epoch comes out of one loader whose workers live as long as the run. A resumed run reads
the same batches as an uninterrupted one.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import torch

from .. import runtime
from ..augment import gpu
from ..config import RunConfig
from . import gpu_items
from .dataset import PoseDataset


class RunBatches:
    """Batch sampler of a run's update steps: step s -> [(epoch, index), ...] from
    `batch_indices`. Item keys carry their epoch, so the training augmentation of every epoch
    comes out of one DataLoader whose workers live as long as the run.

    Rank `rank` of `world` processes takes its slice of the same global batch (items
    ``rank*b .. (rank+1)*b`` of it, b = batch_size / world): the slices in rank order are the
    one process's batch."""

    def __init__(self, seed: int, n: int, batch_size: int, steps, rank: int = 0,
                 world: int = 1):
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} (the global batch) must be a multiple of "
                             f"the number of processes, {world}")
        self.seed, self.n, self.batch_size, self.steps = seed, n, batch_size, steps
        self.rank, self.per_rank = rank, batch_size // world

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        lo, hi = self.rank * self.per_rank, (self.rank + 1) * self.per_rank
        for step in self.steps:
            epoch, indices = batch_indices(self.seed, step, self.n, self.batch_size)
            yield [(epoch, int(i)) for i in indices[lo:hi]]


def batch_indices(seed: int, step: int, n: int, batch_size: int) -> tuple[int, np.ndarray]:
    """(epoch, (batch_size,) sample indices) of update `step`: a pure function of its inputs."""
    per_epoch = n // batch_size
    if per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} exceeds the training set size n_train={n}")
    epoch, position = divmod(step, per_epoch)
    order = epoch_order(seed, epoch, n)
    return epoch, order[position * batch_size:(position + 1) * batch_size]


ORDERS_KEPT = 2      # epoch orders held at once (`epoch_order`'s cache)


def check_order_fits(n: int, memory_bytes: int | None) -> None:
    """Refuse a training set whose epoch orders (`ORDERS_KEPT` x (n,) int64) would not fit in
    `memory_bytes` (None: unknown, not checked): one line naming n_train, not a MemoryError
    at the first step (n_train=1e12 asks for 7 TiB)."""
    need = ORDERS_KEPT * np.dtype(np.int64).itemsize * n
    if memory_bytes is not None and need > memory_bytes:
        raise ValueError(f"n_train={n}: a training set of {n} samples needs {need / 2**30:.1f} "
                         f"GiB of memory for its sample order, this machine has "
                         f"{memory_bytes / 2**30:.1f} GiB; use a smaller n_train")


@functools.lru_cache(maxsize=ORDERS_KEPT)
def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """(n,) read-only sample order of one epoch. Made once per epoch, not per step: on the
    training loop's thread a 50,000-sample permutation costs 1-4 ms, a tenth of a GPU step."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    order.flags.writeable = False
    return order


@dataclass(eq=False)
class TrainingData:
    """The data of one training run (`training_data`).

    config: the run's resolved config. device: where it trains. train: the items the loader
    draws -- the "train" `PoseDataset`, or with ``config.gpu_augment`` its
    `gpu_items.GpuPathItems` (the workers only draw the augmentation; `render` makes the pixels
    on the device). val: the "val" split, None where ``config.n_val`` is 0. bank: the occluder
    bank on the device, made by the first `render` (with ``config.occlusion_p`` > 0).
    """
    config: RunConfig
    device: torch.device
    train: PoseDataset | gpu_items.GpuPathItems
    val: PoseDataset | None
    bank: gpu.OccluderBank | None = None

    @property
    def dataset(self) -> PoseDataset:
        """The "train" `PoseDataset` (under `train` with ``gpu_augment``)."""
        return self.train.dataset if isinstance(self.train, gpu_items.GpuPathItems) else self.train

    def loader(self, steps, rank: int = 0, world: int = 1) -> torch.utils.data.DataLoader:
        """DataLoader over the given update steps: one loader, and one set of worker processes,
        for the whole run (each item key carries its epoch, see `RunBatches`); of `world`
        processes, rank `rank`'s slice of every batch."""
        c = self.config
        workers = runtime.loader_workers(c)
        if workers:
            runtime.one_opencv_thread()          # inherited by the forked workers
        return torch.utils.data.DataLoader(  # collate: GpuPathItems' own, else the default
            self.train,
            batch_sampler=RunBatches(c.seed, len(self.train), c.batch_size, steps, rank, world),
            num_workers=workers, collate_fn=getattr(self.train, "collate", None),
            pin_memory=self.device.type == "cuda", prefetch_factor=4 if workers else None,
            generator=torch.Generator().manual_seed(c.seed),  # leaves the global RNG alone
            worker_init_fn=functools.partial(_die_with_run, os.getpid()) if workers else None)

    def render(self, batch: dict) -> dict:
        """A collated `gpu_items.GpuPathItems` batch rendered on the device (gpu_augment)."""
        if self.bank is None and self.config.occlusion_p > 0:
            self.bank = gpu.OccluderBank(self.dataset.occluders, self.device)
        return gpu_items.render(batch, self.bank, self.device)


def _die_with_run(run_pid: int, worker_id: int) -> None:
    """A loader worker ends when the run's process does, even by SIGKILL (no orphan, no
    traceback from it on the terminal)."""
    runtime.die_with_parent(run_pid)


def training_data(config: RunConfig, device: torch.device) -> TrainingData:
    """The training items (with ``config.gpu_augment`` as `gpu_items.GpuPathItems`) and the
    validation split of a run of `config` training on `device`, both prepared
    (`PoseDataset.prepare`: frame caches rendered, occluders loaded) in this process."""
    train = PoseDataset(config, "train")
    check_order_fits(len(train), runtime.memory_bytes())
    train.prepare()                      # frame cache and occluders: here, before the workers
    if config.gpu_augment:
        train = gpu_items.GpuPathItems(train)
    val = PoseDataset(config, "val").prepare() if config.n_val > 0 else None
    return TrainingData(config, device, train, val)
