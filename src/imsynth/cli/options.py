"""Option types shared by the ``imsynth`` commands."""

from __future__ import annotations

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
