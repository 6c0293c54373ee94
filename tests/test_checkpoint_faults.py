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

from conftest import crafted, make_cityscapes_tree
from imsynth.cli.main import cli

BASE = ["train", "crn", "--size", "16x32", "--variants", "1", "--width-multiplier", "0.01"]
BASE += ["--backbone", "efficientnet_lite0", "--workers", "0", "--log-every", "1", "--sample-every", "1"]


pytestmark = pytest.mark.usefixtures("one_thread")


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


# ------------------------------------------------------------------------- crafted checkpoints
@pytest.fixture(scope="module")
def crn_run(data, tmp_path_factory) -> Path:
    """A 4-step CRN run (k=3) with checkpoints at steps 2 and 4."""
    run = tmp_path_factory.mktemp("crn") / "run"
    args = [*BASE[:5], "3", *BASE[6:], "--data", data, "--out", run, "--max-steps", "4", "--checkpoint-every", "2"]
    assert invoke(*args).exit_code == 0
    return run


def weights(run: Path, step: int = 4) -> Path:
    return run / "checkpoints" / f"step_{step:06d}" / "generator.safetensors"


def synthesize(checkpoint: Path, tmp_path: Path):
    from PIL import Image

    from conftest import random_layout
    from imsynth.data.labels import CITYSCAPES

    labels = tmp_path / "layout.png"
    Image.fromarray(CITYSCAPES.colorize(random_layout(__import__("numpy").random.default_rng(0), (16, 32)))).save(
        labels
    )
    return invoke(
        "synthesize", "--checkpoint", checkpoint, "--labels", labels, "--out", tmp_path / "out", "--device", "cpu"
    )


def _model(config):
    return config["method_config"]["model"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: _model(c).update(colour=1), "unknown key(s) 'colour'"),
        (lambda c: _model(c).update(num_variants="three"), "expected an integer"),
        (lambda c: _model(c).update(num_variants=-3), "num_variants"),
        (lambda c: _model(c).update(width_multiplier=-1.0), "width_multiplier"),
        (lambda c: c["method_config"]["data"].update(label_space="/no/such/space.csv"), "label space"),
        (lambda c: c["method_config"].pop("model"), "do not match"),  # the default model: other shapes
    ],
    ids=["unknown-key", "wrong-type", "negative-variants", "negative-width", "label-space-file", "missing-key"],
)
def test_an_invalid_embedded_config_is_a_clear_error(crn_run, tmp_path, change, expected):
    checkpoint = crafted(weights(crn_run), tmp_path / "crafted.safetensors", change)
    result = synthesize(checkpoint, tmp_path)
    assert result.exit_code == 1, result.output
    assert expected in result.output and "crafted.safetensors" in result.output, result.output
    assert "embedded run config" in result.output


