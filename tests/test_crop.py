"""posebook.crop: marks stamped on the full frame land where the crop camera projects the joints."""

import numpy as np
import pytest
from PIL import Image

from posebook import camera, crop, paths, skeleton
from posebook.camera import Camera
from realdata import h36m_samples

OUT = 256


def real_frames():
    for sample in h36m_samples():
        image = np.asarray(Image.open(sample.image_path).convert("RGB"))
        # Human3.6M camera frame = world here (R = I, t = 0).
        yield image, sample.camera(), sample.joints_cam_mm, sample.joints_px, sample.box_xywh_px


def synthetic_frame():
    """An off-centre standing pose seen by a rotated, distorted wide-angle camera."""
    rng = np.random.default_rng(0)
    K = camera.intrinsics_from_fov(70, (800, 600))
    cam = Camera(K, distortion=[-0.1, 0.02, 0.002, -0.001, 0.0], distortion_model="opencv",
                 t=[100, -1500, 300]).rotate(roll_rad=0.1, yaw_rad=0.3, pitch_rad=-0.2)
    joints_world = cam.camera_to_world(skeleton.STANDING_POSE_MM + [1300, 100, 3500])
    joints_px = cam.world_to_image(joints_world)
    lo, hi = joints_px.min(0) - 20, joints_px.max(0) + 20
    image = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    return image, cam, joints_world, joints_px, np.r_[lo, hi - lo]


def all_frames():
    frames = [synthetic_frame()]
    if paths.realdata_dir() is not None:
        frames += list(real_frames())
    return frames


