"""checkpoint.config_diff on configs saved by older versions of posebook."""
from posebook import checkpoint, profiles


def test_run_saved_before_data_seed_keeps_its_people():
    """Before `data_seed`, `seed` also drew the synthetic people: an old seed-1 run was trained
    on other people than a new seed-1 run, so it must not be re-used; an old seed-0 run was not."""
    config = profiles.get("smoke")
    for seed, stale in ((0, False), (1, True)):
        old = config.replace(seed=seed).to_dict()
        del old["data_seed"]
        diff = checkpoint.config_diff(old, config.replace(seed=seed))
        assert diff == ({"data_seed": (seed, 0)} if stale else {}), (seed, diff)
