"""The introduction's table: each chapter's headline number from the runs that exist, beside the
paper's quoted one; "not run" where a chapter has not run. Run folders are written by hand
here (config.json + metrics.json is what a finished run is to its readers)."""
import json

import pytest

from posebook import ablation, overview, paper_numbers, profiles, runs, table2, train


def _finished_run(name: str, config, mpjpe_mm: float, **test) -> None:
    folder = runs.folder(name)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config.to_json())
    test = {"n": 64, "mpjpe_mm": mpjpe_mm, **test}
    (folder / "metrics.json").write_text(json.dumps({
        "name": name, "config": config.to_dict(), "occluders": "procedural fallback (8 objects)",
        "backbone_weights": "random init (tiny has no ImageNet weights)", "steps": config.steps,
        "test": test, "test_occluded": {**test, "mpjpe_mm": mpjpe_mm + 10}}))


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    return profiles.get("smoke")


def test_every_chapter_says_not_run_before_its_run_exists(config):
    table = overview.table(config)
    assert [row[0] for row in table.rows] == ["05 training", "06 ablations", "07 Human3.6M",
                                              "08 your own image"]
    assert [row[2] for row in table.rows] == ["not run", "not run", "not run (needs Human3.6M)",
                                              "not run"]
    assert table.rows[0][3].startswith(f"{paper_numbers.H36M_PROTOCOL1_MPJPE_MM} (Human3.6M")
    assert table.rows[1][3].startswith("62.6 → 49.5 at p = 0.85 (challenge validation set")
    assert "quoted from Sárándi et al. 2018" in table.caption and "smoke profile" in table.caption


def test_rows_read_the_runs_the_chapters_made(config):
    _finished_run(train.book_run_name("smoke"), train.resolve(config), 123.45,
                  root_depth_error_mm=456.7, root_depth_error_pct=9.87)
    for c in ablation.plan(config):
        _finished_run(ablation.run_name(c), c, 200.0 - 100 * c.occlusion_p + c.seed)
    h36m = config.replace(dataset="h36m", h36m_root="unused")
    _finished_run(table2.run_name("smoke", config.setting), h36m, 70.0, protocol1_mm=61.25)
    rows = {row[0]: row for row in overview.table(config).rows}
    assert rows["05 training"][2] == "123.5"
    assert rows["05 training"][4] == ("smoke profile; synthetic people, 64 test images; tiny "
                                      "from random init")
    assert rows["06 ablations"][2] == "200.5 → 115.5 at p = 0.85 (seed std 0.7)"   # 2 seeds
    assert rows["07 Human3.6M"][2] == "61.2" and "Human3.6M subjects S1" in rows["07 Human3.6M"][4]
    assert rows["08 your own image"][2] == "457 (9.9% of the depth)"


def test_a_book_run_of_another_config_is_not_this_builds(config):
    _finished_run(train.book_run_name("smoke"), train.resolve(config.replace(seed=7)), 99.0)
    assert overview.training_row(config).book == overview.NOT_RUN
