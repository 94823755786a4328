"""Metrics against hand-computed values, plus invariance properties."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from posebook import metrics, skeleton

J = skeleton.N_JOINTS


def _pose(seed=0, n=1):
    return np.random.default_rng(seed).normal(0, 300, size=(n, J, 3))


class TestMPJPE:
    def test_one_joint_off_by_3_4_0(self):
        gt = _pose()
        pred = gt.copy()
        pred[0, 5] += (3.0, 4.0, 0.0)                  # 5 mm on one of 17 joints
        assert metrics.mpjpe(pred, gt) == pytest.approx(5.0 / J)

    def test_root_moved_moves_every_other_joint(self):
        gt = _pose()
        pred = gt.copy()
        pred[0, skeleton.ROOT] += (3.0, 4.0, 0.0)
        assert metrics.mpjpe(pred, gt) == pytest.approx(5.0 * (J - 1) / J)
        assert metrics.mpjpe(pred, gt, root=None) == pytest.approx(5.0 / J)

    def test_translation_is_ignored(self):
        gt = _pose(n=4)
        assert metrics.mpjpe(gt + np.array([10.0, -20.0, 3000.0]), gt) == pytest.approx(0, abs=1e-9)

    def test_shape_errors_quote_shape(self):
        with pytest.raises(ValueError, match=r"\(17, 3\)"):
            metrics.mpjpe(np.zeros((17, 3)), np.zeros((17, 3)))
        with pytest.raises(ValueError, match="same shape"):
            metrics.mpjpe(np.zeros((2, 17, 3)), np.zeros((3, 17, 3)))

    def test_accepts_torch(self):
        torch = pytest.importorskip("torch")
        gt = torch.zeros(2, J, 3)
        assert metrics.mpjpe(gt, gt) == 0.0


class TestPAMPJPE:
    def test_reflection_is_not_undone(self):
        # Axis points (+-3,0,0), (0,+-2,0), (0,0,+-1); prediction mirrored in x.  The best proper
        # rotation is diag(-1, 1, -1) with scale s = (18 + 8 - 2) / 28 = 6/7; errors are
        # 3(1-s), 2(1-s), 1(1+s) per pair, mean (6/7 + 4/7 + 26/7) / 6 = 6/7.
        gt = np.array([[[3, 0, 0], [-3, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 1], [0, 0, -1]]],
                      dtype=float)
        pred = gt * np.array([-1.0, 1.0, 1.0])
        assert metrics.pa_mpjpe(pred, gt) == pytest.approx(6.0 / 7.0)
        aligned = metrics.procrustes_align(pred, gt)
        np.testing.assert_allclose(aligned, gt * np.array([6 / 7, 6 / 7, -6 / 7]), atol=1e-12)

    def test_hand_scale_only(self):
        # pred = gt / 2 around the centroid: alignment rescales exactly.
        gt = np.array([[[1.0, 0, 0], [-1, 0, 0], [0, 2, 0], [0, 0, 3]]])
        assert metrics.pa_mpjpe(gt * 0.5 + 7.0, gt) == pytest.approx(0.0, abs=1e-9)

    @settings(max_examples=30, deadline=None)
    @given(seed=st.integers(0, 10_000), scale=st.floats(0.2, 5.0))
    def test_similarity_transform_gives_zero(self, seed, scale):
        gt = _pose(seed, n=3)
        rot = Rotation.random(random_state=seed).as_matrix()
        pred = scale * gt @ rot.T + np.array([100.0, -50.0, 4000.0])
        assert metrics.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
        assert metrics.pa_mpjpe(pred, gt) <= metrics.mpjpe(pred, gt) + 1e-9

    @settings(max_examples=20, deadline=None)
    @given(seed=st.integers(0, 10_000))
    def test_never_worse_than_translation_only(self, seed):
        gt, pred = _pose(seed), _pose(seed + 1)
        centred = pred - pred.mean(1, keepdims=True) + gt.mean(1, keepdims=True)
        rms = lambda a: np.sqrt(((a - gt) ** 2).sum(-1).mean())  # noqa: E731
        assert rms(metrics.procrustes_align(pred, gt)) <= rms(centred) + 1e-9


def test_left_right_swapped_hand():
    gt = np.zeros((1, J, 3))
    gt[0, 1] = (100.0, 0, 0)     # right hip
    gt[0, 4] = (-100.0, 0, 0)    # left hip
    assert metrics.mpjpe(gt, gt) == 0.0
    assert metrics.left_right_swapped_mpjpe(gt, gt) == pytest.approx(2 * 200.0 / J)


def test_mean_pose_baseline_hand():
    train = np.zeros((2, J, 3))
    train[0, 3] = (0, 0, 100.0)
    train[1, 3] = (0, 0, 300.0)                       # mean: joint 3 at z = 200
    test = np.zeros((1, J, 3)) + 55.0                 # root-relative: all zero
    assert metrics.mean_pose_baseline(train, test) == pytest.approx(200.0 / J)


def test_breakdowns_hand():
    errors = np.zeros((3, J))
    errors[0] = 1.0
    errors[1] = 3.0
    errors[2, :] = 10.0
    groups = metrics.per_group(errors, [0, 0, 2], ["walk", "sit", "crouch"])
    assert groups == {"walk": 2.0, "crouch": 10.0}
    occluded = np.zeros((3, J), bool)
    occluded[2, :2] = True
    split = metrics.occluded_vs_visible(errors, occluded)
    assert split["occluded_mm"] == 10.0 and split["n_occluded"] == 2
    assert split["visible_mm"] == pytest.approx((J * 4 + 10 * (J - 2)) / (3 * J - 2))
    assert metrics.occluded_vs_visible(errors, np.zeros_like(occluded))["occluded_mm"] is None
    per_joint = metrics.per_joint(errors)
    assert list(per_joint) == list(skeleton.JOINT_NAMES)
    assert per_joint["pelvis"] == pytest.approx(14.0 / 3)


@pytest.mark.parametrize("n", [1, 5])
def test_root_depth_error_reads_the_root_joints_camera_depth_only(n):
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (n, 17, 3)) + [0.0, 0.0, 5000.0]
    pred = gt.copy()
    pred[:, 1:] += rng.normal(0, 50, (n, 16, 3))       # other joints do not count
    pred[:, 0, :2] += 80.0                             # nor the root's x and y
    pred[:, 0, 2] += np.where(np.arange(n) % 2, 250.0, -250.0)
    assert metrics.root_depth_error_mm(pred, gt) == pytest.approx(250.0)
    assert metrics.root_depth_error_pct(pred, gt) == pytest.approx(
        100 * np.mean(250.0 / gt[:, 0, 2]))
    with pytest.raises(ValueError, match="root depth <= 0 mm"):
        metrics.root_depth_error_pct(pred, gt - [0.0, 0.0, 10000.0])
