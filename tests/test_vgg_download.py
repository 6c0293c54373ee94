"""VGG-19 weights for online users: downloaded into the torch hub cache, hash-checked; offline, a
message that says how to supply the file. The download path is exercised with a file:// URL."""

from __future__ import annotations

import hashlib

import pytest
import torch

from imsynth.models.backbones import weights as W


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no VGG-19 environment variables."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(W.VGG19_ENV_VAR, raising=False)
    monkeypatch.delenv(W.VGG19_URL_ENV_VAR, raising=False)
    assert W.vgg19_hub_cache_path().is_relative_to(tmp_path)  # torch.hub.get_dir() follows TORCH_HOME
    return tmp_path


def _mirror(tmp_path, corrupt: bool = False) -> str:
    """A state dict saved as NAME-<sha256 prefix>.pth, served by a file:// URL."""
    source = tmp_path / "payload.pth"
    torch.save({"features.0.weight": torch.ones(2, 3, 3, 3)}, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    if corrupt:
        digest = "0" * 8 if digest != "0" * 8 else "1" * 8
    served = tmp_path / f"vgg19-{digest}.pth"
    source.rename(served)
    return served.as_uri()


def test_download_lands_in_the_hub_cache_and_is_then_found(hub, monkeypatch):
    monkeypatch.setenv(W.VGG19_URL_ENV_VAR, _mirror(hub))
    with pytest.raises(W.WeightsNotFoundError):
        W.locate_vgg19_weights()  # no download unless asked
    path = W.locate_vgg19_weights(download=True)
    assert path == W.vgg19_hub_cache_path() and path.is_file()
    assert torch.equal(W.load_state_dict_file(path)["features.0.weight"], torch.ones(2, 3, 3, 3))
    monkeypatch.setenv(W.VGG19_URL_ENV_VAR, "file:///nonexistent/vgg19-dcbb9e9d.pth")
    assert W.locate_vgg19_weights(download=True) == path  # cached: not downloaded again


def test_a_file_with_the_wrong_hash_is_refused_and_not_kept(hub, monkeypatch):
    monkeypatch.setenv(W.VGG19_URL_ENV_VAR, _mirror(hub, corrupt=True))
    with pytest.raises(W.WeightsNotFoundError, match="hash") as info:
        W.locate_vgg19_weights(download=True)
    assert "--vgg-weights" in str(info.value) and W.VGG19_ENV_VAR in str(info.value)
    assert not W.vgg19_hub_cache_path().exists()


def test_offline_the_message_says_how_to_supply_the_file(hub, monkeypatch):
    monkeypatch.setenv(W.VGG19_URL_ENV_VAR, "file:///nonexistent/mirror/vgg19-dcbb9e9d.pth")
    with pytest.raises(W.WeightsNotFoundError) as info:
        W.locate_vgg19_weights(download=True)
    message = str(info.value)
    assert "Downloading file:///nonexistent" in message
    assert str(W.vgg19_hub_cache_path()) in message and W.VGG19_FILENAME in message
