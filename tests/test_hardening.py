"""Nothing lost, nothing run, nothing silently wrong (issue 18): one test per finding.

1 checkpoints never run code · 2 predict never overwrites a user's file · 3 --overwrite keeps the
old run when the new one is invalid · 4 no silent wrong results · 5 one line, no traceback, for
expected failures · 6 no leftovers. Everything runs in-process (`cli.main`) on a copy of one
smoke run, so the file costs a few seconds beyond that run."""
from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from posebook import checkpoint, cli, paths, predict, profiles, runs
from posebook.data import synthetic


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    monkeypatch.setenv("POSEBOOK_RUNS", str(folder))
    return folder


@pytest.fixture(scope="module")
def frame():
    return synthetic.make_frame(np.random.default_rng(0), frame_px=256)


@pytest.fixture()
def photo(tmp_path, frame):
    import cv2
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), frame.image[:, :, ::-1])
    return path


def copy_run(smoke_run, to: Path) -> Path:
    shutil.copytree(smoke_run, to)
    return to


def box_arg(frame) -> str:
    return ",".join(f"{v:.1f}" for v in frame.box_xywh_px)


def posebook(capsys, *argv) -> tuple[int, str]:
    """`posebook ARGV` in-process -> (exit code, stderr); a traceback would raise here."""
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def snapshot_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# --- 1. loading a checkpoint runs no code ----------------------------------------------------
class Payload:
    """Unpickling this writes `marker`: what a malicious downloaded run folder could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_1_malicious_checkpoint_is_refused_without_running(smoke_run, runs_dir, photo, frame,
                                                           tmp_path, capsys):
    marker = tmp_path / "pwned.txt"
    evil = copy_run(smoke_run, runs_dir / "evil")
    state = torch.load(evil / "checkpoints" / "last.pt", weights_only=True)
    torch.save({**state, "payload": Payload(marker)}, evil / "checkpoints" / "last.pt")
    live = tmp_path / "live.pt"                           # the payload is real: an unsafe load
    torch.save({"payload": Payload(tmp_path / "ran.txt")}, live)   # runs it
    torch.load(live, weights_only=False)
    assert (tmp_path / "ran.txt").read_text() == "pwned"
    with pytest.raises(ValueError, match="refusing to load"):
        checkpoint.load(evil / "checkpoints" / "last.pt")
    for argv in (["predict", photo, "--box", box_arg(frame), "--checkpoint", evil,
                  "--out", tmp_path / "o.html"],
                 ["predict", photo, "--box", box_arg(frame), "--out", tmp_path / "o.html"],
                 ["eval", evil],
                 ["train", "--name", "evil", "--resume", "--no-progress"]):
        code, err = posebook(capsys, *argv)
        assert code == 2 and "refusing to load checkpoint" in err and "GLOBAL" in err, argv
        assert not marker.exists(), argv
    assert not (tmp_path / "o.html").exists()


# --- 2. predict never overwrites a file it did not write ------------------------------------
def test_2_predict_keeps_the_photos_own_json(smoke_run, photo, frame, capsys):
    own = photo.with_suffix(".json")
    own.write_text('{"annotations": [1, 2, 3]}')
    before = own.read_bytes()
    argv = ["predict", photo, "--box", box_arg(frame), "--checkpoint", smoke_run,
            "--out", photo.with_suffix(".html")]
    code, err = posebook(capsys, *argv)
    assert code == 2 and "photo.json" in err and "--force" in err
    assert own.read_bytes() == before and not photo.with_suffix(".html").exists()
    # what predict wrote itself it may replace; the user's file only with --force
    assert posebook(capsys, *argv, "--force")[0] == 0
    assert json.loads(own.read_text())["written_by"] == predict.WRITTEN_BY
    assert posebook(capsys, *argv)[0] == 0


# --- 3. --overwrite replaces a run only with a valid one --------------------------------------
@pytest.mark.parametrize("bad", ["occlusion_p=1.5", "backbone=nope", "h36m_root=/no/such"])
def test_3_overwrite_with_a_bad_config_keeps_the_old_run(smoke_run, runs_dir, capsys, bad):
    old = copy_run(smoke_run, runs_dir / "X")
    before = snapshot_of(old)
    extra = ["--set", "dataset=h36m"] if bad.startswith("h36m") else []
    code, err = posebook(capsys, "train", "--name", "X", "--overwrite", "--profile", "smoke",
                         "--no-progress", "--set", bad, *extra)
    assert code == 2 and "error:" in err and "Traceback" not in err
    assert snapshot_of(old) == before                  # nothing deleted, no stray config.json


# --- 4. no silent wrong results ----------------------------------------------------------------
@pytest.mark.parametrize("override,named", [
    ("lr_max=-1", "lr_max must be > 0"), ("lr_min=0.01", "lr_min (0.01) must be <= lr_max"),
    ("eval_every=-1", "eval_every must be >= 0"), ("snapshots=-2", "snapshots must be >= 0"),
    ("batch_size=0", "batch_size must be >= 1"), ("depth_bins=0", "depth_bins must be >= 1"),
    ("steps=1.5", "expects int"), ("backbone=resnet999", "backbone must be one of"),
    ("cycle_epochs=2", "cycle_epochs needs epochs > 0")])
def test_4_5_invalid_configs_are_refused_before_anything_is_written(runs_dir, capsys, override,
                                                                    named):
    code, err = posebook(capsys, "train", "--name", "x", "--profile", "smoke", "--no-progress",
                         "--set", override)
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1
    assert not (runs_dir / "x").exists()


def test_4_empty_profile_names_are_errors(runs_dir, capsys, monkeypatch):
    code, err = posebook(capsys, "train", "--name", "x", "--profile", "")
    assert code == 2 and "unknown profile ''" in err
    monkeypatch.setenv("POSEBOOK_PROFILE", " ")
    code, err = posebook(capsys, "train", "--name", "x")
    assert code == 2 and "$POSEBOOK_PROFILE ' '" in err
    monkeypatch.setenv("POSEBOOK_PROFILE", "")          # empty = unset (make's PROFILE=)
    assert profiles.default_profile_name() in ("cpu", "gpu")
    assert not (runs_dir / "x").exists()


def test_4_paths_are_used_as_given(smoke_run, runs_dir, capsys):
    copy_run(smoke_run, runs_dir / "name")
    code, err = posebook(capsys, "eval", "/no/such/dir/name", "--split", "test")
    assert code == 2 and "no run at '/no/such/dir/name'" in err
    assert runs.resolve("name") == runs_dir / "name"
    with pytest.raises(FileNotFoundError, match="no run named 'other'"):
        runs.resolve("other")


def test_4_predict_uses_the_checkpoint_file_it_is_given(smoke_run, frame):
    snapshot = Path(smoke_run) / "checkpoints" / "snapshot_0.pt"
    from_file = predict.predict(frame.image, snapshot, box_xywh_px=frame.box_xywh_px)
    from_run = predict.predict(frame.image, smoke_run, box_xywh_px=frame.box_xywh_px)
    model, config = runs.load_model(snapshot)
    direct = predict.predict(frame.image, box_xywh_px=frame.box_xywh_px, model=model,
                             config=config)
    assert from_file.checkpoint == str(snapshot)
    np.testing.assert_array_equal(from_file.joints_cam_mm, direct.joints_cam_mm)
    assert not np.allclose(from_file.joints_cam_mm, from_run.joints_cam_mm)


def test_4_tiny_boxes_are_refused(smoke_run, photo, tmp_path, capsys):
    for box in ("100,100,1,1", "100,100,20,20", "100,100,4,60"):
        code, err = posebook(capsys, "predict", photo, "--box", box, "--checkpoint", smoke_run,
                             "--out", tmp_path / "r.html")
        assert code == 2 and "too small" in err, box
    assert not (tmp_path / "r.html").exists()


def test_4_predict_says_when_the_run_is_unfinished(smoke_run, runs_dir, photo, frame, tmp_path,
                                                   capsys):
    killed = copy_run(smoke_run, runs_dir / "killed")
    state = checkpoint.load(killed / "checkpoints" / "last.pt")
    checkpoint.save(killed / "checkpoints" / "last.pt", {**state, "step": 50})
    (killed / "metrics.json").unlink()
    code, err = posebook(capsys, "predict", photo, "--box", box_arg(frame), "--checkpoint",
                         killed, "--out", tmp_path / "k.html")
    steps = profiles.get("smoke").steps
    assert code == 0 and "unfinished run" in err and f"step 50 of {steps}" in err
    code, err = posebook(capsys, "predict", photo, "--box", box_arg(frame), "--checkpoint",
                         smoke_run, "--out", tmp_path / "f.html")
    assert code == 0 and "unfinished" not in err
    code, err = posebook(capsys, "eval", killed, "--split", "test", "--no-flip")
    assert code == 0 and f"step 50 of {steps}" in err


def test_4_a_run_folder_is_locked_while_it_is_written(runs_dir, capsys):
    with runs.lock(runs.folder("dup")):             # another `train --name dup` is running
        code, err = posebook(capsys, "train", "--name", "dup", "--profile", "smoke",
                             "--no-progress", "--overwrite")
        assert code == 2 and "being written by another process" in err
        assert f"pid {os.getpid()}" in err and len(err.strip().splitlines()) == 1
    assert not (runs_dir / "dup").exists()
    with runs.lock(runs.folder("dup")):             # released: it can be taken again
        pass


# --- 5. one clear line, no traceback -----------------------------------------------------------
def test_5_device_cuda_without_a_gpu(runs_dir, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, err = posebook(capsys, "train", "--name", "x", "--profile", "smoke", "--no-progress",
                         "--set", "device=cuda")
    assert code == 2 and "no CUDA GPU" in err and not (runs_dir / "x").exists()


def test_5_predict_output_problems(smoke_run, photo, frame, tmp_path, capsys, monkeypatch):
    base = ["predict", photo, "--box", box_arg(frame), "--checkpoint", smoke_run]
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file")
    code, err = posebook(capsys, *base, "--out", blocker / "sub" / "r.html")
    assert code == 2 and "is a file, not a folder" in err
    code, err = posebook(capsys, *base, "--fov", "170")
    assert code == 2 and "[1, 140]" in err
    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    assert "1 to 140" in " ".join(parser.format_help().split())

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_text", full_disk)
    code, err = posebook(capsys, *base, "--out", tmp_path / "out" / "r.html")
    assert code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1
    assert not any((tmp_path / "out").glob("*"))


def test_5_full_disk_during_training(runs_dir, capsys, monkeypatch):
    """torch.save onto a full disk raises a RuntimeError ("unexpected pos"); posebook says it."""
    import contextlib

    @contextlib.contextmanager
    def full_disk(path):
        yield Path("/dev/full")
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    monkeypatch.setattr(checkpoint, "atomic_path", full_disk)
    code, err = posebook(capsys, "train", "--name", "full", "--profile", "smoke", "--no-progress",
                         "--set", "steps=2", "--set", "cycle_steps=2", "--set", "n_val=0")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "No space left on device" in err and "cannot write checkpoint" in err


def test_5_damaged_checkpoint(smoke_run, runs_dir, capsys):
    run = copy_run(smoke_run, runs_dir / "damaged")
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    for argv in (["eval", run, "--split", "test"],
                 ["train", "--name", "damaged", "--resume", "--no-progress"]):
        code, err = posebook(capsys, *argv)
        assert code == 2 and "is damaged" in err and str(last) in err, argv


@pytest.mark.parametrize("content", [b"step: 5\nlr: 0.001\n", bytes(range(256)) * 16,
                                     b"<!DOCTYPE html><html><body>Not Found</body></html>"],
                         ids=["text", "bytes", "html"])
def test_5_a_file_that_is_no_checkpoint_is_damaged_not_dangerous(tmp_path, content):
    """Text, random bytes or an HTML error page saved as .pt: one ValueError saying it is
    damaged (not a KeyError traceback, and not the could-run-code refusal)."""
    path = tmp_path / "last.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is damaged or not a posebook checkpoint") as error:
        checkpoint.load(path)
    assert str(path) in str(error.value) and "could run code" not in str(error.value)


# --- 6. no leftovers ---------------------------------------------------------------------------
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_6_a_killed_write_leaves_a_temp_file_the_next_write_removes(tmp_path):
    """A real SIGKILL inside `atomic_path` (a process importing only posebook.paths)."""
    target = tmp_path / "checkpoints" / "last.pt"
    script = ("import sys, time; from pathlib import Path; from posebook import paths\n"
              "with paths.atomic_path(Path(sys.argv[1])) as tmp:\n"
              "    tmp.write_bytes(b''); print('in', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(paths.__file__).parents[1])})
    assert proc.stdout.readline().strip() == b"in"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    orphans = list(target.parent.glob(".last.pt.tmp*"))
    assert len(orphans) == 1 and orphans[0].stat().st_size == 0
    checkpoint.save(target, {"step": 1})
    assert [p.name for p in target.parent.iterdir()] == ["last.pt"]


def test_6_a_killed_frame_cache_build_is_cleaned_up(tmp_path):
    from posebook.data import frame_cache
    frames = synthetic.SyntheticFrames(0, 3, 160)
    path = tmp_path / "cache" / "frames"
    path.parent.mkdir()
    orphan = path.parent / f".frames.npy.tmp{dead_pid()}"
    orphan.write_bytes(b"\0" * 4096)                     # what a SIGKILL mid-build leaves
    live = path.parent / f".frames.npy.tmp{os.getpid()}x"   # no pid: not ours, kept
    live.write_bytes(b"")
    frame_cache.FrameCache(frames, 48, path).get(0)
    assert not orphan.exists() and live.exists()
    assert (path.parent / "frames.npy").is_file()


def test_6_voc_cache_follows_a_changed_mask(tmp_path, monkeypatch):
    from test_voc import _areas, write_voc
    from posebook.data import voc
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    spec = {"id": "a", "objects": [dict(name="dog", box=(3, 3, 40, 40), area_rect=(30, 30))]}
    root = write_voc(tmp_path / "VOC", [spec])
    first = voc.load_occluders(root, verbose=False)
    time.sleep(0.01)
    spec["objects"][0]["area_rect"] = (25, 36)           # the mask file changes
    write_voc(root, [spec])
    again = voc.load_occluders(root, verbose=False)
    assert _areas(first) != _areas(again)
