"""Evaluation of a trained smoke run: metrics.json contents, flip/ensemble variants, run_cached,
load_run, predict_samples."""
import json
import shutil
import time

import numpy as np
import pytest
import torch

from posebook import evaluate, metrics, profiles, report, skeleton, train
from posebook.data import sources


@pytest.fixture()
def run_dir(smoke_run):
    return smoke_run        # the session's smoke run (tests/conftest.py)


def test_metrics_json_is_stamped(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    config = profiles.get("smoke")
    assert m["profile"] == "smoke" and m["dataset"] == "synthetic"
    assert m["config"] == json.loads(config.to_json())
    assert m["occluders"].startswith("procedural fallback (")
    assert m["backbone_weights"].startswith("random init")  # tiny has no ImageNet weights
    assert m["steps"] == config.steps
    assert len(m["snapshots"]) == config.snapshots
    for split in ("test", "test_occluded"):
        s = m[split]
        assert s["n"] == config.n_test
        assert 0 < s["pa_mpjpe_mm"] <= s["mpjpe_mm"]
        assert set(s["per_joint_mm"]) == set(skeleton.JOINT_NAMES)
        assert s["per_family_mm"] and s["mean_pose_baseline_mm"] > 0
    assert m["test"]["n_occluded"] < m["test_occluded"]["n_occluded"]
    assert len(m["variants"]) == 8
    assert (run_dir / "metrics.md").read_text().startswith("| | clean test")


def test_evaluate_matches_metrics_json(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    plain = evaluate.evaluate(run_dir, "test", flip=False, ensemble=False)
    assert plain["mpjpe_mm"] == pytest.approx(m["variants"]["test/no_flip/last"], rel=1e-9)
    full = evaluate.evaluate(run_dir, "test", flip=True, ensemble=True)
    assert full["members"] == len(report.RunMetrics.from_dict(m).members)
    assert full["mpjpe_mm"] == pytest.approx(m["test"]["mpjpe_mm"], rel=1e-9)


def test_train_split_is_a_direct_evaluation_of_unaugmented_training_samples(run_dir):
    import torch
    from posebook import model as model_lib, runs
    from posebook.data.dataset import PoseDataset
    m = json.loads((run_dir / "metrics.json").read_text())
    config = profiles.get("smoke")
    train_split = m["train"]
    assert train_split["n"] == min(config.n_train, config.n_test)
    subset = evaluate.training_samples(config, config.n_test)
    step = config.n_train // config.n_test
    assert list(subset.indices) == list(range(0, config.n_train, step))
    # by hand: the training split's frames, cropped without augmentation, through the chosen
    # models with the config's flip test, averaged
    plain = PoseDataset(config.replace(occlusion_p=0.0, augment_geometry=False,
                                       augment_appearance=False), "train")
    augmented = PoseDataset(config, "train")
    items = [plain[i] for i in subset.indices]
    assert not any(it["n_occluders"] for it in items)
    i = subset.indices[1]                  # unaugmented: the same crop every epoch, not the
    assert torch.equal(plain[(3, i)]["image"], items[1]["image"])        # training one
    assert not torch.equal(augmented[(0, i)]["image"], items[1]["image"])
    assert np.array_equal(plain.frames.frame(i).joints_world_mm,
                          augmented.frames.frame(i).joints_world_mm)     # same person
    gt = torch.stack([it["joints_cam_mm"] for it in items]).double().numpy()
    images = torch.stack([it["image"] for it in items])
    intrinsics = torch.stack([it["intrinsics"] for it in items])
    preds = []
    for name in report.RunMetrics.from_dict(m).members:
        net = runs.load_model(run_dir, name)[0].eval()
        with torch.no_grad():
            preds.append(model_lib.flip.views(net, images, intrinsics, flip=config.flip_test)
                         [config.flip_test]["joints_rel_mm"].double().numpy())
    direct = metrics.mpjpe(np.mean(preds, axis=0), gt)
    assert train_split["mpjpe_mm"] == pytest.approx(direct, rel=1e-6)
    # the test sets are other people: a different number on different ground truth
    assert train_split["mpjpe_mm"] != m["test"]["mpjpe_mm"]
    assert f"is {train_split['mpjpe_mm']:.1f} mm" in (run_dir / "metrics.md").read_text()


@pytest.mark.slow
def test_train_split_of_an_overfitted_run_is_below_test(tmp_path, monkeypatch):
    """16 training people, no augmentation, 120 steps (120 epochs): the network memorises them;
    its training-split MPJPE must be far below the test people's."""
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    config = profiles.get("smoke").replace(n_train=16, occlusion_p=0.0, augment_geometry=False,
                                           augment_appearance=False)
    m = json.loads((train.train(config, "overfit", progress=False) / "metrics.json").read_text())
    assert m["train"]["n"] == 16
    assert m["train"]["mpjpe_mm"] < 0.7 * m["test"]["mpjpe_mm"]


def test_ensemble_is_chosen_on_validation_and_not_worse_there(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    choice = m["ensemble_choice"]
    val = choice["val_mpjpe_mm"]
    assert "last weights" in val and len(val) == profiles.get("smoke").snapshots  # last + k=2..n
    chosen = min(val.values())
    if choice["used"] == "ensemble":
        assert len(choice["members"]) >= 2 and chosen < val["last weights"]
    else:
        assert choice["members"] == list(report.RunMetrics.from_dict(m).members)
        assert len(choice["members"]) == 1
        assert val["last weights"] == chosen
        assert m["variants"]["test/flip/ensemble"] == m["variants"]["test/flip/last"]
    assert m["ensemble"] == (choice["used"] == "ensemble")
    typed = report.RunMetrics.from_dict(m)
    assert "chosen on validation" in report.tables.variants(typed).to_markdown()
    assert choice["reason"] in report.tables.ensemble_choice(typed).to_markdown()


def test_choice_falls_back_to_last_weights_when_every_ensemble_is_worse(monkeypatch):
    class Net:   # a "model" is just an index here; collect is replaced below
        pass
    gt = np.zeros((4, 17, 3))
    off = lambda mm: gt + np.eye(17)[1][:, None] * mm   # noqa: E731  (right hip moved by mm)
    fake = {"gt": gt, "pred": {(0, True): (off(50), gt), (1, True): (off(-40), gt),
                               (2, True): (off(1), gt)}}
    monkeypatch.setattr(evaluate, "collect", lambda *a, **k: fake)
    monkeypatch.setattr("posebook.data.dataset.PoseDataset", lambda *a, **k: None)
    config = profiles.get("smoke")
    names = ["snapshot_0", "snapshot_1", "snapshot_2"]
    members, choice = evaluate.choose_members([Net()] * 3, names, [0, 1, 2], 2, config, "cpu")
    assert members == [2] and choice["used"] == "last" and choice["members"] == ["snapshot_2"]
    fake["pred"][(2, True)] = (off(30), gt)     # now the first and second snapshots help
    members, choice = evaluate.choose_members([Net()] * 3, names, [0, 1, 2], 2, config, "cpu")
    assert choice["used"] == "ensemble" and members == [1, 2]
    members, choice = evaluate.choose_members([Net()] * 3, names, [0, 1, 2], 2,
                                              config.replace(ensemble=False), "cpu")
    assert members == [2] and choice["reason"] == "config.ensemble is off"


def test_human36m_ensemble_is_not_chosen_on_the_test_subjects(monkeypatch):
    """Human3.6M's "val" split is S9/S11, the test subjects: nothing may be scored there."""
    def no_val(*args, **kwargs):
        raise AssertionError("a Human3.6M run scored ensemble candidates on S9/S11")
    monkeypatch.setattr("posebook.data.dataset.PoseDataset", no_val)
    monkeypatch.setattr(evaluate, "collect", no_val)
    config = profiles.get("smoke").replace(dataset="h36m", h36m_root="unused")
    names = ["snapshot_0", "snapshot_1", "snapshot_2"]
    members, choice = evaluate.choose_members([None] * 3, names, [0, 1, 2], 2, config, "cpu")
    assert members == [0, 1, 2] and choice["used"] == "ensemble" and choice["rule"] == "fixed"
    assert choice["reason"] == sources.Human36M.no_validation_reason and choice["val_mpjpe_mm"] == {}
    members, choice = evaluate.choose_members([None] * 3, names, [0, 1, 2], 2,
                                              config.replace(ensemble=False), "cpu")
    assert members == [2] and choice["used"] == "last"


def test_root_relative_run_has_no_absolute_mpjpe(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["config"]["loss"] == "root_relative"
    for split in ("test", "test_occluded"):
        assert not any("abs" in key for key in m[split]), m[split].keys()
    gt = np.zeros((2, 17, 3)) + [0.0, 0.0, 4000.0]
    result = {"gt": gt, "family": np.zeros(2, int), "occluded": np.zeros((2, 17), bool)}
    pred = gt + 1
    absolute = evaluate.split_metrics(pred, pred, result, None, None, loss="absolute")
    assert absolute["mpjpe_abs_mm"] == pytest.approx(np.sqrt(3))
    relative = evaluate.split_metrics(pred, pred, result, None, None)
    assert "mpjpe_abs_mm" not in relative and relative["root_depth_error_mm"] == pytest.approx(1)
    assert relative["root_depth_error_pct"] == pytest.approx(100 / 4000)


def test_root_depth_error_is_recorded_and_measured_for_older_runs(run_dir, tmp_path):
    m = report.read(run_dir)
    recorded = m.test.root_depth_error_mm
    assert recorded > 0 and m.test.root_depth_error_pct > 0
    assert evaluate.test_split(run_dir) == m.test            # recorded: nothing measured again
    older = tmp_path / run_dir.name
    shutil.copytree(run_dir, older)
    raw = json.loads((older / "metrics.json").read_text())
    del raw["test"]["root_depth_error_mm"], raw["test"]["root_depth_error_pct"]
    (older / "metrics.json").write_text(json.dumps(raw))
    assert report.read(older).test.root_depth_error_mm is None
    measured = evaluate.test_split(older)
    assert measured.root_depth_error_mm == pytest.approx(recorded, rel=1e-4)
    assert measured.mpjpe_mm == pytest.approx(m.test.mpjpe_mm, rel=1e-4)


def test_real_frames_given_true_boxes(run_dir):
    from posebook import paths, real_frames
    root = paths.realdata_dir()
    if root is None or not (root / "h36m" / "frames.npz").is_file():
        pytest.skip("real Human3.6M samples not available (set POSEBOOK_REALDATA)")
    frames = real_frames.h36m_frames(root)
    for f in frames:   # the cameras are read right: the true joints land on the true pixels
        assert f.joints_cam_mm.shape == (17, 3) and f.image.dtype == np.uint8
        uv = f.camera.camera_to_image(f.joints_cam_mm)
        box_centre = f.box_xywh_px[:2] + f.box_xywh_px[2:] / 2
        assert np.abs(uv.mean(0) - box_centre).max() < f.box_xywh_px[2] / 2
    result = real_frames.evaluate_run(run_dir, root)
    assert result["n"] == len(frames) == len(result["per_frame_mm"])
    assert 0 < result["mpjpe_mm"] < 2000 and result["mean_pose_baseline_mm"] > 0
    assert result["mpjpe_mm"] == pytest.approx(np.mean(list(result["per_frame_mm"].values())))
    facing = result["per_frame_facing_deg"]
    assert set(facing) == set(result["per_frame_mm"])
    assert all(0 <= a <= 180 for a in facing.values())
    with pytest.raises(FileNotFoundError, match="frames.npz"):
        real_frames.h36m_frames(run_dir)


def test_training_learned_something(run_dir):
    run = evaluate.load_run(run_dir)
    loss = np.asarray(run.history["loss"])
    assert loss[-20:].mean() < 0.8 * loss[:10].mean()          # smoke loss decreases
    assert run.history["val_step"] == [60, 120]
    assert run.metrics["test"]["mpjpe_mm"] < run.metrics["test"]["mean_pose_baseline_mm"] * 1.5


@pytest.mark.slow
def test_run_cached_reuses_and_retrains(smoke_run, tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    run_dir = shutil.copytree(smoke_run, tmp_path / "eval_smoke")
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    tic = time.perf_counter()
    assert train.run_cached(profiles.get("smoke"), "eval_smoke") == run_dir
    assert time.perf_counter() - tic < 1.0
    assert (run_dir / "metrics.json").stat().st_mtime_ns == stamp
    other = profiles.get("smoke").replace(steps=6, cycle_steps=3, eval_every=3)
    train.run_cached(other, "eval_smoke", progress=False)
    assert evaluate.load_run(run_dir).config == other


def test_predict_samples(run_dir):
    s = evaluate.predict_samples(run_dir, "test", indices=(0, 3))
    px = profiles.get("smoke").input_px
    assert s["image"].shape == (2, px, px, 3) and s["image"].dtype == np.uint8
    assert s["gt_mm"].shape == s["pred_mm"].shape == (2, 17, 3)
    assert np.isfinite(metrics.mpjpe(s["pred_mm"], s["gt_mm"]))


def test_load_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run"):
        evaluate.load_run(tmp_path / "missing")


def test_eval_command_prints_a_run_without_a_mean_pose(run_dir, monkeypatch, capsys):
    import argparse
    real = evaluate.evaluate
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: {**real(*a, **k),
                                                               "mean_pose_baseline_mm": None})
    args = argparse.Namespace(run=str(run_dir), split="test", no_flip=True, no_ensemble=True)
    assert evaluate.run(args) == 0
    assert "mean-pose baseline none (no mean pose recorded)" in capsys.readouterr().out


def test_finished_book_run_is_chapter_05s_run_of_exactly_this_config(run_dir, tmp_path,
                                                                     monkeypatch):
    from posebook import runs, viz
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    from posebook.data.dataset import PoseDataset
    config = profiles.get("smoke")
    book_dir = runs.folder(train.book_run_name("smoke"))
    assert not book_dir.exists() and train.finished_book_run(config) is None
    shutil.copytree(run_dir, book_dir)
    try:
        assert train.finished_book_run(config) == book_dir
        assert train.finished_book_run(config.replace(seed=config.seed + 1)) is None
        sample = PoseDataset(config, "val", cache="none")[0]
        net = runs.load_model(book_dir)[0]
        with torch.no_grad():
            out = net(sample["image"][None], sample["intrinsics"][None])
        fig = viz.model.heatmap_overlay(sample["image"], out["heatmaps"][0], out["coords"][0],
                                        title="trained")
        assert len(fig.axes) == 3 and fig.get_suptitle() == "trained"    # with a colour bar
        assert fig.axes[2].get_ylabel().startswith("probability of an x-y cell (uniform: ")
    finally:
        shutil.rmtree(book_dir)
