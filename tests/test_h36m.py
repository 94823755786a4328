"""Human3.6M loader, `prepare-h36m`, `H36MFrames` and protocol 1, on a tiny fixture in the
official release layout that the tests write themselves (CDF pose files + short MP4 videos)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from h36m_tree import FIXTURE, _frame_number, _pose32_world_mm, _write_video, make_release
from posebook import cli, metrics, skeleton
from posebook.data import h36m, h36m_cameras, h36m_prepare

@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return make_release(tmp_path_factory.mktemp("h36m_release"))


@pytest.fixture(scope="module")
def prepared(release, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("h36m_prepared")
    h36m_prepare.prepare(release, out, subjects=("S1", "S9"), progress=False)
    return out


def test_canonical_action_names():
    assert h36m.canonical_action("Directions 1") == "Directions"
    assert h36m.canonical_action("TakingPhoto") == "Photo"
    assert h36m.canonical_action("Photo 2") == "Photo"
    assert h36m.canonical_action("WalkingDog 1") == "WalkDog"
    assert h36m.canonical_action("WalkTogether") == "WalkTogether"
    assert len(h36m.ACTIONS) == 15
    with pytest.raises(ValueError, match="Dancing"):
        h36m.canonical_action("Dancing")


def test_find_sequences(release):
    seqs = h36m.find_sequences(release, ["S1", "S9"])
    found = {(s.subject, s.action_file, s.action, s.camera_id) for s in seqs}
    assert found == {("S1", "Directions 1", "Directions", "54138969"),
                     ("S1", "TakingPhoto", "Photo", "55011271"),
                     ("S9", "WalkingDog", "WalkDog", "58860488")}
    assert all(s.pose_path.is_file() and s.bb_path is None for s in seqs)


def test_read_poses_and_select_17(release):
    path = release / "S1" / "MyPoseFeatures" / "D3_Positions" / "Directions 1.cdf"
    joints32 = h36m.read_poses_world_mm(path)
    assert joints32.shape == (12, 32, 3)
    np.testing.assert_allclose(joints32, _pose32_world_mm(12, seed=0))
    joints17 = h36m.select_17(joints32)
    stand = skeleton.STANDING_POSE_MM
    np.testing.assert_allclose(joints17[0, :, 2], 950.0 - stand[:, 1])  # head top highest, etc.
    assert np.argmax(joints17[0, :, 2]) == skeleton.JOINT_NAMES.index("head_top")


def test_prepare_extracts_protocol_frames(prepared):
    index = h36m.load_index(prepared)
    by_seq = {}
    for subject, action, camera_id, frame in zip(index["subject"], index["action"],
                                                 index["camera"], index["frame"]):
        by_seq.setdefault((subject, action, camera_id), []).append(int(frame))
    assert by_seq == {("S1", "Directions", "54138969"): [0, 5, 10],
                      ("S1", "Photo", "55011271"): [0, 5, 10],   # min(11 video, 13 pose) frames
                      ("S9", "WalkDog", "58860488"): [0, 64]}
    assert index["joints_world_mm"].shape == (8, 17, 3)
    np.testing.assert_array_equal(index["w0"], h36m_cameras.W0)
    for image, frame in zip(index["image"], index["frame"]):  # the JPEG shows that frame
        assert _frame_number(cv2.imread(str(prepared / image))) == frame


def test_h36m_frames_source(prepared):
    frames = h36m.H36MFrames(prepared, ["S1"])
    assert len(frames) == 6
    for i in range(len(frames)):
        frame = frames.frame(i)
        w, h = h36m_cameras.IMAGE_SIZE_WH[str(frames.index["camera"][i])]
        assert frame.image.shape == (h, w, 3)
        assert frame.image.dtype == np.uint8 and frame.joints_world_mm.shape == (17, 3)
        assert frame.family in ("Directions", "Photo")
        assert frame.family_id == h36m.ACTIONS.index(frame.family)
        n = int(frames.index["frame"][i])
        np.testing.assert_allclose(frame.joints_world_mm[skeleton.ROOT, 0], 10.0 * n, atol=1e-3)
        # the person's joints project into the frame and inside the box
        joints_px = frame.camera.world_to_image(frame.joints_world_mm)
        x, y, w, h = frame.box_xywh_px
        assert np.all((joints_px[:, 0] > x) & (joints_px[:, 0] < x + w))
        assert np.all((joints_px[:, 1] > y) & (joints_px[:, 1] < y + h))
        assert np.all((joints_px > 0) & (joints_px < 1000))
    with pytest.raises(IndexError):
        frames.frame(len(frames))


def test_h36m_frames_challenge_setting(prepared):
    frames = h36m.H36MFrames(prepared, ["S9"], focal_px=1500.0,
                             box_fn=lambda image: np.array([1.0, 2.0, 3.0, 4.0]))
    frame = frames.frame(0)
    # integer pixel centres: the centre of a 1000 x 1000 frame is (499.5, 499.5)
    np.testing.assert_allclose(frame.camera.K, [[1500, 0, 499.5], [0, 1500, 499.5], [0, 0, 1]])
    assert frame.camera.distortion is None or not np.any(frame.camera.distortion)
    calibrated = h36m.H36MFrames(prepared, ["S9"]).frame(0).camera
    np.testing.assert_allclose(frame.camera.R, calibrated.R)
    np.testing.assert_array_equal(frame.box_xywh_px, [1, 2, 3, 4])


def test_prepare_resumes_after_crash(release, tmp_path):
    out = tmp_path / "out"
    written = []

    def crash_after_4(path):
        written.append(path)
        if len(written) == 4:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        h36m_prepare.prepare(release, out, subjects=("S1", "S9"), progress=False,
                             on_frame=crash_after_4)
    assert not (out / "index.npz").exists()
    assert not list(out.rglob(".*tmp*"))  # atomic writes: no partial files left
    rewritten = []
    h36m_prepare.prepare(release, out, subjects=("S1", "S9"), progress=False,
                         on_frame=rewritten.append)
    assert len(written) + len(rewritten) == 8       # nothing extracted twice
    assert not set(written) & set(rewritten)
    index = h36m.load_index(out)
    assert len(index["frame"]) == 8 == len(set(index["image"]))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == sorted(index["image"])
    again = []
    h36m_prepare.prepare(release, out, subjects=("S1", "S9"), progress=False,
                         on_frame=again.append)
    assert again == []                               # finished sequences are skipped


def test_rerun_without_detector_keeps_cached_detector_boxes(release, tmp_path):
    from posebook import detect

    class FixedBox:
        name = "fixed test box"

        def __call__(self, image_rgb):
            return detect.Detections(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([0.9]), self.name)

    out = tmp_path / "out"
    h36m_prepare.prepare(release, out, subjects=("S1",), progress=False, detector=FixedBox())
    rewritten = []
    h36m_prepare.prepare(release, out, subjects=("S1",), progress=False,
                         on_frame=rewritten.append)
    assert rewritten == []                           # nothing redone
    index = h36m.load_index(out)
    assert set(index["detector"]) == {"fixed test box"}
    np.testing.assert_array_equal(index["box_det_xywh_px"][0], [1, 2, 3, 4])


def test_cli_prepare(release, tmp_path):
    code = cli.main(["prepare-h36m", "--root", str(release), "--out", str(tmp_path / "o"),
                     "--subjects", "S1", "--cameras", "54138969", "--no-progress"])
    assert code == 0
    assert len(h36m.load_index(tmp_path / "o")["frame"]) == 3


def test_missing_subject_folder(release, tmp_path):
    with pytest.raises(FileNotFoundError, match="S5"):
        h36m.find_sequences(release, ["S1", "S5"])
    assert cli.main(["prepare-h36m", "--root", str(release), "--out", str(tmp_path),
                     "--subjects", "S5", "--no-progress"]) == 2


def test_missing_cdf_for_video(tmp_path):
    root = make_release(tmp_path, FIXTURE[:1])
    _write_video(root / "S1" / "Videos" / "Eating 2.54138969.mp4", 3, (1000, 1002))
    with pytest.raises(FileNotFoundError, match=r"Eating 2\.54138969\.mp4.*Eating 2\.cdf"):
        h36m.find_sequences(root, ["S1"])


def test_unknown_action_name(tmp_path):
    root = make_release(tmp_path, FIXTURE[:1])
    _write_video(root / "S1" / "Videos" / "Juggling.54138969.mp4", 3, (1000, 1002))
    with pytest.raises(ValueError, match=r"Juggling\.54138969\.mp4.*unknown Human3\.6M action"):
        h36m.find_sequences(root, ["S1"])


def test_video_much_shorter_than_pose_file(tmp_path):
    root = make_release(tmp_path, [("S1", "Eating", "54138969", 5, 40)])
    with pytest.raises(ValueError, match=r"Eating\.54138969\.mp4 has 5 frames.*Eating\.cdf has 40"):
        h36m_prepare.prepare(root, tmp_path / "out", subjects=["S1"], progress=False)


def test_unreadable_frames_warn_with_count(tmp_path, monkeypatch):
    root = make_release(tmp_path, [("S1", "Eating", "54138969", 12, 12)])
    real_capture = cv2.VideoCapture
    calls = []

    class FlakyCapture:  # wraps (does not subclass) cv2.VideoCapture; 2nd decoded frame fails
        def __init__(self, *args):
            self.capture = real_capture(*args)

        def __getattr__(self, name):
            return getattr(self.capture, name)

        def retrieve(self, *args):
            calls.append(1)
            return (False, None) if len(calls) == 2 else self.capture.retrieve(*args)

    monkeypatch.setattr(cv2, "VideoCapture", FlakyCapture)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h36m_prepare.prepare(root, tmp_path / "out", subjects=["S1"], progress=False)
    messages = [str(w.message) for w in caught]
    assert any("Eating.54138969.mp4: 1 frame(s) could not be decoded" in m and "[5]" in m
               for m in messages), messages
    assert list(h36m.load_index(tmp_path / "out")["frame"]) == [0, 10]
    marker = json.loads((tmp_path / "out" / "S1" / "Eating.54138969" / "done.json").read_text())
    assert marker["n_bad"] == 1


def test_gt_box_masks_are_used(tmp_path):
    import scipy.io
    root = make_release(tmp_path, [("S1", "Eating", "54138969", 6, 6)])
    masks = np.empty((1, 6), dtype=object)
    for i in range(6):
        mask = np.zeros((1002, 1000), np.uint8)
        mask[100 + i:600, 300:700] = 1
        masks[0, i] = mask
    bb = root / "S1" / "MySegmentsMat" / "ground_truth_bb" / "Eating.54138969.mat"
    bb.parent.mkdir(parents=True)
    scipy.io.savemat(str(bb), {"Masks": masks})
    h36m_prepare.prepare(root, tmp_path / "out", subjects=["S1"], progress=False)
    index = h36m.load_index(tmp_path / "out")
    np.testing.assert_allclose(index["box_xywh_px"], [[300, 100, 400, 500], [300, 105, 400, 495]])
    assert set(index["box_source"]) == {"gt_mask"}


def test_box_from_joints_contains_joints():
    rng = np.random.default_rng(0)
    joints_px = rng.uniform(0, 1000, (5, 17, 2))
    boxes = h36m.box_from_joints(joints_px, margin_frac=0.1)
    assert boxes.shape == (5, 4)
    assert np.all(joints_px >= boxes[:, None, :2]) and np.all(joints_px <= (boxes[:, :2] + boxes[:, 2:])[:, None])
    with pytest.raises(ValueError, match=r"\(5, 17, 3\)"):
        h36m.box_from_joints(np.zeros((5, 17, 3)))


def test_protocol1_averages_the_per_action_means():
    rng = np.random.default_rng(1)
    gt = rng.normal(0, 300, (6, 17, 3))
    pred = gt + 1000.0                       # a global offset: zero root-relative error
    pred[3:, 5] += [30.0, 40.0, 0.0]         # one joint 50 mm off in the last three poses
    actions = ["Directions 1", "Directions", "TakingPhoto", "WalkDog", "WalkingDog 2", "WalkDog"]
    ids = [h36m.ACTIONS.index(h36m.canonical_action(a)) for a in actions]
    table = metrics.protocol1(metrics.joint_errors(pred, gt), ids, h36m.ACTIONS)
    assert set(table) == {"Directions", "Photo", "WalkDog", "Average"}
    assert table["Directions"] == pytest.approx(0.0, abs=1e-9)
    assert table["Photo"] == pytest.approx(0.0, abs=1e-9)
    assert table["WalkDog"] == pytest.approx(50.0 / 17)
    assert table["Average"] == pytest.approx(50.0 / 17 / 3)  # mean over actions, not poses


def test_pose_dataset_trains_on_h36m_frames(prepared):
    import torch
    from posebook import profiles
    from posebook.data.dataset import PoseDataset
    config = profiles.get("smoke").replace(dataset="h36m", h36m_root=str(prepared))
    frames = h36m.H36MFrames(prepared, ["S1"])
    item = PoseDataset(config, "train", frames=frames)[0]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 64, 64)
    assert item["joints_cam_mm"].shape == (17, 3) and bool(item["in_crop"].all())
    assert int(item["family"]) == h36m.ACTIONS.index(frames.frame(0).family)


def test_table2_quotes_the_paper_and_marks_missing_runs():
    from posebook.report import tables
    table = tables.table2([("posebook, synthetic", None, "chapter 05"), ("posebook, h36m", 61.25, "m")])
    text = table.to_markdown()
    assert "| posebook, synthetic | chapter 05 | not run | — |" in text
    assert "| posebook, h36m | m | 61.2 | — |" in text or "| posebook, h36m | m | 61.3 | — |" in text
    assert "| paper, full | quoted from the paper | 55.4 | — |" in text
    assert "double" in table._repr_html_()
    tables_md = Path(__file__).resolve().parents[2] / "shared" / "paper" / "tables.md"
    if tables_md.is_file():  # every quoted number appears in the paper's table as given
        source = tables_md.read_text().split("## Table 2")[1].split("##")[0]
        for name, a, b in tables.TABLE2_QUOTED:
            row = next(line for line in source.splitlines() if line.startswith(f"| {name} |"))
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert cells[1:] == ["" if a is None else f"{a}", "" if b is None else f"{b}"]


def test_video_smaller_than_its_calibration_is_an_error(tmp_path):
    root = make_release(tmp_path, [("S1", "Eating", "54138969", 3, 3)],
                        size_wh={("S1", "Eating", "54138969"): (1000, 998)})
    with pytest.raises(ValueError, match=r"Eating\.54138969\.mp4: frames are 1000x998 px, smaller "
                                         r"than the 1000x1002 px camera 54138969"):
        h36m_prepare.prepare(root, tmp_path / "out", subjects=["S1"], progress=False)
    assert not (tmp_path / "out" / "index.npz").exists()


def test_index_from_an_older_posebook_asks_to_rerun_prepare(prepared, tmp_path):
    index = h36m.load_index(prepared)
    del index["image_wh"]
    np.savez(tmp_path / h36m.INDEX_NAME, **index)
    with pytest.raises(ValueError, match="older posebook.*rerun `posebook prepare-h36m`"):
        h36m.H36MFrames(tmp_path, ["S1"])
    with pytest.raises(ValueError, match="no detector boxes.*--detector auto"):
        h36m.H36MFrames(prepared, ["S1"], boxes="detector")
