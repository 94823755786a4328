"""Training: Adam, a triangular cyclical learning rate, an L1 loss on 3D coordinates, and a
snapshot ensemble of the weights at the last learning-rate minima.

`train` resolves the config, opens the run folder (``runs/<name>/``, `runs.RunFolder`: lock,
start, resume or overwrite, and every file it holds), lets a `Trainer` fit, then evaluates.
The `Trainer` owns the model, optimizer, step and loop; the model comes prepared for training
(`model.for_training`), the items, validation split and loader from `data.training`, the record
of the run is a `history.History`, and what it saves goes through the folder.

Resuming is exact: the data order is a pure function of (seed, step) -- each epoch is the
permutation ``np.random.default_rng([seed, epoch])``, `data.training` -- the augmentation a pure function of
(seed, index, epoch) (the dataset's job), and the learning rate a pure function of the step; the
checkpoint holds the rest (weights, Adam moments, torch RNG). On the CPU a run killed with
SIGKILL and resumed ends bit-identical to an uninterrupted one. With ``gpu_augment`` the workers
only draw the augmentation and `update` renders the batch on the device (`data.gpu_items`).
Within a step the host never waits for the device: losses stay there until `fetch_losses` copies
them (every `LOSS_FETCH_EVERY` steps and before saving, evaluating, logging).

Under torchrun (``torchrun --nproc_per_node N -m posebook train ...``) the N processes train one
run (`distributed`): ``batch_size`` stays the global batch, rank r takes its slice of the same
global order, DistributedDataParallel averages the gradients, only rank 0 writes, every rank
resumes from the same last.pt (a job torchrun restarts resumes by itself:
`resumes_after_restart`), and evaluation is split over the ranks and gathered. With
``sync_batchnorm`` the losses match one process's to float32 rounding (tests/test_distributed.py).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch

from . import checkpoint, distributed, profiles, runs, runtime, schedule
from .data import sources
from .history import History, pose_sums
from .loss import l1_loss
from .progress import ProgressLog
from .config import RunConfig, ablation_length, apply_overrides, with_length

LOSS_FETCH_EVERY = 20   # steps between copies of the losses to the host (each waits for the device)


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resolve(config: RunConfig, overrides=(), ablation: bool = False,
            world_size: int = 1) -> RunConfig:
    """`config` as it trains, made in one place and in this order: the ``key=value``
    `overrides` (`config.apply_overrides`), validation (`RunConfig.validate`: every type,
    range and relation, the one check; consumers take the result as valid), the batch rule for
    `world_size` processes (`for_processes`), with `ablation` the ablation's run length
    (`config.ablation_length`), then a length in epochs in steps (`config.with_length`) from
    the training-set size its data source gives. Idempotent, so a resolved config resolves to
    itself."""
    config = for_processes(apply_overrides(config, overrides).validate(), world_size)
    if ablation:
        config = ablation_length(config)
    if config.epochs > 0:
        config = with_length(config, sources.for_config(config).train_size())
    return config


def for_processes(config: RunConfig, world_size: int) -> RunConfig:
    """`config` for `world_size` processes (torchrun). ``batch_rule`` "global": unchanged --
    ``batch_size`` is the global batch, each process takes ``batch_size / world_size`` of it,
    and the run is the same for any number of processes. "per_process_linear_lr": ``batch_size``
    is each process's, so the global batch is ``world_size`` x it and ``lr_min``/``lr_max`` grow
    by the same factor (the linear scaling rule, Goyal et al. 2017); the result says "global"
    with the global batch and rates it trains with, so it resolves to itself. ValueError when
    the global batch does not split evenly."""
    if config.batch_rule == "per_process_linear_lr":
        config = config.replace(batch_size=config.batch_size * world_size,
                                lr_min=config.lr_min * world_size,
                                lr_max=config.lr_max * world_size, batch_rule="global")
    if config.batch_size % world_size:
        raise ValueError(f"batch_size {config.batch_size} (the global batch) must be a multiple "
                         f"of the number of processes, {world_size}")
    return config


class Trainer:
    """Owns the model, optimizer and step of one run; `fit()` trains to `config.steps`.

    folder: where it saves (a `runs.RunFolder`, or its path: then written only when `process`
    writes). process: this process (default `runtime.process(config)`), whose device it uses.
    data: the run's `training.TrainingData` (items, validation split, loader); history: its
    `history.History` (curves, mean-pose sums, time).

    In a torchrun group (`distributed.group`) every rank holds one: each trains on its slice of
    every global batch, `forward` is the model in DistributedDataParallel (gradients averaged;
    with ``config.sync_batchnorm`` batch norms over the global batch), the losses and mean-pose
    sums in `history` are those of the global batch, the same on every rank; only the writer's
    `folder` writes."""

    def __init__(self, config: RunConfig, folder: runs.RunFolder | str | Path,
                 progress: bool | str = True, process: runtime.Process | None = None):
        from . import model as model_lib
        from .data import training

        self.process = process or runtime.process(config)
        if not isinstance(folder, runs.RunFolder):
            folder = runs.RunFolder(Path(folder), writer=self.process.is_writer)
        self.config, self.folder, self.progress = config, folder, progress
        # threads, determinism (CPU), fast math (CUDA)
        self.device = runtime.setup(config, self.process.device)
        self.precision = runtime.precision_for(config, self.device)   # bf16, or fp16 + scaler
        torch.manual_seed(config.seed)                                 # the initial weights
        self.model = model_lib.for_training(config, self.device)
        if config.sync_batchnorm and distributed.active():
            self.model = distributed.sync_batchnorm(self.model, self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr_min,
                                          weight_decay=config.weight_decay,
                                          fused=self.device.type == "cuda")
        self.scaler = runtime.grad_scaler(self.precision, self.device)  # float16 only
        with distributed.writer_first(self.process):   # the writer renders shared caches
            self.data = training.training_data(config, self.device)
        self.forward = model_lib.compiled(distributed.wrap(self.model, self.device), config)
        self.step = 0
        self.pending_poses = [torch.zeros_like(History().pose_sum), 0]   # a rank's, unsummed
        self.losses: list[torch.Tensor] = []   # the latest steps' losses, still on the device
        self.loss_fetch_every = LOSS_FETCH_EVERY   # fetch_losses after this many are pending
        self.history = History()
        # what initialised the backbone (ImageNet weights file or random), stamped into metrics
        self.backbone_weights = getattr(self.model.backbone, "weights_source", "unknown")

    # --- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"config": self.config.to_dict(), "step": self.step,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(), **self.history.state_dict(),
                "backbone_weights": self.backbone_weights,
                "scaler": self.scaler.state_dict()}   # {} unless float16

    def load_state_dict(self, state: dict) -> None:
        checkpoint.check_same_config(state["config"], self.config,
                                     f"checkpoint {self.folder.checkpoint_path()}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.history = int(state["step"]), History.from_state(state)
        self.backbone_weights = state.get("backbone_weights", self.backbone_weights)
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    def save(self, snapshot: int | None = None) -> None:
        """The training state (`runs.RunFolder.save_last`), or the weights as snapshot number
        `snapshot`. The losses are fetched and the weights checked first: NonFiniteLoss, and
        nothing written."""
        self.fetch_losses()
        names, params = zip(*self.model.named_parameters())
        finite = torch.stack([torch.isfinite(p).all() for p in params]).tolist()   # one copy
        bad = [n for n, ok in zip(names, finite) if not ok]
        if bad:
            last = self.folder.checkpoint_path()
            kept = (f"kept the last good checkpoint {last}" if last.is_file()
                    else "no checkpoint was saved before it")
            raise NonFiniteLoss(f"non-finite weights after step {self.step} ({bad[:3]}); {kept}")
        if snapshot is None:
            self.folder.save_last(self.state_dict())
        else:
            weights = {"step": self.step, "model": self.model.state_dict(),
                       "config": self.config.to_dict()}
            self.folder.save_snapshot(snapshot, weights)

    # --- one update -----------------------------------------------------------------------
    def images(self, batch: dict) -> torch.Tensor:
        images = batch["image"].to(self.device, non_blocking=True)
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def update(self, batch: dict) -> torch.Tensor:
        """One optimizer step on a loader batch (rendered first with gpu_augment); returns the
        loss (mm) as a detached 0-dim tensor on the device, unread: reading it makes the host
        wait. It joins `self.losses` (see `fetch_losses`)."""
        return self.train_step(self.data.render(batch) if self.config.gpu_augment else batch)

    def train_step(self, batch: dict) -> torch.Tensor:
        """`update` without the rendering: image (B, 3, S, S) uint8 (host or device),
        intrinsics (B, 3, 3), crop_to_frame (B, 3, 3) and joints_cam_mm (B, J, 3) on the host
        (pinned on CUDA)."""
        config = self.config
        lr = schedule.lr_at(self.step, config.steps, config.cycle_steps, config.lr_min,
                            config.lr_max)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        joints = batch["joints_cam_mm"].to(self.device, non_blocking=True)
        with runtime.autocast(self.precision, self.device):
            pred = self.forward(self.images(batch),
                                batch["intrinsics"].to(self.device, non_blocking=True))
        loss = l1_loss(pred, joints, batch["crop_to_frame"].to(self.device, non_blocking=True),
                       config.loss, config.loss_frame)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)   # fused Adam skips an inf/NaN step on the device
        self.scaler.update()
        if distributed.active():          # summed over the ranks with the losses
            pose_sum, count = pose_sums(batch["joints_cam_mm"])
            self.pending_poses = [self.pending_poses[0] + pose_sum, self.pending_poses[1] + count]
            self.history.add_update(self.step, lr)
        else:
            self.history.add_update(self.step, lr, batch["joints_cam_mm"])  # host: no sync
        loss = loss.detach()
        self.losses.append(loss)
        self.step += 1
        if len(self.losses) >= self.loss_fetch_every:
            self.fetch_losses()
        return loss

    def fetch_losses(self) -> None:
        """Copy `self.losses` to `history.loss` in one transfer (the host waits for the device
        here); raise NonFiniteLoss naming the first step whose loss is NaN or infinite. In a
        torchrun group: the means over the ranks (the global batch's losses), with the ranks'
        mean-pose sums, in one all-reduce."""
        if not self.losses:
            return
        values = torch.stack(self.losses).tolist()
        if distributed.active():
            n, (pose_sum, count) = len(values), self.pending_poses
            packed = torch.cat([torch.tensor(values, dtype=torch.float64), pose_sum.flatten(),
                                torch.tensor([count], dtype=torch.float64)])
            total = distributed.sum_over_ranks(packed)
            values = (total[:n] / self.process.world_size).tolist()
            self.history.add_poses(total[n:-1].reshape(pose_sum.shape), int(total[-1]))
            self.pending_poses = [torch.zeros_like(pose_sum), 0]
        first, self.losses = self.step - len(values), []
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                last = self.folder.checkpoint_path()
                kept = (f"the last good checkpoint {last} is kept" if last.is_file()
                        else "no checkpoint was saved before it")
                raise NonFiniteLoss(
                    f"loss is {value} at step {first + offset}; training stopped ({kept}). "
                    f"--resume only continues the same config: start again with a lower lr_max "
                    f"or a grad_clip, e.g. --overwrite --set grad_clip=1")
            self.history.loss.append(value)

    # --- loop -----------------------------------------------------------------------------
    def fit(self) -> None:
        from . import evaluate

        c = self.config
        every = c.checkpoint_every or c.eval_every or c.steps
        snapshot_at = schedule.snapshot_steps(c.steps, c.cycle_steps, c.snapshots)
        log = ProgressLog(c.steps, self.step, self.progress, c.batch_size, self.history.seconds,
                          show=self.process.is_writer)
        tic = time.perf_counter()
        p = self.process
        for batch in self.data.loader(range(self.step, c.steps), p.rank, p.world_size):
            self.update(batch)
            snapshot = self.step in snapshot_at
            validate = self.data.val is not None and c.eval_every and (
                self.step % c.eval_every == 0 or self.step == c.steps)
            save = self.step % every == 0 or self.step == c.steps
            if snapshot or validate or save or log.wants(self.step):
                self.fetch_losses()         # waits for the device: the time below is real
            self.history.seconds += time.perf_counter() - tic
            log.update(self.step, self.history.lr[-1], self.history.seconds,  # fetched now?
                       None if self.losses else self.history.loss[-1])
            if snapshot:
                self.save(snapshot=snapshot_at.index(self.step))
            if validate:             # split over the ranks, with rank 0's batch-norm statistics
                distributed.broadcast_buffers(self.model)
                val = evaluate.quick_mpjpe(self.model, self.data.val, c, self.device)
                self.history.add_validation(self.step, val)
                log.note(f"step {self.step}: val MPJPE {val:.1f} mm")
            if save:
                self.save()
            tic = time.perf_counter()
        log.close()
        self.history.images_per_s = [c.steps * c.batch_size / max(self.history.seconds, 1e-9)]
        self.save()


def train(config: RunConfig, name: str, resume: bool = False, progress: bool | str = True,
          overwrite: bool = False, process: runtime.Process | None = None) -> Path:
    """Train `config` into runs/<name>/ and evaluate it there; returns the run folder.

    resume: continue from the last checkpoint (the config must be the same; the error lists the
    differing keys). overwrite: replace an existing run of that name, only once the new
    config has validated and its model and data are built. The writing process (`process`,
    default `runtime.process(config)`) locks the folder for the whole run (a second process
    training the same name fails); the others of a torchrun job (`distributed.group`: they
    join it here) neither lock nor write: they wait for the writer to open the folder, read
    the same last.pt to resume, train their slices, and evaluate their slices of each split.
    """
    from . import evaluate

    process = process or runtime.process(config)
    config = resolve(config, world_size=process.world_size)
    with distributed.group(process), runs.RunFolder.open(
            name, resume=resume, overwrite=overwrite, writer=process.is_writer) as folder:
        state = folder.resume_state(config) if resume else None
        trainer = Trainer(config, folder, progress, process)  # model, data: their errors first
        folder.begin(config, fresh=not resume)                # only now is an old run replaced
        if state is not None:
            trainer.load_state_dict(state)
        trainer.fit()
        distributed.barrier()                  # the writer has saved what evaluation reads
        distributed.broadcast_buffers(trainer.model)
        evaluate.evaluate_all(folder.path, model=trainer.model, state=trainer.state_dict(),
                              device=trainer.device, writer=process.is_writer)
        distributed.barrier()                  # metrics.json is written
    return folder.path


def run_cached(config: RunConfig, name: str, force: bool = False,
               progress: bool | str = True) -> Path:
    """runs/<name> if it finished with exactly `config`; otherwise train (resuming an
    unfinished run of the same config, else starting over)."""
    config = resolve(config)
    folder = runs.RunFolder(runs.folder(name))
    if not force and runs.finished(folder.path, config):
        return folder.path
    saved = folder.saved_config()
    same = saved is not None and not checkpoint.config_diff(saved, config)
    can_resume = same and not force and folder.has_checkpoint()
    return train(config, name, resume=can_resume, progress=progress, overwrite=True)


def book_run_name(profile: str) -> str:
    """The folder name of the book's main run of a profile (chapter 05 trains it; chapters 07
    and 08 read it)."""
    return f"train_{profile}"


def book_run(config: RunConfig, progress: bool | str = True) -> Path:
    """`run_cached` of the book's main run of `config` (``runs/train_<profile>``)."""
    return run_cached(config, book_run_name(config.profile), progress=progress)


