"""Checkpoints written by earlier imsynth versions keep loading and synthesize the same pictures.

The fixtures (tests/fixtures/checkpoints_v0, see its README) were written by the CLI before the run layer
existed; the expected numbers were recorded with that code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imsynth.inference.pix2pix import load_pix2pix
from imsynth.inference.synthesizer import load_synthesizer
from imsynth.runs import load_checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints_v0"


def _layout() -> np.ndarray:
    ids = np.full((16, 32), 7, np.uint8)  # road
    ids[:5] = 23  # sky
    ids[5:10, 4:20] = 11  # building
    ids[12:, 20:] = 26  # car
    ids[0, 0] = 0  # void
    return ids


def _fingerprint(images: np.ndarray, variant: int) -> list:
    return [
        list(images.shape),
        int(images.astype(np.int64).sum()),
        int(images[0, 3, 5, 0]),
        int(images[variant, 10, 30, 2]),
    ]


@pytest.mark.parametrize("path", ["crn/generator.safetensors", "crn"])
def test_old_crn_weights_file_synthesizes_the_recorded_pictures(path):
    synthesizer = load_synthesizer(FIXTURES / path, "cpu")
    assert synthesizer.method == "crn" and synthesizer.step == 3
    assert _fingerprint(synthesizer.synthesize(_layout()), 1) == [[2, 16, 32, 3], 383859, 116, 119]


def test_old_pix2pix_run_folder_synthesizes_the_recorded_pictures():
    model = load_pix2pix(FIXTURES / "pix2pix_run", "cpu", test_dropout=False)
    assert model.step == 3 and model.label_to_photo
    assert _fingerprint(model.synthesize(_layout()), 0) == [[1, 16, 32, 3], 195551, 128, 128]


def test_old_pix2pix_training_state_loads():
    loaded = load_checkpoint(FIXTURES / "pix2pix_run")
    assert loaded.step == 3 and loaded.config["method"] == "pix2pix"
    assert sorted(loaded.weights) == ["discriminator", "generator"]
    assert loaded.state is not None and set(loaded.state["optimizers"]) == {"generator", "discriminator"}
