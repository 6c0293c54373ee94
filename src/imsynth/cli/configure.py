"""Options that are config fields: every ``train`` option names the field it sets.

``--variants 2`` is shorthand for ``--set model.num_variants=2``: a :class:`FieldOption` carries the
dotted key(s) it sets (shown in ``--help`` as ``[config: model.num_variants]``), so one mechanism
serves the options, ``--config FILE`` and ``--set``. The layers of a new run, later ones winning
(:func:`imsynth.methods.runconfig.build_run`)::

    the method's recipe and config defaults < option defaults < --config FILE < options given < --set

and a resumed run accepts, from options and ``--set``, only the run-control ``train`` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import click
from click.core import ParameterSource

from imsynth.utils.config import nest_dotted

__all__ = ["FieldOption", "field_option", "option_layers", "given_options", "is_given"]

Fields = str | Callable[[Any], dict[str, Any]]


class FieldOption(click.Option):
    """A click option that sets config field(s): ``field`` is a dotted key, or a function from the
    option's value to ``{dotted key: value}`` (``--size 64x128`` -> model.height and model.width).
    A value of ``None`` sets nothing (the layers below decide)."""

    def __init__(self, *args: Any, field: Fields, **attrs: Any) -> None:
        self.field = field
        super().__init__(*args, **attrs)
        if isinstance(field, str):
            self.help = f"{self.help or ''} [config: {field}]".strip()

    def overrides(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if callable(self.field):
            return {key: _plain(item) for key, item in self.field(value).items()}
        return {self.field: _plain(value)}


def field_option(*decls: str, field: Fields, **attrs: Any) -> Callable[[Any], Any]:
    """``click.option`` for a :class:`FieldOption`."""
    return click.option(*decls, cls=FieldOption, field=field, **attrs)


def _plain(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def is_given(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (or by an environment variable)."""
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


def option_layers(ctx: click.Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields set by the command's options: ``(from defaults, from options given)``, nested."""
    defaults: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for param in ctx.command.params:
        if isinstance(param, FieldOption) and param.name is not None:
            target = given if is_given(ctx, param.name) else defaults
            target.update(param.overrides(ctx.params.get(param.name)))
    return nest_dotted(defaults), nest_dotted(given)


def given_options(ctx: click.Context, allowed: Callable[[click.Parameter], bool]) -> list[str]:
    """The options given on the command line that ``allowed`` refuses, by their flag (``--variants``)."""
    names = []
    for param in ctx.command.params:
        if param.name is not None and is_given(ctx, param.name) and not allowed(param):
            names.append(param.opts[0] if param.opts else param.name)
    return names


def config_file_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--config FILE``, ``--set KEY=VALUE`` and ``--print-config``."""
    func = click.option(
        "--print-config",
        is_flag=True,
        help="Print the resolved config (YAML, the format --config reads) and exit without training.",
    )(func)
    func = click.option(
        "--set",
        "set_items",
        multiple=True,
        metavar="KEY=VALUE",
        help="Set any config field, dotted, value in YAML (repeatable): --set model.width_multiplier=0.25 "
        "--set train.amp_dtype=bfloat16 --set loss.texture_weights='[1, 0.5]'. Wins over options and --config.",
    )(func)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="YAML file of settings (the format of --print-config; a run's config.yaml works too). "
        "Options given on the command line win over it.",
    )(func)
