"""The write lock of a run folder: an exclusive ``flock`` on ``runs/.<name>.lock``, beside the
folder (so deleting the folder keeps the lock), held by the one process that writes the run.

The operating system releases it when the process ends, even by SIGKILL, so a stale lock cannot
block a later run; and processes forked while it is held (frame-cache renderers, DataLoader
workers) close their copy of it at once, so a child that outlives a killed parent does not keep
the run locked. The lock file is opened without following a link and only ever holds the pid of
its holder: a link, FIFO or hard link planted there is refused, its target never written.

    with lock(runs_dir / "name"):       # RunLocked while another process holds it
        ...
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path


class RunLocked(RuntimeError):
    """Another process is writing this run folder."""


_HELD_LOCKS: set[int] = set()      # descriptors of the run locks this process holds


def _close_inherited_locks() -> None:
    """In a forked child: close its copies of the parent's run locks (see `lock`)."""
    for fd in _HELD_LOCKS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


@contextlib.contextmanager
def lock(run_dir: str | os.PathLike):
    """Hold the exclusive write lock of `run_dir` (see the module docstring); RunLocked when
    another process holds it, ValueError when its lock file is a link or not a plain file."""
    run_dir = Path(run_dir)
    if run_dir.parent.exists() and not run_dir.parent.is_dir():
        raise ValueError(f"runs folder {run_dir.parent} is a file, not a folder (set "
                         f"POSEBOOK_RUNS to a folder)")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = run_dir.with_name(f".{run_dir.name}.lock")
    try:   # never through a link, never blocking on a FIFO, not inherited by exec
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"run lock {lock_path} is a link (to {os.readlink(lock_path)}); "
                             f"posebook never writes through it: remove the link") from None
        raise
    owner = os.getpid()    # a forked child unwinding this block has closed its copy already
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise ValueError(f"run lock {lock_path} is not a plain file of its own (a FIFO, "
                             f"device or a hard link to another file): remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLocked(f"run folder {run_dir} is being written by another process "
                            f"(pid {holder}); wait for it to end or choose another --name"
                            ) from None
        _HELD_LOCKS.add(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(owner).encode(), 0)
        try:
            yield run_dir
        finally:
            if os.getpid() == owner:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if os.getpid() == owner:
            _HELD_LOCKS.discard(fd)
            os.close(fd)
