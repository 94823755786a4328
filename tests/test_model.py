"""PoseNet: shapes for every backbone, input checks, weights on disk, back-projection, flip TTA."""
import logging

import numpy as np
import pytest
import torch

from posebook import camera, profiles, skeleton
from posebook import model as pm
from posebook.model import softargmax as sa

S = 64


def config(**changes):
    return profiles.get("smoke").replace(**{"pretrained": "none", **changes})


def crop_K(S=S, f=90.0, batch=1, dtype=torch.float32):
    K = torch.tensor([[f, 0, (S - 1) / 2], [0, f, (S - 1) / 2], [0, 0, 1]], dtype=dtype)
    return K.expand(batch, 3, 3).clone()


def images(batch, S=S, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, S, S), generator=gen, dtype=torch.uint8)


@pytest.mark.parametrize("backbone,stride", [
    ("tiny", 8), ("tiny", 16), ("mobilenet_v3_small", 16), ("mobilenet_v3_small", 32),
    ("resnet18", 16), ("resnet34", 32), ("resnet50", 16), ("resnet50v2", 16), ("resnet50v2", 32),
])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shapes(backbone, stride, batch):
    net = pm.build(config(backbone=backbone, stride=stride, input_px=S, depth_bins=6)).eval()
    with torch.no_grad():
        out = net(images(batch), crop_K(batch=batch))
    J, h = skeleton.N_JOINTS, S // stride
    assert out["heatmaps"].shape == (batch, J, 6, h, h)
    for key in ("joints_cam_mm", "joints_rel_mm", "coords"):
        assert out[key].shape == (batch, J, 3) and torch.isfinite(out[key]).all()
    assert out["root_depth_mm"].shape == (batch,)
    assert set(out) == {"joints_cam_mm", "joints_rel_mm", "coords", "root_depth_mm", "heatmaps"}
    assert torch.allclose(out["joints_rel_mm"][:, skeleton.ROOT], torch.zeros(batch, 3))


@pytest.mark.parametrize("name", list(profiles.PROFILES))
def test_every_profile_builds(name):
    cfg = profiles.get(name).replace(pretrained="none")
    if cfg.input_px > 128:                       # keep ResNet-50 fast: same net, smaller input
        cfg = cfg.replace(input_px=64)
    net = pm.build(cfg).eval()
    with torch.no_grad():
        out = net(images(1, cfg.input_px), crop_K(cfg.input_px))
    side = cfg.input_px // cfg.stride
    assert out["heatmaps"].shape == (1, 17, cfg.depth_bins, side, side)


def test_tiny_is_about_70k_parameters():
    net = pm.build(config())
    n = sum(p.numel() for p in net.backbone.parameters())
    assert 60_000 < n < 80_000


def test_uint8_and_float_inputs_agree():
    net = pm.build(config()).eval()
    x = images(2)
    with torch.no_grad():
        a, b = net(x, crop_K(batch=2)), net(x.float(), crop_K(batch=2))
    torch.testing.assert_close(a["joints_cam_mm"], b["joints_cam_mm"])


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, S, S), (3, S, S), (2, S, S, 3)])
def test_bad_image_shape_names_the_expected_shape(shape):
    net = pm.build(config())
    with pytest.raises(ValueError, match=r"\(B, 3, S, S\) = \(B, 3, 64, 64\)"):
        net(torch.zeros(shape, dtype=torch.uint8), crop_K(batch=2))


def test_bad_intrinsics_shape():
    net = pm.build(config())
    with pytest.raises(ValueError, match=r"intrinsics of shape \(B, 3, 3\) = \(2, 3, 3\)"):
        net(images(2), crop_K(batch=1))


def test_input_must_be_a_multiple_of_the_stride():
    with pytest.raises(ValueError, match="multiple of stride"):
        pm.build(config(input_px=60))


def test_unknown_backbone():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'; valid: tiny"):
        pm.build(config(backbone="vgg"))


