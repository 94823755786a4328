"""`posebook predict`: image -> box -> crop -> model -> JSON + offline HTML, and its errors.

Uses a real smoke-profile run (trained once per session into the test runs folder)."""
import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from posebook import checkpoint, cli, crop, predict, profiles, skeleton
from posebook.data import synthetic
from posebook.viz import predict as viz_predict


@pytest.fixture(scope="session")
def frame():
    return synthetic.make_frame(np.random.default_rng(0), frame_px=256)


@pytest.fixture()
def frame_png(tmp_path, frame):
    import cv2
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), frame.image[:, :, ::-1])
    return path


def box_arg(box):
    return ",".join(f"{v:.1f}" for v in box)


def outputs(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".html", ".json", ".htm")
                  or ".tmp" in p.name)


def test_predict_with_box_writes_json_and_offline_html(smoke_run, frame, frame_png, tmp_path,
                                                      capsys):
    out = tmp_path / "out" / "result.html"
    rc = cli.main(["predict", str(frame_png), "--box", box_arg(frame.box_xywh_px),
                   "--checkpoint", str(smoke_run), "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"FOV {predict.DEFAULT_FOV_DEG:g} deg" in printed      # the assumption is printed
    result = json.loads(out.with_suffix(".json").read_text())
    joints = np.array(result["joints_cam_mm"])
    assert joints.shape == (skeleton.N_JOINTS, 3) and np.all(np.isfinite(joints))
    assert result["joint_names"] == list(skeleton.JOINT_NAMES)
    assert np.all(joints[:, 2] > 0)                                 # in front of the camera
    assert result["profile"] == "smoke" and result["checkpoint"] == str(smoke_run)
    np.testing.assert_allclose(result["box_xywh_px"], frame.box_xywh_px, atol=0.06)
    assert np.array(result["camera"]["K"]).shape == (3, 3)
    assert result["fov_deg"] == predict.DEFAULT_FOV_DEG
    page = out.read_text()
    assert "Plotly.newPlot" in page and "data:image/png;base64," in page
    assert len(page) > 1_000_000                                    # plotly.js is inlined
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert outputs(out.parent) == ["result.html", "result.json"]


def test_predict_with_detector_on_synthetic_frame(smoke_run):
    """Seed 0 at 512 px is a frame where HOG finds the person (see test_detect)."""
    frame512 = synthetic.make_frame(np.random.default_rng(0), frame_px=512)
    result = predict.predict(frame512.image, smoke_run)
    assert result.box_source.startswith("OpenCV HOG")
    assert np.all(np.isfinite(result.joints_cam_mm)) and result.joints_cam_mm.shape == (17, 3)
    assert result.detections is not None and len(result.detections) >= 1


def test_camera_frame_conversion_with_an_oracle_model(frame):
    """A stand-in model that returns the true joints in the crop camera's frame must give back
    the true joints in the image camera's frame (checks crop camera -> image camera maths)."""
    config = profiles.get("smoke")
    camera, _, _ = predict.camera_for_image(frame.image.shape[1::-1])
    world_cam = frame.camera  # the true joints, seen by our assumed camera at the same pose
    joints_true_mm = world_cam.world_to_camera(frame.joints_world_mm)

    def oracle(images, intrinsics):
        crop_cam = crop.crop_camera(camera, frame.box_xywh_px, out_side=config.input_px)
        np.testing.assert_allclose(intrinsics[0].numpy(), crop_cam.K, rtol=1e-5, atol=1e-4)
        crop_mm = crop_cam.world_to_camera(camera.camera_to_world(joints_true_mm))
        return {"joints_cam_mm": torch.as_tensor(crop_mm)[None]}

    got_mm, crop_image, _ = predict.pose_in_box(oracle, config, frame.image, camera,
                                                frame.box_xywh_px, flip=False)
    np.testing.assert_allclose(got_mm, joints_true_mm, atol=1e-6)
    assert crop_image.shape == (config.input_px, config.input_px, 3)


def test_camera_for_image_assumption_and_focal():
    cam, fov, note = predict.camera_for_image((640, 480))
    assert fov == predict.DEFAULT_FOV_DEG and "assumed" in note
    assert cam.K[0, 0] == pytest.approx(320 / np.tan(np.radians(predict.DEFAULT_FOV_DEG / 2)))
    cam, fov, note = predict.camera_for_image((480, 640), focal_px=500.0)
    assert cam.K[0, 0] == cam.K[1, 1] == 500.0 and "vertical" in note
    assert fov == pytest.approx(np.degrees(2 * np.arctan(320 / 500)))
    for bad in [dict(fov_deg=0.0), dict(fov_deg=179.0), dict(focal_px=-3.0)]:
        with pytest.raises(ValueError, match="--fov|--focal"):
            predict.camera_for_image((640, 480), **bad)


def test_default_checkpoint_is_newest_run(tmp_path, monkeypatch):
    import os
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="posebook train --profile cpu --name") as error:
        predict.model_source(None)
    # the fast way (smoke, under a minute) and the proper one (cpu, minutes), each with its time
    assert "--profile smoke" in str(error.value) and "under a minute" in str(error.value)
    assert "7 minutes" in str(error.value)
    for age, name in [(200, "old"), (100, "new"), (300, "older")]:
        ckpt = tmp_path / name / "checkpoints" / "last.pt"
        ckpt.parent.mkdir(parents=True)
        ckpt.write_bytes(b"x")
        os.utime(ckpt, (1e9 - age, 1e9 - age))
    (tmp_path / "unfinished").mkdir()
    assert predict.model_source(None) == tmp_path / "new"
    (tmp_path / "older" / "config.json").write_text("{}")
    assert predict.model_source("older") == tmp_path / "older"


def run_cli(argv, capsys):
    rc = cli.main(["predict", *argv])
    return rc, capsys.readouterr().err


def test_no_person_fails_and_suggests_box(smoke_run, tmp_path, capsys):
    import cv2
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((300, 400, 3), 128, np.uint8))
    rc, err = run_cli([str(grey), "--checkpoint", str(smoke_run),
                       "--out", str(tmp_path / "grey.html")], capsys)
    assert rc != 0 and "no person" in err and "--box" in err
    assert outputs(tmp_path) == []


