import dataclasses
import json

import pytest

from posebook import config, profiles
from posebook.config import RunConfig


def test_every_profile_is_named_after_itself():
    for name, config in profiles.PROFILES.items():
        assert config.profile == name


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError) as error:
        profiles.get("laptop")
    for name in profiles.PROFILES:
        assert name in str(error.value)


def test_env_selects_default(monkeypatch):
    monkeypatch.setenv(profiles.PROFILE_ENV, "gpu")
    assert profiles.default_profile_name() == "gpu"
    assert profiles.get().backbone == profiles.PROFILES["gpu"].backbone
    monkeypatch.setenv(profiles.PROFILE_ENV, "nonsense")
    with pytest.raises(ValueError, match="valid profiles"):
        profiles.default_profile_name()


@pytest.mark.parametrize("capability,sms,name", [
    ((9, 0), 132, "gpu"),            # H100 / H200
    ((8, 0), 108, "gpu"),            # A100
    ((8, 9), 58, "gpu_small"),       # L4
    ((7, 5), 40, "gpu_small"),       # T4 (Colab)
    ((7, 0), 80, "gpu_small"),       # V100: no bfloat16
])
def test_default_without_env_follows_the_gpu(monkeypatch, capability, sms, name):
    import types

    import torch
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=0: types.SimpleNamespace(
        major=capability[0], minor=capability[1], multi_processor_count=sms))
    assert profiles.default_profile_name() == name
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profiles.default_profile_name() == "cpu"


def test_binder_starts_with_smoke_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    monkeypatch.setenv("BINDER_REQUEST", "v2/gh/someone/posebook/main")   # as BinderHub sets it
    assert profiles.default_profile_name() == "smoke"
    monkeypatch.setenv(profiles.PROFILE_ENV, "cpu")
    assert profiles.default_profile_name() == "cpu"
    monkeypatch.delenv(profiles.PROFILE_ENV)
    monkeypatch.setenv("BINDER_REQUEST", "")
    assert profiles.default_profile_name() != "smoke"


def test_overrides_parse_types():
    config = profiles.get("smoke", ["steps=7", "lr_max=0.5", "amp=true", "backbone=resnet18",
                                    "ablation_seeds=1,2,3"])
    assert (config.steps, config.lr_max, config.amp, config.backbone) == (7, 0.5, True, "resnet18")
    assert config.ablation_seeds == (1, 2, 3)
    assert profiles.PROFILES["smoke"].steps != 7  # the profile itself is untouched


@pytest.mark.parametrize("override, message", [
    ("stepz=3", "valid keys"), ("steps=three", "expects int"), ("amp=maybe", "expects bool"),
    ("steps", "key=value"),
])
def test_bad_overrides_are_explained(override, message):
    with pytest.raises(ValueError, match=message):
        profiles.get("smoke", [override])


def test_config_round_trips_through_json():
    config = profiles.get("gpu")
    again = RunConfig.from_dict(json.loads(config.to_json()))
    assert again == config
    with pytest.raises(ValueError, match="unknown config keys"):
        RunConfig.from_dict({**config.to_dict(), "bogus": 1})


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        profiles.get("smoke").steps = 1


@pytest.mark.parametrize("override, message", [
    ("backbone=resnet999", "backbone must be one of"),
    ("cycle_epochs=2", "cycle_epochs needs epochs > 0"),
    ("n_test=1000000000000", r"n_test must be in \[1, 100000000\]"),   # rendering for ever
    ("n_val=1000000000000", r"n_val must be in \[0, 100000000\]"),
    ("n_train=1000000000000", r"n_train must be in \[1, 100000000\]"),
])
def test_validate_names_the_bad_value(override, message):
    with pytest.raises(ValueError, match=message):
        profiles.get("smoke", [override]).validate()
    for name in profiles.PROFILES:      # every profile itself is valid (given its data folders)
        profiles.get(name, ["h36m_root=/h36m", "voc_root=/voc"]).validate()
    assert profiles.get("smoke", ["epochs=2", "cycle_epochs=1"]).validate()


def test_backbone_names_live_in_config():
    from posebook.model import BACKBONES, backbones
    assert backbones.NAMES is BACKBONES is config.BACKBONES


def test_the_profiles_are_the_names_a_config_accepts():
    assert tuple(profiles.PROFILES) == config.PROFILE_NAMES
    assert all(c.profile == name for name, c in profiles.PROFILES.items())


def test_paper_profile_augments_on_the_cpu_like_gpu():
    """benchmarks/RESULTS.md, "GPU path (issue 15)": CPU augmentation compiled with CUDA graphs
    (e2e / model-only 0.95) beats the GPU path (0.37); uncached Human3.6M would also get black
    corners on the GPU path."""
    paper, gpu = profiles.PROFILES["paper"], profiles.PROFILES["gpu"]
    for field in ("gpu_augment", "compile", "compile_mode", "batch_size"):
        assert getattr(paper, field) == getattr(gpu, field), field
    assert (paper.gpu_augment, paper.compile_mode, paper.batch_size) == (False, "reduce-overhead", 64)
