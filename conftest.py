"""Test-wide settings: chapters executed by tests (nbmake, papermill) use the `smoke` profile
unless POSEBOOK_PROFILE says otherwise, and runs go to a temporary folder unless POSEBOOK_RUNS
is set (tests never touch the book's own runs/). Processes the tests start (chapter kernels, the
CLI) import this checkout's posebook, installed or not: a chapter's install cell never installs
it into the environment behind the tester's back. Tests (only tests) use the project's real
samples in ../shared/realdata when POSEBOOK_REALDATA is unset; the package never looks there."""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("POSEBOOK_PROFILE", "smoke")
os.environ.setdefault("POSEBOOK_RUNS", tempfile.mkdtemp(prefix="posebook-test-runs-"))
os.environ.setdefault("MPLBACKEND", "Agg")
_CHECKOUT = str(Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_CHECKOUT, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)])
_SHARED_REALDATA = Path(__file__).resolve().parent.parent / "shared" / "realdata"
if _SHARED_REALDATA.is_dir():
    os.environ.setdefault("POSEBOOK_REALDATA", str(_SHARED_REALDATA))

# Property tests draw the same examples on every run (CI must not turn red by chance);
# `HYPOTHESIS_PROFILE=explore pytest` draws new ones.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
