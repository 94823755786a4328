"""Headless Chromium for the browser tests (Debian's `chromium`, installed by `make test`)."""
import os
import shutil
import subprocess

import numpy as np
import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]  # WebGL without a GPU


def require() -> str:
    """The Chromium binary; fails in CI (CI=true) and skips elsewhere when it is missing."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI (make test installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium; make test installs it)")
    return binary


def run(*args: str, user_dir, budget_ms: int = 15000) -> subprocess.CompletedProcess:
    return subprocess.run([require(), *FLAGS, f"--user-data-dir={user_dir}",
                           f"--virtual-time-budget={budget_ms}", *args],
                          capture_output=True, text=True, timeout=180)


def skeleton_pixels(pixels: np.ndarray) -> tuple[int, int]:
    """How many pixels have the skeleton's side colours (left #1f77b4, right #ff7f0e)."""
    blue = int((np.abs(pixels - [31, 119, 180]).sum(-1) < 60).sum())
    orange = int((np.abs(pixels - [255, 127, 14]).sum(-1) < 60).sum())
    return blue, orange
