"""posebook.data.gpu_items and `RunConfig.gpu_augment` in the Trainer, run on the CPU."""
import json

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from posebook import profiles, train
from spies import spy_device_tensors


def test_gpu_items_batch_matches_cpu_batch(tmp_path, monkeypatch):
    """The Trainer's rendered gpu_augment batch has the CPU path's keys, shapes and dtypes, the
    same labels and nearly the same pixels for the same steps."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    config = profiles.get("smoke", ["n_train=16", "batch_size=8", "occlusion_p=1.0",
                                    "n_val=0", "device=cpu"])
    batches = {}
    for flag in (False, True):
        trainer = train.Trainer(config.replace(gpu_augment=flag), tmp_path / f"r{flag}",
                                progress=False)
        batch = next(iter(trainer.data.loader([5])))
        batches[flag] = trainer.data.render(batch) if flag else batch
    cpu, gpu = batches[False], batches[True]
    assert sorted(gpu) == sorted(cpu)
    for key in cpu:
        assert (gpu[key].shape, gpu[key].dtype) == (cpu[key].shape, cpu[key].dtype), key
    for key in cpu:                          # labels come from the same Plan: identical
        if key != "image":
            assert torch.equal(gpu[key], cpu[key]), key
    assert cpu["n_occluders"].min() >= 1 and cpu["occluded"].any()
    assert (gpu["image"].float() - cpu["image"].float()).abs().mean() < 2.0


@pytest.mark.slow
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


def gpu_path_batch(monkeypatch, tmp_path, n=6):
    from posebook.data import gpu_items
    from posebook.data.dataset import PoseDataset

    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path))
    config = profiles.get("smoke", [f"n_train={n}", "occlusion_p=1.0"])
    ds = PoseDataset(config, "train", cache="memory")
    items = gpu_items.GpuPathItems(ds)
    return config, ds, gpu_items.collate([items[i] for i in range(n)])


def test_render_on_a_device_reads_nothing_back(monkeypatch, tmp_path):
    """On the `meta` device a read-back or a host tensor mixed into device math would raise, and
    uploads are visible: the frames and one copy of the batch's plan numbers. The image is made
    there; the labels (occluded and n_occluders included) stay on the host."""
    from posebook.augment import gpu
    from posebook.data import gpu_items

    class Uploads(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            upload = func is torch.ops.aten._to_copy.default and not args[0].is_meta
            self.n += upload and out.is_meta
            return out

    hidden = spy_device_tensors(monkeypatch)
    config, ds, batch = gpu_path_batch(monkeypatch, tmp_path)
    bank = gpu.OccluderBank(ds.occluders, "meta")
    with Uploads() as uploads:
        out = gpu_items.render(batch, bank, "meta")
    assert uploads.n == 2 and hidden == [], (uploads.n, hidden)
    S = config.input_px
    assert out["image"].is_meta and out["image"].shape == (6, 3, S, S)
    assert out["n_occluders"].min() >= 1
    assert all(out[k].device.type == "cpu" for k in gpu_items.LABELS)


def test_pin_memory_keeps_the_plan_entries(monkeypatch, tmp_path):
    """The DataLoader pins a collated batch with torch's pin_memory (CUDA only): tensors are
    pinned, the plan's lists of Paste / Appearance and the scale array pass through intact."""
    from torch.utils.data._utils.pin_memory import pin_memory

    _, _, batch = gpu_path_batch(monkeypatch, tmp_path)
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory",
                        lambda self, *a: pinned.append(self) or self.clone())
    out = pin_memory(batch)
    assert sorted(out) == sorted(batch)
    assert len(pinned) == sum(isinstance(v, torch.Tensor) for v in batch.values())
    assert out["plan"] == batch["plan"]
    assert isinstance(out["scale"], np.ndarray)
    np.testing.assert_array_equal(out["scale"], batch["scale"])


def test_real_human36m_frames_on_the_gpu_path(tmp_path, monkeypatch):
    """Real Human3.6M frames come in two sizes (1000x1002, 1000x1000) with lens distortion: the
    workers send undistorted wide crops of one size, so a batch collates and renders, and its
    labels equal the CPU path's (pixels: one resampling more, within a few grey levels)."""
    import cv2
    from realdata import h36m_samples

    from posebook.data import gpu_items
    from posebook.data.dataset import PoseDataset
    from posebook.data.synthetic import Frame

    samples = list(h36m_samples())
    sizes = {cv2.imread(str(s.image_path)).shape[:2] for s in samples}
    assert len(sizes) == 2 and all(s.camera().distortion is not None for s in samples)

    class RealFrames:
        family_names = ("real",)

        def __len__(self):
            return len(samples)

        def frame(self, i):
            s = samples[i]
            image = cv2.cvtColor(cv2.imread(str(s.image_path)), cv2.COLOR_BGR2RGB)
            return Frame(image=image, camera=s.camera(), joints_world_mm=s.joints_cam_mm,
                         box_xywh_px=s.box_xywh_px, family="real", family_id=0,
                         self_visible=np.ones(17, bool), mask=None)

    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path))
    config = profiles.get("smoke", ["input_px=96", "occlusion_p=0.0", "device=cpu"])
    cpu_path = PoseDataset(config, "train", frames=RealFrames())
    assert cpu_path.cache is None                           # frames of a given source: no cache
    items = gpu_items.GpuPathItems(cpu_path)
    batch = gpu_items.collate([items[(0, i)] for i in range(len(samples))])
    assert batch["frame"].shape == (len(samples), 3, 144, 144)
    gpu = gpu_items.render(batch, None, "cpu")
    cpu = torch.utils.data.default_collate([cpu_path[(0, i)] for i in range(len(samples))])
    for key in gpu_items.LABELS:
        assert torch.equal(gpu[key], cpu[key]), key
    diff = (gpu["image"].float() - cpu["image"].float()).abs()
    assert diff.mean() < 4 and gpu["image"].float().std() > 20, float(diff.mean())
