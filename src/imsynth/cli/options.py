"""Option types shared by the ``imsynth`` commands."""

from __future__ import annotations

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


def device_option(func: Any) -> Any:
    """``--device``: where the networks run."""
    return click.option(
        "--device", default="auto", show_default=True, help="auto (a GPU when there is one) | cpu | cuda | cuda:N."
    )(func)