# ---- weights ---------------------------------------------------------------------------------

def test_missing_weights_warn_with_the_places_looked_at(tmp_path, caplog):
    missing = tmp_path / "resnet18_imagenet.pth"
    with caplog.at_level(logging.WARNING, logger="posebook.model.backbones"):
        net = pm.build(config(backbone="resnet18", stride=32, pretrained=str(missing)))
    assert str(missing) in caplog.text and "checkpoints" in caplog.text
    assert "random init" in caplog.text and net.backbone.weights_source.startswith("random init")


def test_require_pretrained_raises(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        pm.build(config(backbone="resnet18", stride=32, pretrained=str(missing),
                        require_pretrained=True))


def test_weights_are_loaded_from_a_local_file(tmp_path):
    import torchvision
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    net = pm.build(config(backbone="resnet18", stride=16, pretrained=str(path)))
    assert net.backbone.weights_source == f"ImageNet weights from {path}"
    torch.testing.assert_close(net.backbone.body[2][1].conv2.weight, reference.layer4[1].conv2.weight)


def test_weights_of_another_architecture_are_rejected(tmp_path):
    import torchvision
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="does not fit the backbone"):
        pm.build(config(backbone="resnet50", stride=32, pretrained=str(path)))


# ---- back-projection and the learned focal correction ----------------------------------------

@pytest.mark.parametrize("focal_correction", [1.0, 1.15])
def test_decode_inverts_projection(focal_correction):
    """Project known joints into a crop, build heatmaps whose soft-argmax is exactly those
    coordinates, decode: the joints come back within 0.1 mm."""
    cfg = config(depth_bins=16)
    net = pm.build(cfg).double()
    with torch.no_grad():
        net.focal_correction.fill_(focal_correction)
    rng = np.random.default_rng(0)
    B, J, D, h = 3, skeleton.N_JOINTS, cfg.depth_bins, S // cfg.stride
    pose = skeleton.STANDING_POSE_MM * 0.25 + rng.normal(0, 15, (B, J, 3))   # fits the crop
    root = np.stack([rng.uniform(-100, 100, B), rng.uniform(-100, 100, B),
                     rng.uniform(3000, 6000, B)], -1)
    joints = torch.as_tensor(pose - pose[:, :1] + root[:, None])
    K = crop_K(f=100.0, batch=B, dtype=torch.float64)
    K[:, 0, 2] += 1.5                                              # an off-centre principal point
    f_true = focal_correction * K[:, 0, 0, None]                   # the camera the net corrects to
    u = f_true * joints[..., 0] / joints[..., 2] + K[:, 0, 2, None]
    v = f_true * joints[..., 1] / joints[..., 2] + K[:, 1, 2, None]
    x_norm = (u - pm.PIXEL_OFFSET_PX) / S
    y_norm = (v - pm.PIXEL_OFFSET_PX) / S
    z_norm = (joints[..., 2] - joints[:, :1, 2]) / cfg.box_depth_mm + 0.5
    heatmaps = (sa.interpolated_logits_1d(z_norm, D)[..., :, None, None]
                + sa.interpolated_logits_1d(y_norm, h)[..., None, :, None]
                + sa.interpolated_logits_1d(x_norm, h)[..., None, None, :])
    f0 = 1.5 * S
    d_norm = joints[:, 0, 2] * f0 / (K[:, 0, 0] * cfg.root_depth_max_mm)
    out = net.decode(heatmaps, sa.interpolated_logits_1d(d_norm, cfg.root_depth_bins), K)
    torch.testing.assert_close(out["joints_cam_mm"], joints, atol=0.1, rtol=0)
    torch.testing.assert_close(out["joints_rel_mm"], joints - joints[:, :1], atol=0.1, rtol=0)
    torch.testing.assert_close(out["coords"][..., :2], torch.stack([u, v], -1), atol=1e-6, rtol=0)
    torch.testing.assert_close(out["root_depth_mm"], joints[:, 0, 2], atol=1e-6, rtol=0)


