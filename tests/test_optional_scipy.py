"""scipy is optional: only the ``method="sqrtm"`` route of the Fréchet distance needs it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["scipy"] = None  # any `import scipy` now raises ImportError
import numpy as np
import imsynth.cli.main, imsynth.evaluation.evaluate, imsynth.evaluation.compare, imsynth.methods.colorizer
from imsynth.evaluation.frechet import frechet_distance
rng = np.random.default_rng(0)
a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 1
print(round(frechet_distance(a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T)), 6))
try:
    frechet_distance(a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T), method="sqrtm")
except ImportError as error:
    print("sqrtm:", error)
"""


def test_the_package_works_without_scipy() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    distance, message = result.stdout.strip().splitlines()
    assert float(distance) > 2.0
    assert "pip install 'imsynth[sqrtm]'" in message
