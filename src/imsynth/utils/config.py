"""Typed configuration: nested dataclasses <-> plain dicts <-> YAML files.

Every configurable part of imsynth is a ``@dataclass`` with typed fields and defaults. This
module converts such objects to plain, YAML/JSON-friendly dicts and back, checking every value
against the field's type annotation, so a typo in a config file fails loudly instead of being
silently ignored. There is no global mutable options object: configs are values passed around.

Example::

    @dataclass
    class ModelConfig:
        channels: int = 64
        norm: Literal["batch", "instance"] = "instance"

    @dataclass
    class Config:
        model: ModelConfig = field(default_factory=ModelConfig)
        image_size: tuple[int, int] = (256, 512)

    cfg = from_dict(Config, {"model": {"channels": 32}})
    save_config("run/config.yaml", cfg)
    assert load_config("run/config.yaml", Config) == cfg

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``pathlib.Path``, ``Enum``
subclasses and ``Literal[...]`` (stored as their value), ``Optional``/unions, ``tuple[...]``,
``list[...]``, ``dict[str, ...]``, nested dataclasses and ``Any``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar, Union

import yaml

from imsynth.utils.io import write_text

__all__ = [
    "ConfigError",
    "to_dict",
    "from_dict",
    "save_config",
    "load_config",
    "merge_dicts",
    "nest_dotted",
    "parse_overrides",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or key does not match the dataclass it is meant for."""


# --------------------------------------------------------------------------- to plain data


def to_dict(obj: Any) -> Any:
    """Convert a (nested) dataclass into plain dicts, lists, strings, numbers, bools and None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return to_dict(obj.value)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(key): to_dict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(item) for item in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise ConfigError(f"cannot store a {type(obj).__name__} in a config: {obj!r}")


# --------------------------------------------------------------------------- from plain data


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """Build dataclass ``cls`` from a plain mapping, converting and checking every value.

    Missing keys take the field default; unknown keys raise :class:`ConfigError` naming them
    and listing the valid ones. ``where`` prefixes error messages (e.g. ``"train."``).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}")
    label = where.rstrip(".") or cls.__name__
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: expected a mapping of {cls.__name__} fields, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{label}: unknown key(s) {', '.join(map(repr, unknown))} for {cls.__name__}; "
            f"valid keys are: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{where}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{label}: missing required key {name!r} for {cls.__name__}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{label}: invalid {cls.__name__}: {error}") from error


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Convert ``value`` to annotation ``tp`` or raise a :class:`ConfigError` mentioning ``where``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _convert_union(args, value, where)
    if origin is Literal:
        for allowed in args:
            if value == allowed and type(value) is type(allowed):
                return allowed
        raise ConfigError(f"{where}: {_show(value)} is not one of {', '.join(map(repr, args))}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=f"{where}.")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _convert_enum(tp, value, where)
    if origin is tuple:
        return _convert_tuple(args, value, where)
    if origin is list or tp is list:
        item = args[0] if args else Any
        _expect(isinstance(value, (list, tuple)), "a list", value, where)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        key_tp, value_tp = args if args else (Any, Any)
        _expect(isinstance(value, Mapping), "a mapping", value, where)
        return {_convert(key_tp, k, f"{where}.<key>"): _convert(value_tp, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, PurePath):
        _expect(isinstance(value, (str, PurePath)), "a path string", value, where)
        return tp(value)
    if tp is bool:
        _expect(isinstance(value, bool), "true or false", value, where)
        return value
    if tp is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), "an integer", value, where)
        return value
    if tp is float:
        return _convert_float(value, where)
    if tp is str:
        _expect(isinstance(value, str), "a string", value, where)
        return value
    if isinstance(tp, type):
        _expect(isinstance(value, tp), f"a {tp.__name__}", value, where)
        return value
    raise ConfigError(f"{where}: unsupported annotation {tp!r}")


def _convert_union(args: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{where}: null is not allowed here")
    errors = []
    for option in args:
        if option is type(None):
            continue
        try:
            return _convert(option, value, where)
        except ConfigError as error:
            errors.append(str(error))
    raise ConfigError(
        errors[0] if len(errors) == 1 else f"{where}: {_show(value)} matches none of: " + "; ".join(errors)
    )


def _convert_enum(tp: type[enum.Enum], value: Any, where: str) -> enum.Enum:
    if isinstance(value, tp):
        return value
    for member in tp:
        if member.value == value or member.name == value:
            return member
    allowed = ", ".join(repr(m.value) for m in tp)
    raise ConfigError(f"{where}: {_show(value)} is not one of {allowed}")


def _convert_tuple(args: tuple[Any, ...], value: Any, where: str) -> tuple[Any, ...]:
    _expect(isinstance(value, (list, tuple)), "a list", value, where)
    if not args:
        return tuple(value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)} ({_show(value)})")
    return tuple(_convert(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(args, value, strict=True)))


def _convert_float(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    # YAML 1.1 reads "1e-4" (no dot) as a string; accept numeric strings for float fields.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a number, got {_show(value)}")


def _expect(ok: bool, what: str, value: Any, where: str) -> None:
    if not ok:
        raise ConfigError(f"{where}: expected {what}, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}..." if len(text) > 60 else text


# --------------------------------------------------------------------------- layers and overrides
#
# Config files and ``--set key=value`` overrides are merged as plain data, then converted once by
# from_dict above, which checks every value against its field (and runs the dataclasses' own checks).
# OmegaConf 2.4 structured configs could do the merging and conversion, but they accept ``amp: 1`` or
# ``amp: "yes"`` for a bool and ``"10"`` for an int, and their messages differ from the ones stored runs
# and checkpoints are checked with; merging plain dicts keeps one converter for files, overrides, run
# folders and checkpoints alike.


def merge_dicts(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overlay``: mappings merge key by key (recursively), anything else is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def nest_dotted(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model.height": 64, "train.lr": 0.1}`` -> ``{"model": {"height": 64}, "train": {"lr": 0.1}}``."""
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = key.split(".")
        node = nested
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{key}: {'.'.join(parts[: depth + 1])} was given a value of its own")
            node = child
        node[parts[-1]] = value
    return nested


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["model.width_multiplier=0.25", "loss.texture_weights=[1, 0.5]"]`` -> nested plain data.

    Each value is read as YAML (``0.25``, ``true``, ``null``, ``[1, 0.5]``, ``bfloat16``); quote a string
    that would read as something else (``data.split='001'``).
    """
    dotted: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not all(key.split(".")):
            raise ConfigError(f"override {item!r}: expected KEY=VALUE with a dotted KEY (model.width_multiplier=0.25)")
        try:
            dotted[key] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({error})") from None
    return nest_dotted(dotted)


# --------------------------------------------------------------------------- YAML files


def save_config(path: str | Path, config: Any) -> None:
    """Atomically write a dataclass (or plain dict) as human-readable YAML."""
    text = yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)
    write_text(path, text)


@typing.overload
def load_config(path: str | Path) -> dict[str, Any]: ...
@typing.overload
def load_config(path: str | Path, cls: type[T]) -> T: ...
def load_config(path: str | Path, cls: type[Any] | None = None) -> Any:
    """Read a YAML config; with ``cls``, convert and validate it into that dataclass."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if data is None:
        data = {}
    if cls is None:
        return data
    try:
        return from_dict(cls, data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
