"""Training losses.

* :mod:`imsynth.losses.perceptual` -- feature-matching (Chen & Koltun 2017, Eq. 1) and the
  per-class minimum diversity loss (Sec. 3.4) of the Cascaded Refinement Network.
"""

from imsynth.losses.perceptual import (
    DiversityLoss,
    FeatureExtractor,
    FeatureMatchingLoss,
    resolve_layer_weights,
)

__all__ = ["DiversityLoss", "FeatureExtractor", "FeatureMatchingLoss", "resolve_layer_weights"]
