"""The page `posebook predict` writes opens offline in headless Chromium and shows the skeleton.

The screenshot is kept under _build/test-artifacts/predict_page.png for a person to look at.
"""
import subprocess
from pathlib import Path

import chromium
import numpy as np
import pytest

from posebook import cli
from posebook.data import synthetic

ARTIFACTS = Path(__file__).resolve().parents[1] / "_build" / "test-artifacts"
WINDOW_WH = (1200, 900)


def _screenshot(page: Path, shot: Path, user_dir: Path) -> subprocess.CompletedProcess:
    return chromium.run(f"--screenshot={shot}", f"--window-size={WINDOW_WH[0]},{WINDOW_WH[1]}",
                        page.as_uri(), user_dir=user_dir, budget_ms=10000)


@pytest.mark.slow
@pytest.mark.browser
def test_predict_page_shows_3d_skeleton_offline(tmp_path, smoke_run):
    chromium.require()
    import cv2
    import matplotlib.image
    run_dir = smoke_run
    frame = synthetic.make_frame(np.random.default_rng(0), frame_px=256)
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), frame.image[:, :, ::-1])
    page = tmp_path / "result.html"
    box = ",".join(f"{v:.1f}" for v in frame.box_xywh_px)
    assert cli.main(["predict", str(image), "--box", box, "--checkpoint", str(run_dir),
                     "--out", str(page)]) == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "predict_page.png"
    shot.unlink(missing_ok=True)
    result = _screenshot(page, shot, tmp_path / "chromium-profile")
    assert shot.is_file(), f"chromium wrote no screenshot: {result.stderr[-2000:]}"
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).astype(int)
    assert pixels.shape[:2] == (WINDOW_WH[1], WINDOW_WH[0])
    # The page puts image + facts in the left 40% and the 3D plot on the right.
    plot = pixels[40:540, int(0.45 * WINDOW_WH[0]):]
    assert plot.reshape(-1, 3).std(0).max() > 10, f"the plot area is blank in {shot}"
    # bones are drawn in the side colours: left blue #1f77b4, right orange #ff7f0e
    blue, orange = chromium.skeleton_pixels(plot)
    assert blue > 30 and orange > 30, \
        f"no skeleton in the plot area of {shot} ({blue} blue, {orange} orange pixels)"
