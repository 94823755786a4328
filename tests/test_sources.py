"""Data sources: both sources answer every question of the protocol as posebook behaved before
it, and a third source plugs in through `sources.KINDS` alone (train, evaluate and the captions
unchanged)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from h36m_tree import make_release
from posebook import config as config_module, detect, evaluate, profiles, report, train
from posebook.data import h36m, h36m_prepare, sources, synthetic
from posebook.data.dataset import PoseDataset

SPLITS = ("train", "val", "test", "test_occluded")
SMOKE = profiles.get("smoke")


def test_every_dataset_name_has_a_source():
    assert set(sources.KINDS) == set(config_module.DATASETS)
    for name, kind in sources.KINDS.items():
        source = sources.for_config(SMOKE.replace(dataset=name, h36m_root="unused"))
        assert isinstance(source, kind) and source.name == name
    with pytest.raises(ValueError, match="config.dataset must be one of"):
        sources.for_config(SMOKE.replace(dataset="coco"))


def test_synthetic_source_answers_as_the_config_sizes_it():
    config = SMOKE.replace(n_train=12, n_val=6, n_test=7, data_seed=3)
    source = sources.for_config(config)
    assert sources.for_config(config.to_dict()) == source        # a saved config reads the same
    sizes = {"train": 12, "val": 6, "test": 7, "test_occluded": 7}
    for split in SPLITS:
        frames = source.frames(split)
        assert isinstance(frames, synthetic.SyntheticFrames) and len(frames) == sizes[split]
        assert (frames.seed, frames.frame_px) == (sources.split_seed(3, split), config.frame_px)
        assert source.subjects(split) == ()
    assert len({source.frames(s).seed for s in ("train", "val", "test")}) == 3   # disjoint
    assert source.frames("test").seed == source.frames("test_occluded").seed   # same people
    assert source.train_size() == 12
    assert source.has_validation and not source.protocol1 and source.people == "synthetic"
    assert source.family_names == synthetic.FAMILIES
    a = source.frame_cache_path("test")
    assert a == source.frame_cache_path("test_occluded") and a.name.startswith("synthetic-")
    for other in (config.replace(data_seed=4), config.replace(input_px=96),
                  config.replace(data_version=1),
                  config.replace(frame_px=320), config.replace(n_test=8)):
        assert sources.for_config(other).frame_cache_path("test") != a
    assert source.frame_cache_path("val") != a
    with pytest.raises(ValueError, match="split"):
        source.frames("training")


def test_synthetic_dataset_serves_its_source():
    config = SMOKE.replace(n_train=12, n_val=6, n_test=6, input_px=48, frame_px=160)
    for split in SPLITS:
        data = PoseDataset(config, split)
        assert len(data) == len(sources.for_config(config).frames(split))
        assert data.cache.path == sources.for_config(config).frame_cache_path(split)
        assert data.family_names == synthetic.FAMILIES


def test_human36m_answers_without_reading_the_data():
    """What captions and the ensemble choice ask needs no prepared folder."""
    source = sources.for_config(SMOKE.replace(dataset="h36m", h36m_root="/nowhere"))
    assert source.subjects("train") == h36m.TRAIN_SUBJECTS == ("S1", "S5", "S6", "S7", "S8")
    assert all(source.subjects(s) == h36m.TEST_SUBJECTS == ("S9", "S11") for s in SPLITS[1:])
    final = sources.for_config(SMOKE.replace(dataset="h36m", h36m_root="/nowhere",
                                             setting="challenge", train_on_val=True))
    assert final.subjects("train") == h36m.TRAIN_SUBJECTS + h36m.TEST_SUBJECTS
    assert final.subjects("test") == h36m.TEST_SUBJECTS
    assert not source.has_validation and "S9/S11" in source.no_validation_reason
    assert source.protocol1 and source.people == "Human3.6M"
    assert source.family_names == h36m.ACTIONS
    assert all(source.frame_cache_path(s) is None for s in SPLITS)   # read per item
    with pytest.raises(FileNotFoundError, match="prepare-h36m"):
        source.train_size()
    with pytest.raises(ValueError, match="h36m_root is empty"):
        sources.for_config(SMOKE.replace(dataset="h36m")).frames("train")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """The generated release (S1 and S9, as tests/test_h36m.py), prepared with detector boxes."""
    tmp = tmp_path_factory.mktemp("h36m_sources")
    release = make_release(tmp / "release")

    class FixedBox:
        name = "fixed test box"

        def __call__(self, image_rgb):
            return detect.Detections(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([0.9]), self.name)

    h36m_prepare.prepare(release, tmp / "out", subjects=("S1", "S9"), progress=False,
                         detector=FixedBox())
    return tmp / "out"


def test_human36m_source_serves_the_protocol1_subjects(prepared):
    config = SMOKE.replace(dataset="h36m", h36m_root=str(prepared))
    source = sources.for_config(config)
    index = h36m.load_index(prepared)
    n_train, n_test = (int(np.isin(index["subject"], s).sum())
                       for s in (h36m.TRAIN_SUBJECTS, h36m.TEST_SUBJECTS))
    assert n_train > 0 and n_test > 0
    assert source.train_size() == len(source.frames("train")) == n_train
    for split in SPLITS[1:]:
        frames = source.frames(split)
        assert len(frames) == n_test and set(frames.index["subject"]) == {"S9"}
        assert frames.box_key == "box_xywh_px" and frames.focal_px is None
    assert set(source.frames("train").index["subject"]) == {"S1"}
    data = PoseDataset(config, "test")
    assert data.cache is None and data.family_names == h36m.ACTIONS and len(data) == n_test
    assert train.resolve(config.replace(steps=0, epochs=2.0, batch_size=2)).steps == \
        2 * (n_train // 2)                                    # the epoch is the source's

    challenge = sources.for_config(config.replace(setting="challenge", train_on_val=True,
                                                  focal_px=1234.0))
    assert challenge.train_size() == n_train + n_test         # S9 trains too (train_on_val)
    frames = challenge.frames("test")
    assert frames.box_key == "box_det_xywh_px" and frames.focal_px == 1234.0
    np.testing.assert_array_equal(frames.frame(0).box_xywh_px, [1, 2, 3, 4])


# --- a third source, through the protocol alone ---------------------------------------------
@dataclass(frozen=True)
class Rig:
    """A minimal third source: synthetic people as named subjects, families as "actions",
    protocol 1, no validation split of its own, nothing cached."""

    config: object
    name = "rig"
    people = "rig"
    family_names = tuple(synthetic.FAMILIES)
    protocol1 = True
    has_validation = False
    no_validation_reason = "rig: the validation people are the test people"

    def frames(self, split):
        sizes = {"train": 6, "val": 2, "test": 4, "test_occluded": 4}
        return synthetic.SyntheticFrames(sources.split_seed(self.config.data_seed, split),
                                         sizes[split], self.config.frame_px)

    def train_size(self):
        return 6

    def subjects(self, split):
        return ("R1", "R2") if split == "train" else ("R3",)

    def frame_cache_path(self, split):
        return None


@pytest.fixture
def rig(monkeypatch, tmp_path):
    monkeypatch.setitem(sources.KINDS, "rig", Rig)
    monkeypatch.setattr(config_module, "DATASETS", (*config_module.DATASETS, "rig"))
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    return SMOKE.replace(dataset="rig", steps=0, epochs=2.0, batch_size=2, snapshots=2,
                         cycle_epochs=1.0, eval_every=0, num_workers=0)


def test_a_third_source_plugs_in_through_the_protocol(rig):
    config = train.resolve(rig)
    assert (config.steps, config.cycle_steps) == (6, 3)       # 2 epochs of 6 // 2 batches
    assert len(PoseDataset(config, "train")) == 6 and PoseDataset(config, "test").cache is None
    run_dir = train.train(config, "rig", progress=False)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["dataset"] == "rig" and m["test"]["n"] == 4 and m["steps"] == 6
    assert m["test"]["protocol1_mm"] == pytest.approx(
        np.mean(list(m["test"]["per_family_mm"].values())))   # mean over its "actions"
    choice = m["ensemble_choice"]                             # fixed: nothing scored on "val"
    assert choice["rule"] == "fixed" and choice["reason"] == Rig.no_validation_reason
    assert choice["used"] == "ensemble" and choice["val_mpjpe_mm"] == {}
    assert evaluate.protocol1_line(m["test"], config) == (
        f"rig protocol 1 (mean over actions of the per-action MPJPE, no Procrustes): "
        f"{m['test']['protocol1_mm']:.1f} mm")
    typed = report.RunMetrics.from_dict(m)
    assert report.sentences.training_subjects(typed) == ("R1", "R2")
    assert report.sentences.training_data(typed) == "rig subjects R1, R2"
    assert "on rig test people" in report.sentences.real_frames_verdict(None, typed)
    del m["test"]["n"]
    assert report.sentences.test_size(report.RunMetrics.from_dict(m)) == 4
