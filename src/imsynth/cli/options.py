"""Option types shared by the ``imsynth`` commands."""

from __future__ import annotations

import math

import click


class SizeParam(click.ParamType):
    """``HEIGHTxWIDTH`` (e.g. ``256x512``) -> ``(height, width)``."""

    name = "HxW"

    def convert(self, value, param, ctx):  # type: ignore[override]
        if isinstance(value, tuple):
            return value
        text = str(value).lower().replace(" ", "")
        try:
            height, width = (int(v) for v in text.split("x"))
        except ValueError:
            self.fail(f"{value!r} is not a size: write HEIGHTxWIDTH, e.g. 256x512", param, ctx)
        if height <= 0 or width <= 0:
            self.fail(f"{value!r}: height and width must be positive", param, ctx)
        return height, width


SIZE = SizeParam()


class ToleranceParam(click.ParamType):
    """A finite number >= 0 (``nan`` would switch colour validation off; ``inf`` accept any colour)."""

    name = "FLOAT"

    def convert(self, value, param, ctx):  # type: ignore[override]
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number < 0:
            self.fail(f"{value!r} is not a finite number >= 0 (an RGB distance, e.g. 40)", param, ctx)
        return number


COLOR_TOLERANCE = ToleranceParam()
