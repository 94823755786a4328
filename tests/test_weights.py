"""ImageNet weights through the libraries' own download paths, tested without the internet:
torch hub fetches a ``file://`` URL into its cache, the Hugging Face hub reads its cache layout."""
from __future__ import annotations

import logging
import warnings
import urllib.request

import pytest
import torch

from posebook import profiles, weights
from posebook import model as pm
from posebook.model import backbones


def _config(**changes):
    return profiles.get("smoke").replace(**changes)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network URL fails the test at once (file:// is allowed)."""
    real = urllib.request.urlopen

    def guarded(url, *args, **kwargs):
        target = url if isinstance(url, str) else url.full_url
        if not target.startswith("file:"):
            raise AssertionError(f"network access attempted: {target}")
        return real(url, *args, **kwargs)
    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    monkeypatch.setattr(torch.hub, "urlopen", guarded)


def test_torchvision_weights_download_into_the_hub_cache_then_load_offline(
        tmp_path, monkeypatch, no_network):
    import torchvision
    reference = torchvision.models.mobilenet_v3_small(weights=None)
    published = tmp_path / "published" / "mobilenet_v3_small-047dcff4.pth"
    published.parent.mkdir()
    torch.save(reference.state_dict(), published)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(backbones, "torchvision_url", lambda name: published.as_uri())
    config = _config(backbone="mobilenet_v3_small", stride=32, pretrained="imagenet")
    net = pm.build(config)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / published.name
    assert cached.is_file() and net.backbone.weights_source == f"ImageNet weights from {cached}"
    torch.testing.assert_close(net.backbone.body[2][-1][0].weight, reference.features[-1][0].weight)
    # offline now: the cached file is used and nothing is fetched
    published.unlink()
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    assert pm.build(config).backbone.weights_source == f"ImageNet weights from {cached}"


def test_the_gpu_and_paper_profiles_ask_for_imagenet_weights_without_a_flag(monkeypatch):
    """Their default is "imagenet": building the model asks timm's Hugging Face repository for
    the file, downloads allowed (here the request is recorded instead of sent)."""
    asked = []

    def record(repo_id, filename="model.safetensors", download=True):
        asked.append((repo_id, filename, download))
        raise weights.WeightsUnavailable("recorded, not downloaded")
    monkeypatch.setattr(weights, "hf_hub_file", record)
    for name in ("gpu", "paper"):
        config = profiles.get(name)
        assert config.pretrained == "imagenet"
        backbones.load_pretrained(torch.nn.Linear(1, 1), config.backbone, config.pretrained,
                                  require=False)
    assert asked == [("timm/resnetv2_50.a1h_in1k", "model.safetensors", True)] * 2


def test_missing_weights_name_the_file_to_provide(tmp_path, monkeypatch, caplog, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    url = backbones.torchvision_url("resnet18")
    with pytest.raises(FileNotFoundError, match="require_pretrained") as info:
        pm.build(_config(backbone="resnet18", stride=32, pretrained="imagenet",
                         require_pretrained=True))
    assert url in str(info.value) and str(tmp_path / "torch" / "hub" / "checkpoints") in str(info.value)
    with caplog.at_level(logging.WARNING, logger="posebook.model.backbones"):
        net = pm.build(_config(backbone="resnet18", stride=32, pretrained="imagenet"))
    assert url in caplog.text and net.backbone.weights_source == "random init (no weights found)"


def test_a_failed_download_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)
    missing = (tmp_path / "nowhere" / "x.pth").as_uri()
    with pytest.raises(weights.WeightsUnavailable, match=r"could not download .*x\.pth.*put it at"):
        weights.torch_hub_file(missing)
    assert not list((tmp_path / "torch").rglob("*.pth"))       # nothing half-written


def test_timm_weights_come_from_the_hugging_face_cache(tmp_path, monkeypatch, no_network):
    """resnet50v2's weights are read through huggingface_hub from its cache layout
    (models--<org>--<name>/refs/main + snapshots/<revision>/model.safetensors)."""
    import timm
    from huggingface_hub import constants
    from safetensors.torch import save_file
    reference = timm.create_model("resnetv2_50", pretrained=False, num_classes=0)
    repo = tmp_path / "hf" / "models--timm--resnetv2_50.a1h_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()},
              str(snapshot / "model.safetensors"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    backbone = backbones.build_backbone("resnet50v2", 32, "imagenet")
    assert backbone.weights_source == f"ImageNet weights from {snapshot / 'model.safetensors'}"
    torch.testing.assert_close(backbone.body.net.stem.conv.weight, reference.stem.conv.weight)


def test_import_quietly_drops_only_tqdms_notebook_warning(tmp_path, monkeypatch):
    (tmp_path / "hub_like.py").write_text(
        "import warnings\n"
        "warnings.warn('IProgress not found. Please update jupyter and ipywidgets.')\n"
        "warnings.warn('something else')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = weights.import_quietly("hub_like")
    assert module.__name__ == "hub_like"
    assert [str(w.message) for w in caught] == ["something else"]
