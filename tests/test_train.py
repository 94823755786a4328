"""Trainer: LR schedule, data order, checkpoints, resume, NaN handling, GPU code paths on CPU."""
import json
import math
import sys

import numpy as np
import pytest
import torch

from posebook import checkpoint, profiles, progress, schedule, train
from posebook.data import training
from posebook.history import History


class TestSchedule:
    @pytest.mark.parametrize("steps,cycle", [(120, 40), (100, 30), (7, 10), (1000, 1000)])
    def test_ends_at_minimum_and_peaks_at_max(self, steps, cycle):
        lr = [schedule.lr_at(s, steps, cycle, 1e-4, 2e-3) for s in range(steps)]
        assert lr[-1] == pytest.approx(1e-4)
        assert max(lr) <= 2e-3 + 1e-12 and min(lr) >= 1e-4 - 1e-12
        for m in schedule.minima_steps(steps, cycle):
            assert lr[m - 1] == pytest.approx(1e-4)

    def test_triangle_hand(self):
        # 2 cycles of 4 updates: positions (s+1)/4 -> heights 0.5, 1, 0.5, 0, 0.5, 1, 0.5, 0
        lr = [schedule.lr_at(s, 8, 4, 0.0, 1.0) for s in range(8)]
        assert lr == pytest.approx([0.5, 1.0, 0.5, 0.0, 0.5, 1.0, 0.5, 0.0])
        assert schedule.minima_steps(8, 4) == [4, 8]
        assert schedule.snapshot_steps(120, 40, 3) == [40, 80, 120]
        assert schedule.snapshot_steps(120, 40, 2) == [80, 120]

    def test_bad_args(self):
        with pytest.raises(ValueError, match="cycle_steps"):
            schedule.n_cycles(10, 0)


