"""Where runs and caches live.

Runs go to ``$POSEBOOK_RUNS`` if set, else ``runs/`` at the repository root (the folder holding
``_toc.yml``, found from the working directory upwards, so chapters executed from ``chapters/``
share the same runs), else ``./runs``. Caches go to ``$POSEBOOK_CACHE`` or ``~/.cache/posebook``.
"""
from __future__ import annotations

import contextlib
import glob
import os
from pathlib import Path

TEMP_MARK = ".tmp"     # atomic_path's temporary file: .<name>.tmp<pid>
OLD_MARK = ".old"      # atomic_paths' old file while the new ones go in: .<name>.old<pid>


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


def shown(path: str | os.PathLike) -> str:
    """`path` as text for a page, a JSON file or a terminal: a byte that is not UTF-8 (a Linux
    file name may hold any) is written ``\\xNN``, as ``ls -b`` does; other paths unchanged."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def open_npz(path: str | os.PathLike):
    """``np.load`` of an ``.npz`` archive (no pickles) whose file is closed however it ends:
    numpy leaves a damaged archive's file open when ``np.load`` raises."""
    import numpy as np
    with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
        yield data


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `path` (``.<name>.tmp<pid>``, see `atomic_paths`) whose
    process no longer runs: what a SIGKILL during a write leaves. An old file such a process
    had moved aside (``.<name>.old<pid>``) is put back where `path` is missing, else deleted.
    Returns the files removed."""
    path = Path(path)
    removed = []
    for mark in (TEMP_MARK, OLD_MARK):
        for stale in path.parent.glob(f".{glob.escape(path.name)}{mark}*"):
            pid = stale.name[len(path.name) + 1 + len(mark):]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            if mark == OLD_MARK and not (path.exists() or path.is_symlink()):
                os.replace(stale, path)
            else:
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # it exists, owned by someone else
        return True
    return True


class atomic_paths:
    """Context manager: yields temporary paths beside `paths`; renames each onto its path on
    success, all or none: when a rename fails (a folder in the way, a full disk), the files
    already renamed are put back as they were (the old file, or none).

    Nothing is left half-written: on an exception the temporary files are removed, the paths are
    untouched, and folders made for them are removed again; an OSError that names no file, or
    names a temporary file, is raised again naming the path (a full disk, a read-only folder).
    A temporary file is named ``.<name>.tmp<pid>``; a process killed before it could clean up
    (SIGKILL) leaves it, and the next write of that path removes it (`remove_stale_temps`).
    Example (a page and its JSON: both or neither)::

        with atomic_paths(out / "r.json", out / "r.html") as (tmp_json, tmp_html):
            tmp_json.write_text(data)
            tmp_html.write_text(page)
    """

    def __init__(self, *paths: str | os.PathLike):
        self.paths = [Path(path) for path in paths]
        self.tmps = [_temp_of(path) for path in self.paths]
        self.made: list[Path] = []          # folders made here, outermost first

    def __enter__(self) -> tuple[Path, ...]:
        for path in self.paths:
            self.made += _make_folders(path.parent)
            remove_stale_temps(path)
        return tuple(self.tmps)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                return self._rename_all()
            except OSError as error:
                exc = error
        for tmp in self.tmps:
            tmp.unlink(missing_ok=True)
        for folder in reversed(self.made):
            try:
                folder.rmdir()
            except OSError:                 # something else is in it now
                break
        if isinstance(exc, OSError) and exc.errno and (
                not exc.filename or os.fspath(exc.filename) in map(str, self.tmps)):
            path = next((p for p, t in zip(self.paths, self.tmps)
                         if exc.filename and os.fspath(exc.filename) == str(t)), self.paths[0])
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        if exc_type is None:
            raise exc

    def _rename_all(self) -> None:
        done = []                           # (path, its old file moved aside, or None)
        try:
            for path, tmp in zip(self.paths, self.tmps):
                old = None
                if path.is_file() or path.is_symlink():
                    old = path.with_name(f".{path.name}{OLD_MARK}{os.getpid()}")
                    os.replace(path, old)
                try:
                    os.replace(tmp, path)
                except OSError:
                    if old is not None:
                        os.replace(old, path)
                    raise
                done.append((path, old))
        except OSError:
            for path, old in reversed(done):
                if old is not None:
                    os.replace(old, path)
                else:
                    path.unlink(missing_ok=True)
            raise
        for _, old in done:
            if old is not None:
                old.unlink(missing_ok=True)


class atomic_path(atomic_paths):
    """`atomic_paths` of one path: yields its temporary path. Example::

        with atomic_path(out / "table.md") as tmp:
            tmp.write_text(text)
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self.path, self.tmp = self.paths[0], self.tmps[0]

    def __enter__(self) -> Path:
        return super().__enter__()[0]


def _temp_of(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")


def _make_folders(folder: Path) -> list[Path]:
    """Make `folder` and its missing parents; returns those made, outermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
    return missing[::-1]


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
