"""Chapter 06 (Table 1): the occlusion-probability ablation under the smoke profile.

The study is trained once per test session (smoke profile, runs in the conftest's temporary
POSEBOOK_RUNS); every number checked below is compared with the runs' own metrics.json.
"""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from posebook import ablation, paths, profiles, report, runs, train
from posebook.viz import results


@pytest.fixture(scope="module")
def study():
    config = profiles.get("smoke")
    return ablation.run(config, progress=False, jobs=2)   # worker processes, as on a CPU box


def test_plan_varies_only_p_and_seed():
    base = profiles.get("smoke")
    configs = ablation.plan(base)
    names = [ablation.run_name(c) for c in configs]
    assert len(set(names)) == len(names)
    main = [c for c in configs if c.seed in base.ablation_seeds]
    assert sorted({c.occlusion_p for c in main}) == sorted(ablation.PROBABILITIES)
    # single-seed profile: the spread is measured with extra seeds at SPREAD_P only
    extra = [c for c in configs if c.seed not in base.ablation_seeds]
    assert len(base.ablation_seeds) + len(extra) == ablation.N_SPREAD_SEEDS
    assert all(c.occlusion_p == ablation.SPREAD_P for c in extra)
    reference = configs[0].to_dict()
    for c in configs:
        diff = {k for k, v in c.to_dict().items() if reference[k] != v}
        assert diff <= {"occlusion_p", "seed"}, diff
    assert configs[0].steps == (base.ablation_steps or base.steps)


def test_run_config_caps_the_cycle():
    base = profiles.get("cpu").replace(steps=3000, cycle_steps=1000, ablation_steps=600)
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


def test_table1_reads_the_metrics_files(study):
    rows = ablation.summary(study)
    table = report.tables.table1(rows, report.sentences.ablation_caption(study))
    assert len(table.rows) == 4
    assert any("clean" in h for h in table.header) and any("occluded" in h for h in table.header)
    for row, p in zip(table.rows, ablation.PROBABILITIES):
        run = json.loads((paths.runs_dir() / ablation.run_name(
            ablation.run_config(study.base, p, 0)) / "metrics.json").read_text())
        assert row[1] == ablation.PAPER_TABLE1[p]
        assert row[2] == pytest.approx(run["test"]["mpjpe_mm"])
        assert row[3] == pytest.approx(run["test_occluded"]["mpjpe_mm"])
    text = table.to_markdown()
    assert "quoted" in text and "procedural fallback" in text and "synthetic" in text
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


def test_seed_spread_and_rerun_reuses(study):
    spread = ablation.seed_spread(study)
    assert spread["seeds"] == list(ablation.spread_seeds(study.base))
    assert spread["occluded_std_mm"] == pytest.approx(np.std(spread["occluded_mm"], ddof=1))
    assert spread["occluded_std_mm"] > 0          # different seeds do give different models
    assert all(ablation.finished(c) for c in ablation.plan(study.base))
    stamps = [(r.path / "metrics.json").stat().st_mtime_ns for r in study.results]
    again = ablation.run(study.base, progress=False)   # cached: nothing is retrained
    assert [(r.path / "metrics.json").stat().st_mtime_ns for r in again.results] == stamps
    assert [r.clean_mm for r in again.results] == [r.clean_mm for r in study.results]


def test_figures_and_breakdown_tables(study):
    rows = ablation.summary(study)
    fig = results.ablation_plot(rows, "t")
    assert len(fig.axes) == 2            # ours (measured) | paper (quoted), own axes
    assert len(fig.axes[1].lines) == 1 and list(fig.axes[1].lines[0].get_ydata()) == \
        [ablation.PAPER_TABLE1[p] for p in ablation.PROBABILITIES]
    by_count = ablation.count_summary(study)
    assert set(by_count) == set(ablation.PROBABILITIES)
    assert len(report.tables.counts(by_count).header) == 1 + len(ablation.PROBABILITIES)
    assert len(report.tables.covered(rows).rows) == 4
    results.count_plot(by_count)


@given(st.floats(-50, 50, allow_nan=False), st.floats(0.01, 10))
def test_verdict_uses_twice_the_spread(delta, spread):
    words = report.sentences.noise_verdict(delta, spread)
    assert ("within noise" in words) == (abs(delta) <= 2 * spread)


def test_mean_std():
    assert ablation.mean_std([3.0]) == (3.0, 0.0)
    mean, std = ablation.mean_std([1.0, 3.0])
    assert (mean, std) == (2.0, pytest.approx(np.sqrt(2.0)))