def blob(shape_hw, centre_px, sigma=1.5):
    """A Gaussian mark of height 100 at `centre_px`, drawn within 8 sigma (zero beyond)."""
    out = np.zeros(shape_hw, np.float32)
    r = int(np.ceil(8 * sigma))
    x0, y0 = (max(int(c) - r, 0) for c in centre_px)
    x1, y1 = (min(int(c) + r + 1, side) for c, side in zip(centre_px, shape_hw[::-1]))
    ys, xs = np.mgrid[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = 100 * np.exp(-((xs - centre_px[0])**2 + (ys - centre_px[1])**2)
                                     / (2 * sigma**2))
    return out


def centroid(weights):
    weights = np.where(weights > 0.05 * weights.max(), weights, 0)
    ys, xs = np.mgrid[:weights.shape[0], :weights.shape[1]]
    return np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()


JITTERS = [dict(), dict(scale=1.3, roll_rad=0.4, shift_frac=(0.1, -0.05)), dict(flip=True)]


@pytest.mark.parametrize("jitter", JITTERS, ids=["plain", "jitter", "flip"])
def test_marks_land_on_projected_joints(jitter):
    """Stamp a mark at each original 2D joint, crop, find it: it sits where the crop camera
    projects the 3D joint (through the lens distortion and the perspective turn). The crop is
    linear in the image, so the mark is cropped alone: the crop of the marked image minus that
    of the plain one."""
    for image, cam, joints_world, joints_px, box in all_frames():
        _, crop_cam = crop.perspective_crop(image, cam, box, OUT, **jitter)
        expected = crop_cam.world_to_image(joints_world)
        found = [centroid(crop.perspective_crop(blob(image.shape[:2], joint_px), cam, box, OUT,
                                                **jitter)[0])
                 for joint_px in joints_px]
        error = np.abs(np.array(found) - expected).max()
        assert error <= 1.0, (jitter, error)


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_box_larger_side_spans_fill(scale):
    for image, cam, _, _, box in all_frames():
        filled = np.zeros(image.shape[:2], np.float32)
        x, y, w, h = box
        xs, ys = np.arange(image.shape[1]), np.arange(image.shape[0])
        filled[(ys >= y)[:, None] & (ys <= y + h)[:, None] & (xs >= x) & (xs <= x + w)] = 1
        crop_image, _ = crop.perspective_crop(filled, cam, box, OUT, scale=scale)
        centre = (OUT - 1) / 2
        spans = [extent(crop_image[round(centre)]), extent(crop_image[:, round(centre)])]
        assert abs(max(spans) - 0.9 * OUT / scale) <= 1.0, spans


def extent(profile):
    """Distance between the two 0.5-crossings of a 0/1 profile, linearly interpolated."""
    inside = np.nonzero(profile >= 0.5)[0]
    lo, hi = inside[0], inside[-1]
    left = lo - (profile[lo] - 0.5) / (profile[lo] - profile[lo - 1])
    right = hi + (profile[hi] - 0.5) / (profile[hi] - profile[hi + 1])
    return right - left


def test_flip_mirrors_the_crop_and_joints_need_mirror_labels():
    image, cam, joints_world, _, box = synthetic_frame()
    plain, plain_cam = crop.perspective_crop(image, cam, box, OUT)
    flipped, flip_cam = crop.perspective_crop(image, cam, box, OUT, flip=True)
    assert np.abs(flipped.astype(int) - plain[:, ::-1]).mean() < 1.0
    joints_px = plain_cam.world_to_image(joints_world)
    flipped_px = flip_cam.world_to_image(joints_world)[list(skeleton.MIRROR)]
    np.testing.assert_allclose(flipped_px, np.c_[OUT - 1 - joints_px[:, 0], joints_px[:, 1]]
                               [list(skeleton.MIRROR)], atol=1e-6)
    assert np.allclose(np.linalg.det(flip_cam.R), -1)


def test_box_outside_image_gives_padded_crop():
    image, cam, _, _, _ = synthetic_frame()
    for box in ([-400, -300, 200, 250], [700, 500, 300, 300], [-50, 200, 100, 100]):
        crop_image, crop_cam = crop.perspective_crop(image, cam, box, 64, border_value=7)
        assert crop_image.shape == (64, 64, 3) and crop_image.dtype == np.uint8
        assert (crop_image == 7).all(-1).mean() > 0.2
        np.testing.assert_allclose(crop_cam.K[:2, 2], [31.5, 31.5])


def test_affine_crop_stretches_an_off_centre_person():
    """The perspective crop of an off-centre pose looks like the same pose seen centred; the
    affine crop keeps a sideways stretch."""
    _, cam, joints_world, joints_px, box = synthetic_frame()
    centred = Camera(cam.K, cam.R, cam.t).turn_towards(
        cam.undistort().world_to_image(joints_world[0]))
    shape = {}
    for name, crop_cam in [("perspective", crop.crop_camera(cam, box, OUT)),
                           ("affine", crop.affine_crop_camera(cam.undistort(), box, OUT)),
                           ("centred", centred)]:
        px = crop_cam.world_to_image(joints_world)
        shape[name] = np.ptp(px[:, 0]) / np.ptp(px[:, 1])
    assert abs(shape["perspective"] / shape["centred"] - 1) < 0.02
    assert abs(shape["affine"] / shape["centred"] - 1) > 0.05


def test_bad_box_raises():
    cam = Camera(camera.intrinsics_from_fov(60, (100, 100)))
    for box in ([0, 0, 0, 10], [0, 0, 10], [np.nan, 0, 10, 10]):
        with pytest.raises(ValueError, match="box_xywh_px"):
            crop.crop_camera(cam, box)


@pytest.mark.parametrize("out_side", [1, 32, 128])
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_shapes(out_side, channels):
    shape = (90, 120) if channels is None else (90, 120, channels)
    image = np.zeros(shape, np.uint8)
    cam = Camera(camera.intrinsics_from_fov(60, (120, 90)), distortion=[0.05, 0, 0, 0, 0])
    crop_image, crop_cam = crop.perspective_crop(image, cam, [30, 20, 40, 50], out_side)
    expected = (out_side, out_side) if channels is None else (out_side, out_side, channels)
    assert crop_image.shape == expected
    assert crop_cam.distortion is None and crop_cam.K.shape == (3, 3)
