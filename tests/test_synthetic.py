"""Synthetic people: determinism, geometry of the ground truth, renderer consistency."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from posebook import skeleton
from posebook.data import poses, synthetic

FRAME_PX = 160


@pytest.fixture(scope="module")
def frames():
    src = synthetic.SyntheticFrames(seed=3, n=24, frame_px=FRAME_PX)
    return [src.frame(i) for i in range(len(src))]


def test_same_seed_same_bytes_different_seed_differs():
    a = synthetic.SyntheticFrames(5, 4, FRAME_PX).frame(2)
    b = synthetic.SyntheticFrames(5, 4, FRAME_PX).frame(2)
    c = synthetic.SyntheticFrames(6, 4, FRAME_PX).frame(2)
    assert a.image.tobytes() == b.image.tobytes()
    assert np.array_equal(a.joints_world_mm, b.joints_world_mm)
    assert np.array_equal(a.camera.K, b.camera.K) and np.array_equal(a.camera.R, b.camera.R)
    assert a.image.tobytes() != c.image.tobytes()
    assert not np.allclose(a.joints_world_mm, c.joints_world_mm)


def test_frame_contract(frames):
    f = frames[0]
    assert f.image.shape == (FRAME_PX, FRAME_PX, 3) and f.image.dtype == np.uint8
    assert f.joints_world_mm.shape == (17, 3) and f.box_xywh_px.shape == (4,)
    assert f.self_visible.shape == (17,) and f.self_visible.dtype == bool
    assert f.family in synthetic.FAMILIES and synthetic.FAMILIES[f.family_id] == f.family


def test_joints_in_front_of_camera_and_inside_box_and_frame(frames):
    for f in frames:
        cam = f.camera.world_to_camera(f.joints_world_mm)
        assert (cam[:, 2] > 2000).all()              # >= 2.5 m away, minus the body's extent
        uv = f.camera.world_to_image(f.joints_world_mm)
        x, y, w, h = f.box_xywh_px
        assert (uv[:, 0] >= x - 1).all() and (uv[:, 0] <= x + w + 1).all()
        assert (uv[:, 1] >= y - 1).all() and (uv[:, 1] <= y + h + 1).all()
        assert x >= 0 and y >= 0 and x + w <= FRAME_PX and y + h <= FRAME_PX


def test_projected_joints_land_on_the_rendered_body(frames):
    for f in frames:
        uv = np.round(f.camera.world_to_image(f.joints_world_mm)).astype(int)
        for j, (u, v) in enumerate(uv):
            assert f.mask[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2].any(), (j, f.family)
        # The pelvis pixel shows the body, not the room: it changes when the person is removed.
        u, v = uv[skeleton.ROOT]
        assert f.mask[v, u]
    # Self-occlusion happens (varied poses) but most joints are visible.
    visible = np.mean([f.self_visible for f in frames])
    assert 0.5 < visible < 1.0


def test_person_pixels_differ_from_background():
    rng = np.random.default_rng(11)
    f = synthetic.make_frame(rng, FRAME_PX)
    rng = np.random.default_rng(11)
    body, family, joints, extra = poses.sample_pose(rng, None)
    assert np.allclose(joints, f.joints_world_mm)     # same draw order: same person
    # The silhouette is not a background colour everywhere: shaded parts vary inside it.
    inside = f.image[f.mask].astype(int)
    assert inside.std(0).max() > 10


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), family=st.sampled_from(poses.FAMILIES))
def test_bone_lengths_match_the_sampled_skeleton(seed, family):
    rng = np.random.default_rng(seed)
    body, _, joints, extra = poses.sample_pose(rng, family)
    np.testing.assert_allclose(skeleton.bone_lengths_mm(joints), poses.bone_lengths_mm(body),
                               atol=1e-6, rtol=0)
    assert joints[:, 2].min() > 0                        # above the ground plane
    assert np.all(np.isfinite(joints))
    # Left and right limbs have the same length (one person, symmetric proportions).
    lengths = dict(zip(skeleton.BONES, skeleton.bone_lengths_mm(joints)))
    assert lengths[(4, 5)] == pytest.approx(lengths[(1, 2)])


def test_families_are_all_drawn_and_differ():
    rng = np.random.default_rng(0)
    pelvis_height = {}
    for fam in poses.FAMILIES:
        pelvis_height[fam] = np.mean([poses.sample_pose(rng, fam)[2][0, 2] for _ in range(40)])
    assert pelvis_height["sitting/crouching"] < pelvis_height["standing"] - 150
    families = {synthetic.make_frame(np.random.default_rng(i), 64).family for i in range(60)}
    assert families == set(poses.FAMILIES)


def test_camera_ranges():
    for i in range(40):
        f = synthetic.make_frame(np.random.default_rng(100 + i), 200)
        dist = np.linalg.norm((f.camera.t - f.joints_world_mm[0])[:2])
        assert 2500 - 1 <= dist <= 8000 + 1
        assert 800 <= f.camera.t[2] <= 2100
        assert 0.2 * 1150 * 0.2 <= f.camera.K[0, 0] <= 1150 * 0.2 * 3


@pytest.mark.parametrize("kwargs, name", [
    (dict(seed=-1, n=3, frame_px=64), "seed"), (dict(seed=0, n=0, frame_px=64), "n"),
    (dict(seed=0, n=3, frame_px=8), "frame_px"), (dict(seed=0, n=3, frame_px=64.5), "frame_px")])
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        synthetic.SyntheticFrames(**kwargs)


def test_bad_family_and_index():
    with pytest.raises(ValueError, match="family"):
        synthetic.make_frame(np.random.default_rng(0), 64, family="dancing")
    with pytest.raises(ValueError, match="frame_px"):
        synthetic.make_frame(np.random.default_rng(0), 0)
    with pytest.raises(IndexError):
        synthetic.SyntheticFrames(0, 2, 64).frame(2)
