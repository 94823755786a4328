"""Test helper for tests/test_distributed.py, loaded by every process of a torchrun job whose
PYTHONPATH starts with this folder (Python imports ``sitecustomize`` at start-up).

- ``POSEBOOK_SPY_DIR``: every write this process makes under ``$POSEBOOK_RUNS`` (an open for
  writing, a rename, a removal, a new folder; seen through Python's audit hooks) is appended to
  ``$POSEBOOK_SPY_DIR/rank<RANK>.<pid>.txt``.
- ``POSEBOOK_KILL_RANK1_AFTER=k``: on torchrun's first attempt, rank 1 SIGKILLs itself right
  after its k-th training update.
"""
import os
import sys

_RUNS = os.environ.get("POSEBOOK_RUNS", "")
_SPY = os.environ.get("POSEBOOK_SPY_DIR", "")
_RANK = os.environ.get("RANK", "")


def _written(event, args):
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        return [path] if writes else []
    if event in ("os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree",
                 "os.truncate"):
        return [args[0], *(args[1:2] if event == "os.rename" else [])]
    return []


def _spy(event, args):
    if event not in ("open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree",
                     "os.truncate"):
        return
    for path in _written(event, args):
        if isinstance(path, (str, bytes, os.PathLike)) and os.fsdecode(path).startswith(_RUNS):
            with open(os.path.join(_SPY, f"rank{_RANK}.{os.getpid()}.txt"), "a") as log:
                log.write(f"{event} {os.fsdecode(path)}\n")


if _SPY and _RUNS and _RANK:
    sys.addaudithook(_spy)


_KILL_AFTER = os.environ.get("POSEBOOK_KILL_RANK1_AFTER", "")
if _KILL_AFTER and _RANK == "1" and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0":
    import importlib.abc
    import importlib.machinery
    import signal

    class _KillAfter(importlib.abc.MetaPathFinder):
        """Wrap posebook.train's Trainer.update once that module is loaded."""

        def find_spec(self, name, path, target=None):
            if name != "posebook.train":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                update = module.Trainer.update

                def update_then_maybe_die(trainer, batch):
                    loss = update(trainer, batch)
                    if trainer.step == int(_KILL_AFTER):
                        os.kill(os.getpid(), signal.SIGKILL)
                    return loss
                module.Trainer.update = update_then_maybe_die
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _KillAfter())
