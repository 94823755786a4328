"""Every code path runs with the model and its tensors on a device other than the CPU, and a
training update makes the host wait for that device at most once per 20 updates.

The `meta` device stands in for a GPU on this CPU-only machine: its tensors have shapes but no
data, so a CPU tensor mixed into device math raises (as on CUDA), and `spies.DeviceSyncs`
counts each read-back or blocking copy instead of letting it silently succeed."""
import numpy as np
import pytest
import torch

from posebook import evaluate, model as model_lib, predict, profiles, runtime, train
from posebook.data import synthetic
from spies import DeviceSyncs, spy_device_tensors

META = torch.device("meta")
UPDATES = 20                     # the design allows one sync (the loss fetch) per 20 updates


def test_summary_runs_on_the_models_device():
    """`flops_per_image` and `layer_shapes` feed the dummy batch to the model's own device: on
    the H200 they crashed with a CUDA model and CPU inputs (benchmarks/RESULTS.md)."""
    config = profiles.get("smoke")
    net = model_lib.build(config.replace(pretrained="none")).to(META)
    images, K = model_lib.summary.dummy_inputs(net, batch=2)
    assert images.is_meta and K.is_meta and images.shape == (2, 3, 64, 64)
    assert model_lib.flops_per_image(net) == model_lib.flops_per_image(
        model_lib.build(config.replace(pretrained="none")))
    assert dict(model_lib.layer_shapes(net))["joints_cam_mm"] == (17, 3)


@pytest.fixture()
def on_meta(monkeypatch, tmp_path):
    """Trainers and runtime.setup pick the meta device; torch.tensor(x, device=...) is spied."""
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runtime, "pick_device", lambda config, device=None: META)
    return spy_device_tensors(monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("gpu_augment", [False, True])
def test_training_update_syncs_once_per_20_updates(on_meta, tmp_path, gpu_augment):
    """Whole `Trainer.update` calls (rendering, forward, loss, backward, Adam, loss bookkeeping)
    on both augmentation paths: the only syncs are `fetch_losses`' one copy per 20 updates; the
    batches reach the device by non-blocking copies."""
    config = profiles.get("smoke", ["n_train=32", "batch_size=2", "n_val=0", "occlusion_p=1.0",
                                    f"gpu_augment={gpu_augment}"])
    trainer = train.Trainer(config, tmp_path / "run", progress=False)
    assert trainer.loss_fetch_every == 20 and next(trainer.model.parameters()).is_meta
    first, *batches = trainer.data.loader(range(UPDATES + 1))
    trainer.update(first)                 # once per run: the occluder bank goes to the device
    with DeviceSyncs() as syncs:
        for batch in batches:
            trainer.update(batch)
    assert [d for d in on_meta if torch.device(d).type != "cpu"] == []
    assert syncs.count <= UPDATES // 20, syncs.where
    assert {where for _, where in syncs.where} <= {"train.py:fetch_losses"}, syncs.where
    assert syncs.uploads >= 3 * UPDATES          # images (or frames), joints, intrinsics
    assert len(trainer.history.loss) == UPDATES + 1 - len(trainer.losses)


def test_evaluation_and_prediction_run_on_the_device(on_meta, tmp_path):
    """evaluate.collect (with flip TTA) and predict.pose_in_box move their inputs to the model's
    device (read-backs there are expected: DeviceSyncs answers them with zeros)."""
    from posebook.data.dataset import PoseDataset

    config = profiles.get("smoke", ["n_test=4", "batch_size=2"])
    net = model_lib.build(config.replace(pretrained="none")).to(META).eval()
    with DeviceSyncs():
        result = evaluate.collect([net], PoseDataset(config, "test"), config, META)
        frame = synthetic.make_frame(np.random.default_rng(0), frame_px=256)
        camera, _, _ = predict.camera_for_image(frame.image.shape[1::-1])
        joints_mm, _, _ = predict.pose_in_box(net, config, frame.image, camera,
                                              frame.box_xywh_px)
    assert result["pred"][(0, True)][0].shape == (4, 17, 3) and joints_mm.shape == (17, 3)
