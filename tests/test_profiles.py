import dataclasses
import json

import pytest

from posebook import profiles


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


def test_default_without_env_follows_cuda(monkeypatch):
    import torch
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profiles.default_profile_name() == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profiles.default_profile_name() == "cpu"


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
    again = profiles.RunConfig.from_dict(json.loads(config.to_json()))
    assert again == config
    with pytest.raises(ValueError, match="unknown config keys"):
        profiles.RunConfig.from_dict({**config.to_dict(), "bogus": 1})


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        profiles.get("smoke").steps = 1