def finished_book_run(config: RunConfig) -> Path | None:
    """The book's main run of `config` when it has finished with exactly this config (chapter
    05 trained it), else None; nothing is trained (chapters before 05 show it when it exists)."""
    path = runs.folder(book_run_name(config.profile))
    return path if runs.finished(path, resolve(config)) else None


# --- command line ---------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--name", required=True, help="run folder name under runs/")
    parser.add_argument("--profile", default=None,
                        help=f"one of {', '.join(profiles.PROFILES)} (default: "
                             f"{profiles.DEFAULT_RULE})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue runs/<name> from its last checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def resumes_after_restart(process: runtime.Process, run_dir: Path, config: RunConfig) -> bool:
    """torchrun restarted the job (``--max-restarts``: a rank failed) and `run_dir` holds a
    last.pt of `config`: the restarted ranks resume it rather than start again (or refuse)."""
    folder = runs.RunFolder(run_dir, writer=False)
    saved = folder.saved_config() if process.restarts > 0 else None
    return (saved is not None and folder.has_checkpoint()
            and not checkpoint.config_diff(saved, config))


def run(args) -> int:
    saved = runs.folder(args.name)
    if args.resume and args.profile is None and runs.is_run(saved):
        base = runs.load(saved).config
    else:
        base = profiles.get(args.profile)
    process = runtime.process(apply_overrides(base, args.overrides))  # rank, device
    config = resolve(base, args.overrides, world_size=process.world_size)
    resume = args.resume or resumes_after_restart(process, saved, config)
    try:
        run_dir = train(config, args.name, resume=resume, overwrite=args.overwrite,
                        progress=not args.no_progress, process=process)
    except NonFiniteLoss as error:
        print(f"posebook train: {error}", file=sys.stderr)
        return 3
    if not process.is_writer:       # the writer evaluates and reports
        return 0
    from . import report
    test = report.read(run_dir).test
    print(f"{run_dir}: test MPJPE {test.mpjpe_mm:.1f} mm "
          f"(mean-pose baseline {test.mean_pose_baseline_mm:.1f} mm)")
    line = report.sentences.protocol1_line(test.protocol1_mm, config)
    if line:
        print(line)
    return 0
