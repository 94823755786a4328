"""The whole real-data path on a generated Human3.6M tree, in both settings:
``prepare-h36m`` -> ``train --profile paper`` (smoke sizes) -> ``eval`` -> chapter 07's table.

The tree has a video whose frames are larger than its camera's calibrated size (like the real
S7 camera 55011271 video, 1000x1002 for 1000x1000) and a pose file with a NaN frame.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from h36m_tree import make_release
from posebook import cli, detect, skeleton
from posebook.data import h36m, sources

TREE = [("S1", "Directions 1", "54138969", 11, 11),
        ("S7", "Greeting", "55011271", 11, 11),     # 1000x1002 frames, calibrated 1000x1000
        ("S9", "WalkingDog", "58860488", 9, 9)]
LARGER = {("S7", "Greeting", "55011271"): (1000, 1002)}
NAN_FRAMES = {("S1", "Directions 1"): [5]}
SMOKE = ["occluders=procedural", "n_occluders_bank=8", "backbone=tiny", "input_px=64", "stride=8",
         "depth_bins=8", "pretrained=none", "batch_size=2", "amp=false", "channels_last=false",
         "num_workers=0", "gpu_augment=false", "eval_every=0", "num_threads=1", "device=cpu",
         "epochs=1", "cycle_epochs=0", "compile=false"]
CHALLENGE = ["setting=challenge", "loss=root_relative", "train_on_val=true", "epochs=2",
             "cycle_epochs=1", "snapshots=2", "ensemble=true"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("h36m_e2e")
    release = make_release(tmp / "release", TREE, size_wh=LARGER, nan_frames=NAN_FRAMES)
    out = tmp / "prepared"
    detector = "hog" if detect.hog_available() else "none"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["prepare-h36m", "--root", str(release), "--out", str(out), "--subjects",
                         "S1", "S7", "S9", "--test-stride", "4", "--detector", detector,
                         "--no-progress"]) == 0
    messages = [str(w.message) for w in caught]
    larger = [m for m in messages if "1000x1002 px, camera 55011271 is calibrated for 1000x1000" in m]
    assert len(larger) == 1 and "Greeting.55011271.mp4" in larger[0], messages   # once per video
    assert any("Directions 1.cdf: frame(s) [5]" in m and "non-finite" in m for m in messages)
    return out


def _train(name: str, h36m_root: Path, extra=()) -> str:
    sets = [f"h36m_root={h36m_root}", *SMOKE, *extra]
    args = ["train", "--profile", "paper", "--name", name, "--no-progress"]
    return cli.main(args + [a for s in sets for a in ("--set", s)])


def test_prepare_keeps_larger_frames_and_leaves_out_nan_poses(prepared):
    index = h36m.load_index(prepared)
    frames = {(s, int(f)): tuple(wh) for s, f, wh in zip(index["subject"], index["frame"],
                                                          index["image_wh"])}
    assert sorted(frames) == [("S1", 0), ("S1", 10), ("S7", 0), ("S7", 5), ("S7", 10),
                              ("S9", 0), ("S9", 4), ("S9", 8)]          # S1 frame 5: NaN pose
    assert frames[("S7", 5)] == (1000, 1002) and frames[("S1", 0)] == (1000, 1002)
    assert frames[("S9", 0)] == (1000, 1000)
    s7 = h36m.H36MFrames(prepared, ["S7"])
    assert s7.frame(0).image.shape == (1002, 1000, 3)
    calibrated = s7.camera(0).world_to_image(s7.frame(0).joints_world_mm)
    assert np.all((calibrated > 0) & (calibrated < 1000))     # calibration's pixels unchanged
    if "box_det_xywh_px" in index:   # the challenge pinhole is centred on the real frame
        challenge = h36m.H36MFrames(prepared, ["S7"], focal_px=1000.0, boxes="detector")
        np.testing.assert_allclose(challenge.camera(0).K[:2, 2], [499.5, 500.5])  # (W-1)/2, (H-1)/2
        assert challenge.frame(0).box_xywh_px.shape == (4,)


@pytest.fixture(scope="module")
def runs_dir(prepared, tmp_path_factory) -> Path:
    """Both settings trained once for the module (the CLI, `--profile paper` at smoke sizes)."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POSEBOOK_RUNS", str(runs))
        assert _train("h36m_paper_protocol1", prepared) == 0
        if "box_det_xywh_px" in h36m.load_index(prepared):
            assert _train("h36m_paper_challenge", prepared, CHALLENGE) == 0
    return runs


