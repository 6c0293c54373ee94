"""Option types shared by the ``imsynth`` commands."""

from __future__ import annotations

import math
from typing import Any

import click

from imsynth.utils.sizes import parse_size


class SizeParam(click.ParamType):
    """``HEIGHTxWIDTH`` (e.g. ``256x512``) -> ``(height, width)``."""

    name = "HxW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_size(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


SIZE = SizeParam()


class ToleranceParam(click.ParamType):
    """A finite number >= 0 (``nan`` would switch colour validation off; ``inf`` accept any colour)."""

    name = "FLOAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number < 0:
            self.fail(f"{value!r} is not a finite number >= 0 (an RGB distance, e.g. 40)", param, ctx)
        return number


COLOR_TOLERANCE = ToleranceParam()


def device_option(func: Any) -> Any:
    """``--device``: where the networks run."""
    return click.option(
        "--device", default="auto", show_default=True, help="auto (a GPU when there is one) | cpu | cuda | cuda:N."
    )(func)
