"""The reading layer: typed metrics, the one table type, captions and verdicts read a run's own
metrics.json (moved here from test_captions.py and the table tests of evaluate and viz)."""
import pytest

from posebook import choices, profiles, report
from posebook.data import sources
from posebook.report import sentences, tables


def _raw(dataset="synthetic", n=64, baseline=250.0, **config):
    """A metrics.json dict of a run: its config, test size `n` and mean-pose baseline."""
    base = profiles.get("smoke").replace(**({"dataset": dataset, "h36m_root": "unused"}
                                            if dataset != "synthetic" else {}), **config)
    return {"name": "run", "config": base.to_dict(), "occluders": "procedural fallback (8 objects)",
            "backbone_weights": "random init (tiny has no ImageNet weights)", "steps": 10,
            "test": {"n": n, "mpjpe_mm": 120.0, "mean_pose_baseline_mm": baseline}}


def _metrics(*args, **kwargs) -> report.RunMetrics:
    return report.RunMetrics.from_dict(_raw(*args, **kwargs))


def test_typed_metrics_read_every_key_and_default_what_an_older_run_lacks():
    m = _metrics()
    assert m.test.mpjpe_mm == 120.0 and m.test.n == 64 and m.test.protocol1_mm is None
    assert m.config == profiles.get("smoke") and m.members == ("last",) and not m.uses_ensemble
    with pytest.raises(ValueError, match="no 'test_occluded' split"):
        m.split("test_occluded")
    with pytest.raises(ValueError, match="have no config and test split"):
        report.RunMetrics.from_dict({"name": "x"})
    choice = {"used": "ensemble", "rule": "fixed", "members": ["snapshot_0", "snapshot_1"],
              "reason": "r", "val_mpjpe_mm": {}}
    m = report.RunMetrics.from_dict({**_raw(), "ensemble_choice": choice})
    assert m.members == ("snapshot_0", "snapshot_1") and m.uses_ensemble


