"""Run folders, their lock, checkpoints and config.json under bad input and faults (issue 31,
round 2: /work/shared/reliability/round2.md): one test per case, named after it.

S1 the lock never writes through a link · D1 a folder without a run is never deleted · D2 an
old run is kept until the new one has its first checkpoint · H1 forked children do not keep a
killed run locked · then one clear line for damaged checkpoints, config.json and metrics.json,
full disks and killed workers · C65 an n_train beyond memory · C48 a killed run's loader worker
· C83 a run name that is not UTF-8. Everything runs in-process (`cli.main`) on copies of one tiny
run, except H1 and C48, which need a process to kill, and C83's train under a strict terminal."""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from posebook import checkpoint, cli, paths, runs, train
from posebook.data import frame_cache, synthetic, training
from test_hardening import box_arg, frame, photo  # noqa: F401

TINY = ["--profile", "smoke", "--no-progress", "--set", "n_train=16", "--set", "n_val=8",
        "--set", "n_test=8", "--set", "steps=4", "--set", "cycle_steps=2", "--set",
        "batch_size=4", "--set", "eval_every=2", "--set", "snapshots=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished run with two snapshots (a few seconds)."""
    folder = tmp_path_factory.mktemp("tiny-runs")
    old = os.environ.get("POSEBOOK_RUNS")
    os.environ["POSEBOOK_RUNS"] = str(folder)
    try:
        assert cli.main(["train", "--name", "tiny", *TINY]) == 0
    finally:
        os.environ["POSEBOOK_RUNS"] = old if old is not None else ""
        if old is None:
            del os.environ["POSEBOOK_RUNS"]
    return folder / "tiny"


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("POSEBOOK_RUNS", str(folder))
    return folder


def posebook(capsys, *argv) -> tuple[int, str]:
    """`posebook ARGV` in-process -> (exit code, stderr); a traceback would raise here."""
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


def snapshot_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# --- Security ----------------------------------------------------------------------------------
def test_S1_C29_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(
        tiny_run, runs_dir, tmp_path, capsys):
    victim = tmp_path / "victim_rc"
    victim.write_text("export IMPORTANT=1\n")
    (runs_dir / ".lk.lock").symlink_to(victim)
    code, err = posebook(capsys, "train", "--name", "lk", *TINY)
    assert code == 2 and one_line(err) and ".lk.lock is a link" in err
    shutil.copytree(tiny_run, runs_dir / "base")                  # refused anyway: same
    (runs_dir / ".base.lock").symlink_to(victim)
    code, err = posebook(capsys, "train", "--name", "base", *TINY)
    assert code == 2 and ".base.lock is a link" in err
    os.link(victim, runs_dir / ".hard.lock")                      # a hard link: refused too
    code, err = posebook(capsys, "train", "--name", "hard", *TINY)
    assert code == 2 and "not a plain file of its own" in err
    assert victim.read_text() == "export IMPORTANT=1\n"
    assert not (runs_dir / "lk").exists() and not (runs_dir / "hard").exists()


# --- Data loss ---------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_D1_C01_a_folder_that_holds_no_run_is_never_deleted(runs_dir, capsys, flag):
    notes = runs_dir / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("my precious notes")
    code, err = posebook(capsys, "train", "--name", "notes", *TINY, *flag)
    assert code == 2 and one_line(err) and "holds files but no posebook run" in err
    assert [p.name for p in notes.iterdir()] == ["thesis.txt"]


def test_D2_C26_overwrite_keeps_the_old_run_when_the_data_cannot_be_built(
        tiny_run, runs_dir, tmp_path, capsys, monkeypatch):
    old = shutil.copytree(tiny_run, runs_dir / "ow2")
    before = snapshot_of(old)
    cachefile = tmp_path / "cachefile"
    cachefile.write_text("a file")
    monkeypatch.setenv("POSEBOOK_CACHE", str(cachefile))          # the frame cache fails
    code, err = posebook(capsys, "train", "--name", "ow2", *TINY, "--set", "seed=1",
                         "--overwrite")
    assert code == 2 and "Not a directory" in err.splitlines()[-1]
    assert snapshot_of(old) == before
    assert sorted(p.name for p in runs_dir.iterdir()) == [".ow2.lock", "ow2"]


def test_D2_C69_overwrite_keeps_the_old_run_when_the_first_steps_diverge(
        tiny_run, runs_dir, capsys, monkeypatch):
    old = shutil.copytree(tiny_run, runs_dir / "ow")
    before = snapshot_of(old)
    monkeypatch.setattr(train, "l1_loss", lambda pred, *a: pred["joints_rel_mm"].sum() * np.nan)
    code, err = posebook(capsys, "train", "--name", "ow", *TINY, "--overwrite")
    assert code == 3 and "loss is nan at step 0" in err
    assert snapshot_of(old) == before and not (runs_dir / ".ow.previous").exists()


def test_D2_the_old_run_goes_once_the_new_one_has_its_first_checkpoint(tiny_run, runs_dir):
    shutil.copytree(tiny_run, runs_dir / "r")
    config = runs.load(tiny_run).config.replace(seed=5)
    with runs.RunFolder.open("r", overwrite=True) as folder:
        folder.begin(config, fresh=True)
        assert (runs_dir / ".r.previous" / "metrics.json").is_file()   # aside, not deleted
        folder.save_last(checkpoint.load(tiny_run / "checkpoints" / "last.pt"))
        assert not (runs_dir / ".r.previous").exists()
    assert runs.load("r").config.seed == 5


def test_D2_a_replacement_killed_before_its_first_checkpoint_is_undone(tiny_run, runs_dir):
    """What a SIGKILL between `begin` and the first last.pt leaves: the next open puts the old
    run back; once the new run had its last.pt, the old one is dropped instead."""
    shutil.copytree(tiny_run, runs_dir / ".k.previous")
    (runs_dir / "k").mkdir()
    (runs_dir / "k" / "config.json").write_text((tiny_run / "config.json").read_text())
    before = snapshot_of(runs_dir / ".k.previous")
    with pytest.raises(ValueError, match="already holds a run"):
        with runs.RunFolder.open("k"):
            pass
    assert snapshot_of(runs_dir / "k") == before and not (runs_dir / ".k.previous").exists()
    shutil.copytree(tiny_run, runs_dir / ".k.previous")           # now the new one got far
    with runs.RunFolder.open("k", resume=True):
        pass
    assert snapshot_of(runs_dir / "k") == before and not (runs_dir / ".k.previous").exists()


def test_C25_a_new_run_that_fails_before_its_first_checkpoint_leaves_nothing(
        runs_dir, tmp_path, capsys, monkeypatch):
    cachefile = tmp_path / "cachefile"
    cachefile.write_text("a file")
    monkeypatch.setenv("POSEBOOK_CACHE", str(cachefile))
    code, err = posebook(capsys, "train", "--name", "r2", *TINY)
    assert code == 2 and not (runs_dir / "r2").exists()


# --- Hang --------------------------------------------------------------------------------------
HOLDER = """
import multiprocessing, os, sys, time
from posebook import runs, runtime

def outlive(started):                # a child that outlives its parent (C80's loader worker)
    started.set()
    time.sleep(60)

def renderer(parent, started):       # a frame-cache renderer (C78): dies with its parent
    runtime.die_with_parent(parent)
    started.set()
    time.sleep(60)

with runs.lock(sys.argv[1]):
    fork = multiprocessing.get_context("fork")
    started = [fork.Event(), fork.Event()]
    children = [fork.Process(target=outlive, args=(started[0],)),
                fork.Process(target=renderer, args=(os.getpid(), started[1]))]
    for child in children:
        child.start()
    for event in started:            # each child runs Python: fork's hooks closed its lock
        event.wait(60)               # (a SIGKILL before that leaves it open for that instant)
    print(*(child.pid for child in children), flush=True)
    time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] not in "ZX"
    except FileNotFoundError:
        return False


def test_H1_C78_C80_forked_children_do_not_keep_a_killed_runs_lock(runs_dir):
    """A real fork: a run holding its lock forks two children and is SIGKILLed. The lock is
    free at once (the children closed their copy of it), and the renderer-like child is gone."""
    run_dir = runs.folder("ck")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)],
                              stdout=subprocess.PIPE,
                              env={**os.environ,
                                   "PYTHONPATH": str(Path(runs.__file__).parents[1])})
    outliving, renderer = map(int, holder.stdout.readline().split())
    try:
        with pytest.raises(runs.RunLocked):
            with runs.lock(run_dir):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        with runs.lock(run_dir):                 # no waiting for the orphans
            pass
        deadline = time.monotonic() + 10
        while alive(renderer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(renderer) and alive(outliving)
    finally:
        for pid in (outliving, renderer):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def killed_worker(*args):
    os._exit(9)                                   # what the OOM killer does to a worker


def test_C79_a_killed_render_worker_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(frame_cache, "BUILD_CHUNK", 1)
    monkeypatch.setattr(frame_cache, "_render_file_chunk", killed_worker)
    cache = frame_cache.FrameCache(synthetic.SyntheticFrames(0, 4, 96), 32,
                                   tmp_path / "frames" / "x", workers=2)
    with pytest.raises(OSError, match="a rendering process was killed") as error:
        cache.get(0)
    assert "\n" not in str(error.value) and not list((tmp_path / "frames").iterdir())


# --- Tracebacks: checkpoints, config.json, metrics.json -----------------------------------------
@pytest.mark.parametrize("key", ["step", "config", "pose_sum", "model"])
def test_C30_a_checkpoint_without_an_entry_is_one_line(tiny_run, runs_dir, capsys, key):
    run = shutil.copytree(tiny_run, runs_dir / "x")
    last = run / "checkpoints" / "last.pt"
    state = checkpoint.load(last)
    del state[key]
    checkpoint.save(last, state)
    code, err = posebook(capsys, "eval", "x", "--split", "test")
    assert code == 2 and one_line(err) and str(last) in err and repr(key) in err


def test_C31_a_checkpoint_without_optimizer_cannot_resume_in_one_line(tiny_run, runs_dir,
                                                                     capsys):
    run = shutil.copytree(tiny_run, runs_dir / "x")
    last = run / "checkpoints" / "last.pt"
    state = checkpoint.load(last)
    del state["optimizer"]
    checkpoint.save(last, state)
    code, err = posebook(capsys, "train", "--name", "x", "--resume", "--no-progress")
    assert code == 2 and one_line(err) and "'optimizer'" in err and str(last) in err


@pytest.mark.parametrize("content", ["42", "null", "[1, 2]", '"smoke"'])
def test_C36_C37_a_config_json_that_is_no_object_is_one_line_naming_it(tiny_run, runs_dir,
                                                                       capsys, content):
    run = shutil.copytree(tiny_run, runs_dir / "x")
    (run / "config.json").write_text(content)
    for argv in (["eval", "x", "--split", "test"],
                 ["train", "--name", "x", "--resume", "--no-progress"]):
        code, err = posebook(capsys, *argv)
        assert code == 2 and one_line(err) and str(run / "config.json") in err, argv
        assert "JSON object" in err and "unknown config keys" not in err, argv


@pytest.mark.parametrize("content", ["[]", "null"])
def test_C39_a_metrics_json_that_is_no_object_is_named(tiny_run, runs_dir, capsys, content):
    run = shutil.copytree(tiny_run, runs_dir / "x")
    (run / "metrics.json").write_text(content)
    code, err = posebook(capsys, "eval", "x", "--split", "test")
    assert code == 2 and one_line(err) and "metrics.json should hold a JSON object" in err


@pytest.mark.parametrize("which", ["snapshot_0", "snapshot_1"], ids=["C42", "C43"])
def test_C42_C43_non_finite_weights_in_a_snapshot_are_named(tiny_run, runs_dir, capsys, which):
    """C42: NaN in an early snapshot was quietly left out ("ensemble of 1"); C43: NaN in the
    final one (also the last weights) gave "SVD did not converge"."""
    run = shutil.copytree(tiny_run, runs_dir / "x")
    file = run / "checkpoints" / f"{which}.pt"
    state = checkpoint.load(file)
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))
    checkpoint.save(file, state)
    code, err = posebook(capsys, "eval", "x", "--split", "test")
    assert code == 2 and one_line(err) and str(file) in err and "non-finite weights" in err


# --- Unclear messages and leftovers: paths ------------------------------------------------------
def test_C27_C28_a_full_disk_names_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "r.json"
    with pytest.raises(OSError, match="No space left on device") as error:
        with paths.atomic_path(target) as tmp:
            tmp.write_text("{}")
            raise OSError(errno.ENOSPC, "No space left on device")    # what write() raises
    assert error.value.filename == str(target) and str(target) in str(error.value)
    assert not target.parent.exists()                 # no temp file, no folder made for it


def test_C24_C75_runs_folder_a_file_and_a_run_folder_that_is_a_link(runs_dir, tmp_path, capsys,
                                                                   monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (runs_dir / "linked").symlink_to(elsewhere)
    code, err = posebook(capsys, "train", "--name", "linked", *TINY, "--overwrite")
    assert code == 2 and one_line(err) and "runs/linked is a link" in err
    runsfile = tmp_path / "runsfile"
    runsfile.write_text("a file")
    monkeypatch.setenv("POSEBOOK_RUNS", str(runsfile))
    code, err = posebook(capsys, "train", "--name", "x", *TINY)
    assert code == 2 and one_line(err) and f"runs folder {runsfile} is a file" in err


def test_D2_a_block_that_returns_before_the_first_checkpoint_keeps_the_old_run(tiny_run,
                                                                              runs_dir):
    """`RunFolder.open` promises the old run until the new one has its first last.pt, also
    when the caller's block ends normally without saving (review of 2026-12-06)."""
    from posebook import profiles
    old = shutil.copytree(tiny_run, runs_dir / "ow9")
    before = snapshot_of(old)
    config = profiles.get("smoke")
    with runs.RunFolder.open("ow9", overwrite=True) as folder:
        folder.begin(config, fresh=True)
    assert snapshot_of(old) == before


# --- Round 2, the rest: C65 (memory), C48 (a killed run's loader worker), C83 (file names) -------
def test_C65_n_train_beyond_memory_is_one_line_and_keeps_the_old_run(tiny_run, runs_dir,
                                                                    capsys):
    """n_train=1e12 asked numpy for 7 TiB at the first step (a MemoryError traceback); it is
    refused naming n_train before anything is written (past `config.MAX_SAMPLES`; below it,
    a training set whose batch order does not fit in memory is refused the same way:
    `training.check_order_fits`), and an old run stays as it was."""
    old = shutil.copytree(tiny_run, runs_dir / "big")
    before = snapshot_of(old)
    for name, flag in (("big", ["--overwrite"]), ("new", [])):
        code, err = posebook(capsys, "train", "--name", name, *TINY,
                             "--set", "n_train=1000000000000", *flag)
        assert code == 2 and one_line(err), name
        assert "n_train must be in [1, 100000000], got 1000000000000" in err, name
    assert snapshot_of(old) == before
    assert sorted(p.name for p in runs_dir.iterdir()) == ["big"]     # not even a lock file
    training.check_order_fits(10**6, memory_bytes=2 * 8 * 10**6)     # exactly fits: accepted
    with pytest.raises(ValueError, match="use a smaller n_train"):
        training.check_order_fits(10**6 + 1, memory_bytes=2 * 8 * 10**6)


LOADER = """
import sys, time, torch
from posebook import profiles
from posebook.data import training
config = profiles.get("smoke", ["n_train=16", "n_val=0", "batch_size=4", "num_workers=1"])
batches = iter(training.training_data(config, torch.device("cpu")).loader(range(10**6)))
next(batches)
print("ready", flush=True)
time.sleep(60)
"""


def children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def test_C48_a_killed_runs_loader_worker_ends_at_once_without_a_traceback(runs_dir):
    """SIGKILL of a run with a DataLoader worker: the worker printed a multiprocessing
    traceback to the terminal and held on for seconds (C80). It now dies with the run."""
    run = subprocess.Popen([sys.executable, "-c", LOADER], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE,
                           env={**os.environ, "PYTHONPATH": str(Path(train.__file__).parents[1])})
    try:
        assert run.stdout.readline() == b"ready\n"
        workers = children(run.pid)
        assert len(workers) == 1
        os.kill(run.pid, signal.SIGKILL)
        killed = time.monotonic()
        while alive(workers[0]) and time.monotonic() - killed < 10:
            time.sleep(0.02)
        gone_s = time.monotonic() - killed
        err = run.stderr.read().decode()                 # EOF: every writer has exited
    finally:
        run.kill()
        run.wait()
    assert gone_s < 2 and "Traceback" not in err and "Error" not in err, (gone_s, err)


def test_C83_a_run_name_that_is_not_utf8(runs_dir, photo, frame, tmp_path, capsys,
                                         monkeypatch):
    """A Linux file name may hold any byte: train (under a strict UTF-8 terminal) and predict
    (its page is UTF-8) failed after the work; the byte is printed as is, and \\xfe on pages."""
    name = os.fsdecode(b"n\xfeme")
    terminal, captured = io.BytesIO(), sys.stdout    # what a strict UTF-8 locale gives stdout
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(terminal, encoding="utf-8",
                                                        errors="strict", write_through=True))
    code, err = posebook(capsys, "train", "--name", name, *TINY)
    monkeypatch.setattr(sys, "stdout", captured)
    assert code == 0 and os.fsencode(runs_dir / name) + b": test MPJPE" in terminal.getvalue()
    out = tmp_path / os.fsdecode(b"r\xff.html")
    code, err = posebook(capsys, "predict", photo, "--box", box_arg(frame), "--checkpoint",
                         name, "--out", out)
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert "n\\xfeme" in page and data["checkpoint"] == paths.shown(runs_dir / name)
    assert data["checkpoint"].endswith("n\\xfeme")


def test_C26_C28_a_cache_that_fails_with_loader_workers_is_one_line(tiny_run, runs_dir, tmp_path,
                                                                    capsys, monkeypatch):
    """With loader workers (the cpu and gpu profiles) the frame cache and the occluders were
    built in the first DataLoader worker: a failure came back as torch's "Caught OSError in
    DataLoader worker process 0. Original Traceback ...". They are built before the loader
    starts and before anything is written; the old run stays."""
    old = shutil.copytree(tiny_run, runs_dir / "ow3")
    before = snapshot_of(old)
    cachefile = tmp_path / "cachefile"
    cachefile.write_text("a file")
    monkeypatch.setenv("POSEBOOK_CACHE", str(cachefile))
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # not "unusable ... rebuilding it" first
        code, err = posebook(capsys, "train", "--name", "ow3", *TINY, "--set", "num_workers=1",
                             "--overwrite")
    assert code == 2 and one_line(err) and "Not a directory" in err and str(cachefile) in err
    assert "DataLoader worker" not in err
    assert snapshot_of(old) == before and sorted(p.name for p in runs_dir.iterdir()) == [
        ".ow3.lock", "ow3"]
