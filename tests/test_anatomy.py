"""Left and right are the person's own, checked against real ground truth (STYLE 15).

Synthetic people were once mirror images (left joints on the anatomical right): every synthetic
test shared the mirror, so only real Human3.6M frames and rendered-pixel checks could see it.
"""
import numpy as np
import pytest

from posebook import skeleton
from posebook.data import poses, render, synthetic

from realdata import h36m_samples


def _synthetic_poses(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([synthetic.make_frame(rng, 128).joints_world_mm for _ in range(n)])


def test_standing_pose_faces_the_camera_with_its_left_on_the_image_right():
    pose = skeleton.STANDING_POSE_MM
    assert pose[11, 0] > 0 > pose[14, 0]                       # camera x = image right
    np.testing.assert_allclose(skeleton.chest_normal_unit(pose), [0, 0, -1])  # towards camera
    assert skeleton.handedness(pose) < -0.9


def test_handedness_flips_with_a_reflection_and_not_with_a_rotation():
    pose = skeleton.STANDING_POSE_MM
    c, s = np.cos(0.7), np.sin(0.7)
    turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    assert skeleton.handedness(pose @ turn.T) == pytest.approx(skeleton.handedness(pose))
    assert skeleton.handedness(pose * [-1, 1, 1]) == pytest.approx(-skeleton.handedness(pose))
    relabelled = pose[list(skeleton.MIRROR)]           # labels swapped, points unchanged
    assert skeleton.handedness(relabelled) == pytest.approx(-skeleton.handedness(pose))


def _real_poses_mm():
    return np.stack([s.joints_cam_mm for s in h36m_samples()])


def test_real_human36m_poses_are_negative():
    assert (skeleton.handedness(_real_poses_mm()) < -0.5).all()


def test_synthetic_people_have_real_handedness():
    """At least 38 of 40 synthetic people have the sign of real people (all 40 measured)."""
    assert (skeleton.handedness(_synthetic_poses()) < 0).sum() >= 38


def test_synthetic_handedness_matches_real_frames():
    real = np.sign(skeleton.handedness(_real_poses_mm()))
    synth = np.sign(skeleton.handedness(_synthetic_poses(10, seed=3)))
    assert set(synth) == set(real) == {-1.0}


def _person_facing(yaw_toward_camera_rad: float, seed: int = 0):
    """A standing person seen from 4 m; yaw 0 = facing the camera, pi/2 = turned to their left."""
    rng = np.random.default_rng(seed)
    body = poses.sample_body(rng)
    angles = {k: 0.0 for k in poses.sample_angles_deg("standing", rng)}
    angles.update(sh_abd_l=25.0, sh_abd_r=25.0)                 # arms away from the torso
    joints, extra = poses.pose_world_mm(body, angles, yaw_rad=yaw_toward_camera_rad)
    eye = joints[0] + np.array([0.0, 4000.0, 300.0])            # the camera stands at +y
    R = synthetic.look_at(eye, joints[0], 0.0)
    K = np.array([[500.0, 0, 127.5], [0, 500.0, 127.5], [0, 0, 1]])
    look = dict(render.sample_look(rng), skin=np.array([255.0, 0, 0]),
                hair=np.array([0.0, 0, 255.0]), top=np.array([0.0, 255.0, 0]),
                print=np.array([255.0, 255.0, 255.0]), long_sleeves=True)
    light = dict(direction=np.array([0.0, -1.0, 0.0]), intensity=1.0, tint=np.ones(3))
    image = np.zeros((256, 256, 3), np.uint8)
    render.render_person(image, K, R, eye, joints, extra, body.stature_mm, body.build, look,
                         light)
    joints_px = synthetic.Camera(K, R, eye).world_to_image(joints)
    return image, joints_px


def _red(image):
    return (image[..., 0] > 120) & (image[..., 1] < 60) & (image[..., 2] < 60)


def test_a_person_facing_the_camera_shows_the_left_shoulder_on_the_image_right():
    image, joints_px = _person_facing(0.0)
    assert joints_px[11, 0] > joints_px[14, 0] + 10             # l_shoulder right of r_shoulder
    assert joints_px[4, 0] > joints_px[1, 0]                    # and so is the left hip
    head = image[int(joints_px[10, 1]):int(joints_px[9, 1]) + 4]
    assert _red(head).sum() > 20                                # the face (skin) is seen
    chest = image[int(joints_px[8, 1]):int(joints_px[7, 1])]
    assert (chest.min(-1) > 200).sum() > 3                      # and the shirt's front print


def test_a_person_seen_from_behind_shows_hair_and_no_shirt_front():
    image, joints_px = _person_facing(np.pi)
    assert joints_px[11, 0] < joints_px[14, 0] - 10             # left shoulder on image left
    chest = image[int(joints_px[8, 1]):int(joints_px[7, 1])]
    assert (chest.min(-1) > 200).sum() == 0


@pytest.mark.parametrize("yaw, side", [(np.pi / 2, 1.0), (-np.pi / 2, -1.0)])
def test_the_face_is_drawn_on_the_side_the_person_faces(yaw, side):
    """Turned by yaw (about z, right-handed) the person faces image right (+1) or left (-1)."""
    image, joints_px = _person_facing(yaw)
    top, nose = joints_px[10], joints_px[9]
    head = image[int(top[1]):int(nose[1]) + 6]
    ys, xs = np.nonzero(_red(head))
    assert len(xs) > 5
    assert np.sign(xs.mean() - top[0]) == side
    assert np.sign(nose[0] - top[0]) == side                     # the nose joint agrees


def test_facing_error_is_zero_for_the_truth_and_180_for_a_turned_person():
    pose = skeleton.STANDING_POSE_MM
    turned = pose * [-1, 1, -1]                     # rotated 180 degrees about the vertical
    assert skeleton.facing_error_deg(pose, pose) == pytest.approx(0, abs=1e-6)
    assert skeleton.facing_error_deg(turned, pose) == pytest.approx(180)
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, 3\)"):
        skeleton.facing_error_deg(pose[:5], pose[:5])
