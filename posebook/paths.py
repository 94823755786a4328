"""Where runs and caches live.

Runs go to ``$POSEBOOK_RUNS`` if set, else ``runs/`` at the repository root (the folder holding
``_toc.yml``, found from the working directory upwards, so chapters executed from ``chapters/``
share the same runs), else ``./runs``. Caches go to ``$POSEBOOK_CACHE`` or ``~/.cache/posebook``.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

TEMP_MARK = ".tmp"     # atomic_path's temporary file: .<name>.tmp<pid>


def repo_root(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "posebook").is_dir():
            return folder
    return None


def runs_dir() -> Path:
    if os.environ.get("POSEBOOK_RUNS"):
        return Path(os.environ["POSEBOOK_RUNS"])
    root = repo_root()
    return (root if root else Path.cwd()) / "runs"


def cache_dir() -> Path:
    if os.environ.get("POSEBOOK_CACHE"):
        return Path(os.environ["POSEBOOK_CACHE"])
    return Path.home() / ".cache" / "posebook"


def realdata_dir() -> Path | None:
    """``$POSEBOOK_REALDATA`` when the reader set it to an existing folder, else None.

    Real data (Human3.6M frames, VOC images) is never looked for anywhere else: the reader
    points the book at their own copy (its layout: ``h36m/frames.npz``, ``h36m/cameras.json``,
    ``h36m/<subject>/...`` images, ``voc/``)."""
    value = os.environ.get("POSEBOOK_REALDATA", "").strip()
    if value and Path(value).is_dir():
        return Path(value)
    return None


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `path` (``.<name>.tmp<pid>``, see `atomic_path`) whose
    process no longer runs: what a SIGKILL during a write leaves. Returns the files removed."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}{TEMP_MARK}*"):
        pid = tmp.name[len(path.name) + 1 + len(TEMP_MARK):]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # it exists, owned by someone else
        return True
    return True


class atomic_path:
    """Context manager: yields a temporary path beside `path`; renames it onto `path` on success.

    Nothing is left half-written: on an exception (or a failed rename) the temporary file is
    removed and `path` is untouched; an OSError that names no file (a full disk) is raised again
    naming `path`. The temporary file is named ``.<name>.tmp<pid>``; a process killed before it
    could clean up (SIGKILL) leaves it, and the next write of `path` removes it
    (`remove_stale_temps`).  Example::

        with atomic_path(out / "table.md") as tmp:
            tmp.write_text(text)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}{TEMP_MARK}{os.getpid()}")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not exc.filename and exc.errno:   # a full disk
                raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
            return
        try:
            os.replace(self.tmp, self.path)
        except OSError:              # `path` is a folder, say: the temporary file goes too
            self.tmp.unlink(missing_ok=True)
            raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
