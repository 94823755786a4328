"""The run folder owns its files (`runs.RunFolder`), and only the writing process
(`runtime.Process`) locks and writes it."""
import ast
import json
import re
from pathlib import Path

import pytest
import torch

import posebook
from posebook import profiles, runs, runtime, train

RUN_FILE_NAME = re.compile(r"(config|history|metrics)\.json|metrics\.md|last\.pt|snapshot_"
                           r"|checkpoints/")


def _tiny_config(**changes):
    base = dict(n_train=16, n_val=8, n_test=8, steps=4, cycle_steps=2, batch_size=4,
                eval_every=2, snapshots=1)
    return profiles.get("smoke").replace(**{**base, **changes})


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path / "runs"))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path / "runs"


# --- the process value ----------------------------------------------------------------------------
def test_one_process_by_default_and_torchrun_ranks_from_the_environment():
    config = profiles.get("smoke")
    alone = runtime.process(config, environ={})
    assert (alone.rank, alone.world_size, alone.local_rank, alone.is_writer) == (0, 1, 0, True)
    assert alone.device == runtime.pick_device(config)
    second = runtime.process(config, environ={"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (second.rank, second.world_size, second.local_rank) == (1, 2, 1)
    assert not second.is_writer
    assert runtime.process(config, environ={"RANK": "0", "WORLD_SIZE": "2"}).is_writer
    with pytest.raises(ValueError, match="rank must be in"):
        runtime.Process(torch.device("cpu"), rank=2, world_size=2)
    restarted = runtime.process(config, environ={"RANK": "0", "WORLD_SIZE": "2",
                                                 "TORCHELASTIC_RESTART_COUNT": "1"})
    assert (alone.restarts, restarted.restarts) == (0, 1)
    with pytest.raises(ValueError, match="RANK, WORLD_SIZE, LOCAL_RANK and TORCHELASTIC_RESTART"):
        runtime.process(config, environ={"RANK": "one"})
    with pytest.raises(AttributeError):
        alone.rank = 3                                   # frozen: decided once


def test_a_process_that_does_not_write_neither_locks_nor_writes(runs_dir):
    """Rank 1 of a torchrun job opens, begins and saves the run while rank 0 holds the lock,
    and leaves nothing behind (a whole 2-rank job: tests/test_distributed.py,
    test_only_rank_0_writes)."""
    config = train.resolve(_tiny_config())
    with runs.lock(runs.folder("ranks")):               # rank 0 is writing this run
        with runs.RunFolder.open("ranks", writer=False) as folder:
            folder.begin(config, fresh=True)
            folder.save_last({"history": {}})
            folder.save_snapshot(0, {})
            folder.write_metrics({}, "")
    assert not (runs_dir / "ranks").exists()
    assert sorted(p.name for p in runs_dir.iterdir()) == [".ranks.lock"]


def test_the_writing_process_is_refused_while_another_writes(runs_dir):
    with runs.lock(runs.folder("taken")), pytest.raises(runs.RunLocked, match="another process"):
        train.train(_tiny_config(), "taken", progress=False,
                    process=runtime.Process(torch.device("cpu")))
    assert not (runs_dir / "taken").exists()


# --- the write side ---------------------------------------------------------------------------------
def test_open_begin_and_save_write_the_run_files(runs_dir):
    config = _tiny_config()
    with pytest.raises(FileNotFoundError, match="--resume: no checkpoint at .*last.pt"):
        with runs.RunFolder.open("r", resume=True):
            pass
    with runs.RunFolder.open("r") as folder:
        folder.begin(config, fresh=True)
        folder.save_last({"step": 3, "history": {"loss": [1.0, 2.0]}, "config": config.to_dict(),
                          "model": {}, "optimizer": {}, "torch_rng": torch.get_rng_state(),
                          "pose_sum": torch.zeros(17, 3), "pose_count": 0})
        folder.save_snapshot(0, {"step": 2})
        folder.save_snapshot(10, {"step": 3})
        assert not folder.evaluated and folder.metrics() == {} and folder.metrics_mtime_ns() is None
        folder.write_metrics({"test": {"mpjpe_mm": 1.5}}, "| table |\n")
    path = runs_dir / "r"
    assert json.loads((path / "config.json").read_text()) == json.loads(config.to_json())
    assert json.loads((path / "history.json").read_text()) == {"loss": [1.0, 2.0]}
    assert sorted(p.name for p in (path / "checkpoints").iterdir()) == [
        "last.pt", "snapshot_0.pt", "snapshot_10.pt"]
    assert folder.snapshot_names() == ["snapshot_0", "snapshot_10"] == runs.snapshot_names(path)
    assert runs.load("r").metrics == {"test": {"mpjpe_mm": 1.5}}
    assert (path / "metrics.md").read_text() == "| table |\n"
    assert folder.saved_config() == json.loads(config.to_json())
    assert folder.resume_state(config)["step"] == 3
    with pytest.raises(ValueError, match="differing keys: steps"):
        folder.resume_state(config.replace(steps=8))
    # a plain start refuses a folder holding a run; overwrite replaces it only at `begin`
    with pytest.raises(ValueError, match="already holds a run; use --resume"):
        with runs.RunFolder.open("r"):
            pass
    with runs.RunFolder.open("r", overwrite=True) as again:
        assert again.evaluated                          # nothing deleted yet
        again.begin(config, fresh=True)
        assert sorted(p.name for p in path.iterdir()) == ["config.json"]   # the old one aside
    # the block saved no last.pt: the old run is back (kept until the new one's first one)
    assert runs.load("r").metrics == {"test": {"mpjpe_mm": 1.5}}
    assert sorted(p.name for p in (path / "checkpoints").iterdir()) == [
        "last.pt", "snapshot_0.pt", "snapshot_10.pt"]


def test_a_reading_folder_writes_nothing(runs_dir):
    folder = runs.RunFolder(runs_dir / "quiet", writer=False)
    folder.begin(_tiny_config(), fresh=True)
    folder.save_last({"history": {}})
    folder.save_snapshot(0, {})
    folder.write_metrics({}, "")
    folder.write_derived("ablation.json", {})
    assert not runs_dir.exists()


def test_derived_files_live_beside_the_run_files_but_never_replace_them(runs_dir):
    folder = runs.RunFolder(runs_dir / "d")
    assert folder.derived("ablation.json") is None
    folder.write_derived("ablation.json", {"version": 1})
    assert folder.derived("ablation.json") == {"version": 1}
    for own in ("metrics.json", "config.json", "history.json"):
        with pytest.raises(ValueError, match="own file"):
            folder.write_derived(own, {})


def test_run_file_names_are_spelled_only_in_runs():
    """Outside runs.py no code (docstrings and comments aside) names a run folder's files."""
    package = Path(posebook.__file__).parent
    found = []
    for file in sorted(package.rglob("*.py")):
        if file.name == "runs.py" and file.parent == package:
            continue
        tree = ast.parse(file.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                           ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docstrings
                    and RUN_FILE_NAME.search(node.value)):
                found.append(f"{file.relative_to(package)}:{node.lineno}: {node.value!r}")
    assert found == [], "\n".join(found)
