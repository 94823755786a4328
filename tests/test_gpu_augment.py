"""The batched torch augmentation (posebook.gpu_augment) against the CPU path (augment, camera).

Deterministic parts must give the same pixels within a grey level or two; random parts must make
the same draws (so the same rng gives the same choices) and the same distribution."""
import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from posebook import augment, camera, crop, gpu_augment as ga
from posebook.data import occluders, synthetic
from spies import spy_device_tensors


@pytest.fixture(scope="module")
def frame():
    return synthetic.make_frame(np.random.default_rng(0), 256)


@pytest.fixture(scope="module")
def bank():
    return occluders.procedural_bank(np.random.default_rng(1), 24)


def chw(image_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image_hwc)).permute(2, 0, 1)


def hwc(images_bchw: torch.Tensor, i: int = 0) -> np.ndarray:
    return images_bchw[i].permute(1, 2, 0).float().numpy()


def zoom_of(src: camera.Camera, dst: camera.Camera) -> float:
    return float(np.sqrt(abs(np.linalg.det(dst.K[:2, :2]) / np.linalg.det(src.K[:2, :2]))))


@pytest.mark.parametrize("side", [48, 128])  # 48: strong shrink, area prefilter; 128: ~1:1
@pytest.mark.parametrize("batch", [1, 3])
def test_warp_matches_reproject_image(frame, side, batch):
    cams = [crop.crop_camera(frame.camera, frame.box_xywh_px, side,
                             **augment.sample_geometry(np.random.default_rng(s)))
            for s in range(batch)]
    frames = chw(frame.image)[None].expand(batch, -1, -1, -1)
    homs = np.stack([ga.homography(frame.camera, c) for c in cams])
    out = ga.warp(frames, homs, (side, side), scales=[zoom_of(frame.camera, c) for c in cams])
    assert out.shape == (batch, 3, side, side)
    for i, cam in enumerate(cams):
        ref = camera.reproject_image(frame.image, frame.camera, cam, (side, side))
        diff = np.abs(np.round(hwc(out, i)) - ref)[3:-3, 3:-3]
        assert diff.mean() < 2.0, (side, i, diff.mean())


def test_warp_identity_and_border_value():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = ga.warp(chw(image)[None], np.eye(3)[None], (30, 20))
    np.testing.assert_allclose(hwc(out), image, atol=1e-3)
    shift = np.array([[1.0, 0, 100], [0, 1, 0], [0, 0, 1]])  # looks fully outside the image
    out = ga.warp(chw(image)[None], shift[None], (30, 20), border_value=77)
    np.testing.assert_allclose(hwc(out), 77, atol=1e-3)


def test_bad_inputs_raise(frame):
    distorted = camera.Camera(frame.camera.K, frame.camera.R, frame.camera.t,
                              distortion=[0.1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="undistorted"):
        ga.homography(distorted, frame.camera)
    with pytest.raises(ValueError, match=r"\(2, 3, 3\)"):
        ga.warp(torch.zeros(2, 3, 8, 8), np.eye(3)[None], (8, 8))
    with pytest.raises(ValueError, match="B, C, H, W"):
        ga.warp(torch.zeros(3, 8, 8), np.eye(3)[None], (8, 8))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), p=st.floats(0, 1), low=st.integers(1, 4),
       extra=st.integers(0, 4))
def test_sample_occlusion_makes_the_cpu_paths_draws(bank, seed, p, low, extra):
    """Same rng -> same count, and the rng ends in the same state (same draws, same order)."""
    image = np.zeros((40, 56, 3), np.uint8)
    rng_cpu, rng_gpu = np.random.default_rng(seed), np.random.default_rng(seed)
    occ = augment.occlude(image, bank, rng_cpu, p, count=(low, low + extra))
    pastes = ga.sample_occlusion(rng_gpu, [o.shape for o in bank], (40, 56), p,
                                 count=(low, low + extra))
    assert len(pastes) == occ.count
    assert rng_cpu.random() == rng_gpu.random()


@pytest.mark.parametrize("seed", range(4))
def test_composite_matches_occlude_pixels(bank, seed):
    base = np.random.default_rng(seed).integers(60, 200, (96, 96, 3), dtype=np.uint8)
    occ = augment.occlude(base, bank, np.random.default_rng(seed), p=1.0)
    pastes = ga.sample_occlusion(np.random.default_rng(seed), [o.shape for o in bank], (96, 96), 1)
    image, mask, count = ga.composite(chw(base)[None], ga.OccluderBank(bank), [pastes])
    assert int(count[0]) == occ.count
    diff = np.abs(hwc(image) - occ.image)
    assert diff.mean() < 1.0, diff.mean()
    assert np.mean(mask[0].numpy() != occ.mask) < 0.01


