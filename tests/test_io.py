"""Atomic writes: complete files or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from imsynth.utils.io import atomic_write, save_image, write_json


def test_failed_write_leaves_the_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as handle:
            handle.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_files_get_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        save_image(tmp_path / "b.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        os.umask(old)
    for name in ("a.json", "b.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_save_image_round_trip_and_unknown_suffix(tmp_path):
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    save_image(tmp_path / "x.png", image)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), image)
    with pytest.raises(ValueError, match="extension"):
        save_image(tmp_path / "x.unknown", image)
