"""Occlusion pasting, joint coverage, geometric and appearance augmentation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from posebook import augment
from posebook.data import occluders


def _square_bank(side=60, colour=(255, 255, 255)):
    occ = np.zeros((side, side, 4), np.uint8)
    occ[..., :3] = colour
    occ[..., 3] = 255
    return [occ]


BANK = occluders.procedural_bank(np.random.default_rng(0), 24)


def test_p0_returns_the_input_unchanged():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    before = image.copy()
    for _ in range(50):
        result = augment.occlude(image, BANK, rng, p=0.0)
        assert result.image is image and result.count == 0 and not result.mask.any()
    assert np.array_equal(image, before)


def test_p1_always_changes_the_image_and_never_the_input():
    rng = np.random.default_rng(1)
    image = np.zeros((96, 128, 3), np.uint8)
    for _ in range(300):
        result = augment.occlude(image, _square_bank(), rng, p=1.0)
        assert 1 <= result.count <= 8
        assert result.mask.any() and not np.array_equal(result.image, image)
    assert not image.any()


def test_mask_marks_exactly_the_pasted_pixels():
    rng = np.random.default_rng(2)
    image = np.zeros((128, 128, 3), np.uint8)
    for _ in range(50):
        result = augment.occlude(image, _square_bank(colour=(10, 200, 90)), rng, p=1.0)
        changed = (result.image != 0).any(-1)
        assert np.array_equal(changed, result.mask)              # opaque squares: no soft edge


def test_count_is_uniform_over_1_to_8():
    rng = np.random.default_rng(3)
    image = np.zeros((32, 32, 3), np.uint8)
    counts = np.array([augment.occlude(image, BANK, rng, p=1.0).count for _ in range(4000)])
    assert counts.min() == 1 and counts.max() == 8
    observed = np.bincount(counts, minlength=9)[1:]
    assert stats.chisquare(observed).pvalue > 1e-3
    # and a biased sampler (1..7, as a randint(1, 8) slip would give) is caught by the same test
    biased = np.bincount(np.random.default_rng(4).integers(1, 8, 4000), minlength=9)[1:]
    assert stats.chisquare(biased).pvalue < 1e-3


def test_p_is_the_fraction_of_augmented_images():
    rng = np.random.default_rng(5)
    image = np.zeros((32, 32, 3), np.uint8)
    hits = sum(augment.occlude(image, BANK, rng, p=0.3).count > 0 for _ in range(3000))
    assert abs(hits / 3000 - 0.3) < 0.03


def test_occluder_size_scales_with_the_image_side():
    bank = _square_bank(side=100)
    for side in (128, 256, 512):
        image = np.zeros((side, side, 3), np.uint8)
        result = augment.occlude(image, bank, np.random.default_rng(6), p=1.0, count=(1, 1),
                                 scale=(0.5, 0.5))
        rows, cols = np.nonzero(result.mask)
        # 100 px * 0.5 * side / 256, possibly cut by the image border
        assert max(np.ptp(rows), np.ptp(cols)) + 1 <= round(50 * side / 256)
        assert result.mask.sum() >= (50 * side / 256 / 2 - 1) ** 2


@settings(max_examples=30, deadline=None)
@given(h=st.integers(8, 300), w=st.integers(8, 300), seed=st.integers(0, 2**16),
       p=st.floats(0, 1))
def test_occlude_shapes_property(h, w, seed, p):
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    result = augment.occlude(image, BANK, np.random.default_rng(seed), p=p)
    assert result.image.shape == (h, w, 3) and result.image.dtype == np.uint8
    assert result.mask.shape == (h, w) and result.mask.dtype == bool
    assert 0 <= result.count <= 8
    if result.count == 0:
        assert result.image is image
    else:
        unchanged = ~result.mask
        # pixels outside the covered mask differ at most by the soft edge (alpha <= 0.5)
        assert (result.image[unchanged].astype(int) == image[unchanged]).mean() > 0.5


def test_occlude_is_deterministic_given_the_generator():
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    a = augment.occlude(image, BANK, np.random.default_rng(9), p=1.0)
    b = augment.occlude(image, BANK, np.random.default_rng(9), p=1.0)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_occlude_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8.*\(64, 64\)"):
        augment.occlude(np.zeros((64, 64), np.uint8), BANK, rng, p=1)
    with pytest.raises(ValueError, match="p must be in"):
        augment.occlude(np.zeros((8, 8, 3), np.uint8), BANK, rng, p=1.5)
    with pytest.raises(ValueError, match="empty"):
        augment.occlude(np.zeros((8, 8, 3), np.uint8), [], rng, p=1)
    with pytest.raises(ValueError, match="RGBA"):
        augment.occlude(np.zeros((8, 8, 3), np.uint8), [np.zeros((5, 5, 3), np.uint8)], rng, p=1)


def test_joints_covered_uses_pixel_centres_and_ignores_outside():
    mask = np.zeros((10, 20), bool)
    mask[2, 5] = True
    joints = np.array([[5.4, 1.6], [5.6, 2.0], [np.nan, 2], [-3, 2], [25, 2], [5, 2.49]])
    assert augment.joints_covered(mask, joints).tolist() == [True, False, False, False, False, True]
    batched = augment.joints_covered(mask, np.stack([joints, joints]))
    assert batched.shape == (2, 6)
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        augment.joints_covered(mask, np.zeros((5, 3)))


def test_draw_geometry_ranges_and_flip_rate():
    rng = np.random.default_rng(0)
    draws = [augment.draw_geometry(rng) for _ in range(2000)]
    scale = np.array([d.scale for d in draws])
    roll = np.array([d.roll_rad for d in draws])
    shift = np.array([d.shift_frac for d in draws])
    assert 0.75 <= scale.min() and scale.max() <= 1.25 and np.ptp(scale) > 0.45
    assert np.abs(roll).max() <= np.radians(20) and np.abs(roll).max() > np.radians(19)
    assert shift.shape == (2000, 2) and np.abs(shift).max() <= 0.1
    assert abs(np.mean([d.flip for d in draws]) - 0.5) < 0.05
    none = augment.draw_geometry(rng, scale_range=(1, 1), roll_deg=0, shift_frac=0, flip_p=0)
    assert none == augment.Geometry()


def test_draw_geometry_feeds_the_perspective_crop():
    crop = pytest.importorskip("posebook.crop")
    from posebook.camera import Camera
    camera = Camera(np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]]))
    image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    geometry = augment.draw_geometry(np.random.default_rng(1))
    out, cam = crop.perspective_crop(image, camera, (100, 50, 80, 150), out_side=64,
                                     **geometry.kwargs())
    assert out.shape == (64, 64, 3)


@pytest.mark.parametrize("count_max", [1, 7, 8])
def test_draw_counts_occluders_up_to_count_max(count_max):
    rng = np.random.default_rng(count_max)
    shapes = [o.shape for o in BANK]
    counts = [len(augment.draw(rng, 64, shapes, 1.0, count_max=count_max).pastes)
              for _ in range(800)]
    assert sorted(set(counts)) == list(range(1, count_max + 1))
    with pytest.raises(ValueError, match="count_max"):
        augment.draw(rng, 64, shapes, 1.0, count_max=0)


def test_draw_order_is_fixed_and_stages_can_be_off():
    """geometry, occlusion, appearance: a stage that is off draws nothing, so the next stage
    sees the rng as if the earlier stage had been drawn by its own `draw_*`."""
    shapes = [o.shape for o in BANK]
    full = augment.draw(np.random.default_rng(5), 64, shapes, 1.0)
    rng = np.random.default_rng(5)
    geometry = augment.draw_geometry(rng)
    pastes = augment.draw_pastes(rng, shapes, (64, 64), 1.0)
    look = augment.draw_look(rng, (64, 64))
    assert full == augment.Plan(64, geometry, pastes, look)
    bare = augment.draw(np.random.default_rng(5), 64, shapes, 0.0, geometry=False,
                        appearance=False)
    assert bare == augment.Plan(64) and bare.look is None


def test_covered_joints_from_the_plan_equal_the_rendered_mask():
    rng = np.random.default_rng(3)
    shapes = [o.shape for o in BANK]
    for _ in range(30):
        plan = augment.draw(rng, 64, shapes, 1.0, geometry=False, appearance=False)
        mask = np.zeros((64, 64), bool)
        augment.cpu.paste(np.zeros((64, 64, 3), np.uint8), plan.pastes, BANK, mask)
        joints_px = rng.uniform(-8, 72, (200, 2))
        np.testing.assert_array_equal(
            augment.covered_joints(plan.pastes, BANK, joints_px, (64, 64)),
            augment.joints_covered(mask, joints_px))


def test_appearance_changes_colours_within_bounds():
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).integers(30, 220, (64, 64, 3), dtype=np.uint8)
    before = image.copy()
    outs = [augment.appearance(image, rng) for _ in range(40)]
    assert np.array_equal(image, before)
    assert all(o.shape == image.shape and o.dtype == np.uint8 for o in outs)
    means = np.array([o.mean() for o in outs])
    assert means.std() > 3                                       # brightness varies
    assert np.abs(means - image.mean()).max() < 0.2 * 255        # within the brightness range
    same = augment.appearance(image, rng, hue_deg=0, saturation=(1, 1), contrast=(1, 1),
                              brightness=0, blur_p=0)
    assert np.abs(same.astype(int) - image).max() <= 1           # identity up to rounding
    big = np.random.default_rng(2).integers(30, 220, (256, 256, 3), dtype=np.uint8)
    blurred = augment.appearance(big, rng, hue_deg=0, saturation=(1, 1), contrast=(1, 1),
                                 brightness=0, blur_p=1, blur_sigma_px=(1.5, 1.5))
    def roughness(im):
        return np.diff(im.astype(float), axis=1).std()
    assert roughness(blurred) < 0.5 * roughness(big)             # sigma 1.5 px at 256 px


def test_appearance_rejects_bad_input():
    with pytest.raises(ValueError, match="float64"):
        augment.appearance(np.zeros((8, 8, 3)), np.random.default_rng(0))


def test_occlusion_figures_build():
    from matplotlib.figure import Figure
    from posebook.viz import occlusion as viz_occlusion
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    joints_px = rng.uniform(0, 64, (17, 2))
    draws = {p: [augment.occlude(image, BANK, rng, p) for _ in range(3)] for p in (0, 1)}
    figures = [viz_occlusion.occluder_grid(BANK, n=10, cols=5),
               viz_occlusion.occlusion_levels(draws, joints_px),
               viz_occlusion.coverage_bars({0: 0.0, 1: 0.1}),
               viz_occlusion.augmentation_row([image, image], [joints_px, joints_px])]
    assert all(isinstance(f, Figure) for f in figures)
    assert len(figures[1].axes) == 6 and len(figures[0].axes) == 10
    with pytest.raises(ValueError, match="empty"):
        viz_occlusion.occluder_grid([])
