"""Run folders: one home for finding, reading and locking ``runs/<name>/``.

A run folder holds ``config.json``, ``history.json``, ``checkpoints/last.pt``,
``checkpoints/snapshot_<k>.pt`` and, once evaluated, ``metrics.json`` (see `train`). A run is
*finished* when ``metrics.json`` exists.

Where a run is, is said exactly once (`resolve`): a plain name is ``runs/<name>``, anything with
a folder separator a path used as given. Nothing falls back to another folder:
``/no/such/dir/x`` is an error, never ``runs/x``.

A process that writes a run holds `lock(path)`: an exclusive ``flock`` on ``runs/.<name>.lock``
(beside the folder, so deleting the folder keeps the lock). The operating system releases it
when the process ends, even by SIGKILL, so a stale lock cannot block a later run.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import checkpoint, paths
from .profiles import RunConfig

CHECKPOINTS = "checkpoints"


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
    if not (path / "config.json").is_file():
        what = f"no run named {text!r}" if plain else f"no run at {text!r}"
        raise FileNotFoundError(f"{what} (looked for {path / 'config.json'})")
    return path


def newest(runs_dir: str | os.PathLike | None = None) -> Path | None:
    """The run folder under `runs_dir` (default `paths.runs_dir()`) whose checkpoints/last.pt
    was written last, or None."""
    found = sorted((p.stat().st_mtime, p.parent.parent) for p in
                   Path(runs_dir or paths.runs_dir()).glob(f"*/{CHECKPOINTS}/last.pt"))
    return found[-1][1] if found else None


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

    def checkpoint_path(self, which: str = "last") -> Path:
        return self.path / CHECKPOINTS / f"{which}.pt"

    def snapshot_names(self) -> list[str]:
        """["snapshot_0", "snapshot_1", ...] in snapshot order."""
        return snapshot_names(self.path)

    def state(self, which: str = "last") -> dict:
        """checkpoints/<which>.pt, loaded safely (`checkpoint.load`)."""
        return checkpoint.load(self.checkpoint_path(which))

    def progress_note(self) -> str | None:
        """None for a finished run, else e.g. "runs/x has not finished (step 150 of 400)"."""
        if self.finished:
            return None
        state = self.state() if self.checkpoint_path().is_file() else {"step": 0}
        return (f"{self.path} has not finished (step {int(state['step'])} of "
                f"{self.config.steps}; no metrics.json)")


def load(name_or_dir: str | os.PathLike) -> Run:
    """Config, metrics and history of a run (`resolve` rules)."""
    path = resolve(name_or_dir)
    config = RunConfig.from_dict(_read_json(path / "config.json"))
    read = lambda f: _read_json(path / f) if (path / f).is_file() else {}  # noqa: E731
    return Run(config, read("metrics.json"), read("history.json"), path)


def finished(name_or_dir: str | os.PathLike, config: RunConfig | None = None) -> bool:
    """The run exists and finished (with exactly `config`, when given). A run whose files
    cannot be read as this posebook's (damaged JSON, config keys it does not know) is not."""
    try:
        run = load(name_or_dir)
    except (FileNotFoundError, ValueError):
        return False
    return run.finished and (config is None or not checkpoint.config_diff(run.config, config))


def snapshot_names(run_dir: str | os.PathLike) -> list[str]:
    files = (Path(run_dir) / CHECKPOINTS).glob("snapshot_*.pt")
    numbered = [(int(p.stem.split("_")[1]), p.stem) for p in files
                if p.stem.split("_")[1].isdigit()]
    return [stem for _, stem in sorted(numbered)]


def load_model(source: str | os.PathLike, which: str = "last", device="cpu"):
    """(PoseNet in eval mode, RunConfig) from a run's checkpoints/<which>.pt, or from a
    checkpoint FILE given as `source` (then `which` is ignored)."""
    from . import model as model_lib

    path = Path(source)
    file = path if path.is_file() else resolve(source) / CHECKPOINTS / f"{which}.pt"
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
