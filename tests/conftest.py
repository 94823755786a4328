"""Fixtures shared by test files (the test-wide settings are in the repository's conftest.py)."""
import pytest


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The `smoke` profile's run (``train_smoke``), trained once per test session in a folder of
    its own. Tests read it; a test that changes a run copies it first."""
    from posebook import profiles, train
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POSEBOOK_RUNS", str(tmp_path_factory.mktemp("smoke-runs")))
        return train.run_cached(profiles.get("smoke"), train.book_run_name("smoke"), progress=False)
