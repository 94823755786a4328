"""Test-wide settings: chapters executed by tests (nbmake, papermill) use the `smoke` profile
unless POSEBOOK_PROFILE says otherwise, and runs go to a temporary folder unless POSEBOOK_RUNS
is set (tests never touch the book's own runs/)."""
import os
import tempfile

os.environ.setdefault("POSEBOOK_PROFILE", "smoke")
os.environ.setdefault("POSEBOOK_RUNS", tempfile.mkdtemp(prefix="posebook-test-runs-"))
os.environ.setdefault("MPLBACKEND", "Agg")
