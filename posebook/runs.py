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
It holds `lock(path)` (`runlock`): an exclusive lock on ``runs/.<name>.lock`` that the operating
system releases when the process ends, even by SIGKILL.

Nothing of an old run is lost before the new one has its first checkpoint: `begin` of a fresh
run moves an old run aside (``runs/.<name>.previous``) and the first ``last.pt`` deletes it; a
run that fails before then is removed and the old one put back (a SIGKILLed one: by the next
`RunFolder.open` of that name). A folder that holds no run (no config.json) is never deleted.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import checkpoint, distributed, paths
from .config import RunConfig
from .runlock import RunLocked, lock  # noqa: F401 (runs.lock, runs.RunLocked: the folder's lock)

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
METRICS_TABLE_FILE = "metrics.md"
CHECKPOINTS = "checkpoints"
LAST = "last"                  # checkpoints/last.pt
SNAPSHOT = "snapshot_"         # checkpoints/snapshot_<k>.pt
PREVIOUS = ".previous"         # runs/.<name>.previous: the old run while a new one starts


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
                   Path(runs_dir or paths.runs_dir()).glob(f"*/{CHECKPOINTS}/{LAST}.pt")
                   if not p.parent.parent.name.startswith("."))   # not a run moved aside
    return found[-1][1] if found else None


def snapshot_name(k: int) -> str:
    """The checkpoint name of the k-th kept snapshot: "snapshot_<k>"."""
    return f"{SNAPSHOT}{k}"


def checkpoint_run(checkpoint_file: str | os.PathLike) -> Path:
    """The run folder a checkpoint file of it (``checkpoints/<which>.pt``) lies in."""
    return Path(checkpoint_file).parent.parent


