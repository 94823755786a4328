"""Captions, verdicts and the table of unstated choices read a run's own metrics.json."""
from posebook import captions, choices, profiles
from posebook.data import sources


def _metrics(dataset="synthetic", n=64, baseline=250.0, **config):
    """A metrics.json dict of a run: its config, test size `n` and mean-pose baseline."""
    base = profiles.get("smoke").replace(**({"dataset": dataset, "h36m_root": "unused"}
                                            if dataset != "synthetic" else {}), **config)
    return {"name": "run", "config": base.to_dict(), "occluders": "procedural fallback (8 objects)",
            "backbone_weights": "random init (tiny has no ImageNet weights)", "steps": 10,
            "test": {"n": n, "mpjpe_mm": 120.0, "mean_pose_baseline_mm": baseline}}


def test_caption_gives_the_measured_test_size_not_the_config():
    assert "(3 test images;" in captions.run_caption(_metrics("h36m", n=3))
    assert "(64 test images;" in captions.run_caption(_metrics(n=64))


def test_real_frames_verdict_says_what_the_run_trained_on_and_if_it_saw_the_subjects():
    real = {"n": 2, "mpjpe_mm": 150.0, "mean_pose_baseline_mm": 200.0,
            "per_frame_mm": {"S1/S1_Directions_1.54138969/a.jpg": 140.0,
                             "S9/S9_Walking.54138969/b.jpg": 160.0}}
    synthetic = captions.real_frames_verdict(real, _metrics())
    assert "trained on synthetic people" in synthetic and "not held out" not in synthetic
    h36m = captions.real_frames_verdict(real, _metrics("h36m"))
    assert "trained on Human3.6M subjects S1, S5, S6, S7, S8" in h36m
    assert "on Human3.6M test people" in h36m and "synthetic" not in h36m
    assert "their subjects S1 were in this run's training data" in h36m
    seen_all = captions.real_frames_verdict(real, _metrics("h36m", setting="challenge",
                                                           train_on_val=True))
    assert "their subjects S1, S9 were in" in seen_all
    facing = captions.real_frames_verdict(
        {**real, "per_frame_facing_deg": {"a": 170.0, "b": 20.0}}, _metrics())
    assert "by more than 90° on 1 of 2 frames (median 95°)" in facing


def test_real_frames_verdict_without_a_mean_pose():
    no_baseline = _metrics(baseline=None)
    real = {"n": 1, "mpjpe_mm": 150.0, "mean_pose_baseline_mm": None, "per_frame_mm": {}}
    assert "no mean training pose" in captions.real_frames_verdict(real, no_baseline)
    text = captions.real_frames_verdict(None, no_baseline)
    assert "off by 120 mm" in text and "mean pose" not in text


def test_unstated_reads_the_weights_the_run_used():
    config = profiles.get("smoke")
    assert config.ensemble
    last = {"ensemble_choice": {"used": "last", "members": ["snapshot_2"],
                                "reason": sources.Human36M.no_validation_reason}}
    rows = dict(choices.unstated(config, last))
    assert rows["snapshots kept / ensembled"].startswith(f"{config.snapshots} / no, last weights")
    used = {"ensemble_choice": {"used": "ensemble", "members": ["snapshot_1", "snapshot_2"]}}
    assert dict(choices.unstated(config, used))["snapshots kept / ensembled"] == \
        f"{config.snapshots} / yes (snapshot_1, snapshot_2)"
    assert "no run" in dict(choices.unstated(config))["snapshots kept / ensembled"]


def test_weights_used_names_the_members_and_the_reason():
    choice = {"used": "ensemble", "rule": "fixed", "members": ["snapshot_0", "snapshot_1"],
              "reason": sources.Human36M.no_validation_reason, "val_mpjpe_mm": {}}
    assert captions.weights_used({"ensemble_choice": choice}) == \
        f"ensemble of snapshot_0, snapshot_1 ({sources.Human36M.no_validation_reason})"
