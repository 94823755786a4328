"""Soft-argmax: conventions (cell centres), symmetry, gradients, and the quantization study."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from posebook.model import softargmax as sa


class TestSoftArgmax3d:
    @settings(max_examples=40, deadline=None)
    @given(d=st.integers(1, 6), h=st.integers(1, 9), w=st.integers(1, 9), data=st.data())
    def test_dominant_cell_gives_its_centre(self, d, h, w, data):
        k, i, j = (data.draw(st.integers(0, n - 1)) for n in (d, h, w))
        logits = torch.zeros(2, d, h, w)
        logits[:, k, i, j] = 60.0
        xyz = sa.soft_argmax_3d(logits)
        expected = torch.tensor([(j + 0.5) / w, (i + 0.5) / h, (k + 0.5) / d])
        torch.testing.assert_close(xyz, expected.expand(2, 3), atol=1e-4, rtol=0)
        torch.testing.assert_close(sa.hard_argmax_3d(logits), expected.expand(2, 3))

    def test_two_symmetric_peaks_give_the_midpoint(self):
        logits = torch.full((4, 8, 8), -30.0)
        logits[1, 2, 1] = logits[3, 6, 5] = 4.0            # (x, y, z) = cells (1,2,1), (5,6,3)
        xyz = sa.soft_argmax_3d(logits)
        expected = torch.tensor([(3 + 0.5) / 8, (4 + 0.5) / 8, (2 + 0.5) / 4])
        torch.testing.assert_close(xyz, expected, atol=1e-6, rtol=0)

    def test_uniform_gives_the_centre(self):
        xyz = sa.soft_argmax_3d(torch.zeros(3, 5, 4, 7))
        torch.testing.assert_close(xyz, torch.full((3, 3), 0.5))

    def test_softmax_is_joint_over_the_volume(self):
        # A peak in one depth slice must win over flat other slices: z near that slice.
        logits = torch.zeros(4, 3, 3)
        logits[3] = 20.0
        assert sa.soft_argmax_3d(logits)[2] == pytest.approx(3.5 / 4, abs=1e-6)

    def test_gradcheck(self):
        logits = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(sa.soft_argmax_3d, (logits,))

    def test_bad_shape(self):
        with pytest.raises(ValueError, match=r"\(\.\.\., D, H, W\), got \(4, 4\)"):
            sa.soft_argmax_3d(torch.zeros(4, 4))

    def test_half_precision_input_is_computed_in_float32(self):
        logits = torch.randn(2, 3, 4, 4)
        torch.testing.assert_close(sa.soft_argmax_3d(logits.bfloat16()),
                                   sa.soft_argmax_3d(logits.bfloat16().float()))


class TestSoftArgmax1d:
    @settings(max_examples=30, deadline=None)
    @given(n=st.integers(1, 40), data=st.data())
    def test_dominant_cell(self, n, data):
        i = data.draw(st.integers(0, n - 1))
        logits = torch.zeros(n)
        logits[i] = 60.0
        assert float(sa.soft_argmax_1d(logits)) == pytest.approx((i + 0.5) / n, abs=1e-4)

    def test_two_peaks_midpoint_and_gradcheck(self):
        logits = torch.zeros(32)
        logits[[4, 20]] = 30.0
        assert float(sa.soft_argmax_1d(logits)) == pytest.approx(12.5 / 32, abs=1e-6)
        x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(sa.soft_argmax_1d, (x,))

    @settings(max_examples=30, deadline=None)
    @given(n=st.integers(2, 33), u=st.floats(0, 1))
    def test_interpolated_logits_are_exact(self, n, u):
        position = torch.tensor(0.5 / n + u * (1 - 1 / n), dtype=torch.float64)
        got = sa.soft_argmax_1d(sa.interpolated_logits_1d(position, n))
        assert float(got) == pytest.approx(float(position), abs=1e-12)


def test_coordinate_gradient_formula():
    logits = torch.randn(2, 3, 4, dtype=torch.float64)
    grad = sa.coordinate_gradient(logits, axis=0)
    p = torch.softmax(logits.flatten(), 0).view(2, 3, 4)
    x = sa.cell_centres(4, dtype=torch.float64)
    expected = p * (x - (p.sum((0, 1)) * x).sum())
    torch.testing.assert_close(grad, expected)
    assert abs(float(grad.sum())) < 1e-12          # adding a constant to all logits changes nothing


def test_quantization_soft_beats_hard_and_hard_shrinks_with_cells():
    rows = sa.quantization_errors(cells=(8, 16, 32), n=64, rng=np.random.default_rng(1))
    hard = [r["hard_px"] for r in rows]
    assert hard[0] > hard[1] > hard[2]
    # Hard argmax error ~ uniform in +-half a cell per axis: mean 3D norm about 0.48 cell.
    assert hard[0] == pytest.approx(0.48 * 256 / 8, rel=0.2)
    # sigma = 1 cell: only the softmax's truncation at the border biases soft-argmax, and that
    # vanishes as the grid gets finer than the peak's distance to the border.
    assert rows[0]["soft_px"] < 0.5 * hard[0]
    assert rows[1]["soft_px"] < 0.1 * hard[1] and rows[2]["soft_px"] < 1e-3 * hard[2]
    # sigma = 0.5 cell: an under-sampled peak leaves a sub-cell bias, still far below hard argmax.
    narrow = sa.quantization_errors(cells=(8, 16), n=64, sigma_cells=0.5)
    assert all(r["soft_px"] < 0.1 * r["hard_px"] for r in narrow)


def test_coordinate_loss_alone_moves_the_peak():
    result = sa.fit_logits_to_target((0.8, 0.25), cells=12, steps=150)
    assert result["loss"][-1] < 0.05 * result["loss"][0]
    np.testing.assert_allclose(result["coords"][-1], (0.8, 0.25), atol=0.01)
    peak = np.unravel_index(result["final"].argmax(), result["final"].shape)
    assert abs(peak[1] - (0.8 * 12 - 0.5)) <= 1 and abs(peak[0] - (0.25 * 12 - 0.5)) <= 1
