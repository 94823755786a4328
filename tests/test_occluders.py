"""Procedural occluder bank and `load_bank`."""
from __future__ import annotations

import numpy as np
import pytest

from posebook import paths, profiles
from posebook.data import occluders


@pytest.mark.parametrize("kind", occluders.KINDS)
def test_each_kind_is_an_rgba_object_with_a_soft_edge(kind):
    rng = np.random.default_rng(1)
    for _ in range(5):
        occ = occluders.make_occluder(rng, kind)
        assert occ.dtype == np.uint8 and occ.ndim == 3 and occ.shape[2] == 4
        alpha = occ[..., 3]
        lo, hi = occluders.LONG_SIDE_RANGE_PX
        assert lo // 2 <= max(occ.shape[:2]) <= hi
        assert (alpha == 255).any()                                # opaque core
        assert ((alpha > 0) & (alpha < 255)).any()                # soft border
        rows, cols = np.nonzero(alpha)
        assert rows.min() == 0 and cols.min() == 0                # cropped tight to the object
        assert rows.max() == occ.shape[0] - 1 and cols.max() == occ.shape[1] - 1
        rgb = occ[..., :3][alpha > 127].astype(float)
        assert rgb.std(0).max() > 3                               # texture / shading, not flat


def test_bank_is_deterministic_varied_and_vocsized():
    a = occluders.procedural_bank(np.random.default_rng(5), 60)
    b = occluders.procedural_bank(np.random.default_rng(5), 60)
    assert len(a) == 60 and all(np.array_equal(x, y) for x, y in zip(a, b))
    stats = occluders.bank_stats(a)
    assert 50 <= stats["median_long_side_px"] <= 130               # ~ VOC at half resolution
    assert len({o.shape for o in a}) > 30


def test_bank_rejects_bad_sizes_and_kinds():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        occluders.procedural_bank(rng, 0)
    with pytest.raises(ValueError, match="kind must be one of"):
        occluders.make_occluder(rng, "piano")


def test_load_bank_labels_the_procedural_fallback():
    config = profiles.get("smoke")
    bank, label = occluders.load_bank(config)
    assert len(bank) == config.n_occluders_bank
    assert label == f"procedural fallback ({config.n_occluders_bank} objects)"


def test_the_bank_shown_is_the_bank_the_training_set_pastes():
    """Chapter 01 shows `load_bank(config)`; the training set pastes `PoseDataset.occluders`:
    the same objects, drawn from the data seed (not from `seed`, which varies across Table 1's
    runs of one protocol)."""
    from posebook.data.dataset import PoseDataset
    config = profiles.get("smoke")
    shown, _ = occluders.load_bank(config)
    pasted = PoseDataset(config, "train", cache="none").occluders
    assert len(shown) == len(pasted)
    assert all(np.array_equal(a, b) for a, b in zip(shown, pasted))
    other_seed, _ = occluders.load_bank(config.replace(seed=config.seed + 1))
    assert all(np.array_equal(a, b) for a, b in zip(shown, other_seed))
    other_data, _ = occluders.load_bank(config.replace(data_seed=config.data_seed + 1))
    assert not all(np.array_equal(a, b) for a, b in zip(shown, other_data))


def test_load_bank_voc_needs_a_root_and_never_falls_back_silently(tmp_path):
    config = profiles.get("smoke").replace(occluders="voc")
    with pytest.raises(ValueError, match="voc_root"):
        occluders.load_bank(config)
    with pytest.raises(FileNotFoundError, match="Annotations"):
        occluders.load_bank(config.replace(voc_root=str(tmp_path)))
    with pytest.raises(ValueError, match="'voc' or 'procedural'"):
        occluders.load_bank(config.replace(occluders="coco"))


def test_load_bank_voc_on_the_real_sample(tmp_path, monkeypatch):
    real = paths.realdata_dir()
    if real is None or not (real / "voc2012").is_dir():
        pytest.skip("real VOC sample not available (posebook.paths.realdata_dir() is None)")
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path))
    config = profiles.get("smoke").replace(occluders="voc", voc_root=str(real / "voc2012"))
    bank, label = occluders.load_bank(config)
    assert label == "Pascal VOC 2012 (1 objects)" and len(bank) == 1


def test_joint_coverage_grows_with_p_and_is_zero_without_occlusion():
    bank = occluders.procedural_bank(np.random.default_rng(0), 8)
    coverage = occluders.joint_coverage(bank, np.random.default_rng(1), 128, ps=(0, 1.0),
                                        n_frames=2, n_draws=2, count=(8, 8), side_px=64)
    assert set(coverage) == {0, 1.0}
    assert coverage[0] == 0.0 and 0.0 < coverage[1.0] <= 1.0
