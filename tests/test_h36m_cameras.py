"""Human3.6M camera constants: against the real samples (cameras.json, frames.npz), an
independently published rounding (VideoPose3D's quaternions), and metadata.xml loading."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posebook import paths
from posebook.data import h36m_cameras, h36m_prepare


def _realdata():
    root = paths.realdata_dir()
    if root is None or not (root / "h36m" / "cameras.json").is_file():
        pytest.skip("real Human3.6M samples (../shared/realdata/h36m) not available")
    return root / "h36m"


def test_constants_match_cameras_json():
    cameras = json.loads((_realdata() / "cameras.json").read_text())
    for subject in h36m_cameras.SUBJECTS:
        for camera_id in h36m_cameras.CAMERA_IDS:
            ref, ours = cameras[subject][camera_id], h36m_cameras.params(subject, camera_id)
            # cameras.json: X_cam = R^T (X_world - T); ours: X_cam = R (X_world - t)
            np.testing.assert_allclose(ours["R"], np.array(ref["R"]).T, atol=1e-9)
            np.testing.assert_allclose(ours["t_mm"], np.array(ref["T_m"]) * 1000, atol=1e-6)
            for key, ref_key in (("f_px", "f"), ("c_px", "c"), ("k", "k"), ("p", "p")):
                np.testing.assert_allclose(ours[key], ref[ref_key], rtol=1e-9, atol=1e-12)
            assert ours["size_wh"] == (ref["w"], ref["h"])


def test_real_frames_reproject_within_quarter_pixel():
    root = _realdata()
    data = np.load(root / "frames.npz")
    for name, joints_cam_m, joints_px in zip(data["imgname"], data["joints3d_cam_m"],
                                             data["joints2d_px"]):
        subject, camera_id = name.split("/")[0], name.split(".")[1][:8]
        cam = h36m_cameras.camera(subject, camera_id)
        joints_cam_mm = joints_cam_m * 1000.0
        assert np.abs(cam.camera_to_image(joints_cam_mm) - joints_px).max() < 0.25
        # and through the world frame (extrinsics round trip)
        world = cam.camera_to_world(joints_cam_mm)
        assert np.abs(cam.world_to_image(world) - joints_px).max() < 0.25
        assert (root / name).is_file()


def test_distortion_matters_on_real_frames():
    """Dropping distortion misses by pixels; OpenCV's model with the same numbers by ~0.2 px,
    about 10^4 times the H36M model's error, so the convention test above can tell them apart."""
    from posebook.camera import Camera
    data = np.load(_realdata() / "frames.npz")
    worst_none, worst_cv = 0.0, 0.0
    for name, joints_cam_m, joints_px in zip(data["imgname"], data["joints3d_cam_m"],
                                             data["joints2d_px"]):
        cam = h36m_cameras.camera(name.split("/")[0], name.split(".")[1][:8])
        k1, k2, k3, p1, p2 = cam.distortion
        plain = Camera(cam.K, cam.R, cam.t)
        opencv = Camera(cam.K, cam.R, cam.t, np.array([k1, k2, p1, p2, k3]), "opencv")
        worst_none = max(worst_none, np.abs(plain.camera_to_image(joints_cam_m * 1000) - joints_px).max())
        worst_cv = max(worst_cv, np.abs(opencv.camera_to_image(joints_cam_m * 1000) - joints_px).max())
    assert worst_none > 1.0 and worst_cv > 0.1


# Quaternions (w, x, y, z) rotating camera -> world, as rounded to float32 in
# facebookresearch/VideoPose3D common/h36m_dataset.py (h36m_cameras_extrinsic_params).
VIDEOPOSE3D = {
    ("S1", "54138969"): ([0.1407056450843811, -0.1500701755285263, -0.755240797996521,
                          0.6223280429840088], [1841.1070556640625, 4955.28466796875, 1563.4454345703125]),
    ("S9", "58860488"): ([0.13357827067375183, -0.1367100477218628, 0.7689454555511475,
                          -0.6100738644599915], [-1670.9921875, 5211.98583984375, 1528.387939453125]),
    ("S11", "60457274"): ([0.5894251465797424, -0.7818877100944519, 0.13991211354732513,
                           -0.14715361595153809], [-1590.738037109375, -3854.1689453125, 1578.017578125]),
}


@pytest.mark.parametrize("key", sorted(VIDEOPOSE3D))
def test_constants_match_videopose3d_quaternions(key):
    (w, x, y, z), t_mm = VIDEOPOSE3D[key]
    cam_to_world = Rotation.from_quat([x, y, z, w]).as_matrix()
    ours = h36m_cameras.params(*key)
    np.testing.assert_allclose(ours["R"], cam_to_world.T, atol=1e-6)
    np.testing.assert_allclose(ours["t_mm"], t_mm, atol=1e-3)


def test_rotations_are_proper_and_cameras_face_the_centre():
    for subject in h36m_cameras.SUBJECTS:
        for camera_id in h36m_cameras.CAMERA_IDS:
            p = h36m_cameras.params(subject, camera_id)
            np.testing.assert_allclose(p["R"] @ p["R"].T, np.eye(3), atol=1e-12)
            assert np.linalg.det(p["R"]) == pytest.approx(1.0)
            centre_cam = p["R"] @ (np.array([0.0, 0.0, 1000.0]) - p["t_mm"])
            assert centre_cam[2] > 3000  # the capture volume is in front of every camera


def _metadata_xml(path, w0):
    text = " ".join(repr(float(v)) for v in w0)
    path.write_text(f"<?xml version='1.0'?>\n<metadata><w0>[{text}]</w0></metadata>\n")
    return path


def test_metadata_xml_roundtrip_and_differences(tmp_path):
    path = _metadata_xml(tmp_path / "metadata.xml", h36m_cameras.W0)
    np.testing.assert_array_equal(h36m_cameras.load_metadata_xml(path), h36m_cameras.W0)
    assert h36m_cameras.compare_with_metadata(path) == []
    changed = h36m_cameras.W0.copy()
    changed[264] += 5.0  # f_x of camera 54138969
    path = _metadata_xml(tmp_path / "changed.xml", changed)
    problems = h36m_cameras.compare_with_metadata(path)
    assert len(problems) == 11 and all("54138969 f_px" in p for p in problems)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w0 = h36m_prepare.calibration(tmp_path, str(path))
    assert w0[264] == changed[264] and any("differs" in str(w.message) for w in caught)


def test_metadata_xml_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.xml"):
        h36m_cameras.load_metadata_xml(tmp_path / "nothere.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<metadata><w0>[1 2 3]</w0></metadata>")
    with pytest.raises(ValueError, match=r"bad\.xml.*300.*got 3"):
        h36m_cameras.load_metadata_xml(bad)
    (tmp_path / "none.xml").write_text("<metadata></metadata>")
    with pytest.raises(ValueError, match=r"none\.xml.*<w0>"):
        h36m_cameras.load_metadata_xml(tmp_path / "none.xml")


def test_unknown_subject_or_camera():
    with pytest.raises(ValueError, match="S12"):
        h36m_cameras.camera("S12", "54138969")
    with pytest.raises(ValueError, match="12345678"):
        h36m_cameras.params("S1", "12345678")