def test_a_config_asking_for_a_huge_model_is_refused_before_allocating(crn_run, tmp_path):
    """width_multiplier 64 asks for ~150 GB of weights: refused from the shapes, in a process limited to 6 GB."""
    import subprocess
    import sys

    checkpoint = crafted(
        weights(crn_run), tmp_path / "huge.safetensors", lambda c: _model(c).update(width_multiplier=64)
    )
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30)); "
        "from imsynth.inference.synthesizer import load_synthesizer; load_synthesizer(sys.argv[1], 'cpu')"
    )
    result = subprocess.run([sys.executable, "-c", code, str(checkpoint)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("imsynth.runs.locate.CheckpointError:"), result.stderr[-2000:]
    assert "do not match" in last and "width_multiplier=64" in last


def test_the_shape_check_costs_no_memory(crn_run):
    """The meta-device build skips weight initialisation: PyTorch's compiler stack (~70 MB) stays unloaded."""
    import subprocess
    import sys

    code = (
        "import sys; from imsynth.inference.crn import load_crn; load_crn(sys.argv[1], 'cpu'); "
        "print(sorted(m for m in ('torch._dynamo', 'sympy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(crn_run)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_weights_that_do_not_fit_the_config_are_named(crn_run, tmp_path):
    from imsynth.inference.crn import load_crn
    from imsynth.runs import CheckpointError

    checkpoint = crafted(weights(crn_run), tmp_path / "k5.safetensors", lambda c: _model(c).update(num_variants=5))
    with pytest.raises(CheckpointError, match=r"do not match: .*projection"):
        load_crn(checkpoint, "cpu")


# --------------------------------------------------------------------- truncated latest, resume
def test_resume_falls_back_from_a_truncated_latest_checkpoint(crn_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(crn_run, run)
    state = run / "checkpoints" / "step_000004" / "state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    result = invoke("train", "crn", "--resume", run, "--max-steps", "6", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert "step_000004" in result.output and "corrupt or truncated" in result.output
    assert "resumed at step 2" in result.output and "weights_only" not in result.output
    assert (run / "checkpoints" / "step_000006").is_dir()


def test_resume_with_every_checkpoint_broken_lists_them(crn_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(crn_run, run)
    for step in (2, 4):
        (run / "checkpoints" / f"step_{step:06d}" / "state.pt").write_bytes(b"PK\x03\x04 broken")
    result = invoke("train", "crn", "--resume", run, "--max-steps", "6", "--workers", "0")
    assert result.exit_code == 1
    assert (
        "step_000004" in result.output and "step_000002" in result.output and "no complete checkpoint" in result.output
    )


def test_a_corrupt_state_does_not_repeat_torchs_advice(crn_run, tmp_path):
    import shutil

    from imsynth.runs import CheckpointError, load_checkpoint

    folder = tmp_path / "step_000004"
    shutil.copytree(crn_run / "checkpoints" / "step_000004", folder)
    torch.save({"step": 4, "config": {}, "models": ["generator"], "evil": Path("x")}, folder / "state.pt")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(folder)
    message = str(caught.value)
    assert "state.pt" in message and "weights_only" not in message and "trust" not in message
    assert "pathlib" in message  # what the file holds that a plain training state does not


# --------------------------------------------------------------------------- label-space contents
LABEL_SPACE_CSV = """name,id,color,ignore
void,0,#000000,true
road,7,#804080,
sidewalk,8,#f423e8,
building,11,#464646,
pole,17,#999999,
vegetation,21,#6b8e23,
sky,23,#4682b4,
person,24,#dc143c,
car,26,#00008e,
"""


def test_a_custom_label_space_travels_inside_the_checkpoint(data, tmp_path):
    space_file = tmp_path / "space.csv"
    space_file.write_text(LABEL_SPACE_CSV)
    run = tmp_path / "run"
    args = [*BASE, "--data", data, "--out", run, "--max-steps", "1", "--label-space", space_file]
    assert invoke(*args).exit_code == 0
    space_file.unlink()  # moved away: the checkpoint must not need it
    from imsynth.inference.crn import load_crn

    crn = load_crn(run, "cpu")
    assert crn.label_space.name == "space" and crn.label_space.num_classes == 8
    assert crn.label_space.by_name("car").color == (0, 0, 142)
    result = synthesize(run, tmp_path)
    assert result.exit_code == 0, result.output


def test_a_checkpoint_cannot_make_the_loader_read_a_file(crn_run, tmp_path, monkeypatch):
    from imsynth.data.labels import LabelSpace

    secret = tmp_path / "secret.csv"
    secret.write_text(LABEL_SPACE_CSV)
    opened = []
    monkeypatch.setattr(LabelSpace, "from_file", classmethod(lambda cls, path: opened.append(path)))
    checkpoint = crafted(
        weights(crn_run),
        tmp_path / "reads.safetensors",
        lambda c: c["method_config"]["data"].update(label_space=str(secret)),
    )
    result = synthesize(checkpoint, tmp_path)
    assert result.exit_code == 1 and opened == []
    assert "file path" in result.output and str(secret) in result.output