def test_read_and_find_go_through_the_run_folder(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(profiles.get("smoke").to_json())
    assert report.find(run_dir) is None                       # not finished: no metrics.json
    with pytest.raises(FileNotFoundError, match="has not finished"):
        report.read(run_dir)
    import json
    (run_dir / "metrics.json").write_text(json.dumps(_raw()))
    assert report.read(run_dir).test.mpjpe_mm == 120.0
    assert report.find(tmp_path / "no_such_run") is None


def test_table_renders_markdown_and_html_alike():
    table = report.Table(("", "a", "b"), [("x", 1.25, None), ("y", 3, "t<")], caption="c",
                         separators=(1,))
    assert table.to_markdown() == "**c**\n\n| | a | b |\n|---|---|---|\n| x | 1.2 | — |\n" \
                                  "| | | |\n| y | 3 | t< |\n"
    assert repr(table) == str(table) == table.to_markdown()
    html = table._repr_html_()
    assert "<caption>c</caption>" in html and "t&lt;" in html and "double" in html
    assert html.startswith(f'<div class="{report.table.HTML_CLASS}" style="overflow-x: auto')
    assert html.endswith("</table></div>")                   # wide tables scroll, not cut off
    with pytest.raises(ValueError, match="has 1 cells, header has 3"):
        report.Table(("", "a", "b"), [("x",)])


def test_run_summary_table_reads_both_test_sets():
    raw = _raw()
    raw["test_occluded"] = {"mpjpe_mm": 150.0, "pa_mpjpe_mm": 90.0}
    text = tables.summary(report.RunMetrics.from_dict(raw)).to_markdown()
    assert text.startswith("| | clean test | occluded test |\n|---|---|---|\n| MPJPE (mm) | 120.0 "
                           "| 150.0 |")
    assert "| PA-MPJPE (mm) | — | 90.0 |" in text


def test_caption_gives_the_measured_test_size_not_the_config():
    assert "(3 test images;" in sentences.run_caption(_metrics("h36m", n=3))
    assert "(64 test images;" in sentences.run_caption(_metrics(n=64))


def test_real_frames_verdict_says_what_the_run_trained_on_and_if_it_saw_the_subjects():
    real = {"n": 2, "mpjpe_mm": 150.0, "mean_pose_baseline_mm": 200.0,
            "per_frame_mm": {"S1/S1_Directions_1.54138969/a.jpg": 140.0,
                             "S9/S9_Walking.54138969/b.jpg": 160.0}}
    synthetic = sentences.real_frames_verdict(real, _metrics())
    assert "trained on synthetic people" in synthetic and "not held out" not in synthetic
    h36m = sentences.real_frames_verdict(real, _metrics("h36m"))
    assert "trained on Human3.6M subjects S1, S5, S6, S7, S8" in h36m
    assert "on Human3.6M test people" in h36m and "synthetic" not in h36m
    assert "their subjects S1 were in this run's training data" in h36m
    seen_all = sentences.real_frames_verdict(real, _metrics("h36m", setting="challenge",
                                                            train_on_val=True))
    assert "their subjects S1, S9 were in" in seen_all
    facing = sentences.real_frames_verdict(
        {**real, "per_frame_facing_deg": {"a": 170.0, "b": 20.0}}, _metrics())
    assert "by more than 90° on 1 of 2 frames (median 95°)" in facing
    subjects = sentences.real_frames_verdict(real, _metrics("synthetic_subjects"))
    assert "synthetic subjects S1, S5" in subjects      # named like Human3.6M's, not the same
    assert "not held out" not in subjects               # people: the real S1 was never seen


def test_real_frames_verdict_without_a_mean_pose():
    no_baseline = _metrics(baseline=None)
    real = {"n": 1, "mpjpe_mm": 150.0, "mean_pose_baseline_mm": None, "per_frame_mm": {}}
    assert "no mean training pose" in sentences.real_frames_verdict(real, no_baseline)
    text = sentences.real_frames_verdict(None, no_baseline)
    assert "off by 120 mm" in text and "mean pose" not in text


def test_unstated_reads_the_weights_the_run_used():
    config = profiles.get("smoke")
    assert config.ensemble
    last = report.RunMetrics.from_dict({**_raw(), "ensemble_choice": {
        "used": "last", "members": ["snapshot_2"], "reason": sources.Human36M.no_validation_reason}})
    rows = dict(choices.unstated(config, last))
    assert rows["snapshots kept / ensembled"].startswith(f"{config.snapshots} / no, last weights")
    used = report.RunMetrics.from_dict({**_raw(), "ensemble_choice": {
        "used": "ensemble", "members": ["snapshot_1", "snapshot_2"]}})
    assert dict(choices.unstated(config, used))["snapshots kept / ensembled"] == \
        f"{config.snapshots} / yes (snapshot_1, snapshot_2)"
    assert "no run" in dict(choices.unstated(config))["snapshots kept / ensembled"]
    assert choices.table(config, used).caption.endswith("in run run")


def test_weights_used_names_the_members_and_the_reason():
    choice = {"used": "ensemble", "rule": "fixed", "members": ["snapshot_0", "snapshot_1"],
              "reason": sources.Human36M.no_validation_reason, "val_mpjpe_mm": {}}
    m = report.RunMetrics.from_dict({**_raw(), "ensemble_choice": choice})
    assert sentences.weights_used(m) == \
        f"ensemble of snapshot_0, snapshot_1 ({sources.Human36M.no_validation_reason})"


def test_variants_table_names_how_the_weights_were_chosen():
    variants = {"test/flip/ensemble": 5.0, "test/flip/last": 6.0}
    fixed = report.RunMetrics.from_dict({**_raw(), "variants": variants, "ensemble_choice": {
        "used": "last", "rule": "fixed", "members": ["snapshot_2"], "reason": "off"}})
    assert "fixed by the profile (last weights)" in tables.variants(fixed).to_markdown()
    chosen = report.RunMetrics.from_dict({**_raw(), "variants": variants, "ensemble_choice": {
        "used": "ensemble", "rule": "validation", "members": ["snapshot_1", "snapshot_2"],
        "reason": "best", "val_mpjpe_mm": {"last weights": 7.0, "ensemble of x": 6.5}}})
    assert "chosen on validation (ensemble of snapshot_1, snapshot_2)" in \
        tables.variants(chosen).to_markdown()
    text = tables.ensemble_choice(chosen).to_markdown()
    assert "| ensemble of x | 6.5 |" in text and "| **used: ensemble of snapshot_1, snapshot_2** " \
        "| best |" in text
    assert sentences.ensemble_verdict(chosen).startswith("Validation chose the best; it also helps")


@pytest.mark.parametrize("swapped, tells", [(150.0, True), (130.0, False)])
def test_left_right_verdict_needs_the_swapped_error_well_above(swapped, tells):
    split = report.SplitMetrics(mpjpe_mm=120.0, lr_swapped_mpjpe_mm=swapped)
    assert ("tells the person's left from right" in sentences.left_right_verdict(split)) == tells


def test_real_frames_table_is_stamped_with_the_run():
    real = {"n": 2, "mpjpe_mm": 150.0, "mean_pose_baseline_mm": 200.0,
            "per_frame_mm": {"a.jpg": 140.0, "b.jpg": 160.0},
            "per_frame_facing_deg": {"a.jpg": 20.0, "b.jpg": 170.0}}
    table = tables.real_frames(real, _metrics())
    assert table.rows == (("a.jpg", 140.0, 20.0), ("b.jpg", 160.0, 170.0))
    assert "profile 'smoke'" in table.caption and "random init" in table.caption
    assert tables.real_frames(None, _metrics()) is None


def test_table2_runs_names_each_run_or_says_none():
    m = _metrics()
    assert sentences.table2_runs({}, None) == \
        "Human3.6M runs: none. Synthetic run (chapter 05): not run yet."
    assert sentences.table2_runs({"protocol1": m}, m) == ("Human3.6M runs: protocol1 setting in "
                                                          "runs/run. Synthetic run (chapter 05): "
                                                          "runs/run.")


@pytest.mark.parametrize("loss, trained", [("root_relative", "still trains the depth head"),
                                           ("absolute", "put the person at the right distance")])
def test_absolute_depth_note_states_the_measured_root_depth_error(loss, trained):
    raw = _raw()
    raw["test"].update(root_depth_error_mm=312.4, root_depth_error_pct=6.04)
    note = sentences.absolute_depth_note(report.RunMetrics.from_dict(raw).test, loss)
    assert trained in note and "untrained" not in note
    assert note.endswith("On its 64 test images the pelvis depth is off by 312 mm on average "
                         "(6.0% of the true depth), against a root-relative MPJPE of 120 mm.")
    with pytest.raises(ValueError, match="evaluate.test_split"):
        sentences.absolute_depth_note(_metrics().test, loss)


def test_paper_comparison_quotes_the_paper_and_names_what_differs():
    from posebook import paper_numbers
    text = report.paper.paper_comparison(_metrics())
    assert f"{paper_numbers.H36M_PROTOCOL1_MPJPE_MM} mm on Human3.6M protocol 1" in text
    assert "49.5 mm on the 2018 challenge's validation set" in text and "about 50-55 mm" in text
    assert "quoted from Sárándi et al. 2018" in text and "ImageNet-pretrained weights" in text
    assert "starts from random weights (random init (tiny" in text and "Its 120.0 mm" in text
    imagenet = report.RunMetrics.from_dict({**_raw(), "backbone_weights":
                                            "ImageNet weights from /cache/resnet18.pth"})
    assert "starts from ImageNet (resnet18.pth)" in report.paper.paper_comparison(imagenet)


def test_validation_vs_test_compares_the_same_weights_and_flip_on_both_splits():
    raw = {**_raw(), "variants": {"test/flip/last": 135.7, "test/no_flip/last": 139.0},
           "ensemble_choice": {"used": "last", "rule": "validation", "members": ["last"],
                               "val_mpjpe_mm": {"last weights": 138.0}}}
    history = {"val_step": [100, 200], "val_mpjpe_mm": [150.0, 141.2]}
    text = report.paper.validation_vs_test(report.RunMetrics.from_dict(raw), history)
    assert "138.0 mm on validation and 135.7 mm on test (with flip TTA on both)" in text
    assert "the 2.3 mm between them is sampling" in text
    assert "ends at 141.2 mm (update 200)" in text and "without flip TTA" in text
    assert "no validation" in report.paper.validation_vs_test(_metrics(), {})


def test_table2_keeps_the_synthetic_row_out_of_the_human36m_columns():
    table = tables.h36m_table2({}, _metrics(), "smoke")
    assert table.header[2:] == (*tables.TABLE2_HEADER[2:], tables.OTHER_TEST_SET)
    synthetic = table.rows[-1]
    assert "NOT Human3.6M" in synthetic[0] and synthetic[2:] == (None, None, 120.0)
    assert all(row[4] is None for row in table.rows[:-1])
    assert tables.h36m_table2({}, None, "smoke").rows[-1][2:] == (None, None, "not run")


def test_trained_heatmaps_note_compares_with_the_untrained_ones():
    before = {"peak": "1.2", "offset": "3", "verdict": "flat"}
    assert "not been trained yet" in sentences.trained_heatmaps_note(None, before)
    sharp = sentences.trained_heatmaps_note({"peak": "40.5", "offset": "18", "verdict": ""}, before)
    assert "40.5 times a uniform cell's probability (1.2 before)" in sharp
    assert "18 px from the crop centre on average (3 before)" in sharp and "sharpened" in sharp
    assert "barely" in sentences.trained_heatmaps_note({"peak": "1.5", "offset": "4"}, before)
