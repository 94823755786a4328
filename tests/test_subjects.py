"""The Human3.6M-shaped synthetic protocol (`posebook.data.subjects`): determinism, exact
projection, disjoint subjects who keep their body and look, a fixed four-camera rig in one
room, actions as the family ids."""
import numpy as np
import pytest

from posebook import skeleton
from posebook.data import poses, render, subjects

FRAME_PX = 160


@pytest.fixture(scope="module")
def train_frames():
    src = subjects.SubjectFrames(0, "train", 5 * 4 * len(subjects.ACTIONS), FRAME_PX)
    return src, [src.frame(i) for i in range(len(src))]


def test_same_seed_same_bytes_whatever_the_split_size():
    a = subjects.SubjectFrames(5, "train", 8, FRAME_PX).frame(6)
    b = subjects.SubjectFrames(5, "train", 40, FRAME_PX).frame(6)
    c = subjects.SubjectFrames(6, "train", 8, FRAME_PX).frame(6)
    assert a.image.tobytes() == b.image.tobytes()
    assert np.array_equal(a.joints_world_mm, b.joints_world_mm)
    assert np.array_equal(a.camera.K, b.camera.K) and np.array_equal(a.camera.R, b.camera.R)
    assert a.image.tobytes() != c.image.tobytes()
    assert not np.allclose(a.joints_world_mm, c.joints_world_mm)


def test_split_subjects_are_disjoint_and_all_shown():
    n = 4 * 5 * len(subjects.ACTIONS)
    seen = {split: {subjects.SubjectFrames(0, split, n, FRAME_PX).key(i).subject
                    for i in range(n)} for split in subjects.SPLIT_SUBJECTS}
    assert seen["train"] == set(subjects.TRAIN_SUBJECTS) == {"S1", "S5", "S6", "S7", "S8"}
    for split in ("val", "test", "test_occluded"):
        assert seen[split] == set(subjects.TEST_SUBJECTS) == {"S9", "S11"}
    assert not set(subjects.TRAIN_SUBJECTS) & set(subjects.TEST_SUBJECTS)
    # val shows the test people in other takes: other poses than test
    val, test = (subjects.SubjectFrames(0, s, 4, FRAME_PX).frame(0) for s in ("val", "test"))
    assert val.camera.R.tolist() == test.camera.R.tolist()
    assert not np.allclose(val.joints_world_mm, test.joints_world_mm)


def test_frames_cover_subjects_actions_and_cameras_evenly(train_frames):
    src, frames = train_frames
    keys = [src.key(i) for i in range(len(src))]
    counts = {}
    for k in keys:
        counts[(k.subject, k.action, k.camera)] = counts.get((k.subject, k.action, k.camera), 0) + 1
    assert len(counts) == 5 * len(subjects.ACTIONS) * 4 and set(counts.values()) == {1}
    for k, f in zip(keys, frames):
        assert f.family_id == k.action and f.family == subjects.ACTION_NAMES[k.action]
    assert src.family_names == subjects.ACTION_NAMES


def test_four_fixed_cameras_one_pose_per_moment(train_frames):
    src, frames = train_frames
    rigs = {(f.camera.K.tobytes(), f.camera.R.tobytes(), f.camera.t.tobytes()) for f in frames}
    assert len(rigs) == 4
    test_rigs = {(f.camera.K.tobytes(), f.camera.R.tobytes(), f.camera.t.tobytes())
                 for f in (subjects.SubjectFrames(3, "test", 4, FRAME_PX).frame(i)
                           for i in range(4))}
    assert test_rigs == rigs                  # the same lab for the test people
    for f in frames:
        assert f.camera.distortion is None
    for m in range(0, len(frames), 4):        # the 4 cameras see one moment
        for f in frames[m + 1:m + 4]:
            assert np.array_equal(f.joints_world_mm, frames[m].joints_world_mm)


def test_exact_projection_inside_box_and_frame_and_on_the_body(train_frames):
    _, frames = train_frames
    for f in frames:
        cam = f.camera.world_to_camera(f.joints_world_mm)
        uv = f.camera.world_to_image(f.joints_world_mm)
        K = f.camera.K              # a pure pinhole: u = f x / z + c
        assert np.allclose(uv, cam[:, :2] / cam[:, 2:] * K[[0, 1], [0, 1]] + K[:2, 2])
        x, y, w, h = f.box_xywh_px
        assert (uv[:, 0] >= x - 1).all() and (uv[:, 0] <= x + w + 1).all()
        assert (uv[:, 1] >= y - 1).all() and (uv[:, 1] <= y + h + 1).all()
        assert x >= 0 and y >= 0 and x + w <= FRAME_PX and y + h <= FRAME_PX
        px = np.round(uv).astype(int)
        for u, v in px:
            assert f.mask[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2].any()
        u, v = px[skeleton.ROOT]
        assert f.mask[v, u]
        assert abs(f.joints_world_mm[0, 0]) <= subjects.AREA_HALF_MM + 1e-6
        assert abs(f.joints_world_mm[0, 1]) <= subjects.AREA_HALF_MM + 1e-6


def test_every_subject_keeps_body_and_look(monkeypatch):
    drawn = []
    real = render.render_person

    def spy(image, K, R, t, joints, extra, stature_mm, build, look, light):
        drawn.append((stature_mm, build, look, light))
        return real(image, K, R, t, joints, extra, stature_mm, build, look, light)
    monkeypatch.setattr(subjects.render, "render_person", spy)
    src = subjects.SubjectFrames(2, "train", 2 * 4 * 5 * len(subjects.ACTIONS), 64)
    by_subject = {}
    for i in range(len(src)):
        f = src.frame(i)
        name = src.key(i).subject
        body = subjects.make_subject(2, name).body
        np.testing.assert_allclose(skeleton.bone_lengths_mm(f.joints_world_mm),
                                   poses.bone_lengths_mm(body), atol=1e-6, rtol=0)
        stature, build, look, _ = drawn[-1]
        first = by_subject.setdefault(name, (stature, build, look))
        assert (stature, build) == first[:2] == (body.stature_mm, body.build)
        assert all(np.array_equal(np.asarray(look[k]), np.asarray(first[2][k])) for k in look)
    statures = [v[0] for v in by_subject.values()]
    assert len(set(statures)) == 5          # five different people
    assert len({tuple(v[2]["top"]) for v in by_subject.values()}) == 5
    # the same subject is the same person in every split and for every split size
    assert subjects.make_subject(2, "S9").body == subjects.SubjectFrames(2, "test", 3).subjects[
        "S9"].body


def test_one_room_drawn_once_per_camera(train_frames):
    src, frames = train_frames
    for camera in range(4):
        room = src.room(camera)
        assert room is src.room(camera)
        shown = [f for i, f in enumerate(frames) if src.key(i).camera == camera]
        for f in shown:   # away from the person and the shadow, the frame is the empty room
            far = np.ones_like(f.mask)
            ys, xs = np.nonzero(f.mask)
            far[max(ys.min() - 20, 0):ys.max() + 21, max(xs.min() - 30, 0):xs.max() + 31] = False
            assert np.array_equal(f.image[far], room[far])


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="split must be one of"):
        subjects.SubjectFrames(0, "training", 4)
    with pytest.raises(ValueError, match="subject must be one of"):
        subjects.make_subject(0, "S2")
    with pytest.raises(IndexError):
        subjects.SubjectFrames(0, "test", 4).frame(4)
