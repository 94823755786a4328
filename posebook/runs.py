"""Run folders: the one home of ``runs/<name>/`` and its files -- their names, finding, reading,
locking, starting, resuming and replacing a run, and writing its files.

A run folder holds::

    config.json                  the resolved RunConfig (profile + every parameter)
    history.json                 per-step loss and LR, validation MPJPE every `eval_every` steps
    checkpoints/last.pt          model, optimizer, step, RNG state, history (atomic writes)
    checkpoints/snapshot_<k>.pt  weights at the k-th of the last `snapshots` LR minima
    metrics.json, metrics.md     test results, once evaluated (`evaluate.evaluate_all`)

A run is *finished* when ``metrics.json`` exists. No other module spells these names: it asks a
`RunFolder` (writing) or a `Run` (`load`, reading).

Where a run is, is said exactly once (`resolve`): a plain name is ``runs/<name>``, anything with
a folder separator a path used as given. Nothing falls back to another folder:
``/no/such/dir/x`` is an error, never ``runs/x``.

One process writes a run (`runtime.Process.is_writer`; the others of a torchrun job only read).
It holds `lock(path)`: an exclusive ``flock`` on ``runs/.<name>.lock`` (beside the folder, so
deleting the folder keeps the lock). The operating system releases it when the process ends,
even by SIGKILL, so a stale lock cannot block a later run.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import checkpoint, paths, skeleton
from .profiles import RunConfig

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
METRICS_TABLE_FILE = "metrics.md"
CHECKPOINTS = "checkpoints"
LAST = "last"                  # checkpoints/last.pt
SNAPSHOT = "snapshot_"         # checkpoints/snapshot_<k>.pt


class RunLocked(RuntimeError):
    """Another process is writing this run folder."""


def folder(name: str) -> Path:
    """``runs/<name>`` for a plain folder name (where `train` writes); ValueError otherwise."""
    if not name or not name.strip() or "/" in name or os.sep in name or name.startswith("."):
        raise ValueError(f"run name must be a plain folder name, got {name!r}")
    return paths.runs_dir() / name


def resolve(name_or_dir: str | os.PathLike) -> Path:
    """The folder of an existing run: a plain name (no folder separator) is ``runs/<name>``,
    anything else a path used as given. FileNotFoundError naming the exact place looked at
    when it holds no run (no config.json)."""
    text = os.fspath(name_or_dir)
    plain = "/" not in text and os.sep not in text and text not in (".", "..", "")
    path = folder(text) if plain else Path(text)
    if not is_run(path):
        what = f"no run named {text!r}" if plain else f"no run at {text!r}"
        raise FileNotFoundError(f"{what} (looked for {path / CONFIG_FILE})")
    return path


def is_run(path: str | os.PathLike) -> bool:
    """`path` is a run folder (it holds config.json)."""
    return (Path(path) / CONFIG_FILE).is_file()


def newest(runs_dir: str | os.PathLike | None = None) -> Path | None:
    """The run folder under `runs_dir` (default `paths.runs_dir()`) whose checkpoints/last.pt
    was written last, or None."""
    found = sorted((p.stat().st_mtime, p.parent.parent) for p in
                   Path(runs_dir or paths.runs_dir()).glob(f"*/{CHECKPOINTS}/{LAST}.pt"))
    return found[-1][1] if found else None


def snapshot_name(k: int) -> str:
    """The checkpoint name of the k-th kept snapshot: "snapshot_<k>"."""
    return f"{SNAPSHOT}{k}"


def checkpoint_run(checkpoint_file: str | os.PathLike) -> Path:
    """The run folder a checkpoint file of it (``checkpoints/<which>.pt``) lies in."""
    return Path(checkpoint_file).parent.parent


# --- writing a run ------------------------------------------------------------------------------
@dataclass(eq=False)
class History:
    """What a run records as it trains (`RunFolder.save_last` writes it): the curves of
    history.json and, in the checkpoint beside them, the mean-pose sums and the training time.

    step, lr: one entry per update (its index, its learning rate); loss: mm, one per update,
    appended once the losses reach the host; val_step, val_mpjpe_mm: one per validation;
    images_per_s: [the run's rate], set at the end. pose_sum: (J, 3) float64 sum of the
    root-relative training poses (mm) and pose_count their number (evaluate's mean-pose
    baseline). seconds: training time so far (the resumed runs' included).
    """
    step: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    val_step: list = field(default_factory=list)
    val_mpjpe_mm: list = field(default_factory=list)
    images_per_s: list = field(default_factory=list)
    pose_sum: torch.Tensor = field(
        default_factory=lambda: torch.zeros(skeleton.N_JOINTS, 3, dtype=torch.float64))
    pose_count: int = 0
    seconds: float = 0.0

    CURVES = ("step", "loss", "lr", "val_step", "val_mpjpe_mm", "images_per_s")

    def add_update(self, step: int, lr: float, joints_cam_mm: torch.Tensor) -> None:
        """Update `step` at learning rate `lr` on the (B, J, 3) host poses `joints_cam_mm`."""
        rel = joints_cam_mm.double()
        self.pose_sum += (rel - rel[:, :1]).sum(0)
        self.pose_count += len(rel)
        self.step.append(step)
        self.lr.append(lr)

    def add_validation(self, step: int, mpjpe_mm: float) -> None:
        self.val_step.append(step)
        self.val_mpjpe_mm.append(mpjpe_mm)

    def state_dict(self) -> dict:
        """The checkpoint's entries: "history" (history.json), "pose_sum", "pose_count",
        "seconds"."""
        return {"history": {k: getattr(self, k) for k in self.CURVES},
                "pose_sum": self.pose_sum, "pose_count": self.pose_count, "seconds": self.seconds}

    @classmethod
    def from_state(cls, state: dict) -> History:
        """The History of a checkpoint (`state_dict`'s entries)."""
        return cls(**state["history"], pose_sum=state["pose_sum"],
                   pose_count=int(state["pose_count"]), seconds=float(state.get("seconds", 0.0)))


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder, as the training process writes them.

    writer: this process writes (`runtime.Process.is_writer`). A folder of a process that does
    not write (another rank of a torchrun job) takes no lock and writes nothing: its `begin`,
    `save_last`, `save_snapshot` and `write_metrics` do nothing; it reads like any other.

        with RunFolder.open(name, resume=..., overwrite=..., writer=...) as run:  # locked, checked
            state = run.resume_state(config) if resume else None
            ...build the model and data...
            run.begin(config, fresh=not resume)     # replaces an old run, writes config.json
            run.save_last(state); run.save_snapshot(k, weights); run.write_metrics(m, table)
    """

    path: Path
    writer: bool = True

    @classmethod
    @contextlib.contextmanager
    def open(cls, name: str, *, resume: bool = False, overwrite: bool = False,
             writer: bool = True) -> Iterator[RunFolder]:
        """``runs/<name>`` for training, locked while the block runs (writer only; RunLocked
        while another process writes it). resume: FileNotFoundError without a last checkpoint.
        Neither resume nor overwrite: ValueError when it already holds a run (the writer
        decides; the other processes follow it)."""
        run = cls(folder(name), writer)
        with lock(run.path) if writer else contextlib.nullcontext():
            last = run.checkpoint_path()
            if resume and not last.is_file():
                raise FileNotFoundError(f"--resume: no checkpoint at {last}")
            if writer and not resume and not overwrite and (last.is_file() or run.evaluated):
                raise ValueError(f"run folder {run.path} already holds a run; use --resume to "
                                 f"continue it or --overwrite to start again")
            yield run

    def resume_state(self, config: RunConfig) -> dict:
        """The last checkpoint's training state; ValueError listing the differing keys when it
        was made with another config."""
        last = self.checkpoint_path()
        state = checkpoint.load(last)
        checkpoint.check_same_config(state["config"], config, f"checkpoint {last}")
        return state

    def begin(self, config: RunConfig, fresh: bool) -> None:
        """Start writing `config`'s run: a `fresh` run first deletes whatever the folder held
        (call it once the new run's model and data are built, so an invalid run keeps the
        old one); then config.json."""
        if not self.writer:
            return
        if fresh and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        paths.write_text_atomic(self.path / CONFIG_FILE, config.to_json())

    def save_last(self, state: dict) -> None:
        """checkpoints/last.pt (a `Trainer.state_dict`, atomic) and history.json (its
        "history")."""
        if self.writer:
            checkpoint.save(self.checkpoint_path(), state)
            paths.write_text_atomic(self.path / HISTORY_FILE, json.dumps(state["history"]))

    def save_snapshot(self, k: int, state: dict) -> None:
        """checkpoints/snapshot_<k>.pt: the weights at the k-th kept LR minimum."""
        if self.writer:
            checkpoint.save(self.checkpoint_path(snapshot_name(k)), state)

    def write_metrics(self, metrics: dict, table_md: str) -> None:
        """metrics.json (which makes the run finished) and its Markdown table metrics.md."""
        if self.writer:
            paths.write_text_atomic(self.path / METRICS_FILE, json.dumps(metrics, indent=2))
            paths.write_text_atomic(self.path / METRICS_TABLE_FILE, table_md)

    # --- reading -----------------------------------------------------------------------------
    def checkpoint_path(self, which: str = LAST) -> Path:
        """checkpoints/<which>.pt: which is "last" or a snapshot name ("snapshot_0", ...)."""
        return self.path / CHECKPOINTS / f"{which}.pt"

    def has_checkpoint(self, which: str = LAST) -> bool:
        return self.checkpoint_path(which).is_file()

    def snapshot_names(self) -> list[str]:
        """["snapshot_0", "snapshot_1", ...] in snapshot order."""
        files = (self.path / CHECKPOINTS).glob(f"{SNAPSHOT}*.pt")
        numbered = [(int(p.stem[len(SNAPSHOT):]), p.stem) for p in files
                    if p.stem[len(SNAPSHOT):].isdigit()]
        return [stem for _, stem in sorted(numbered)]

    def saved_config(self) -> dict | None:
        """config.json as saved (a dict: keys an older posebook wrote are kept), or None."""
        file = self.path / CONFIG_FILE
        return _read_json(file) if file.is_file() else None

    @property
    def evaluated(self) -> bool:
        """metrics.json exists: the run finished."""
        return (self.path / METRICS_FILE).is_file()

    def metrics(self) -> dict:
        """metrics.json as a dict, {} until the run is evaluated."""
        return _read_json(self.path / METRICS_FILE) if self.evaluated else {}

    def metrics_mtime_ns(self) -> int | None:
        """When metrics.json was written (ns), None before: a cache stamp for derived files."""
        return (self.path / METRICS_FILE).stat().st_mtime_ns if self.evaluated else None

    def history(self) -> dict:
        """history.json as a dict, {} before the first checkpoint."""
        file = self.path / HISTORY_FILE
        return _read_json(file) if file.is_file() else {}

    def derived(self, name: str) -> dict | None:
        """A JSON file `name` that another module derived from this run (its owner names it,
        e.g. ablation's per-occluder-count breakdown), or None when absent."""
        file = self.path / name
        return _read_json(file) if file.is_file() else None

    def write_derived(self, name: str, data: dict) -> None:
        """Write the derived JSON file `name` (atomic; see `derived`)."""
        if name in (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, METRICS_TABLE_FILE, CHECKPOINTS):
            raise ValueError(f"{name!r} is a run's own file, not a derived one")
        if self.writer:
            paths.write_text_atomic(self.path / name, json.dumps(data, indent=2))


# --- reading a run ------------------------------------------------------------------------------
@dataclass
class Run:
    """A run as read from its folder, finished or not."""
    config: RunConfig
    metrics: dict            # {} until the run is evaluated
    history: dict            # {} before the first checkpoint
    path: Path

    @property
    def finished(self) -> bool:
        return bool(self.metrics)

    def checkpoint_path(self, which: str = LAST) -> Path:
        return RunFolder(self.path).checkpoint_path(which)

    def snapshot_names(self) -> list[str]:
        """["snapshot_0", "snapshot_1", ...] in snapshot order."""
        return snapshot_names(self.path)

    def state(self, which: str = LAST) -> dict:
        """checkpoints/<which>.pt, loaded safely (`checkpoint.load`)."""
        return checkpoint.load(self.checkpoint_path(which))

    def progress_note(self) -> str | None:
        """None for a finished run, else e.g. "runs/x has not finished (step 150 of 400)"."""
        if self.finished:
            return None
        state = self.state() if self.checkpoint_path().is_file() else {"step": 0}
        return (f"{self.path} has not finished (step {int(state['step'])} of "
                f"{self.config.steps}; no {METRICS_FILE})")


def load(name_or_dir: str | os.PathLike) -> Run:
    """Config, metrics and history of a run (`resolve` rules)."""
    run = RunFolder(resolve(name_or_dir))
    config = RunConfig.from_dict(run.saved_config())
    return Run(config, run.metrics(), run.history(), run.path)


def read_metrics(name_or_dir: str | os.PathLike) -> dict:
    """A run's metrics.json as a dict (`resolve` rules); FileNotFoundError when the run has not
    been evaluated."""
    run = RunFolder(resolve(name_or_dir))
    if not run.evaluated:
        raise FileNotFoundError(f"{run.path} has no {METRICS_FILE}: the run has not finished")
    return run.metrics()


def finished(name_or_dir: str | os.PathLike, config: RunConfig | None = None) -> bool:
    """The run exists and finished (with exactly `config`, when given). A run whose files
    cannot be read as this posebook's (damaged JSON, config keys it does not know) is not."""
    try:
        run = load(name_or_dir)
    except (FileNotFoundError, ValueError):
        return False
    return run.finished and (config is None or not checkpoint.config_diff(run.config, config))


def snapshot_names(run_dir: str | os.PathLike) -> list[str]:
    """["snapshot_0", "snapshot_1", ...] of a run folder, in snapshot order."""
    return RunFolder(Path(run_dir)).snapshot_names()


def load_model(source: str | os.PathLike, which: str = LAST, device="cpu"):
    """(PoseNet in eval mode, RunConfig) from a run's checkpoints/<which>.pt, or from a
    checkpoint FILE given as `source` (then `which` is ignored)."""
    from . import model as model_lib

    path = Path(source)
    file = path if path.is_file() else RunFolder(resolve(source)).checkpoint_path(which)
    state = checkpoint.load(file)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise ValueError(f"{file} is not a posebook checkpoint (no config and model weights)")
    config = RunConfig.from_dict(state["config"])
    # the checkpoint holds every weight: skip the search for ImageNet weights (and its warning)
    net = model_lib.build(config.replace(pretrained="none", require_pretrained=False))
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"checkpoint {str(file)!r} does not load into a model of its config "
                         f"({str(error).splitlines()[0]})") from error
    return net.to(device).eval(), config


@contextlib.contextmanager
def lock(run_dir: str | os.PathLike):
    """Hold the exclusive write lock of `run_dir` (see the module docstring); RunLocked when
    another process holds it."""
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = run_dir.with_name(f".{run_dir.name}.lock")
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLocked(f"run folder {run_dir} is being written by another process "
                            f"(pid {holder}); wait for it to end or choose another --name"
                            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield run_dir
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from error
