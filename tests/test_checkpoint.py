"""Configs saved by older versions of posebook: read (`RunConfig.from_dict`) and compared
(`checkpoint.config_diff`) alike."""
from posebook import checkpoint, profiles
from posebook.config import DATA_VERSION, RunConfig


def test_run_saved_before_data_seed_keeps_its_people():
    """Before `data_seed`, `seed` also drew the synthetic people: an old seed-1 run was trained
    on other people than a new seed-1 run, so it must not be re-used; an old seed-0 run was not."""
    config = profiles.get("smoke")
    for seed, stale in ((0, False), (1, True)):
        old = config.replace(seed=seed).to_dict()
        del old["data_seed"]
        diff = checkpoint.config_diff(old, config.replace(seed=seed))
        assert diff == ({"data_seed": (seed, 0)} if stale else {}), (seed, diff)


def test_an_old_config_reads_as_it_ran_and_compares_equal_to_itself():
    """Before `loss_frame` the loss was in the crop frame, before `data_seed` `seed` drew the
    people: `from_dict` (runs.load, train --resume) must say so, as `config_diff` does."""
    old = profiles.get("smoke").replace(seed=3).to_dict()
    del old["loss_frame"], old["data_seed"]
    loaded = RunConfig.from_dict(old)
    assert (loaded.loss_frame, loaded.data_seed) == ("crop", 3)
    assert checkpoint.config_diff(old, loaded) == {}
    assert checkpoint.config_diff(loaded.to_dict(), loaded) == {}


def test_a_synthetic_run_from_mirror_image_people_is_not_reused():
    """Before `data_version` the synthetic people were mirror images (issue 29): such a run
    reads as version 1, differs from today's config (so `run_cached` retrains it and `--resume`
    refuses it), and version 1 cannot be asked for. Human3.6M runs are not affected."""
    import pytest
    old = profiles.get("smoke").to_dict()
    del old["data_version"]
    assert RunConfig.from_dict(old).data_version == 1
    assert checkpoint.config_diff(old, profiles.get("smoke")) == {
        "data_version": (1, DATA_VERSION)}
    with pytest.raises(ValueError, match="data_version must be 2"):
        RunConfig.from_dict(old).validate()
    from posebook.data import sources           # nor is such a run evaluated on new people
    for dataset in ("synthetic", "synthetic_subjects"):
        stale = RunConfig.from_dict({**old, "dataset": dataset, "data_version": 1})
        with pytest.raises(ValueError, match="data_version 1 .*mirror images"):
            sources.for_config(stale).frames("test")
    h36m = profiles.get("paper").replace(h36m_root="/data/h36m").to_dict()
    del h36m["data_version"]
    assert checkpoint.config_diff(h36m, RunConfig.from_dict(h36m)) == {}
    assert RunConfig.from_dict(h36m).data_version == DATA_VERSION