@pytest.mark.parametrize("setting", ["protocol1", "challenge"])
def test_paper_profile_trains_evaluates_and_prints_protocol1(runs_dir, setting, monkeypatch,
                                                             capsys):
    run = runs_dir / f"h36m_paper_{setting}"
    if not run.is_dir():
        pytest.skip("no person detector here (OpenCV without HOG)")
    monkeypatch.setenv("POSEBOOK_RUNS", str(runs_dir))
    config, metrics = (json.loads((run / f).read_text()) for f in ("config.json", "metrics.json"))
    n_train = 8 if setting == "challenge" else 5           # train_on_val adds S9's 3 frames
    epochs = 2 if setting == "challenge" else 1
    assert config["steps"] == epochs * (n_train // 2) and config["profile"] == "paper"
    assert config["setting"] == setting and metrics["steps"] == config["steps"]
    assert metrics["test"]["n"] == 3 and metrics["backbone_weights"].startswith("random init")
    per_action = metrics["test"]["per_family_mm"]
    assert set(per_action) == {"WalkDog"}
    assert metrics["test"]["protocol1_mm"] == pytest.approx(per_action["WalkDog"])
    train_split = metrics["train"]           # as many training frames as test frames, unaugmented
    assert train_split["n"] == 3 and train_split["protocol1_mm"] > 0
    assert cli.main(["eval", str(run), "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert f"Human3.6M protocol 1 (mean over actions of the per-action MPJPE, no Procrustes): " \
           f"{metrics['test']['protocol1_mm']:.1f} mm" in printed
    assert ("S9 and S11 were in training" in printed) == (setting == "challenge")
    choice = metrics["ensemble_choice"]      # nothing scored on S9/S11, the test subjects
    assert choice["val_mpjpe_mm"] == {} and choice["rule"] == "fixed"
    if len(metrics["snapshots"]) >= 2:       # the challenge run: ensemble=true, 2 snapshots
        assert choice["used"] == "ensemble" and choice["members"] == metrics["snapshots"]
        assert choice["reason"] == sources.Human36M.no_validation_reason


def test_train_prints_protocol1(prepared, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    assert _train("p1", prepared, ["epochs=0", "steps=1"]) == 0
    assert "Human3.6M protocol 1 (mean over actions" in capsys.readouterr().out


@pytest.mark.slow
def test_chapter_07_renders_table2_from_the_runs(prepared, runs_dir, tmp_path, monkeypatch):
    """Chapter 07 under the paper profile at smoke sizes reuses the protocol-1 run (same config)
    and shows the challenge run beside it, with the numbers of their metrics.json."""
    papermill = pytest.importorskip("papermill")
    has_detector = (runs_dir / "h36m_paper_challenge").is_dir()
    monkeypatch.setenv("POSEBOOK_RUNS", str(runs_dir))
    before = (runs_dir / "h36m_paper_protocol1" / "metrics.json").stat().st_mtime_ns
    out = tmp_path / "07.ipynb"
    papermill.execute_notebook(str(ROOT / "chapters" / "07_h36m.ipynb"), str(out),
                               parameters=dict(profile="paper", h36m_root=str(prepared),
                                               overrides=[f"h36m_root={prepared}", *SMOKE]),
                               cwd=str(ROOT / "chapters"), progress_bar=False, kernel_name="python3")
    after = (runs_dir / "h36m_paper_protocol1" / "metrics.json").stat().st_mtime_ns
    assert after == before                                     # reused, not retrained
    text = out.read_text()
    for setting in ("protocol1", "challenge") if has_detector else ("protocol1",):
        metrics = json.loads((runs_dir / f"h36m_paper_{setting}" / "metrics.json").read_text())
        assert f"posebook, paper profile, {setting} setting" in text
        assert f"{metrics['test']['protocol1_mm']:.1f}" in text
    assert "S9, S11 in training: not held out" in text or not has_detector
    assert "posebook&#x27;s choice" in text or "posebook's choice" in text
    assert "64 px" in text                                     # the run's input size, not typed
    assert "run h36m_paper_protocol1" in text                  # the run's choices, not the profile's
    assert "no, last weights (config.ensemble is off)" in text  # its metrics' weights
    assert "protocol1: measured with the last weights (config.ensemble is off)" in text
    assert ("challenge: measured with the ensemble of snapshot_0, snapshot_1 (Human3.6M: no "
            "validation split apart from the test subjects") in text or not has_detector


def test_ablation_plans_the_paper_profile(prepared):
    from posebook import ablation, profiles, train
    base = profiles.get("paper", [f"h36m_root={prepared}", "voc_root=/nowhere", "batch_size=2"])
    configs = ablation.plan(base)
    assert len(configs) == len(base.ablation_p) * len(base.ablation_seeds)
    assert {c.occlusion_p for c in configs} == set(base.ablation_p)
    assert {c.dataset for c in configs} == {"h36m"}        # the paper profile: Human3.6M itself
    resolved = train.resolve(configs[0])     # 40 epochs of 5 frames: 2 batches of 2 each
    assert (resolved.steps, resolved.cycle_steps) == (80, 20)     # cycles of 10 epochs
    short = ablation.plan(base.replace(ablation_steps=7))[0]
    assert (short.steps, short.epochs, short.cycle_steps) == (7, 0.0, 7)


def test_epochs_convert_to_steps():
    from posebook import profiles
    from posebook.config import with_length
    config = profiles.get("paper", ["h36m_root=x", "voc_root=y", "batch_size=64"])
    derived = with_length(config, 1000)               # 15 whole batches per epoch
    assert (derived.steps, derived.cycle_steps) == (600, 150)
    assert with_length(derived, 1000) == derived       # idempotent (resume, run_cached)
    with pytest.raises(ValueError, match="steps=5 disagrees with epochs=40"):
        with_length(config.replace(steps=5), 1000)
    with pytest.raises(ValueError, match="batch_size 64 exceeds the training set size 10"):
        with_length(config, 10)
    assert with_length(profiles.get("smoke"), 10) == profiles.get("smoke")


def _realdata() -> Path:
    import os
    root = Path(os.environ.get("POSEBOOK_REALDATA") or ROOT.parent / "shared" / "realdata")
    if not (root / "h36m" / "frames.npz").is_file():
        pytest.skip(f"real Human3.6M samples not found at {root} (set POSEBOOK_REALDATA)")
    return root / "h36m"


def test_the_real_1000x1002_s7_frame_prepares_and_crops(tmp_path):
    """The real S7 Greeting frame of camera 55011271 (1000x1002 px, calibrated 1000x1000) as a
    one-frame release video: prepare-h36m keeps it, its joints project where the real 2D
    annotation is, and a training crop is made from it."""
    import cv2
    from h36m_tree import _write_cdf
    from posebook import profiles
    from posebook.data import h36m_cameras, h36m_prepare
    from posebook.data.dataset import PoseDataset
    real = _realdata()
    data = np.load(real / "frames.npz")
    i = next(k for k, name in enumerate(data["imgname"]) if name.startswith("S7/"))
    image = cv2.imread(str(real / data["imgname"][i]))
    assert image.shape == (1002, 1000, 3)
    camera = h36m_cameras.camera("S7", "55011271")
    joints_world = camera.camera_to_world(data["joints3d_cam_m"][i] * 1000.0)
    poses = np.repeat(joints_world[:1], 32, axis=0)             # other joints: at the pelvis
    poses[list(skeleton.H36M32_TO_17)] = joints_world
    root = tmp_path / "release"
    _write_cdf(root / "S7" / "MyPoseFeatures" / "D3_Positions" / "Greeting.cdf", poses[None])
    video = root / "S7" / "Videos" / "Greeting.55011271.mp4"
    video.parent.mkdir(parents=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 50, (1000, 1002))
    writer.write(image)
    writer.release()
    with pytest.warns(UserWarning, match="1000x1002 px, camera 55011271 is calibrated for 1000x1000"):
        h36m_prepare.prepare(root, tmp_path / "out", subjects=["S7"], progress=False)
    frames = h36m.H36MFrames(tmp_path / "out", ["S7"])
    frame = frames.frame(0)
    assert frame.image.shape == (1002, 1000, 3)
    projected = frame.camera.world_to_image(frame.joints_world_mm)
    assert np.abs(projected - data["joints2d_px"][i]).max() < 1.0
    config = profiles.get("smoke").replace(dataset="h36m", h36m_root=str(tmp_path / "out"))
    item = PoseDataset(config, "test", frames=frames)[0]
    assert item["image"].shape == (3, 64, 64) and bool(item["in_crop"].all())
