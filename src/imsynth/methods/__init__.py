"""Training recipes: each method supplies its models, optimizers and step to the generic trainer.

:func:`method_class` maps the ``method`` name stored in every run config back to its class, so a
checkpoint alone says how to rebuild its networks.
"""

from __future__ import annotations

from importlib import import_module

from imsynth.training.method import TrainingMethod

_METHODS = {
    "crn": ("imsynth.methods.crn", "CRNMethod"),
    "segmenter": ("imsynth.methods.segmenter", "SegmenterMethod"),
    "pix2pix": ("imsynth.methods.pix2pix", "Pix2PixMethod"),
    "colorizer": ("imsynth.methods.colorizer", "ColorizerMethod"),
}


def method_class(name: str) -> type[TrainingMethod]:
    """The :class:`TrainingMethod` subclass registered under ``name``."""
    try:
        module, attribute = _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(_METHODS))}") from None
    return getattr(import_module(module), attribute)


def known_methods() -> list[str]:
    return sorted(_METHODS)
