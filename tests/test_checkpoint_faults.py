"""Training and checkpoints under faults (issue 15): a full disk, corrupt or crafted checkpoints.

Nothing is lost (the last complete checkpoint stays usable and is named), and every fault gives one
message that says what happened and what to do -- never a traceback.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from conftest import make_cityscapes_tree
from imsynth.cli.main import cli

BASE = ["train", "crn", "--size", "16x32", "--variants", "1", "--width-multiplier", "0.01"]
BASE += ["--backbone", "efficientnet_lite0", "--workers", "0", "--log-every", "1", "--sample-every", "1"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_cityscapes_tree(root, 2, size=(16, 32))
    return root


def invoke(*args: str | Path):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


class FullDisk:
    """Files opened for writing under ``marker`` fail with ENOSPC once they hold ``budget`` bytes."""

    def __init__(self, marker: str, budget: int = 100) -> None:
        self.marker, self.budget, self.hits = marker, budget, 0
        self.real_fdopen = os.fdopen

    def fdopen(self, fd, mode="r", *args, **kwargs):
        handle = self.real_fdopen(fd, mode, *args, **kwargs)
        if "w" not in mode or self.marker not in os.readlink(f"/proc/self/fd/{fd}"):
            return handle
        disk = self

        class Handle:
            written = 0

            def write(self, data):
                self.written += len(data)
                if self.written > disk.budget:
                    disk.hits += 1
                    raise OSError(errno.ENOSPC, "No space left on device")
                return handle.write(data)

            def __getattr__(self, name):
                return getattr(handle, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                handle.close()

        return Handle()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the fault injection reads /proc/self/fd")
@pytest.mark.parametrize(
    "where",
    [".state.pt", ".generator.safetensors", "samples/.step_000004.png"],
    ids=["state", "weights", "sample"],
)
def test_a_full_disk_during_training_loses_nothing_and_says_how_to_resume(data, tmp_path, monkeypatch, where):
    """The disk fills while step 4 is saved: in the training state (torch's writer), weights or a sample."""
    run = tmp_path / "run"
    disk = FullDisk(f"step_000004.tmp/{where}" if where.startswith(".") else where)
    monkeypatch.setattr(os, "fdopen", disk.fdopen)
    result = invoke(*BASE, "--data", data, "--out", run, "--max-steps", "6", "--checkpoint-every", "2")
    assert disk.hits >= 1
    assert result.exit_code == 1
    output = result.output.lower()
    assert "no space left on device" in output
    assert "step_000002" in result.output and f"--resume {run}" in result.output
    assert not (run / "checkpoints" / "step_000004.tmp").exists()  # the partial checkpoint is removed
    assert not (run / "checkpoints" / "step_000004").exists()
    monkeypatch.setattr(os, "fdopen", disk.real_fdopen)  # space freed
    result = invoke("train", "crn", "--resume", run, "--max-steps", "6", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert "resumed at step 2" in result.output and (run / "checkpoints" / "step_000006").is_dir()
