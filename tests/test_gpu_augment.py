"""The GPU renderer (posebook.augment.gpu) against the CPU renderer (posebook.augment.cpu):
both render the same `Plan`s, so the pixels must agree within a grey level or two."""
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from posebook import augment, camera
from posebook.augment import cpu, gpu
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


def shapes(bank):
    return [o.shape for o in bank]


@pytest.mark.parametrize("side", [48, 128])  # 48: strong shrink, area prefilter; 128: ~1:1
@pytest.mark.parametrize("batch", [1, 3])
def test_warp_matches_reproject_image(frame, side, batch):
    cams = [augment.Plan(side, augment.draw_geometry(np.random.default_rng(s))).crop_camera(
        frame.camera, frame.box_xywh_px) for s in range(batch)]
    frames = chw(frame.image)[None].expand(batch, -1, -1, -1)
    homs = np.stack([camera.homography(frame.camera, c) for c in cams])
    out = gpu.warp(frames, homs, (side, side),
                   scales=[camera.zoom_factor(frame.camera, c) for c in cams])
    assert out.shape == (batch, 3, side, side)
    for i, cam in enumerate(cams):
        ref = camera.reproject_image(frame.image, frame.camera, cam, (side, side))
        diff = np.abs(np.round(hwc(out, i)) - ref)[3:-3, 3:-3]
        assert diff.mean() < 2.0, (side, i, diff.mean())


def test_warp_identity_and_border_value():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = gpu.warp(chw(image)[None], np.eye(3)[None], (30, 20))
    np.testing.assert_allclose(hwc(out), image, atol=1e-3)
    shift = np.array([[1.0, 0, 100], [0, 1, 0], [0, 0, 1]])  # looks fully outside the image
    out = gpu.warp(chw(image)[None], shift[None], (30, 20), border_value=77)
    np.testing.assert_allclose(hwc(out), 77, atol=1e-3)


def test_bad_inputs_raise(frame, bank):
    with pytest.raises(ValueError, match=r"\(2, 3, 3\)"):
        gpu.warp(torch.zeros(2, 3, 8, 8), np.eye(3)[None], (8, 8))
    with pytest.raises(ValueError, match="B, C, H, W"):
        gpu.warp(torch.zeros(3, 8, 8), np.eye(3)[None], (8, 8))
    plans = [augment.draw(np.random.default_rng(0), 16, shapes(bank), 1.0)]
    with pytest.raises(ValueError, match="bank is None"):
        gpu.render(torch.zeros(1, 3, 8, 8), np.eye(3)[None], [1.0], plans, None)
    with pytest.raises(ValueError, match="look"):
        gpu.render(torch.zeros(2, 3, 8, 8), np.stack([np.eye(3)] * 2), [1.0, 1.0],
                   [augment.Plan(16), plans[0]], gpu.OccluderBank(bank))


@pytest.mark.parametrize("seed", range(4))
def test_composite_matches_cpu_paste(bank, seed):
    base = np.random.default_rng(seed).integers(60, 200, (96, 96, 3), dtype=np.uint8)
    pastes = augment.draw_pastes(np.random.default_rng(seed), shapes(bank), (96, 96), 1.0)
    ref = cpu.paste(base, pastes, bank)
    image = gpu.composite(chw(base)[None], gpu.OccluderBank(bank), [pastes])
    diff = np.abs(hwc(image) - ref)
    assert diff.mean() < 1.0, diff.mean()


