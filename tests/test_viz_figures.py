"""The figures of chapters 01 (`viz.data`) and 04 (`viz.geometry`) draw what their captions say,
checked on a few small synthetic frames (the chapters themselves run only in the slow tests)."""
import numpy as np
import pytest

from posebook import skeleton
from posebook.camera import Camera
from posebook.data import synthetic
from posebook.viz import core, data, geometry


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(7)
    return [synthetic.make_frame(rng, frame_px=128) for _ in range(8)]


def test_gallery_titles_each_frame_and_zooms_to_its_box(frames):
    fig = data.gallery(frames[:5], cols=4, zoom=True)
    assert len(fig.axes) == 5
    for ax, f in zip(fig.axes, frames):
        assert ax.get_title().startswith(f"{f.family}, ")
        x, y, w, h = f.box_xywh_px
        assert np.diff(ax.get_xlim())[0] == pytest.approx(1.2 * max(w, h))
        assert len(ax.lines) == len(skeleton.BONES) + 1            # the bones and the box


def test_front_back_splits_by_facing_and_labels_the_wrists(frames):
    toward = [f for f in frames if data.facing_camera(f)]
    away = [f for f in frames if not data.facing_camera(f)]
    assert toward and away, "the fixture should hold people facing both ways"
    fig = data.front_back(frames, n=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles.count("facing the camera") == min(4, len(toward))
    assert titles.count("facing away") == min(4, len(away))
    assert all(sorted(t.get_text() for t in ax.texts) == ["L", "R"] for ax in fig.axes)


def test_facing_camera_turns_with_the_person():
    frame = synthetic.make_frame(np.random.default_rng(3), frame_px=128)
    pelvis = frame.joints_world_mm[0]
    half_turn = np.diag([-1.0, -1.0, 1.0])                       # 180 degrees about world up
    turned = (frame.joints_world_mm - pelvis) @ half_turn.T + pelvis
    other = synthetic.Frame(**{**frame.__dict__, "joints_world_mm": turned})
    assert data.facing_camera(frame) != data.facing_camera(other)


def test_scene_3d_shows_person_frustum_and_ground(frames):
    fig = data.scene_3d(frames[0]).figure
    names = {t.name for t in fig.data}
    assert {"camera frustum", "ground"} <= names
    frustum = next(t for t in fig.data if t.name == "camera frustum")
    assert (frustum.x[0], frustum.y[0], frustum.z[0]) == (0, 0, 0)   # the camera at the origin


def test_statistics_counts_every_frame(frames):
    fig = data.statistics(frames)
    depth, family, visible = fig.axes
    assert sum(p.get_height() for p in depth.patches) == len(frames)
    assert sum(p.get_width() for p in family.patches) == len(frames)
    assert len(visible.patches) == skeleton.N_JOINTS
    assert all(0 <= p.get_height() <= 1 for p in visible.patches)


def test_items_gallery_shows_model_inputs():
    import torch
    item = {"image": torch.zeros(3, 32, 32), "joints_px": torch.full((17, 2), 16.0),
            "index": torch.tensor(5), "n_occluders": torch.tensor(2)}
    fig = data.items_gallery([item, item], cols=8)
    assert [ax.get_title() for ax in fig.axes] == ["#5 occ=2"] * 2


def test_image_panels_one_per_panel(frames):
    f = frames[0]
    uv = f.camera.world_to_image(f.joints_world_mm)
    fig = geometry.image_panels([("a", f.image, uv, f.box_xywh_px), ("b", f.image, None, None)])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert fig.axes[0].images[0].get_array().shape == f.image.shape


def test_distortion_field_arrows_are_the_lens_displacement():
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    with pytest.raises(ValueError, match="no lens distortion"):
        geometry.distortion_field(Camera(K), (640, 480))
    lens = Camera(K, distortion=[-0.2, 0.05, 0, 0, 0], distortion_model="opencv")
    fig = geometry.distortion_field(lens, (640, 480), step_px=80)   # (320, 240) on the grid
    arrows = fig.axes[0].collections[0]
    lengths = np.hypot(arrows.U, arrows.V)
    assert lengths.min() == pytest.approx(0, abs=1e-6)                 # the centre stays
    corner = lens.camera_to_image(lens.undistort().image_to_camera(np.array([[0.0, 0.0]])))
    assert lengths.max() == pytest.approx(np.hypot(*(corner[0] - [0, 0])), rel=1e-6)
    assert len(fig.axes) == 2                                          # with its colour bar


def test_per_joint_errors_one_bar_per_joint_and_series():
    fig = geometry.per_joint_errors_px({"a": np.ones(17), "b": np.full(17, 2.0)})
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [1.0] * 17 + [2.0] * 17


def test_front_views_overlay_every_pose():
    poses = {"reference": skeleton.STANDING_POSE_MM, "moved": skeleton.STANDING_POSE_MM + 50}
    fig = geometry.front_views(poses, title="t")
    front, top = fig.axes
    assert [t.get_text() for t in front.get_legend().get_texts()] == list(poses)
    assert len(top.lines) == 2 * len(skeleton.BONES)


def test_frustum_3d_draws_each_camera_from_its_centre():
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    reference = Camera(K, t=[0, 0, 0])
    other = Camera(K, t=[1000, 0, 0])
    joints = skeleton.STANDING_POSE_MM + [0, 0, 4000]
    fig = geometry.frustum_3d({"ref": (reference, (640, 480)), "moved": (other, (640, 480))},
                              joints, reference=reference).figure
    by_name = {t.name: t for t in fig.data}
    assert {"ref", "moved"} <= set(by_name)
    for name, centre in (("ref", [0, 0, 0]), ("moved", [1000, 0, 0])):
        apex = core.to_plot_axes(np.array([centre], float))[0]
        t = by_name[name]
        np.testing.assert_allclose([t.x[0], t.y[0], t.z[0]], apex, atol=1e-6)