def test_occlusion_distribution_matches_cpu_path(bank):
    """Independent seeds: the count and covered-fraction distributions agree (KS / chi-square)."""
    n, side, p = 150, 48, 0.6
    base = np.full((side, side, 3), 128, np.uint8)
    cpu = [augment.occlude(base, bank, np.random.default_rng(s), p) for s in range(n)]
    plans = [ga.sample_occlusion(np.random.default_rng(10_000 + s), [o.shape for o in bank],
                                 (side, side), p) for s in range(n)]
    _, mask, count = ga.composite(chw(base)[None].expand(n, -1, -1, -1),
                                  ga.OccluderBank(bank), plans)
    cover_cpu = np.array([o.mask.mean() for o in cpu])
    cover_gpu = mask.float().mean(dim=(1, 2)).numpy()
    assert stats.ks_2samp(cover_cpu, cover_gpu).pvalue > 1e-3
    table = np.array([np.bincount([o.count for o in cpu], minlength=9),
                      np.bincount(count.numpy(), minlength=9)])
    table = table[:, table.sum(0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-3
    assert abs(cover_cpu.mean() - cover_gpu.mean()) < 0.05
    # and the test has power: a different p is detected
    other = [augment.occlude(base, bank, np.random.default_rng(s), 0.1) for s in range(n)]
    assert stats.ks_2samp(cover_cpu, [o.mask.mean() for o in other]).pvalue < 1e-3


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), blur_p=st.sampled_from([0.0, 0.3, 1.0]))
def test_sample_appearance_makes_the_cpu_paths_draws(seed, blur_p):
    image = np.zeros((16, 24, 3), np.uint8)
    rng_cpu, rng_gpu = np.random.default_rng(seed), np.random.default_rng(seed)
    augment.appearance(image, rng_cpu, blur_p=blur_p)
    look = ga.sample_appearance(rng_gpu, image.shape[:2], blur_p=blur_p)
    assert rng_cpu.random() == rng_gpu.random()
    assert 0.7 <= look.saturation <= 1.3 and abs(look.hue_deg) <= 12


