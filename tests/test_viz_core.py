import re

import numpy as np
import pytest

from posebook import skeleton
from posebook.viz import core


def test_first_figure_inlines_plotlyjs_once(monkeypatch):
    monkeypatch.setitem(core._state, "plotlyjs_sent", False)
    first = core.skeleton_3d(skeleton.STANDING_POSE_MM)._repr_html_()
    second = core.skeleton_3d(skeleton.STANDING_POSE_MM)._repr_html_()
    assert len(first) > 1_000_000 > len(second)
    assert "Plotly.newPlot" in first and "Plotly.newPlot" in second
    for html in (first, second):
        assert not re.search(r"<script[^>]+src=", html), "no external script may be needed"


def test_standalone_html_needs_no_network():
    html = core.standalone_html(core.skeleton_3d(skeleton.STANDING_POSE_MM).figure, title="t")
    assert html.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in html
    assert not re.search(r"<script[^>]+src=", html)


def test_skeleton_traces_draw_every_bone_once():
    traces = core.skeleton_traces(skeleton.STANDING_POSE_MM)
    n_segments = sum(t.x.count(None) for t in traces if t.mode == "lines")
    assert n_segments == len(skeleton.BONES)


def test_plot_axes_put_up_on_top():
    # camera y points down; the plot's third axis points up
    p = core.to_plot_axes(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(p, [[1.0, 3.0, -2.0]])


def test_bad_skeleton_shape():
    with pytest.raises(ValueError, match=r"\(16, 3\)"):
        core.skeleton_traces(np.zeros((16, 3)))


def test_root_relative_view_frames_the_subtracted_pose():
    far = skeleton.STANDING_POSE_MM + [500, 0, 6000]
    scene = core.skeleton_3d(far, root_relative=True).figure.layout.scene
    # the depth axis is centred on the root (0), not on 6 m
    assert abs(sum(scene.yaxis.range) / 2) < 100