@pytest.mark.parametrize("blur_p", [0.0, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_colour_and_blur_match_restyle(frame, seed, blur_p):
    image = frame.image[64:192, 64:192]
    look = augment.draw_look(np.random.default_rng(seed), image.shape[:2], blur_p=blur_p)
    assert (look.blur_sigma_px > 0) == (blur_p == 1.0)
    ref = cpu.restyle(image, look)
    out = gpu.blur(gpu.colour(chw(image)[None], [look]), [look.blur_sigma_px])
    diff = np.abs(hwc(out) - ref)
    assert diff.max() <= 2 and diff.mean() < 0.2, (diff.max(), diff.mean())


def batch_of_plans(frame, bank, batch, side=48, p=0.8):
    """B Plans of one frame (0 to 8 pastes, two downscale factors at side 48) and what the
    GPU renderer takes: frames, homographies, zooms."""
    plans = [augment.draw(np.random.default_rng(s), side, shapes(bank), p) for s in range(batch)]
    cams = [plan.crop_camera(frame.camera, frame.box_xywh_px) for plan in plans]
    homs = np.stack([camera.homography(frame.camera, c) for c in cams])
    scales = np.array([camera.zoom_factor(frame.camera, c) for c in cams])
    frames = chw(frame.image)[None].expand(batch, -1, -1, -1).contiguous()
    return plans, cams, frames, homs, scales


@pytest.mark.parametrize("side", [48, 96])
def test_both_renderers_of_one_plan_agree(frame, bank, side):
    """The same Plans rendered by `cpu.render` and `gpu.render`: pixels within a grey level or
    two (crop, pastes, colour, blur; one extra rounding per stage on the GPU side)."""
    plans, cams, frames, homs, scales = batch_of_plans(frame, bank, 6, side)
    assert any(p.pastes for p in plans) and any(p.look.blur_sigma_px > 0 for p in plans)
    out = gpu.render(frames, homs, scales, plans, gpu.OccluderBank(bank))
    assert out.shape == (6, 3, side, side) and out.dtype == torch.uint8
    for i, (plan, cam) in enumerate(zip(plans, cams)):
        ref = cpu.render(frame.image, frame.camera, cam, plan, bank)
        diff = np.abs(hwc(out, i) - ref)[3:-3, 3:-3]
        assert diff.mean() < 2.0, (i, diff.mean())


def test_render_batched_equals_render_per_image(frame, bank):
    """Batching the pastes (one slot per paste index) and the downscale groups changes no
    pixel beyond float rounding (a slot's source window is sized by its largest paste): each
    image of the batch equals that image rendered alone, up to a rare one-level flip."""
    plans, _, frames, homs, scales = batch_of_plans(frame, bank, 7)
    counts = [len(p.pastes) for p in plans]
    assert 0 in counts and max(counts) >= 5 and len(set(np.round(1 / scales))) > 1
    gpu_bank = gpu.OccluderBank(bank)
    out = gpu.render(frames, homs, scales, plans, gpu_bank)
    for i in range(len(plans)):
        alone = gpu.render(frames[i:i + 1], homs[i:i + 1], scales[i:i + 1], plans[i:i + 1],
                           gpu_bank)
        diff = (alone[0].int() - out[i].int()).abs()
        assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3, (i, int((diff > 0).sum()))


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


def test_render_reads_nothing_back_and_launches_per_slot_not_per_paste(frame, bank,
                                                                     monkeypatch):
    """On the `meta` device (no data) any read-back (.item(), .tolist(), nonzero, a boolean
    mask) or a host tensor mixed into device math raises, and every upload is visible: there
    is one per batch, and the kernel count depends on the most pastes in an image, not on the
    number of pastes or images."""
    hidden = spy_device_tensors(monkeypatch)
    meta_bank = gpu.OccluderBank(bank, "meta")
    counts = {}
    for batch in (7, 14):
        plans, _, frames, homs, _ = batch_of_plans(frame, bank, batch)
        plans = [augment.Plan(p.side_px, p.geometry, p.pastes[:3],
                              augment.Look(**{**p.look.__dict__, "blur_sigma_px": 1.0}))
                 for p in plans]
        frames = frames.to("meta")
        with DeviceOps() as ops:
            out = gpu.render(frames, homs, np.ones(batch), plans, meta_bank)
        assert out.is_meta and out.shape[0] == batch
        assert ops.mixed == [] and hidden == []
        assert ops.uploads == 1          # every number of the batch in one copy
        counts[batch] = (sum(len(p.pastes) for p in plans), ops.kernels)
    (pastes_7, kernels_7), (pastes_14, kernels_14) = counts[7], counts[14]
    assert pastes_14 > pastes_7 and kernels_14 == kernels_7, counts


def test_composite_memory_does_not_grow_with_the_crop(bank):
    """A paste is resampled over a window the size of the slot's largest paste, not over the
    whole crop: the same pastes in a 4x larger crop make tensors of the same size."""
    sizes = {}
    for side in (64, 256):
        pastes = [(augment.Paste(0, 0.3, 5, 7, 20, 18),), (augment.Paste(1, 0.2, 30, 2, 16, 9),)]
        table, slots = gpu._paste_table(pastes, gpu.OccluderBank(bank), (side, side))
        sizes[side] = slots
    assert sizes[64] == sizes[256] and sizes[64][0][1] == 24    # window side: 20 -> 24 px


def test_occluder_bank_pyramid_levels(bank):
    """Level l is level 0 area-downscaled 2**l times (uint8, each level rounded), in the
    top-left P / 2**l of each slot."""
    gpu_bank = gpu.OccluderBank(bank)
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
