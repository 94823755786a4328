"""posebook.data.gpu_items and `RunConfig.gpu_augment` in the Trainer, run on the CPU."""
import json

import numpy as np
import torch

from posebook import profiles, train


def test_gpu_items_batch_matches_cpu_batch(tmp_path, monkeypatch):
    """The Trainer's rendered gpu_augment batch has the CPU path's keys, shapes and dtypes, and
    the same labels and nearly the same pixels for the same steps."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    config = profiles.get("smoke", ["n_train=16", "batch_size=8", "occlusion_p=1.0",
                                    "n_val=0", "device=cpu"])
    batches = {}
    for flag in (False, True):
        trainer = train.Trainer(config.replace(gpu_augment=flag), tmp_path / f"r{flag}",
                                progress=False)
        batch = next(iter(trainer.loader(2, [5])))
        batches[flag] = trainer.render(batch) if flag else batch
    cpu, gpu = batches[False], batches[True]
    assert sorted(gpu) == sorted(cpu)
    for key in cpu:
        assert (gpu[key].shape, gpu[key].dtype) == (cpu[key].shape, cpu[key].dtype), key
    for key in ("index", "family", "in_crop"):
        assert torch.equal(gpu[key], cpu[key]), key
    for key in ("intrinsics", "joints_cam_mm", "joints_px", "root_depth_mm"):
        np.testing.assert_allclose(gpu[key], cpu[key], rtol=1e-4, atol=1e-3, err_msg=key)
    assert torch.equal(gpu["n_occluders"], cpu["n_occluders"]) and cpu["n_occluders"].min() >= 1
    assert gpu["occluded"].any() and (gpu["occluded"] != cpu["occluded"]).sum() <= 2
    assert (gpu["image"].float() - cpu["image"].float()).abs().mean() < 2.0


def test_gpu_augment_smoke_training_loss_decreases(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    config = profiles.get("smoke").replace(gpu_augment=True)
    run_dir = train.train(config, "smoke_gpu_augment", progress=False)
    loss = np.asarray(json.loads((run_dir / "history.json").read_text())["loss"])
    assert len(loss) == config.steps and np.isfinite(loss).all()
    assert loss[-20:].mean() < 0.8 * loss[:10].mean()
    assert json.loads((run_dir / "config.json").read_text())["gpu_augment"] is True
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["test"]["mpjpe_mm"])