@pytest.mark.parametrize("blur_p", [0.0, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_colour_and_blur_match_appearance(frame, seed, blur_p):
    image = frame.image[64:192, 64:192]
    ref = augment.appearance(image, np.random.default_rng(seed), blur_p=blur_p)
    look = ga.sample_appearance(np.random.default_rng(seed), image.shape[:2], blur_p=blur_p)
    assert (look.blur_sigma_px > 0) == (blur_p == 1.0)
    out = ga.blur(ga.colour(chw(image)[None], [look]), [look.blur_sigma_px])
    diff = np.abs(hwc(out) - ref)
    assert diff.max() <= 2 and diff.mean() < 0.2, (diff.max(), diff.mean())


@pytest.mark.parametrize("batch", [1, 4])
def test_apply_whole_batch(frame, bank, batch):
    rngs = [np.random.default_rng(s) for s in range(batch)]
    plan = ga.plan_batch(rngs, [frame.camera] * batch, [frame.box_xywh_px] * batch, 64,
                         [o.shape for o in bank], occlusion_p=1.0)
    out = ga.apply(chw(frame.image)[None].expand(batch, -1, -1, -1).contiguous(), plan,
                   ga.OccluderBank(bank), 64)
    assert out["image"].shape == (batch, 3, 64, 64) and out["image"].dtype == torch.uint8
    assert out["mask"].shape == (batch, 64, 64) and out["mask"].any()
    assert out["n_occluders"].tolist() == [len(p) for p in plan.pastes]
    assert all(1 <= n <= 8 for n in out["n_occluders"].tolist())
    again = ga.plan_batch([np.random.default_rng(s) for s in range(batch)], [frame.camera] * batch,
                          [frame.box_xywh_px] * batch, 64, [o.shape for o in bank], 1.0)
    np.testing.assert_array_equal(again.homographies, plan.homographies)


# --- batching and the device: what a GPU would see, checked on the CPU --------------------------
def plan_with_varying_pastes(frame, bank, batch, side=48):
    """A plan whose images have 0 to 8 pastes and two downscale factors (zoom about 0.4)."""
    rngs = [np.random.default_rng(s) for s in range(batch)]
    plan = ga.plan_batch(rngs, [frame.camera] * batch, [frame.box_xywh_px] * batch, side,
                         [o.shape for o in bank], occlusion_p=0.8)
    frames = chw(frame.image)[None].expand(batch, -1, -1, -1).contiguous()
    return frames, plan


def test_apply_batched_equals_apply_per_image(frame, bank):
    """Batching the pastes (one grid_sample, one slice per paste slot) and the downscale groups
    changes no pixel: each image of the batch equals that image rendered alone."""
    frames, plan = plan_with_varying_pastes(frame, bank, 7)
    counts = [len(p) for p in plan.pastes]
    assert 0 in counts and max(counts) >= 5 and len(set(np.round(1 / plan.scales))) > 1
    gpu_bank = ga.OccluderBank(bank)
    out = ga.apply(frames, plan, gpu_bank, 48)
    assert out["n_occluders"].tolist() == counts
    for i in range(len(counts)):
        one = ga.Plan(plan.homographies[i:i + 1], plan.scales[i:i + 1], [], plan.pastes[i:i + 1],
                      plan.appearance[i:i + 1])
        alone = ga.apply(frames[i:i + 1], one, gpu_bank, 48)
        assert torch.equal(alone["image"][0], out["image"][i]), i
        assert torch.equal(alone["mask"][0], out["mask"][i]), i


class DeviceOps(TorchDispatchMode):
    """Ops on `meta` tensors (each one kernel launch on a real device), host->device copies, and
    ops that mix host tensors into device ones (an implicit, waiting copy on CUDA)."""

    def __init__(self):
        super().__init__()
        self.kernels, self.uploads, self.mixed = 0, 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        if any(t.is_meta for t in tensors):
            if func is torch.ops.aten._to_copy.default and not args[0].is_meta:
                self.uploads += 1
            elif any(not t.is_meta and t.ndim > 0 for t in tensors):
                self.mixed.append(func)
            elif not func.is_view:
                self.kernels += 1
        return out


def test_apply_reads_nothing_back_and_launches_per_slot_not_per_paste(frame, bank, monkeypatch):
    """On the `meta` device (no data) any read-back (.item(), .tolist(), nonzero, a boolean
    mask) or a host tensor mixed into device math raises, and every upload is visible: there
    is one per stage, and the kernel count depends on the most pastes in an image, not on the
    number of pastes or images."""
    hidden = spy_device_tensors(monkeypatch)
    meta_bank = ga.OccluderBank(bank, "meta")
    counts = {}
    for batch in (7, 14):
        frames, plan = plan_with_varying_pastes(frame, bank, batch)
        plan = ga.Plan(plan.homographies, np.ones(batch), [], [p[:3] for p in plan.pastes],
                       [dataclasses.replace(a, blur_sigma_px=1.0) for a in plan.appearance])
        frames = frames.to("meta")
        with DeviceOps() as ops:
            out = ga.apply(frames, plan, meta_bank, 48)
        assert out["image"].is_meta and out["mask"].is_meta and out["image"].shape[0] == batch
        assert ops.mixed == [] and hidden == []
        assert ops.uploads == 4          # warp, composite, colour, blur: one copy each
        counts[batch] = (sum(map(len, plan.pastes)), ops.kernels)
    (pastes_7, kernels_7), (pastes_14, kernels_14) = counts[7], counts[14]
    assert pastes_14 > pastes_7 and kernels_14 == kernels_7, counts


def test_occluder_bank_pyramid_levels(bank):
    """Level l is level 0 area-downscaled 2**l times (uint8, each level rounded), in the
    top-left P / 2**l of each slot."""
    gpu_bank = ga.OccluderBank(bank)
    P, L = gpu_bank.side, gpu_bank.levels
    assert gpu_bank.tensor.shape == (L, len(bank), 4, P, P) and P % 2 ** (L - 1) == 0
    assert gpu_bank.tensor.dtype == torch.uint8                 # a quarter of float32's memory
    h, w = bank[0].shape[:2]
    np.testing.assert_array_equal(gpu_bank.tensor[0, 0, :, :h, :w].permute(1, 2, 0).numpy(),
                                  bank[0])
    for level in range(1, L):
        s = P >> level
        exact = torch.nn.functional.avg_pool2d(gpu_bank.tensor[0].float(), 2 ** level)
        rounded = gpu_bank.tensor[level, ..., :s, :s].float()
        assert (rounded - exact).abs().max() <= 0.5 * level + 1e-6   # one rounding per level
        if level == 1:
            assert torch.equal(rounded, exact.round())
        assert not gpu_bank.tensor[level, ..., s:, :].any()
        assert not gpu_bank.tensor[level, ..., :, s:].any()
