"""posebook.camera: conventions, round trips (hypothesis), real Human3.6M projection, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from posebook import camera
from posebook.camera import Camera
from realdata import h36m_samples

# --- strategies ----------------------------------------------------------------------------------
finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def rotations(draw):
    q = np.array([draw(st.floats(-1, 1, **finite)) for _ in range(4)])
    if np.linalg.norm(q) < 1e-3:
        q = np.array([1.0, 0, 0, 0])
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@st.composite
def cameras(draw, distorted=None):
    f = draw(st.floats(200, 2000))
    K = np.array([[f * draw(st.floats(0.8, 1.25)), draw(st.floats(-5, 5)), draw(st.floats(0, 1000))],
                  [0, f, draw(st.floats(0, 1000))], [0, 0, 1]])
    t = np.array([draw(st.floats(-5000, 5000)) for _ in range(3)])
    if distorted is None:
        distorted = draw(st.booleans())
    coeffs = None
    if distorted:  # moderate coefficients
        coeffs = [draw(st.floats(-0.3, 0.3)), draw(st.floats(-0.1, 0.1)), draw(st.floats(-0.02, 0.02)),
                  draw(st.floats(-0.01, 0.01)), draw(st.floats(-0.01, 0.01))]
    model = draw(st.sampled_from(["opencv", "h36m"]))
    return Camera(K, draw(rotations()), t, coeffs, model)


@st.composite
def points_cam_mm(draw, n=5):
    """(n, 3) camera-frame points inside a +-31 deg cone, 0.1 to 10 m away."""
    return np.array([[draw(st.floats(-0.6, 0.6)), draw(st.floats(-0.6, 0.6)), 1.0]
                     for _ in range(n)]) * np.array([[draw(st.floats(100, 10000))] for _ in range(n)])


# --- property tests ------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(cameras(), points_cam_mm())
def test_world_camera_world_identity(cam, pts_cam):
    pts_world = cam.camera_to_world(pts_cam)
    np.testing.assert_allclose(cam.world_to_camera(pts_world), pts_cam, atol=1e-6)
    np.testing.assert_allclose(cam.camera_to_world(cam.world_to_camera(pts_world)), pts_world,
                               atol=1e-6)


@settings(max_examples=80, deadline=None)
@given(st.booleans().flatmap(lambda d: st.tuples(cameras(distorted=d), points_cam_mm())))
def test_project_unproject_identity(cam_and_points):
    cam, pts_cam = cam_and_points
    px = cam.camera_to_image(pts_cam)
    assert np.all(np.isfinite(px))
    back = cam.image_to_camera(px, pts_cam[:, 2])
    np.testing.assert_allclose(back, pts_cam, rtol=0, atol=1e-6 * pts_cam[:, 2:].max())
    np.testing.assert_allclose(cam.camera_to_image(back), px, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(cameras())
def test_flip_twice_is_identity(cam):
    twice = cam.horizontal_flip().horizontal_flip()
    np.testing.assert_allclose(twice.R, cam.R, atol=1e-12)
    np.testing.assert_allclose(twice.K, cam.K)
    assert np.linalg.det(cam.horizontal_flip().R) == pytest.approx(-np.linalg.det(cam.R))


@settings(max_examples=40, deadline=None)
@given(cameras(), st.floats(0.05, 20))
def test_zoom_inverse_is_identity(cam, factor):
    # atol: a skew of 5e-324 (subnormal) does not survive x * f / f to 1e-12 relative
    np.testing.assert_allclose(cam.zoom(factor).zoom(1 / factor).K, cam.K, rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(cameras(), points_cam_mm(n=1))
def test_turn_towards_puts_point_at_principal_point(cam, pts_cam):
    target_px = cam.camera_to_image(pts_cam)[0]
    turned = cam.turn_towards(target_px)
    pts_world = cam.camera_to_world(pts_cam)
    np.testing.assert_allclose(turned.world_to_image(pts_world)[0], turned.K[:2, 2], atol=1e-6)
    np.testing.assert_allclose(turned.t, cam.t)


# --- conventions ---------------------------------------------------------------------------------
def test_axes_convention():
    cam = Camera(camera.intrinsics_from_fov(60, (640, 480)))
    centre = np.array([319.5, 239.5])
    np.testing.assert_allclose(cam.camera_to_image([0, 0, 1000.0]), centre)
    right, down = cam.camera_to_image(np.array([[100, 0, 1000.0], [0, 100, 1000.0]]))
    assert right[0] > centre[0] and down[1] > centre[1]
    rolled = cam.rotate(roll_rad=0.1).world_to_image([100, 0, 1000.0])
    assert rolled[1] > centre[1]  # positive roll: content turns clockwise as displayed
    assert cam.rotate(yaw_rad=0.1).world_to_image([0, 0, 1000.0])[0] > centre[0]
    assert cam.rotate(pitch_rad=0.1).world_to_image([0, 0, 1000.0])[1] < centre[1]
    flipped = cam.horizontal_flip().world_to_image([100, 0, 1000.0])
    np.testing.assert_allclose(flipped, [2 * centre[0] - right[0], centre[1]])


def test_verbs_do_not_mutate_and_square_pixels():
    cam = Camera([[1000, 3, 300], [0, 900, 200], [0, 0, 1]], distortion=[0.1, 0, 0, 0, 0])
    K0, R0 = cam.K.copy(), cam.R.copy()
    new = cam.turn_towards([10, 20]).zoom(2).rotate(roll_rad=1).horizontal_flip().undistort()
    new = new.square_pixels().center_principal_point((256, 256)).shift_image([1, 2])
    np.testing.assert_array_equal(cam.K, K0)
    np.testing.assert_array_equal(cam.R, R0)
    assert cam.distortion is not None and new.distortion is None
    sq = cam.square_pixels()
    assert sq.K[0, 0] == sq.K[1, 1] == 950 and sq.K[0, 1] == 0
    np.testing.assert_allclose(new.K[:2, 2], [128.5, 129.5])


def test_distortion_models_differ():
    coeffs = [0.1, 0.02, 0.001, 0.01, -0.005]
    xy = np.array([[0.3, -0.2]])
    from posebook import distortion
    opencv = distortion.distort(xy, [coeffs[0], coeffs[1], coeffs[3], coeffs[4], coeffs[2]], "opencv")
    h36m = distortion.distort(xy, coeffs, "h36m")
    import cv2
    ref, _ = cv2.projectPoints(np.array([[0.3, -0.2, 1.0]]), np.zeros(3), np.zeros(3), np.eye(3),
                               np.array([coeffs[0], coeffs[1], coeffs[3], coeffs[4], coeffs[2]]))
    np.testing.assert_allclose(opencv, ref[:, 0], atol=1e-12)  # "opencv" is OpenCV's model
    assert np.abs(opencv - h36m).max() > 1e-3


VERBS = {
    "turn_towards": lambda c: c.turn_towards([40.0, -25.0]), "zoom": lambda c: c.zoom(1.7),
    "rotate": lambda c: c.rotate(roll_rad=0.3, yaw_rad=-0.2, pitch_rad=0.1),
    "horizontal_flip": lambda c: c.horizontal_flip(), "undistort": lambda c: c.undistort(),
    "square_pixels": lambda c: c.square_pixels(), "copy": lambda c: c.copy(),
    "center_principal_point": lambda c: c.center_principal_point((256, 192)),
    "shift_image": lambda c: c.shift_image([3.5, -7.25]),
}


@settings(max_examples=30, deadline=None)
@given(cameras(), st.sampled_from(sorted(VERBS)))
def test_verb_camera_equals_validated_camera(cam, verb):
    """Verbs skip `Camera.__init__`'s checks (`Camera._trusted`), yet build exactly the camera
    the public constructor builds from the same fields: same bits, dtype and layout."""
    new = VERBS[verb](cam)
    public = Camera(new.K, new.R, new.t, new.distortion, new.distortion_model)
    for field in ("K", "R", "t", "distortion"):
        got, want = getattr(new, field), getattr(public, field)
        if want is None:
            assert got is None
            continue
        assert got.dtype == want.dtype == np.float64 and got.strides == want.strides
        np.testing.assert_array_equal(got, want)
        assert not np.shares_memory(got, getattr(cam, field))  # nothing shared with the source
    assert new.distortion_model == public.distortion_model


def accepts(*args) -> bool:
    try:
        Camera(*args)
        return True
    except ValueError:
        return False


def test_public_constructor_keeps_its_checks():
    with pytest.raises(ValueError, match=r"R: expected a \(3, 3\) rotation matrix \(R R\^T = I\)"):
        Camera(np.eye(3), [[1, 0.1, 0], [0, 1, 0], [0, 0, 1]])
    # The checks are np.allclose written out: same verdicts just inside and outside tolerance.
    scaled_R = [np.eye(3) * (1 + eps) for eps in (2e-6, 5.4e-6, 5.6e-6, 1e-5)]
    verdicts = [accepts(np.eye(3), R) for R in scaled_R]
    assert verdicts == [np.allclose(R @ R.T, np.eye(3), atol=1e-6) for R in scaled_R]
    assert verdicts == [True, True, False, False]
    Ks = [np.diag([1.0, 1.0, 1 + eps]) for eps in (1.0e-5, 1.002e-5)]
    assert [accepts(K) for K in Ks] == [np.allclose(K[2], [0, 0, 1]) for K in Ks] == [True, False]


def test_verbs_still_reject_invalid_results():
    cam = Camera(np.eye(3))
    with pytest.raises(ValueError, match="rotate"):
        cam.rotate(roll_rad=np.nan)
    with pytest.raises(ValueError, match="K: expected a finite"):
        cam.shift_image([np.nan, 0.0])
    with pytest.raises(ValueError, match="invertible"):
        cam.zoom(1e-10)
    with pytest.raises(ValueError, match="invertible"):
        Camera([[1, 0, 0], [0, -1, 0], [0, 0, 1]]).square_pixels()
    with np.errstate(over="ignore"), pytest.raises(ValueError, match="image_point_px"):
        cam.turn_towards([0.0, 1e300])


# --- real Human3.6M frames -----------------------------------------------------------------------
def test_h36m_projection_matches_ground_truth():
    for sample in h36m_samples():
        K, coeffs, cam = sample.K, sample.distortion, sample.camera()
        joints_cam_mm, joints_px = sample.joints_cam_mm, sample.joints_px
        error = np.abs(cam.camera_to_image(joints_cam_mm) - joints_px).max()
        assert error < 0.25 and error < 1e-3, error
        assert np.abs(cam.undistort().camera_to_image(joints_cam_mm) - joints_px).max() > 1.0
        wrong = Camera(K, distortion=[coeffs[i] for i in (0, 1, 2, 4, 3)], distortion_model="h36m")
        assert np.abs(wrong.camera_to_image(joints_cam_mm) - joints_px).max() > 10 * error


# --- bad input -----------------------------------------------------------------------------------
def test_bad_points_give_nan():
    cam = Camera(camera.intrinsics_from_fov(50, (100, 100)), distortion=[0.1, 0.01, 0, 0, 0])
    px = cam.camera_to_image(np.array([[0, 0, -100.0], [np.nan, 0, 100], [np.inf, 0, 1],
                                       [0, 0, 0], [10, 0, 100]]))
    assert np.all(np.isnan(px[:4])) and np.all(np.isfinite(px[4]))
    assert np.all(np.isnan(cam.image_to_camera([[np.nan, 1.0]])))
    folded = Camera(np.eye(3), distortion=[-0.5, 0, 0, 0, 0])  # r*(1 - 0.5 r^2) folds at r^2=2/3
    assert np.isnan(folded.camera_to_image([1.0, 0.0, 1.0])).all()
    assert np.isfinite(folded.camera_to_image([0.5, 0.0, 1.0])).all()
    behind = camera.project_px(torch.tensor([[0.0, 0.0, -5.0]]), torch.eye(3))
    assert torch.isnan(behind).all()


@pytest.mark.parametrize("K", [np.zeros((3, 3)), [[1, 0, 0], [0, 0, 0], [0, 0, 1]], np.eye(2),
                               [[1, 0, 0], [0, 1, 0], [0, 1, 1]], [[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]]])
def test_bad_K_raises(K):
    with pytest.raises(ValueError, match="K"):
        Camera(K)


@pytest.mark.parametrize("R", [2 * np.eye(3), [[1, 0.1, 0], [0, 1, 0], [0, 0, 1]], np.eye(2)])
def test_bad_R_raises(R):
    with pytest.raises(ValueError, match="R"):
        Camera(np.eye(3), R)


def test_bad_shapes_and_arguments_raise():
    cam = Camera(np.eye(3))
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        cam.world_to_camera(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="distortion_model"):
        Camera(np.eye(3), distortion_model="fisheye")
    with pytest.raises(ValueError, match="distortion"):
        Camera(np.eye(3), distortion=[0.1, 0.2])
    with pytest.raises(ValueError, match="zoom"):
        cam.zoom(0)
    with pytest.raises(ValueError, match="optical centre"):
        camera.reproject_image(np.zeros((4, 4, 3), np.uint8), cam, Camera(np.eye(3), t=[0, 0, 5]),
                               (4, 4))
    with pytest.raises(ValueError, match="backproject"):
        camera.backproject(torch.zeros(2, 17, 2), torch.zeros(2, 16), torch.zeros(2), torch.eye(3))


# --- shapes over batch sizes ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3,), (1, 3), (7, 3), (2, 5, 3)])
def test_shapes(shape):
    cam = Camera(camera.intrinsics_from_fov(50, (64, 48)), distortion=[0.05, 0, 0, 0.001, 0],
                 distortion_model="h36m")
    pts = np.random.default_rng(0).uniform([-200, -200, 1000], [200, 200, 3000], shape)
    assert cam.world_to_camera(pts).shape == shape
    assert cam.camera_to_world(pts).shape == shape
    px = cam.world_to_image(pts)
    assert px.shape == shape[:-1] + (2,)
    assert cam.image_to_camera(px, pts[..., 2]).shape == shape
    assert cam.image_to_camera(px).shape == shape


@pytest.mark.parametrize("batch", [1, 4])
def test_project_backproject_shapes_and_round_trip(batch):
    gen = torch.Generator().manual_seed(0)
    joints = torch.rand(batch, 17, 3, generator=gen, dtype=torch.float64) * 1000 - 500
    joints[..., 2] += 4000
    K = torch.tensor(camera.intrinsics_from_fov(55, (256, 256))).expand(batch, 3, 3)
    for c in (1.0, torch.tensor(1.1, dtype=torch.float64)):
        uv = camera.project_px(joints, K * torch.tensor([[c, c, 1], [c, c, 1], [1, 1, 1]]))
        assert uv.shape == (batch, 17, 2)
        root = joints[:, 0, 2]
        back = camera.backproject(uv, joints[..., 2] - root[:, None], root, K, focal_correction=c)
        assert back.shape == (batch, 17, 3)
        torch.testing.assert_close(back, joints, atol=1e-9, rtol=0)
    uv_np = camera.project_px(joints.numpy(), K.numpy())
    np.testing.assert_allclose(uv_np, camera.project_px(joints, K).numpy())
    np.testing.assert_allclose(uv_np, Camera(K[0].numpy()).camera_to_image(joints.numpy()))


def test_gradcheck():
    gen = torch.Generator().manual_seed(1)
    K = torch.tensor([[500.0, 2, 128], [0, 480, 120], [0, 0, 1]], dtype=torch.float64,
                     requires_grad=True)
    joints = (torch.rand(2, 17, 3, generator=gen, dtype=torch.float64) + torch.tensor([0, 0, 3.0])
              ).requires_grad_()
    assert torch.autograd.gradcheck(camera.project_px, (joints, K))
    uv = torch.rand(2, 17, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    z_rel = torch.rand(2, 17, generator=gen, dtype=torch.float64, requires_grad=True)
    root = torch.full((2,), 4000.0, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(1.05, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(camera.backproject, (uv, z_rel, root, K, c))
