"""The painter: a web server that turns the layouts drawn in a browser into photographs (``imsynth serve``).

Its modules need the ``serve`` extra (fastapi, uvicorn, python-multipart); importing the package says so
once, here, when it is missing.
"""

try:
    import fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the painter needs the 'serve' extra: pip install 'imsynth[serve]'") from exc