# --- writing a run ------------------------------------------------------------------------------
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
    _started: dict = field(default_factory=dict, compare=False, repr=False)  # by `begin`

    @classmethod
    @contextlib.contextmanager
    def open(cls, name: str, *, resume: bool = False, overwrite: bool = False,
             writer: bool = True) -> Iterator[RunFolder]:
        """``runs/<name>`` for training, locked while the block runs (writer only; RunLocked
        while another process writes it). resume: FileNotFoundError without a last checkpoint.
        Neither resume nor overwrite: ValueError when it already holds a run (the writer
        decides; the other processes follow it). ValueError, whatever the flags, when the
        folder is a link or holds files but no run. A run the block started (`begin`) and
        that has no last.pt when the block fails is removed, and the run it replaced put
        back. In a torchrun group the other ranks wait (`distributed.barrier`) until the writer
        has locked, recovered and checked the folder."""
        run = cls(folder(name), writer)
        with lock(run.path) if writer else contextlib.nullcontext():
            if writer:
                run._recover()
                if not resume:
                    run._check_replaceable(overwrite)
            distributed.barrier()
            last = run.checkpoint_path()
            if resume and not last.is_file():
                raise FileNotFoundError(f"--resume: no checkpoint at {last}")
            try:
                yield run
            except BaseException:
                run._undo()
                raise
            run._undo()     # a block that never saved a last.pt does not cost the old run

    def _check_replaceable(self, overwrite: bool) -> None:
        """ValueError unless a fresh run may replace what `path` holds: nothing, a run
        (with `overwrite`, or one killed before its first checkpoint)."""
        path = self.path
        if path.is_symlink():
            raise ValueError(f"run folder {path} is a link (to {os.readlink(path)}); posebook "
                             f"does not start or replace runs through links: remove the link, "
                             f"or point POSEBOOK_RUNS at the other folder")
        if path.exists() and not path.is_dir():
            raise ValueError(f"run folder {path} is a file, not a folder; choose another --name")
        if path.is_dir() and not is_run(path) and any(path.iterdir()):
            raise ValueError(f"{path} holds files but no posebook run (no {CONFIG_FILE}); "
                             f"nothing was deleted: choose another --name or move it away")
        if not overwrite and (self.has_checkpoint() or self.evaluated):
            raise ValueError(f"run folder {path} already holds a run; use --resume to "
                             f"continue it or --overwrite to start again")

    def _previous(self) -> Path:
        return self.path.with_name(f".{self.path.name}{PREVIOUS}")

    def _recover(self) -> None:
        """A process killed while it replaced this run left the old one aside: keep the new
        run if it got its first last.pt, else put the old one back."""
        previous = self._previous()
        if not previous.is_dir() or previous.is_symlink():
            return
        if self.has_checkpoint():
            shutil.rmtree(previous)
            return
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        os.rename(previous, self.path)

    def _undo(self) -> None:
        """The block ended (failed, or returned before the new run saved a last.pt): remove
        the run `begin` started unless it has a last.pt, and put back the run it replaced."""
        if not self._started or self.has_checkpoint():
            self._commit()
            return
        self._started.clear()
        if self.path.is_dir():
            shutil.rmtree(self.path)
        if self._previous().is_dir():
            os.rename(self._previous(), self.path)

    def _commit(self) -> None:
        """The new run has its first last.pt: the old one it replaced is deleted."""
        if self._started.pop("replacing", False):
            shutil.rmtree(self._previous(), ignore_errors=True)

    def resume_state(self, config: RunConfig) -> dict:
        """The last checkpoint's training state; ValueError naming the file when an entry
        `--resume` needs is missing, or listing the differing keys when it was made with
        another config."""
        last = self.checkpoint_path()
        state = checkpoint.checked(checkpoint.load(last), last, checkpoint.RESUME_ENTRIES)
        checkpoint.check_same_config(state["config"], config, f"checkpoint {last}")
        return state

    def begin(self, config: RunConfig, fresh: bool) -> None:
        """Start writing `config`'s run (call it once the new run's model and data are built,
        so an invalid run keeps the old one): a `fresh` run moves an old run aside (deleted by
        the first `save_last`; put back when the `open` block fails before it); then
        config.json."""
        if not self.writer:
            return
        if fresh:
            self._started["fresh"] = True
            if self.path.exists():
                os.rename(self.path, self._previous())
                self._started["replacing"] = True
        self.path.mkdir(parents=True, exist_ok=True)
        paths.write_text_atomic(self.path / CONFIG_FILE, config.to_json())

    def save_last(self, state: dict) -> None:
        """checkpoints/last.pt (a `Trainer.state_dict`, atomic) and history.json (its
        "history"). The first one deletes the run this one replaced."""
        if self.writer:
            checkpoint.save(self.checkpoint_path(), state)
            self._commit()
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
        """config.json as saved (a dict: keys an older posebook wrote are kept), or None;
        ValueError naming the file when it is not a JSON object."""
        file = self.path / CONFIG_FILE
        return _read_json(file, dict) if file.is_file() else None

    @property
    def evaluated(self) -> bool:
        """metrics.json exists: the run finished."""
        return (self.path / METRICS_FILE).is_file()

    def metrics(self) -> dict:
        """metrics.json as a dict, {} until the run is evaluated."""
        return _read_json(self.path / METRICS_FILE, dict) if self.evaluated else {}

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
        """checkpoints/<which>.pt, loaded safely (`checkpoint.load`) and checked: ValueError
        naming the file when it lacks an entry every checkpoint has (`checkpoint.ENTRIES`)."""
        file = self.checkpoint_path(which)
        return checkpoint.checked(checkpoint.load(file), file)

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
    config = config_of(run.saved_config(), run.path / CONFIG_FILE)
    return Run(config, run.metrics(), run.history(), run.path)


def config_of(saved: dict, where: str | os.PathLike) -> RunConfig:
    """The RunConfig of a saved config dict; ValueError naming `where` (a file) when it is
    not one (unknown keys, ...)."""
    try:
        return RunConfig.from_dict(saved)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


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
    state = checkpoint.checked(checkpoint.load(file), file, ("config", "model"))
    config = RunConfig.from_dict(state["config"])
    # the checkpoint holds every weight: skip the search for ImageNet weights (and its warning)
    net = model_lib.build(config.replace(pretrained="none", require_pretrained=False))
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"checkpoint {str(file)!r} does not load into a model of its config "
                         f"({str(error).splitlines()[0]})") from error
    return net.to(device).eval(), config


def _read_json(path: Path, kind: type | None = None):
    """The JSON value of `path`; ValueError naming it when it is not valid JSON, or not of
    `kind` (dict: a JSON object)."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from error
    if kind is not None and not isinstance(value, kind):
        raise ValueError(f"{path} should hold a JSON object, but holds {json.dumps(value)[:40]}")
    return value
