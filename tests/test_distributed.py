"""Data-parallel training (DDP, gloo on this CPU): the same update as one process, exact resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import make_cityscapes_tree
from imsynth.runs import load_checkpoint
from imsynth.training.data import StreamSampler
from imsynth.training.distributed import DistributedEnv, DistributedSetupError, per_rank_batch_size

TESTS_DIR = Path(__file__).resolve().parent
WORKER = TESTS_DIR / "ddp_worker.py"


def _batches(sampler: StreamSampler, per_batch: int, count: int) -> list[list[tuple[int, int]]]:
    stream = iter(sampler)
    return [[next(stream) for _ in range(per_batch)] for _ in range(count)]


@pytest.mark.parametrize("start", [0, 8, 13 * 6])
def test_ranks_share_each_global_batch_exactly(start):
    """Rank r loads the r-th slice of every global batch; together the ranks see the single-process stream."""
    single = _batches(StreamSampler(10, seed=3, start=start, batch_size=6), 6, 5)
    ranks = [
        _batches(StreamSampler(10, seed=3, start=start, rank=r, world_size=3, batch_size=6), 2, 5) for r in range(3)
    ]
    for step, batch in enumerate(single):
        assert [item for r in range(3) for item in ranks[r][step]] == batch


def test_global_batch_must_divide_among_processes():
    assert per_rank_batch_size(8, DistributedEnv(0, 4, 0)) == 2
    with pytest.raises(DistributedSetupError, match="multiple of the number of processes"):
        per_rank_batch_size(6, DistributedEnv(0, 4, 0))


def _run(kind: str, data: Path, out: Path, steps: int, processes: int, resume: bool = False) -> None:
    if processes == 1:
        command = [sys.executable, str(WORKER)]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(processes),
            str(WORKER),
        ]
    command += [kind, str(data), str(out), str(steps)] + (["--resume"] if resume else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory) -> dict[str, Path]:
    """The smooth net: 1 process and 2 gloo processes, 6 steps. A tiny CRN under 2-process DDP:
    4 steps straight, and 2 steps resumed to 4."""
    root = tmp_path_factory.mktemp("ddp")
    data = root / "data"
    make_cityscapes_tree(data, 8, size=(32, 64), split="train")
    runs = {name: root / name for name in ("single", "ddp", "crn", "crn_resumed")}
    _run("smooth", data, runs["single"], 6, processes=1)
    _run("smooth", data, runs["ddp"], 6, processes=2)
    _run("crn", data, runs["crn"], 4, processes=2)
    _run("crn", data, runs["crn_resumed"], 2, processes=2)
    _run("crn", data, runs["crn_resumed"], 4, processes=2, resume=True)
    return runs


def _weights(run: Path, model: str, step: int) -> dict[str, torch.Tensor]:
    checkpoint = load_checkpoint(run)
    assert checkpoint.step == step
    return checkpoint.weights[model]


def _losses(run: Path) -> list[float]:
    return [row["loss"] for row in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in row]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_same_global_batch(ddp_runs):
    single, ddp = _weights(ddp_runs["single"], "net", 6), _weights(ddp_runs["ddp"], "net", 6)
    initial = load_checkpoint(ddp_runs["single"] / "checkpoints" / "step_000002").weights["net"]
    for name, tensor in single.items():
        torch.testing.assert_close(ddp[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
        assert not torch.allclose(tensor, initial[name])  # the weights did move
    # The logged loss is the global batch's (averaged over the processes), written once by rank 0.
    assert len(_losses(ddp_runs["ddp"])) == 6
    assert _losses(ddp_runs["ddp"]) == pytest.approx(_losses(ddp_runs["single"]), rel=1e-5)
    assert _losses(ddp_runs["ddp"])[-1] < _losses(ddp_runs["ddp"])[0]


def test_ddp_resume_continues_exactly(ddp_runs):
    straight, resumed = _weights(ddp_runs["crn"], "generator", 4), _weights(ddp_runs["crn_resumed"], "generator", 4)
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=1e-7, msg=name)
    state = load_checkpoint(ddp_runs["crn_resumed"]).state
    assert len(state["rng_per_rank"]) == 1  # rank 1's RNG state travels with rank 0's checkpoint
    assert _losses(ddp_runs["crn_resumed"]) == pytest.approx(_losses(ddp_runs["crn"]), rel=1e-6)


@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path):
    """--compile (torch.compile through the same model-wrapping hook as DDP) computes the same steps."""
    from ddp_worker import SmoothConfig, SmoothMethod
    from imsynth.training import TrainConfig, Trainer
    from test_trainer import ToyDataset

    def run(name: str, compile_models: bool) -> tuple[SmoothMethod, dict[str, torch.Tensor]]:
        train = TrainConfig(
            out_dir=tmp_path / name,
            max_steps=3,
            batch_size=4,
            lr=1e-2,
            betas=(0.9, 0.999),
            compile=compile_models,
            progress=False,
            tensorboard=False,
            sample_every=2,
        )
        method = SmoothMethod(SmoothConfig())
        Trainer(method, train, ToyDataset()).fit()
        return method, load_checkpoint(tmp_path / name).weights["net"]

    _, eager = run("eager", False)
    method, compiled = run("compiled", True)
    wrapper = method.net  # the step ran compiled (no fallback to eager)...
    assert type(wrapper).__name__ == "SwitchableCompiled" and wrapper.switch.enabled and wrapper.switch.failure is None
    assert type(wrapper._compiled).__name__ == "OptimizedModule"
    assert type(method.models()["net"]).__name__ == "Sequential"  # ...the checkpoint holds the plain net
    for name, tensor in eager.items():
        torch.testing.assert_close(compiled[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
