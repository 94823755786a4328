"""The benchmark scripts run at tiny sizes on the CPU and print valid JSON lines; the GPU
augmentation path of the benchmarks reproduces PoseDataset's training items."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
COMMON_KEYS = {"bench", "device", "device_kind", "profile", "batch", "threads", "torch",
               "command"}
TINY = ["--profile", "smoke", "--device", "cpu", "--steps", "2", "--warmup", "1"]
RUNS = {
    "train_step": ["bench_train_step.py", *TINY, "--batch", "4", "--profile-trace"],
    "inference": ["bench_inference.py", *TINY, "--batch", "4", "--latency-steps", "2"],
    "pipeline": ["bench_pipeline.py", *TINY, "--sides", "32", "--n", "4", "--batch", "4"],
    "train_e2e_cpu": ["bench_train_e2e.py", *TINY, "--batch", "4", "--n-train", "16",
                      "--augment", "cpu", "--ratio"],
    "train_e2e_gpu": ["bench_train_e2e.py", *TINY, "--batch", "4", "--n-train", "16",
                      "--augment", "gpu", "--count-ops", "--sync-debug"],
    "augment": ["bench_augment.py", *TINY, "--n", "2", "--frame-px", "128", "--sides", "64"],
    "synthetic": ["bench_synthetic.py", *TINY, "--n", "2", "--frame-px", "128",
                  "--input-px", "64"],
    "fastpath_accuracy": ["fastpath_accuracy.py", *TINY, "--seeds", "0,1", "--set",
                          "steps=1,cycle_steps=1,n_train=4,n_val=0,n_test=2,batch_size=2"],
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Start every script at once (they mostly wait on imports), then collect their output."""
    env = dict(os.environ, POSEBOOK_CACHE=str(tmp_path_factory.mktemp("cache")),
               POSEBOOK_RUNS=str(tmp_path_factory.mktemp("runs")), OMP_NUM_THREADS="1")
    procs = {name: subprocess.Popen([sys.executable, str(BENCH / args[0]), *args[1:]], cwd=ROOT,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
             for name, args in RUNS.items()}
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        results[name] = (proc.returncode, out, err)
    return results


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_script_prints_json_lines(outputs, name):
    code, out, err = outputs[name]
    assert code == 0, err[-2000:]
    records = json_lines(out)
    assert records, out[-2000:]
    for record in records:
        assert COMMON_KEYS <= set(record), sorted(COMMON_KEYS - set(record))
        assert record["profile"] == "smoke" and record["device_kind"] == "cpu"
        assert RUNS[name][0] in record["command"]
        rate = next(record[k] for k in ("images_per_s", "crops_per_s_per_core",
                                         "render_aten_ops", "test_mpjpe_mm", "a_mean_mm")
                    if k in record)
        assert rate > 0


@pytest.mark.slow
def test_train_step_reports_flops_and_trace(outputs):
    _, out, _ = outputs["train_step"]
    record = json_lines(out)[0]
    assert record["forward_gflops_per_image"] > 0 and record["peak_tflops_per_s"] > 0
    assert 0 < record["mfu"] < 1
    assert "Self CPU" in out and "aten::" in out        # the profiler's key_averages table


@pytest.mark.slow
def test_train_benchmarks_report_pipelined_speed_and_render_ops(outputs):
    step = json_lines(outputs["train_step"][1])[0]
    assert step["images_per_s_pipelined"] > 0
    e2e, ops = json_lines(outputs["train_e2e_gpu"][1])
    assert e2e["loss_fetch_every"] >= 1
    assert ops["bench"] == "render_ops" and ops["render_aten_ops"] > 0 and ops["pastes"] >= 0


@pytest.mark.slow
def test_e2e_ratio_puts_model_only_and_end_to_end_side_by_side(outputs):
    """--ratio: model-only, end-to-end and loader-only rates of one Trainer in one record."""
    record = json_lines(outputs["train_e2e_cpu"][1])[0]
    assert record["augment"] == "cpu" and record["precision"] == "float32"
    assert record["model_only_images_per_s"] > 0 and record["supply_images_per_s"] > 0
    assert record["e2e_over_model_only"] == pytest.approx(
        record["images_per_s"] / record["model_only_images_per_s"], abs=2e-3)


@pytest.mark.slow
def test_accuracy_check_compares_two_settings_over_seeds(outputs):
    *runs, summary = json_lines(outputs["fastpath_accuracy"][1])
    assert sorted((r["seed"], r["setting"]) for r in runs) == [(0, "a"), (0, "b"), (1, "a"),
                                                               (1, "b")]
    assert summary["seeds"] == 2 and isinstance(summary["within_noise"], bool)


@pytest.mark.slow
def test_pipeline_reports_both_paths(outputs):
    records = json_lines(outputs["pipeline"][1])
    assert sorted(r["path"] for r in records) == ["cpu", "gpu"]
    assert all(r["side_px"] == 32 for r in records)


def test_gpu_path_reproduces_pose_dataset(monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path))
    from posebook import profiles
    from posebook.augment import gpu
    from posebook.data import gpu_items
    from posebook.data.dataset import PoseDataset

    config = profiles.get("smoke", ["n_train=6", "occlusion_p=1.0"])
    ds = PoseDataset(config, "train", cache="memory")
    ds.set_epoch(3)
    items = gpu_items.GpuPathItems(ds)
    batch = gpu_items.collate([items[i] for i in range(len(ds))])
    out = gpu_items.render(batch, gpu.OccluderBank(ds.occluders), "cpu")
    for i in range(len(ds)):
        ref = ds[i]
        assert int(ref["n_occluders"]) >= 1
        for key in gpu_items.LABELS:
            assert torch.equal(out[key][i], ref[key]), key
        diff = (out["image"][i].float() - ref["image"].float()).abs().mean()
        assert diff < 2.0, (i, float(diff))


@pytest.mark.parametrize("script,extra", [("bench_train_step", []),
                                          ("bench_inference", ["--latency-steps", "1"])])
def test_compiled_benchmarks_use_and_record_the_profiles_compile_mode(monkeypatch, capsys,
                                                                      script, extra):
    torch = pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(BENCH))
    module = __import__(script)
    modes = []
    monkeypatch.setattr(torch, "compile", lambda net, mode=None: modes.append(mode) or net)
    monkeypatch.setattr(sys, "argv", [script, "--profile", "smoke", "--device", "cpu",
                                      "--steps", "1", "--warmup", "0", "--batch", "2", *extra,
                                      "--set", "compile=true", "--set",
                                      "compile_mode=reduce-overhead"])
    module.main()
    record = json_lines(capsys.readouterr().out)[0]
    assert modes == ["reduce-overhead"]
    assert record["compile"] is True and record["compile_mode"] == "reduce-overhead"
