"""posebook.runtime: device choice and the mixed-precision policy (bf16 where the device has it,
else float16 with a gradient scaler), tested on the CPU by faking the GPU's capability."""
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from posebook import profiles, runtime, train

CUDA = torch.device("cuda")


@pytest.mark.parametrize("capability,name,scaled", [
    ((9, 0), "bfloat16", False),     # H100 / H200
    ((8, 0), "bfloat16", False),     # A100
    ((7, 5), "float16", True),       # T4 (Colab's free GPU): no bf16
    ((7, 0), "float16", True),       # V100
])
def test_precision_follows_the_device_capability(monkeypatch, capability, name, scaled):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    config = profiles.get("gpu")
    precision = runtime.precision_for(config, CUDA)
    assert (precision.name, precision.scaled) == (name, scaled)
    assert runtime.grad_scaler(precision, "cpu").is_enabled() == scaled
    assert runtime.precision_for(config.replace(amp=False), CUDA).name == "float32"
    assert runtime.precision_for(config, "cpu").name == "bfloat16"


def test_pick_device_checks_the_setting(monkeypatch):
    config = profiles.get("smoke")
    assert runtime.pick_device(config.replace(device="cpu")).type == "cpu"
    assert runtime.pick_device(config, "meta").type == "meta"
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda', got 'tpu'"):
        runtime.pick_device(config.replace(device="tpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        runtime.pick_device(config.replace(device="cuda"))
    assert runtime.pick_device(config.replace(device="auto")).type == "cpu"


class ScalarReads(TorchDispatchMode):
    """Counts `.item()` / `bool()` / `float()` reads (each one waits for a GPU)."""
    n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += func is torch.ops.aten._local_scalar_dense.default
        return func(*args, **(kwargs or {}))


def test_float16_scaler_with_fused_adam_reads_nothing_back():
    """The scaler's inf/NaN check stays on the device when the optimizer is fused (as the
    Trainer's Adam is on CUDA): no scalar is read in scale, unscale_, clipping, step, update."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    precision = runtime.Precision(torch.float16, scaled=True)
    scaler = runtime.grad_scaler(precision, "cpu")
    with ScalarReads() as reads:
        for _ in range(3):
            with runtime.autocast(precision, "cpu"):
                loss = net(torch.ones(4, 3)).float().abs().mean()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
    assert reads.n == 0
    assert scaler.get_scale() == 2.0 ** 16      # no step was skipped


def test_trainer_trains_with_float16_and_a_scaler(monkeypatch, tmp_path):
    """The T4 policy end to end on the CPU (float16 autocast + GradScaler): finite losses, and
    the scaler's state is in the checkpoint so a resumed run continues with the same scale."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    monkeypatch.setattr(runtime, "precision_for",
                        lambda config, device: runtime.Precision(torch.float16, scaled=True))
    config = profiles.get("smoke", ["amp=true", "steps=4", "cycle_steps=2", "n_train=16",
                                    "batch_size=4", "n_val=0", "n_test=8", "grad_clip=1.0"])
    trainer = train.Trainer(config, tmp_path / "fp16", progress=False)
    assert trainer.scaler.is_enabled()
    for batch in trainer.data.loader(range(4)):
        trainer.update(batch)
    trainer.fetch_losses()
    assert len(trainer.history.loss) == 4
    assert all(math.isfinite(v) for v in trainer.history.loss)
    state = trainer.state_dict()
    assert state["scaler"]["scale"] == trainer.scaler.get_scale() > 0
    again = train.Trainer(config, tmp_path / "fp16", progress=False)
    again.load_state_dict(state)
    assert again.scaler.get_scale() == trainer.scaler.get_scale()


def test_loader_workers_run_one_opencv_thread(tmp_path, monkeypatch):
    """A Trainer with loader workers sets OpenCV to one thread before they fork, so each worker
    runs one (its default pool is a thread per core in every worker process)."""
    import cv2

    class Threads(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return cv2.getNumThreads()

    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path))
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        trainer = train.Trainer(profiles.get("smoke", ["n_train=16", "n_val=0", "num_workers=1"]),
                                tmp_path / "run", progress=False)
        trainer.data.loader([0])
        assert cv2.getNumThreads() == 1
        loader = torch.utils.data.DataLoader(Threads(), batch_size=None, num_workers=1)
        assert list(loader) == [1, 1]
    finally:
        cv2.setNumThreads(before)
