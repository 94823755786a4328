"""The Human3.6M-shaped synthetic protocol (`posebook.data.subjects`): determinism, exact
projection, disjoint subjects who keep their body and look, a fixed four-camera rig in one
room, actions as the family ids."""
import json

import numpy as np
import pytest
import torch

from posebook import evaluate, profiles, report, skeleton, train
from posebook.data import poses, render, sources, subjects
from posebook.data.dataset import PoseDataset

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


# --- as a data source: config.dataset="synthetic_subjects" ----------------------------------
SMALL = profiles.get("smoke").replace(dataset="synthetic_subjects", n_train=120, n_val=8,
                                      n_test=48, frame_px=160, input_px=48, batch_size=8)


def test_source_answers_for_the_protocol():
    source = sources.for_config(SMALL)
    assert sources.for_config(SMALL.to_dict()) == source
    assert source.subjects("train") == ("S1", "S5", "S6", "S7", "S8")
    assert all(source.subjects(s) == ("S9", "S11") for s in ("val", "test", "test_occluded"))
    assert source.protocol1 and not source.has_validation and "S9/S11" in \
        source.no_validation_reason
    assert source.family_names == subjects.ACTION_NAMES and source.train_size() == 120
    sizes = {"train": 120, "val": 8, "test": 48, "test_occluded": 48}
    for split, n in sizes.items():
        frames = source.frames(split)
        assert isinstance(frames, subjects.SubjectFrames) and len(frames) == n
        assert frames.split == split and frames.data_seed == SMALL.data_seed
    # its cache never holds the synthetic source's frames of the same sizes and seeds
    plain = sources.for_config(SMALL.replace(dataset="synthetic"))
    for split in sizes:
        assert source.frame_cache_path(split) != plain.frame_cache_path(split)
    assert source.frame_cache_path("test") == source.frame_cache_path("test_occluded")
    assert source.frame_cache_path("val") != source.frame_cache_path("test")
    with pytest.raises(ValueError, match=r"batch_size \(128\) must be <= n_train \(120\)"):
        SMALL.replace(batch_size=128).validate()


def test_clean_and_occluded_test_sets_show_the_held_out_subjects(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path))
    clean, occluded = (PoseDataset(SMALL, s) for s in ("test", "test_occluded"))
    assert clean.family_names == subjects.ACTION_NAMES and clean.cache is not None
    for i in range(len(clean)):
        assert clean.frames.key(i).subject in subjects.TEST_SUBJECTS
        assert occluded.frames.key(i) == clean.frames.key(i)
        a, b = clean[i], occluded[i]
        assert torch.equal(a["joints_cam_mm"], b["joints_cam_mm"])     # same people, same crop
        assert a["n_occluders"] == 0 and b["n_occluders"] >= 1
        assert a["family"] == clean.frames.key(i).action
    train_people = {PoseDataset(SMALL, "train").frames.key(i).subject for i in range(48)}
    assert train_people == set(subjects.TRAIN_SUBJECTS)


def test_smoke_run_trains_and_evaluates_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    config = SMALL.replace(steps=12, cycle_steps=6, eval_every=6, snapshots=2)
    run_dir = train.train(config, "subjects", progress=False)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["dataset"] == "synthetic_subjects" and m["steps"] == 12
    for split in ("test", "test_occluded", "train"):     # 48 frames each: every action
        per_action = m[split]["per_family_mm"]
        assert set(per_action) == set(subjects.ACTION_NAMES)
        assert m[split]["protocol1_mm"] == pytest.approx(np.mean(list(per_action.values())))
    assert m["train"]["n"] == 48 and m["test"]["n"] == 48
    choice = m["ensemble_choice"]                  # nothing chosen on the test subjects
    assert choice["rule"] == "fixed" and choice["val_mpjpe_mm"] == {}
    assert evaluate.protocol1_line(m["test"], config).startswith("synthetic protocol 1")
    typed = report.read(run_dir)
    assert report.sentences.training_data(typed) == "synthetic subjects S1, S5, S6, S7, S8"
    assert typed.train.n == 48
