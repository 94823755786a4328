"""Training with several processes (torchrun, `gloo` on the CPU): one run, the same numbers.

The end-to-end tests start real torchrun jobs of 2 processes on the smoke profile, shortened to
8 steps (a checkpoint every 2) with small evaluation sets, and compare them with one process:

- the losses step by step to `LOSS_RTOL` (float32: each rank's half-batch mean, then the mean
  of the two, is the one process's mean summed in another order) and the test MPJPE to
  `MPJPE_ATOL_MM` (the same predictions, gathered from two halves), with ``sync_batchnorm``:
  batch-norm statistics over the global batch, as one process computes them;
- only rank 0 wrote under the runs folder (every write seen through Python's audit hooks,
  `tests/torchrun_spy`);
- rank 1 SIGKILLed after step 5 under ``--max-restarts 1``: the restarted job resumes from the
  step-4 checkpoint and ends equal (bit for bit on the CPU) to the uninterrupted 2-rank run.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from posebook import distributed, profiles, train
from posebook.data import training

LOSS_RTOL = 1e-5
MPJPE_ATOL_MM = 1e-3
SHORT = ["--profile", "smoke", "--no-progress", *(f"--set={kv}" for kv in (
    "steps=8", "cycle_steps=4", "eval_every=4", "checkpoint_every=2", "snapshots=2",
    "n_val=16", "n_test=32", "sync_batchnorm=true"))]
ROOT = Path(__file__).resolve().parent.parent


# --- without processes -----------------------------------------------------------------------------
def test_the_ranks_slices_of_a_batch_are_the_one_process_batch():
    steps = range(3, 40)      # over several epochs of 64 items
    one = list(training.RunBatches(7, 64, 16, steps))
    ranks = [list(training.RunBatches(7, 64, 16, steps, rank=r, world=4)) for r in range(4)]
    assert all(len(batch) == 4 for rank in ranks for batch in rank)
    assert [sum((rank[s] for rank in ranks), []) for s in range(len(steps))] == one
    with pytest.raises(ValueError, match="batch_size 16 .* multiple of the number of processes, 3"):
        training.RunBatches(7, 64, 16, steps, rank=0, world=3)


def test_the_batch_rule_is_a_config_value():
    config = profiles.get("smoke")
    assert train.resolve(config, world_size=4) == train.resolve(config)   # "global": unchanged
    linear = train.resolve(config, ["batch_rule=per_process_linear_lr"], world_size=2)
    assert (linear.batch_size, linear.lr_min, linear.lr_max, linear.batch_rule) == (
        32, 2 * config.lr_min, 2 * config.lr_max, "global")
    assert train.resolve(linear, world_size=2) == linear                # resolves to itself
    with pytest.raises(ValueError, match="batch_size 16 .* multiple of the number of processes, 3"):
        train.resolve(config, world_size=3)
    with pytest.raises(ValueError, match="batch_rule must be one of"):
        train.resolve(config, ["batch_rule=linear"])


def test_outside_a_group_every_helper_is_the_identity():
    rows = np.arange(12.0).reshape(4, 3)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    assert not distributed.active()
    assert distributed.rank_slice(5) == range(5) and distributed.shard(rows) is rows
    assert distributed.gather_rows(rows, 4) is rows
    assert distributed.wrap(net, torch.device("cpu")) is net
    distributed.barrier()
    distributed.broadcast_buffers(net)
    swapped = distributed.sync_batchnorm(net, torch.device("cpu"))
    assert isinstance(swapped[1], distributed.GlobalBatchNorm2d)
    x = torch.randn(5, 3, 8, 8)
    torch.testing.assert_close(swapped(x), torch.nn.functional.batch_norm(
        net[0](x), None, None, swapped[1].weight, swapped[1].bias, training=True))


@pytest.mark.slow
def test_a_group_that_never_forms_ends_in_one_line_and_exit_2(tmp_path):
    """Rank 0 of 2 alone (the other never starts): exit 2 with one line naming the timeout,
    within the timeout plus start-up, not a hang."""
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           distributed.JOIN_TIMEOUT_ENV: "2", "POSEBOOK_RUNS": str(tmp_path)}
    tic = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "posebook", "train", "--name", "lonely",
                           *SHORT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"posebook train: error: rank 0 of 2: the torchrun group at {env['MASTER_ADDR']}:"
        f"{env['MASTER_PORT']} did not form within 2 s (${distributed.JOIN_TIMEOUT_ENV}); did "
        f"every rank start?"]
    assert time.monotonic() - tic < 60
    assert not (tmp_path / "lonely").exists()


# --- torchrun jobs ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """runs/one (one process), runs/two (torchrun, 2 ranks), runs/killed (2 ranks, rank 1
    SIGKILLed after step 5, --max-restarts 1), and what each rank wrote."""
    root = tmp_path_factory.mktemp("ddp")
    runs_dir, spy = root / "runs", root / "spy"
    spy.mkdir()
    env = {**os.environ, "POSEBOOK_RUNS": str(runs_dir), "POSEBOOK_SPY_DIR": str(spy),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "torchrun_spy"), str(ROOT),
                                          os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2"]
    posebook = ["-m", "posebook", "train", *SHORT]
    outputs = {}
    for name, command, extra in (
            ("one", [sys.executable, *posebook], {}),
            ("two", [*torchrun, *posebook], {}),
            ("killed", [*torchrun, "--max-restarts", "1", *posebook],
             {"POSEBOOK_KILL_RANK1_AFTER": "5", "POSEBOOK_SPY_DIR": ""})):
        done = subprocess.run([*command, "--name", name], env={**env, **extra},
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
        outputs[name] = done.stdout + done.stderr
    return runs_dir, spy, outputs


def _read(runs_dir, name):
    return (json.loads((runs_dir / name / "history.json").read_text()),
            json.loads((runs_dir / name / "metrics.json").read_text()))


@pytest.mark.slow
def test_two_ranks_train_the_one_process_run(jobs):
    runs_dir, _, _ = jobs
    (h1, m1), (h2, m2) = _read(runs_dir, "one"), _read(runs_dir, "two")
    assert h1["step"] == h2["step"] == list(range(8)) and h1["lr"] == h2["lr"]
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=LOSS_RTOL, atol=0)
    np.testing.assert_allclose(h2["val_mpjpe_mm"], h1["val_mpjpe_mm"], atol=MPJPE_ATOL_MM)
    for split in ("test", "test_occluded", "train"):
        assert m2[split]["n"] == m1[split]["n"]
        for key in ("mpjpe_mm", "pa_mpjpe_mm", "mean_pose_baseline_mm"):
            assert m2[split][key] == pytest.approx(m1[split][key], abs=MPJPE_ATOL_MM), key
    assert m2["variants"].keys() == m1["variants"].keys()
    np.testing.assert_allclose(list(m2["variants"].values()), list(m1["variants"].values()),
                               atol=MPJPE_ATOL_MM)
    assert m2["ensemble_choice"]["members"] == m1["ensemble_choice"]["members"]


@pytest.mark.slow
def test_only_rank_0_writes(jobs):
    runs_dir, spy, _ = jobs
    by_rank = {}
    for log in spy.glob("rank*.txt"):
        by_rank.setdefault(log.name.split(".")[0], []).extend(log.read_text().splitlines())
    assert by_rank.get("rank1", []) == []
    written = "\n".join(by_rank["rank0"])     # the spy sees rank 0's writes: it can fail
    for name in ("config.json", "history.json", "metrics.json", "last.pt", "snapshot_1.pt"):
        assert "/two/" in written and name in written, name
    assert sorted(p.name for p in (runs_dir / "two").rglob("*")) == sorted(
        p.name for p in (runs_dir / "one").rglob("*"))


@pytest.mark.slow
def test_a_killed_rank_restarts_the_job_which_resumes_to_the_same_run(jobs):
    runs_dir, _, outputs = jobs
    assert re.search(r"exitcode: -9\) local_rank: 1", outputs["killed"]), (
        outputs["killed"][-2000:])            # torchrun saw rank 1 die (SIGKILL) and restarted
    (h2, m2), (hk, mk) = _read(runs_dir, "two"), _read(runs_dir, "killed")
    assert hk["step"] == h2["step"] and hk["loss"] == h2["loss"]
    assert hk["val_mpjpe_mm"] == h2["val_mpjpe_mm"]
    assert mk["test"]["mpjpe_mm"] == m2["test"]["mpjpe_mm"]
    assert mk["variants"] == m2["variants"]