def test_bad_inputs_fail_cleanly(smoke_run, frame, frame_png, tmp_path, capsys):
    out = ["--out", str(tmp_path / "r.html")]
    box = ["--box", box_arg(frame.box_xywh_px)]
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not an image")
    cases = {
        "cannot read": [str(not_image), *box, "--checkpoint", str(smoke_run), *out],
        "does not exist": [str(tmp_path / "missing.jpg"), *box, "--checkpoint", str(smoke_run),
                           *out],
        "outside the 256x256 image": [str(frame_png), "--box", "400,400,50,80",
                                      "--checkpoint", str(smoke_run), *out],
        "x,y,w,h": [str(frame_png), "--box", "1,2,3", "--checkpoint", str(smoke_run), *out],
        "not a checkpoint file or a run folder": [str(frame_png), *box, "--checkpoint",
                                                  str(tmp_path), *out],
        ".html": [str(frame_png), *box, "--checkpoint", str(smoke_run),
                  "--out", str(tmp_path / "r.txt")],
    }
    for message, argv in cases.items():
        rc, err = run_cli(argv, capsys)
        assert rc != 0, message
        assert message in err, (message, err)
    assert outputs(tmp_path) == []


def test_incompatible_checkpoint_fails_cleanly(smoke_run, frame, frame_png, tmp_path, capsys):
    """A checkpoint whose saved config does not match its weights (here: more depth bins)."""
    import shutil
    bad_run = tmp_path / "bad-run"
    shutil.copytree(smoke_run, bad_run)
    state = checkpoint.load(bad_run / "checkpoints" / "last.pt")
    state["config"]["depth_bins"] = state["config"]["depth_bins"] * 2
    checkpoint.save(bad_run / "checkpoints" / "last.pt", state)
    out = tmp_path / "out"
    rc, err = run_cli([str(frame_png), "--box", box_arg(frame.box_xywh_px), "--checkpoint",
                       str(bad_run), "--out", str(out / "r.html")], capsys)
    assert rc != 0 and "does not load" in err and str(bad_run) in err
    assert not out.exists() or outputs(out) == []


def test_overlay_draws_and_checks_shape(frame):
    drawn = viz_predict.draw_overlay(frame.image, np.full((17, 2), 50.0), frame.box_xywh_px)
    assert drawn.shape == frame.image.shape and np.any(drawn != frame.image)
    with pytest.raises(ValueError, match=r"\(17, 2\)"):
        viz_predict.draw_overlay(frame.image, np.zeros((16, 2)))


def test_missing_hog_is_a_clear_error(smoke_run, frame_png, tmp_path, capsys, monkeypatch):
    from posebook import detect
    monkeypatch.setattr(detect, "hog_available", lambda: False)
    rc, err = run_cli([str(frame_png), "--checkpoint", str(smoke_run),
                       "--out", str(tmp_path / "r.html")], capsys)
    assert rc != 0 and "opencv-python-headless<5" in err and "--box" in err
    assert outputs(tmp_path) == []


def test_pose_checks_on_the_reference_skeleton(frame):
    """The reference standing pose is plausible by construction: no bone error, symmetric."""
    camera, _, _ = predict.camera_for_image((512, 512))
    joints_cam_mm = skeleton.STANDING_POSE_MM + np.array([0.0, 0.0, 4000.0])
    joints_px = camera.camera_to_image(joints_cam_mm)
    low, high = joints_px.min(0) - 5, joints_px.max(0) + 5
    pred = predict.Prediction(
        image=np.zeros((512, 512, 3), np.uint8), camera=camera, intrinsics_note="", fov_deg=55.0,
        box_xywh_px=np.r_[low, high - low], box_source="given box", detections=None,
        crop_image=None, crop_camera=None, joints_cam_mm=joints_cam_mm, joints_px=joints_px,
        checkpoint="", profile="")
    checks = predict.pose_checks(pred)
    assert checks["bone_error_pct"] == pytest.approx(0, abs=1e-9)
    assert checks["lr_asymmetry_pct"] == pytest.approx(0, abs=1e-9)
    assert checks["in_box_pct"] == 100 and checks["root_depth_mm"] == 4000
    assert 1500 < checks["height_mm"] < 1900
    squashed = dataclasses.replace(pred, joints_cam_mm=joints_cam_mm * [1, 0.5, 1])
    assert predict.pose_checks(squashed)["bone_error_pct"] > 10