def test_root_depth_scales_with_the_crop_focal_length():
    net = pm.build(config()).eval()
    K = crop_K(batch=1)
    with torch.no_grad():
        a = net(images(1), K)["root_depth_mm"]
        K2 = K.clone()
        K2[:, :2, :2] *= 2
        b = net(images(1), K2)["root_depth_mm"]
    torch.testing.assert_close(b, 2 * a)


def test_focal_correction_is_learned():
    net = pm.build(config())
    assert isinstance(net.focal_correction, torch.nn.Parameter)
    assert net.focal_correction.item() == 1.0
    assert any(p is net.focal_correction for p in net.parameters())
    out = net(images(2), crop_K(batch=2))
    out["joints_rel_mm"].abs().sum().backward()
    assert net.focal_correction.grad is not None and net.focal_correction.grad.abs().item() > 0


# ---- flip test-time augmentation -------------------------------------------------------------

def assert_outputs_close(a, b, **kw):
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], **kw)


def test_mirror_intrinsics_match_the_mirrored_image():
    """A point imaged at u by K is imaged at S-1-u (the mirrored pixel) by the mirrored K after
    negating its X, in the camera module's integer-pixel-centre convention."""
    K = crop_K(f=80.0)
    K[:, 0, 2] += 3.0
    K2 = pm.mirror_intrinsics(K, S)[0].numpy()
    points = np.array([[100.0, -50, 2000], [-300, 20, 3000]])
    u = camera.Camera(K[0].numpy()).camera_to_image(points)
    u2 = camera.Camera(K2).camera_to_image(points * [-1, 1, 1])
    np.testing.assert_allclose(u2[:, 0], S - 1 - u[:, 0], atol=1e-9)
    np.testing.assert_allclose(u2[:, 1], u[:, 1], atol=1e-9)


def test_flip_tta_of_a_symmetric_input():
    net = pm.build(config()).eval()
    x = images(2)
    x = ((x.float() + x.float().flip(-1)) / 2).round()          # mirror-symmetric images
    K = crop_K(batch=2)                                           # principal point centred
    with torch.no_grad():
        plain = net(x, K)
        tta = pm.flip_tta(net, x, K)
    mirrored = pm.mirror_output(plain, S)
    assert_outputs_close(tta, {k: (plain[k] + mirrored[k]) / 2 for k in plain}, atol=1e-4, rtol=1e-5)
    assert_outputs_close(pm.mirror_output(tta, S), tta, atol=1e-4, rtol=1e-5)


def test_flip_tta_is_equivariant():
    net = pm.build(config()).eval()
    x, K = images(2, seed=3), crop_K(batch=2)
    K[:, 0, 2] -= 2.0
    with torch.no_grad():
        a = pm.flip_tta(net, x, K)
        b = pm.flip_tta(net, x.flip(-1), pm.mirror_intrinsics(K, S))
    assert_outputs_close(pm.mirror_output(b, S), a, atol=1e-3, rtol=1e-4)


def test_mirror_output_is_an_involution():
    net = pm.build(config()).eval()
    with torch.no_grad():
        out = net(images(1), crop_K())
    assert_outputs_close(pm.mirror_output(pm.mirror_output(out, S), S), out)


def test_describe_measures_the_real_network():
    cfg = config()
    summary = pm.describe(cfg)                       # built on the meta device
    net = pm.build(cfg)
    assert summary["params_total"] == sum(p.numel() for p in net.parameters())
    assert summary["gflops"] * 1e9 == pytest.approx(pm.flops_per_image(net)) and summary["gflops"] > 0
    shapes = dict(summary["shapes"])
    assert shapes["input image"] == (3, S, S)
    assert shapes["volumetric head"] == (17, cfg.depth_bins, S // 8, S // 8)
    assert shapes["joints_cam_mm"] == (17, 3)
