"""Chapter 06 (Table 1): the occlusion-probability ablation under the smoke profile.

The study is trained once per test session (smoke profile, runs in the conftest's temporary
POSEBOOK_RUNS); every number checked below is compared with the runs' own metrics.json.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from posebook import ablation, paths, profiles, report, runs, train
from posebook.config import RunConfig
from posebook.viz import results


@pytest.fixture(scope="module")
def study():
    config = profiles.get("smoke")
    return ablation.run(config, progress=False, jobs=2)   # worker processes, as on a CPU box


def test_plan_varies_only_p_and_seed():
    base = profiles.get("smoke")
    configs = ablation.plan(base)
    names = [ablation.run_name(c) for c in configs]
    assert len(set(names)) == len(names) == len(base.ablation_p) * len(base.ablation_seeds)
    assert {(c.occlusion_p, c.seed) for c in configs} == {
        (p, s) for p in base.ablation_p for s in base.ablation_seeds}
    reference = configs[0].to_dict()
    for c in configs:
        diff = {k for k, v in c.to_dict().items() if reference[k] != v}
        assert diff <= {"occlusion_p", "seed"}, diff
    assert configs[0].steps == (base.ablation_steps or base.steps)
    # the protocol: the profile with its ablation_set changes (Human3.6M-shaped subjects)
    assert all(c.dataset == "synthetic_subjects" for c in configs)
    cpu = ablation.plan(profiles.get("cpu"))
    assert len(cpu) >= 6 and {c.n_train for c in cpu} == {200} and {c.input_px for c in cpu} == {64}
    for p in (0.0, max(profiles.get("cpu").ablation_p)):     # >= 3 seeds at both ends
        assert len([c for c in cpu if c.occlusion_p == p]) >= 3


@pytest.mark.parametrize("item, words", [
    ("occlusion_p=0.3", "chosen by the ablation itself"), ("seed=4", "chosen by the ablation"),
    ("ablation_steps=3", "chosen by the ablation"), ("no_such_key=1", "unknown config key"),
    ("n_train=many", "expects int")])
def test_protocol_refuses_a_bad_change(item, words):
    base = profiles.get("smoke").replace(ablation_set=(item,))
    with pytest.raises(ValueError, match=words) as error:
        ablation.plan(base)
    assert "ablation_set" in str(error.value)


def test_ablation_fields_parse_from_the_command_line():
    config = profiles.get("smoke", ["ablation_p=0,0.5", "ablation_set=n_train=64,input_px=32"])
    assert config.ablation_p == (0.0, 0.5) and config.ablation_set == ("n_train=64", "input_px=32")
    assert RunConfig.from_dict(json.loads(config.to_json())) == config
    with pytest.raises(ValueError, match="ablation_p must be one or more distinct"):
        profiles.get("smoke", ["ablation_p=0,1.5"]).validate()
    with pytest.raises(ValueError, match="ablation_seeds must be one or more distinct"):
        profiles.get("smoke", ["ablation_seeds=1,1"]).validate()


def test_run_config_caps_the_cycle():
    base = profiles.get("cpu").replace(steps=3000, cycle_steps=1000, ablation_steps=600,
                                       ablation_set=())
    c = ablation.run_config(base, 0.15, 4)
    assert (c.steps, c.cycle_steps, c.occlusion_p, c.seed) == (600, 600, 0.15, 4)
    c = ablation.run_config(base.replace(ablation_steps=2500), 0.5, 0)
    assert (c.steps, c.cycle_steps) == (2500, 1000)
    c = ablation.run_config(base.replace(ablation_steps=0), 0.5, 0)
    assert (c.steps, c.cycle_steps) == (3000, 1000)
    with pytest.raises(ValueError, match="occlusion_p"):
        ablation.run_config(base, 1.5, 0)


def test_a_finished_epoch_based_run_counts_as_finished(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    base = profiles.get("smoke").replace(steps=0, epochs=2.0, ablation_steps=0)
    config = ablation.run_config(base, 0.5, 0)
    assert config.steps == 2 * 256 // 16 and train.resolve(config) == config   # resolved
    folder = runs.folder(ablation.run_name(config))
    folder.mkdir()
    (folder / "config.json").write_text(train.resolve(config).to_json())   # as `train` writes it
    (folder / "metrics.json").write_text('{"test": {"mpjpe_mm": 1.0}}')
    assert ablation.finished(config)
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert train.run_cached(config, ablation.run_name(config)) == folder
    (folder / "metrics.json").unlink()
    assert not ablation.finished(config)
    (folder / "metrics.json").write_text('{"test": {"mpjpe_mm": 1.0}}')
    (folder / "config.json").write_text(json.dumps({**config.to_dict(), "retired_key": 1}))
    assert not ablation.finished(config)        # an older posebook's run: retrain, no crash


def _cell(values):
    values = [v for v in values]
    mean, std = ablation.mean_std(values)
    return f"{mean:.1f} ± {std:.1f}"


def test_table1_reads_the_metrics_files(study):
    rows = ablation.summary(study)
    table = report.tables.table1(rows, report.sentences.ablation_caption(study))
    assert len(table.rows) == len(study.base.ablation_p) == 2
    for row, p in zip(table.rows, study.base.ablation_p):
        runs_ = [json.loads((paths.runs_dir() / ablation.run_name(
            ablation.run_config(study.base, p, s)) / "metrics.json").read_text())
            for s in study.base.ablation_seeds]
        assert row[1] == ablation.PAPER_TABLE1[p]
        assert row[2] == _cell([r["train"]["mpjpe_mm"] for r in runs_])
        assert row[3] == _cell([r["test"]["mpjpe_mm"] for r in runs_])
        assert row[4] == _cell([r["test"]["mpjpe_mm"] - r["train"]["mpjpe_mm"] for r in runs_])
        assert row[5] == _cell([r["test_occluded"]["mpjpe_mm"] for r in runs_])
        assert row[6] == "2"
    text = table.to_markdown()
    assert "quoted" in text and "procedural fallback" in text and "synthetic_subjects" in text
    assert "'smoke'" in text


def test_per_count_agrees_with_metrics(study):
    for r in study.results:
        metrics = json.loads((r.path / "metrics.json").read_text())["test_occluded"]
        counts = r.per_count
        assert sum(k for _, k in counts.values()) == metrics["n"]
        assert all(1 <= n <= 8 for n in counts)
        weighted = sum(mm * k for mm, k in counts.values()) / metrics["n"]
        assert weighted == pytest.approx(metrics["mpjpe_mm"], rel=1e-6)
        assert r.covered_mm == metrics["occluded_mm"] and r.uncovered_mm == metrics["visible_mm"]


def test_seed_spread_pools_the_probabilities_and_rerun_reuses(study):
    spread = ablation.seed_spread(study)
    groups = [[r.occluded_mm for r in study.at(p)] for p in study.base.ablation_p]
    pooled = np.sqrt(sum(np.var(g, ddof=1) * (len(g) - 1) for g in groups)
                     / sum(len(g) - 1 for g in groups))
    assert spread["occluded_std_mm"] == pytest.approx(pooled)
    assert spread["dof"] == sum(len(g) - 1 for g in groups) == 2
    assert spread["occluded_std_mm"] > 0          # different seeds do give different models
    assert all(ablation.finished(c) for c in ablation.plan(study.base))
    stamps = [(r.path / "metrics.json").stat().st_mtime_ns for r in study.results]
    again = ablation.run(study.base, progress=False)   # cached: nothing is retrained
    assert [(r.path / "metrics.json").stat().st_mtime_ns for r in again.results] == stamps
    assert [r.clean_mm for r in again.results] == [r.clean_mm for r in study.results]


def test_gain_and_its_sentences():
    rows = [{"p": 0.0, "train_mm": 80.0, "clean_mm": 140.0, "occluded_mm": 200.0, "gap_mm": 60.0},
            {"p": 0.15, "train_mm": 90.0, "clean_mm": 133.0, "occluded_mm": 160.0, "gap_mm": 43.0},
            {"p": 0.85, "train_mm": 95.0, "clean_mm": 135.0, "occluded_mm": 150.0, "gap_mm": 40.0}]
    spread = {"clean_std_mm": 2.0, "occluded_std_mm": 4.0}
    clean = ablation.best_gain(rows, spread, "clean_mm")
    occluded = ablation.best_gain(rows, spread, "occluded_mm")
    assert (clean.p, clean.delta_mm, clean.noise_multiple) == (0.15, -7.0, 3.5)
    assert (occluded.p, occluded.delta_mm, occluded.noise_multiple) == (0.85, -50.0, 12.5)
    assert "3.5 times" in report.table1.gain(clean, "clean test") and "beyond noise" in \
        report.table1.gain(clean, "clean test")
    assert "the paper's shape" in report.table1.shape(clean, occluded)
    small = ablation.best_gain(rows, {"clean_std_mm": 4.0}, "clean_mm")
    assert "within noise" in report.table1.gain(small, "clean test")
    assert report.table1.shape(small, occluded).startswith("Only half")
    worse = ablation.Gain("clean_mm", 0.85, +8.0, 2.0)          # beyond noise, the wrong way
    assert report.table1.shape(worse, occluded).startswith("Only half")
    assert "closes more of the gap than it costs" in report.table1.fit_and_gap(rows, 0.15, 2.0)
    assert "costs more in fit" in report.table1.fit_and_gap(
        [rows[0], {**rows[1], "train_mm": 110.0}], 0.15, 2.0)      # +30 fit, -17 gap
    assert "the two cancel" in report.table1.fit_and_gap(
        [rows[0], {**rows[1], "train_mm": 96.0}], 0.15, 2.0)       # +16 fit, -17 gap
    assert "does not close the gap" in report.table1.fit_and_gap(
        [rows[0], {**rows[1], "gap_mm": 61.0}], 0.15, 2.0)
    one_seed = ablation.best_gain(rows, {"clean_std_mm": float("nan")}, "clean_mm")
    assert "no seed-to-seed noise" in report.table1.gain(one_seed, "clean test")
    with pytest.raises(ValueError, match="needs p = 0"):
        ablation.best_gain(rows[1:], spread)


def test_figures_and_breakdown_tables(study):
    rows = ablation.summary(study)
    fig = results.ablation_plot(rows, "t")
    assert len(fig.axes) == 2            # ours (measured) | paper (quoted), own axes
    assert len(fig.axes[1].lines) == 1 and list(fig.axes[1].lines[0].get_ydata()) == \
        list(ablation.PAPER_TABLE1.values())        # the paper's whole curve, whatever we trained
    by_count = ablation.count_summary(study)
    assert set(by_count) == set(study.base.ablation_p)
    assert len(report.tables.counts(by_count).header) == 1 + len(study.base.ablation_p)
    assert len(report.tables.covered(rows).rows) == len(study.base.ablation_p)
    results.count_plot(by_count)


@given(st.floats(-50, 50, allow_nan=False), st.floats(0.01, 10))
def test_verdict_uses_twice_the_spread(delta, spread):
    words = report.table1.gain(ablation.Gain("clean_mm", 0.85, delta, spread), "clean test")
    assert ("within noise" in words) == (abs(delta) <= 2 * spread)


def test_mean_std():
    assert ablation.mean_std([3.0]) == (3.0, 0.0)
    mean, std = ablation.mean_std([1.0, 3.0])
    assert (mean, std) == (2.0, pytest.approx(np.sqrt(2.0)))


def test_default_jobs_counts_the_runs_own_loader_workers(monkeypatch):
    from posebook import runtime
    monkeypatch.setattr(runtime, "usable_cores", lambda: 2)
    cpu = profiles.get("cpu", ["device=cpu"])
    assert cpu.num_workers == 1 and ablation.protocol(cpu).num_workers == 0
    assert ablation.default_jobs(cpu) == 2          # one run per core: the protocol's loader
    assert ablation.default_jobs(cpu.replace(ablation_set=())) == 1     # 1 thread + 1 worker


def test_caches_are_warmed_once_per_data_seed_and_only_for_splits_with_frames():
    configs = ablation.plan(profiles.get("cpu"))          # n_val=0 in its protocol
    assert [split for _, split in ablation.warm_tasks(configs)] == ["train", "test"]
    smoke = ablation.plan(profiles.get("smoke"))
    assert [split for _, split in ablation.warm_tasks(smoke)] == ["train", "val", "test"]
    two = ablation.warm_tasks(smoke + [c.replace(data_seed=1) for c in smoke])
    assert len(two) == 6 and {d["data_seed"] for d, _ in two} == {0, 1}


def test_the_cpu_regime_with_the_papers_shape_is_one_overrides_parameter_away():
    """Chapter 06 prints `profiles.TABLE1_CPU_PAPER_SHAPE` as papermill overrides; given so (one
    text), its cells plan exactly the runs of benchmarks/RESULTS.md's "regime probe 3"."""
    import shlex

    parameterize = pytest.importorskip("papermill.parameterize")
    from papermill.iorw import load_notebook_node
    root = Path(__file__).resolve().parent.parent
    notebook = parameterize.parameterize_notebook(
        load_notebook_node(str(root / "chapters" / "06_ablations.ipynb")),
        {"profile": "cpu", "overrides": " ".join(profiles.TABLE1_CPU_PAPER_SHAPE)})
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    start = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    for cell in cells[start:start + 3]:              # defaults, papermill's, profiles.get
        exec(cell.source, namespace)
    configs = ablation.plan(namespace["config"])
    assert sorted((c.occlusion_p, c.seed) for c in configs) == [
        (p, s) for p in (0.0, 0.5) for s in (0, 1, 2)]
    assert {(c.backbone, c.input_px, c.stride, c.n_train, c.steps, c.cycle_steps, c.dataset)
            for c in configs} == {("mobilenet_v3_small", 64, 16, 200, 3000, 3000,
                                   "synthetic_subjects")}
    assert shlex.split(" ".join(profiles.TABLE1_CPU_PAPER_SHAPE)) == list(
        profiles.TABLE1_CPU_PAPER_SHAPE)                 # survives the chapter's shlex.quote