def test_data_order_is_pure_function_of_seed_and_step():
    n, b = 50, 8
    epoch, first = training.batch_indices(0, 0, n, b)
    assert epoch == 0 and len(first) == b
    again = training.batch_indices(0, 0, n, b)[1]
    np.testing.assert_array_equal(first, again)
    # one epoch covers distinct samples; the next epoch is a different permutation
    epoch_0 = np.concatenate([training.batch_indices(0, s, n, b)[1] for s in range(n // b)])
    assert len(set(epoch_0.tolist())) == len(epoch_0)
    assert training.batch_indices(0, n // b, n, b)[0] == 1
    assert not np.array_equal(training.batch_indices(1, 0, n, b)[1], first)
    with pytest.raises(ValueError, match="n_train"):
        training.batch_indices(0, 0, 4, 8)


def test_checkpoint_atomic_roundtrip(tmp_path):
    path = tmp_path / "c" / "last.pt"
    checkpoint.save(path, {"w": torch.arange(3.0), "step": 5})
    assert checkpoint.load(path)["step"] == 5
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]    # no temp file left

    class Boom:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")
    with pytest.raises(RuntimeError):
        checkpoint.save(path, {"bad": Boom()})
    assert checkpoint.load(path)["step"] == 5                        # old file intact
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing.pt")


def test_config_diff_lists_keys():
    a = profiles.get("smoke")
    b = a.replace(steps=7, lr_max=1.0)
    assert checkpoint.config_diff(a, b) == {"lr_max": (a.lr_max, 1.0), "steps": (a.steps, 7)}
    assert checkpoint.config_diff(a.to_dict(), json.loads(a.to_json())) == {}
    # a run saved before a field existed counts as having that field's default ...
    old = {k: v for k, v in a.to_dict().items() if k != "gpu_augment"}
    assert checkpoint.config_diff(old, a) == {}
    # ... and differs from a config that sets it otherwise
    assert checkpoint.config_diff(old, a.replace(gpu_augment=True)) == {"gpu_augment": (False, True)}
    with pytest.raises(ValueError, match="lr_max.*steps"):
        checkpoint.check_same_config(a, b, "here")


def _tiny_config(**changes):
    base = dict(n_train=48, n_val=16, n_test=16, steps=12, cycle_steps=4, batch_size=8,
                eval_every=4, snapshots=2)
    return profiles.get("smoke").replace(**{**base, **changes})


@pytest.mark.parametrize("fetch_every", [1, 20])
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, fetch_every,
                                                       capsys):
    """Losses are read every `fetch_every` steps and before every save: a NaN at step 9 is
    reported as step 9 either way, and no checkpoint or snapshot after it is written. The
    advice names the kept checkpoint only when there is one, and starts again (issue 18.6):
    `--resume` refuses the changed config the advice asks for."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    monkeypatch.setattr(train, "LOSS_FETCH_EVERY", fetch_every)
    real_loss = train.l1_loss
    calls = {"n": 0}

    def poisoned(pred, *args):
        calls["n"] += 1
        loss = real_loss(pred, *args)
        return loss * float("nan") if calls["n"] > 9 else loss     # step 9 goes NaN
    monkeypatch.setattr(train, "l1_loss", poisoned)
    with pytest.raises(train.NonFiniteLoss, match="at step 9") as info:
        train.train(_tiny_config(checkpoint_every=4), "nan", progress=False)
    assert "last good checkpoint" in str(info.value) and "last.pt" in str(info.value)
    assert "--overwrite --set grad_clip" in str(info.value)
    state = checkpoint.load(tmp_path / "nan" / "checkpoints" / "last.pt")
    assert state["step"] == 8 and len(state["history"]["loss"]) == 8
    # snapshots at steps 8 and 12: only the one before the NaN exists, and every file is finite
    files = sorted(p.name for p in (tmp_path / "nan" / "checkpoints").iterdir())
    assert files == ["last.pt", "snapshot_0.pt"]
    for name in files:
        weights = checkpoint.load(tmp_path / "nan" / "checkpoints" / name)["model"]
        assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert not (tmp_path / "nan" / "metrics.json").exists()
    # the CLI reports it with the step and exit status 3
    monkeypatch.setattr(train, "l1_loss", lambda pred, *a: pred["joints_rel_mm"].sum() * math.inf)
    from posebook import cli
    code = cli.main(["train", "--name", "inf", "--profile", "smoke", "--no-progress",
                     "--set", "steps=4", "--set", "cycle_steps=2", "--set", "snapshots=1"])
    err = capsys.readouterr().err
    assert code == 3 and "no checkpoint was saved" in err and "last good" not in err


def test_loss_history_does_not_depend_on_the_fetch_interval(tmp_path, monkeypatch):
    """The losses reach history.json one float per step, the same whether they are read from
    the device after every step or in groups of 5 (with evaluations and saves in between)."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    histories = []
    for every in (1, 5):
        monkeypatch.setattr(train, "LOSS_FETCH_EVERY", every)
        run_dir = train.train(_tiny_config(eval_every=6), f"fetch{every}", progress=False)
        histories.append(json.loads((run_dir / "history.json").read_text()))
    one, five = ({k: v for k, v in h.items() if k != "images_per_s"} for h in histories)
    assert len(one["loss"]) == len(one["step"]) == 12 and one == five
    assert all(isinstance(v, float) for v in one["loss"]) and one["val_step"] == [6, 12]


@pytest.mark.parametrize("gpu_augment", [False, True])
def test_update_leaves_the_loss_on_the_device(tmp_path, gpu_augment, monkeypatch):
    """`update` reads no tensor back (each read makes the host wait for the device): its losses
    wait in `trainer.losses` until `fetch_losses` copies them all at once."""
    trainer = train.Trainer(_tiny_config(gpu_augment=gpu_augment, occlusion_p=1.0), tmp_path,
                            progress=False)
    trainer.loss_fetch_every = 100
    reads = []
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__bool__", "__int__"):
        def spy(self, *args, _real=getattr(torch.Tensor, name), _name=name, **kwargs):
            if sys._getframe(1).f_code.co_filename == train.__file__:
                reads.append(_name)
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, spy)
    returned = [trainer.update(batch) for batch in trainer.data.loader([0, 1, 2])]
    assert reads == []
    assert trainer.history.loss == [] and len(trainer.losses) == 3
    monkeypatch.undo()
    trainer.fetch_losses()
    assert trainer.losses == [] and trainer.history.loss == [float(v) for v in returned]
    assert trainer.history.step == [0, 1, 2]


def test_progress_line_rate_is_over_the_steps_since_the_last_report(capsys):
    log = progress.ProgressLog(total=100, start=0, mode="text", batch_size=8)
    assert [s for s in range(1, 31) if log.wants(s)] == [10, 20, 30]
    log.update(5, 1e-3, seconds=1.0, loss=None)          # not fetched yet: nothing shown
    log.update(10, 1e-3, seconds=2.0, loss=123.4)        # 10 steps x 8 images in 2 s
    log.update(15, 1e-3, seconds=2.5, loss=120.0)        # fetched, but no line due
    log.update(20, 1e-3, seconds=4.5, loss=110.0)        # 5 steps x 8 images in 2 s
    assert capsys.readouterr().out.splitlines() == [
        "step 10: loss 123.4 mm, lr 1.0e-03, 40 img/s",
        "step 20: loss 110.0 mm, lr 1.0e-03, 20 img/s"]


@pytest.mark.slow
def test_gpu_code_paths_on_cpu(tmp_path, monkeypatch):
    """amp (bf16 autocast), channels_last and the compile flag, at tiny size on the CPU."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    compiled = []
    real_compile = torch.compile

    def cheap_compile(module, **kwargs):     # dynamo tracing, without inductor's C++ build
        compiled.append(module)
        return real_compile(module, backend="aot_eager", **kwargs)
    monkeypatch.setattr(torch, "compile", cheap_compile)
    config = _tiny_config(amp=True, channels_last=True, compile=True, steps=4, cycle_steps=2,
                          n_train=16, batch_size=4, eval_every=2, grad_clip=1.0)
    run_dir = train.train(config, "gpu_paths", progress=False)
    assert len(compiled) == 1
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["loss"]) == 4 and all(math.isfinite(v) for v in history["loss"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["test"]["mpjpe_mm"])


def test_smoke_profile_loss_decreases(smoke_run, monkeypatch):
    monkeypatch.setenv("POSEBOOK_RUNS", str(smoke_run.parent))
    config = profiles.get("smoke")
    run_dir = smoke_run
    loss = np.asarray(json.loads((run_dir / "history.json").read_text())["loss"])
    assert len(loss) == config.steps
    assert loss[-20:].mean() < 0.8 * loss[:10].mean()
    lrs = json.loads((run_dir / "history.json").read_text())["lr"]
    assert lrs[-1] == pytest.approx(config.lr_min)                  # ends at an LR minimum
    snaps = sorted(p.name for p in (run_dir / "checkpoints").glob("snapshot_*.pt"))
    assert snaps == [f"snapshot_{k}.pt" for k in range(config.snapshots)]
    with pytest.raises(ValueError, match="--resume"):
        train.train(config, smoke_run.name, progress=False)


def test_training_figures():
    from matplotlib.figure import Figure

    from posebook import viz
    config = profiles.get("smoke")
    fig = viz.training.lr_schedule(config)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].collections[0].get_offsets()) == config.snapshots
    history = {"step": list(range(10)), "loss": list(np.linspace(200, 100, 10)),
               "lr": [1e-3] * 10, "val_step": [5, 10], "val_mpjpe_mm": [250.0, 200.0]}
    fig = viz.training.training_curves(history, baseline_mm=480.0)
    low, high = fig.axes[1].get_ylim()
    assert low == 0 and 1.1 * 480.0 < high < 600.0, "the mean-pose line lies inside the axes"
    assert "480 mm" in fig.axes[1].get_legend().get_texts()[1].get_text()
    with pytest.raises(ValueError, match="no training steps"):
        viz.training.training_curves({"step": [], "loss": []})


def test_data_workers_do_not_change_the_run(tmp_path, monkeypatch):
    """Items are a pure function of (seed, index, epoch): a worker process changes nothing."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    losses = []
    for workers in (0, 1):
        config = _tiny_config(num_workers=workers, steps=8, n_train=24, eval_every=0)
        run_dir = train.train(config, f"w{workers}", progress=False)
        losses.append(json.loads((run_dir / "history.json").read_text())["loss"])
    assert losses[0] == losses[1]


def test_run_batches_carry_the_epoch_across_epoch_boundaries():
    n, b = 20, 8                                   # 2 updates per epoch
    batches = list(training.RunBatches(0, n, b, range(1, 6)))
    assert len(batches) == 5 == len(training.RunBatches(0, n, b, range(1, 6)))
    for step, batch in zip(range(1, 6), batches):
        epoch, indices = training.batch_indices(0, step, n, b)
        assert batch == [(epoch, int(i)) for i in indices]
    assert [batch[0][0] for batch in batches] == [0, 1, 1, 2, 2]


def test_resolve_is_overrides_validation_ablation_length_then_epochs():
    """One function makes the config a run trains with; it is idempotent."""
    smoke = profiles.get("smoke")
    config = train.resolve(smoke, ["steps=0", "epochs=2", "cycle_epochs=1"])
    assert (config.steps, config.cycle_steps) == (2 * (256 // 16), 256 // 16)   # n_train 256
    assert train.resolve(config) == config
    with pytest.raises(ValueError, match="occlusion_p must be in"):
        train.resolve(smoke, ["occlusion_p=1.5"])                 # validated after the overrides
    with pytest.raises(ValueError, match="unknown config key"):
        train.resolve(smoke, ["occlusion=0.5"])
    ablation = train.resolve(smoke, ["steps=0", "epochs=2", "ablation_steps=7"], ablation=True)
    assert (ablation.steps, ablation.cycle_steps, ablation.epochs) == (7, 7, 0.0)
    assert train.resolve(ablation, ablation=True) == ablation
    in_epochs = train.resolve(smoke, ["steps=0", "epochs=2", "ablation_steps=0"], ablation=True)
    assert in_epochs == train.resolve(smoke, ["steps=0", "epochs=2", "ablation_steps=0"])


def test_checkpoint_entries_stay_those_of_saved_runs(tmp_path):
    """A Trainer's state has the entries, in the order, that saved checkpoints have (so they
    load), and its `history.History` comes back from them unchanged."""
    trainer = train.Trainer(_tiny_config(n_val=0), tmp_path, progress=False)
    for batch in trainer.data.loader([0, 1]):
        trainer.update(batch)
    trainer.fetch_losses()
    state = trainer.state_dict()
    assert list(state) == ["config", "step", "model", "optimizer", "torch_rng", "history",
                           "pose_sum", "pose_count", "seconds", "backbone_weights", "scaler"]
    assert list(state["history"]) == ["step", "loss", "lr", "val_step", "val_mpjpe_mm",
                                      "images_per_s"]
    assert state["history"]["step"] == [0, 1] and len(state["history"]["loss"]) == 2
    assert state["pose_count"] == 16 and state["pose_sum"].shape == (17, 3)
    again = History.from_state(state).state_dict()
    assert again["history"] == state["history"] and again["pose_count"] == 16
    assert torch.equal(again["pose_sum"], state["pose_sum"])


def test_model_for_training_takes_bn_momentum_and_channels_last():
    from posebook import model as model_lib
    config = _tiny_config(bn_momentum=0.3, channels_last=True)
    model = model_lib.for_training(config, torch.device("cpu"))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.momentum == 0.3 for m in norms)
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert model_lib.compiled(model, config) is model        # compile=False: the module itself
    plain = model_lib.for_training(config.replace(bn_momentum=0.0), torch.device("cpu"))
    assert all(m.momentum == 0.1 for m in plain.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
