"""The shared trainer on toy methods: learning, budgets, divergence, and exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from imsynth.training import (
    ConfigMismatchError,
    RunExistsError,
    SingleOptimizerMethod,
    TrainConfig,
    Trainer,
    TrainingDivergedError,
    TrainingMethod,
    load_checkpoint,
    load_weights_into,
    make_optimizer,
    read_model_config,
)

TESTS_DIR = Path(__file__).resolve().parent
SRC_DIR = TESTS_DIR.parent / "src"

# ----------------------------------------------------------------------------- toy methods


@dataclass
class ToyModelConfig:
    channels: int = 8


@dataclass
class ToyConfig:
    model: ToyModelConfig = field(default_factory=ToyModelConfig)
    nan_at_step: int | None = None


class ToyDataset(Dataset):
    """Random 8x8 images; the target is a fixed 3x3 filter of the input. Random flips augment."""

    def __init__(self, size: int = 24) -> None:
        generator = torch.Generator().manual_seed(1234)
        self.inputs = torch.randn(size, 3, 8, 8, generator=generator)
        self.kernel = torch.randn(3, 3, 3, 3, generator=generator) / 3

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = self.inputs[index]
        if torch.rand(()) < 0.5:  # augmentation from the global RNG, seeded per sample by the trainer
            image = image.flip(-1)
        return {"input": image, "target": F.conv2d(image[None], self.kernel, padding=1)[0]}


def _test_hooks(step: int) -> None:
    """Slow down (IMSYNTH_TOY_SLEEP seconds per step) or crash (at step IMSYNTH_TOY_CRASH_AT)."""
    time.sleep(float(os.environ.get("IMSYNTH_TOY_SLEEP", "0")))
    if int(os.environ.get("IMSYNTH_TOY_SIGNAL_AT", "-1")) == step:  # a scheduler's warning, mid-step
        os.kill(os.getpid(), signal.SIGUSR1)
    if int(os.environ.get("IMSYNTH_TOY_CRASH_AT", "-1")) == step:
        raise RuntimeError(f"simulated crash at step {step}")


class ToyMethod(SingleOptimizerMethod[ToyConfig]):
    """Regression with one small conv net (dropout exercises the global RNG)."""

    name = "toy"
    config_class = ToyConfig

    def build_models(self) -> dict[str, nn.Module]:
        channels = self.config.model.channels
        self.net = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.Dropout(0.1), nn.Conv2d(channels, 3, 3, padding=1)
        )
        return {"net": self.net}

    def compute_loss(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        _test_hooks(step)
        loss = F.mse_loss(self.net(batch["input"]), batch["target"])
        return loss * float("nan") if step == self.config.nan_at_step else loss

    def sample(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        show = torch.sigmoid
        return {
            "input": show(batch["input"]),
            "real": show(batch["target"]),
            "synthesized": show(self.net(batch["input"])),
        }


class ToyGan(TrainingMethod[ToyConfig]):
    """A miniature conditional GAN: two models, two optimizers, two updates per step."""

    name = "toy_gan"
    config_class = ToyConfig

    def build_models(self) -> dict[str, nn.Module]:
        channels = self.config.model.channels
        self.generator = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.Dropout(0.2), nn.Conv2d(channels, 3, 3, padding=1)
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(6, channels, 3, stride=2), nn.LeakyReLU(0.2), nn.Conv2d(channels, 1, 3)
        )
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        self.opt_g = make_optimizer(self.generator, train)
        self.opt_d = make_optimizer(self.discriminator, train)
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, Any]:
        _test_hooks(step)
        ctx, label, real = self.ctx, batch["input"], batch["target"]
        with ctx.autocast():
            fake = self.generator(label)
            d_real = self.discriminator(torch.cat([label, real], 1))
            d_fake = self.discriminator(torch.cat([label, fake.detach()], 1))
            loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        ctx.optimize(loss_d, self.opt_d)
        with ctx.autocast():
            adversarial = F.softplus(-self.discriminator(torch.cat([label, fake], 1))).mean()
            loss_g = adversarial + 10.0 * F.l1_loss(fake, real)
        ctx.optimize(loss_g, self.opt_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "lambda_l1": 10.0}


def toy_train_config(out_dir: Path | str, **overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = dict(
        out_dir=Path(out_dir),
        max_steps=20,
        batch_size=4,
        lr=5e-3,
        betas=(0.9, 0.999),
        seed=7,
        deterministic=True,
        device="cpu",
        log_every=1,
        sample_every=10,
        checkpoint_every=5,
        keep_last=None,
        progress=False,
        tensorboard=False,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


pytestmark = pytest.mark.usefixtures("one_thread")


def read_metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def latest_step(run: Path) -> int | None:
    try:
        return json.loads((run / "checkpoints" / "latest").read_text())["step"]
    except (FileNotFoundError, ValueError):
        return None


def assert_bitwise_equal(a: dict[str, dict[str, torch.Tensor]], b: dict[str, dict[str, torch.Tensor]]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs"


# ----------------------------------------------------------------------------- tests


def test_loss_decreases_and_run_outputs_are_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    config = toy_train_config(
        run, max_steps=50, lr=1e-2, sample_every=25, checkpoint_every=20, keep_last=2, tensorboard=True, progress=True
    )
    result = Trainer(ToyMethod(ToyConfig()), config, ToyDataset()).fit()

    assert result.step == 50 and result.stop_reason == "max_steps"
    losses = [record["loss"] for record in read_metrics(run)]
    assert len(losses) == 50
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5

    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_000040", "step_000050"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000025.png", "step_000050.png"]
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert "method: toy" in (run / "config.yaml").read_text()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("imsynth: training toy on cpu") and "dataset 24" in out[0]
    assert out[-1].startswith("imsynth: finished toy at step 50/50 (max_steps reached)")

    # One .safetensors file is enough to rebuild the model for inference.
    weights = run / "checkpoints" / "step_000050" / "net.safetensors"
    run_config = read_model_config(weights)
    assert run_config["method"] == "toy" and run_config["train"]["max_steps"] == 50
    rebuilt = ToyMethod.from_config_dict(run_config["method_config"])
    load_weights_into(rebuilt.models(), load_checkpoint(weights))
    assert_bitwise_equal({"net": rebuilt.models()["net"].state_dict()}, load_checkpoint(run).weights)


def test_time_budget_stops_normally_with_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMSYNTH_TOY_SLEEP", "0.05")
    run = tmp_path / "run"
    config = toy_train_config(run, max_steps=100_000, max_minutes=0.6 / 60, checkpoint_every=1000)
    started = time.monotonic()
    result = Trainer(ToyMethod(ToyConfig()), config, ToyDataset()).fit()

    assert result.stop_reason == "max_minutes"
    assert 0 < result.step < 100 and time.monotonic() - started < 10
    assert latest_step(run) == result.step
    assert "time budget of 0.01 min used up" in capsys.readouterr().out


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = toy_train_config(run, checkpoint_every=5)
    with pytest.raises(TrainingDivergedError) as info:
        Trainer(ToyMethod(ToyConfig(nan_at_step=7)), config, ToyDataset()).fit()

    message = str(info.value)
    assert "diverged at step 8: 'loss' is nan" in message
    assert "step_000005" in message and "lower learning rate" in message
    assert latest_step(run) == 5
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_000005"]
    assert [r["step"] for r in read_metrics(run)][-1] == 7


def test_resume_continues_schedule_and_matches_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def config(run: Path) -> TrainConfig:
        return toy_train_config(run, max_steps=12, checkpoint_every=4, lr_schedule="linear_decay", decay_start_step=4)

    reference = tmp_path / "reference"
    Trainer(ToyGan(ToyConfig()), config(reference), ToyDataset()).fit()

    interrupted = tmp_path / "interrupted"
    monkeypatch.setenv("IMSYNTH_TOY_CRASH_AT", "9")
    with pytest.raises(RuntimeError, match="simulated crash at step 9"):
        Trainer(ToyGan(ToyConfig()), config(interrupted), ToyDataset()).fit()
    monkeypatch.delenv("IMSYNTH_TOY_CRASH_AT")
    assert latest_step(interrupted) == 8

    resumed = Trainer(ToyGan(ToyConfig()), config(interrupted), ToyDataset(), resume=True)
    assert resumed.step == 8 and resumed.samples_seen == 8 * 4
    assert all(s.last_epoch == 8 for s in resumed.schedulers.values())
    assert resumed.fit().step == 12

    assert_bitwise_equal(load_checkpoint(reference).weights, load_checkpoint(interrupted).weights)
    expected, got = read_metrics(reference), read_metrics(interrupted)
    assert [r["step"] for r in got] == list(range(1, 13))
    for want, have in zip(expected, got, strict=True):
        for key in ("loss_d", "loss_g", "lr/generator", "lr/discriminator", "epoch"):
            assert want[key] == have[key], (want["step"], key)
    lrs = [r["lr/generator"] for r in got]
    assert lrs[:5] == [5e-3] * 5 and lrs[-1] == pytest.approx(5e-3 / 8)  # decays from step 4 to 12


def test_resume_rejects_a_changed_config_but_allows_more_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(ToyMethod(ToyConfig()), toy_train_config(run, max_steps=3), ToyDataset()).fit()

    with pytest.raises(ConfigMismatchError, match=r"method_config\.model\.channels: 8 \(saved\) != 4 \(now\)"):
        Trainer(ToyMethod(ToyConfig(ToyModelConfig(channels=4))), toy_train_config(run), ToyDataset(), resume=True)
    with pytest.raises(ConfigMismatchError, match=r"train\.lr: 0\.005 \(saved\) != 0\.1 \(now\)"):
        Trainer(ToyMethod(ToyConfig()), toy_train_config(run, lr=0.1), ToyDataset(), resume=True)
    with pytest.raises(ConfigMismatchError, match=r"method: 'toy' \(saved\) != 'toy_gan' \(now\)"):
        Trainer(ToyGan(ToyConfig()), toy_train_config(run), ToyDataset(), resume=True)
    with pytest.raises(RunExistsError, match="resume=True"):
        Trainer(ToyMethod(ToyConfig()), toy_train_config(run), ToyDataset())

    trainer = Trainer(
        ToyMethod(ToyConfig()), toy_train_config(run, max_steps=6, max_minutes=5.0), ToyDataset(), resume=True
    )
    assert trainer.step == 3 and trainer.fit().step == 6
    assert "max_steps: 6" in (run / "config.yaml").read_text()


def test_resume_with_more_steps_uses_the_new_schedule_from_the_first_step(tmp_path: Path) -> None:
    """Extending a linearly decaying run: the first resumed step already uses the new max_steps."""
    run = tmp_path / "run"
    Trainer(
        ToyMethod(ToyConfig()),
        toy_train_config(run, max_steps=4, checkpoint_every=4, lr_schedule="linear_decay"),
        ToyDataset(),
    ).fit()
    extended = toy_train_config(run, max_steps=8, lr_schedule="linear_decay")
    Trainer(ToyMethod(ToyConfig()), extended, ToyDataset(), resume=True).fit()
    lrs = {r["step"]: r["lr/main"] for r in read_metrics(run)}
    # decay from step 0 to 8: after 4 completed steps the factor is 1 - 4/8 (the stale one was 0)
    assert lrs[5] == pytest.approx(5e-3 * (1 - 4 / 8))
    assert lrs[8] == pytest.approx(5e-3 * (1 - 7 / 8))


KILL_SCRIPT = """\
import sys
import torch
sys.path.insert(0, {tests_dir!r})
torch.set_num_threads(1)
from test_trainer import ToyConfig, ToyDataset, ToyGan, toy_train_config
from imsynth.training import Trainer

out_dir, num_workers, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"
config = toy_train_config(out_dir, max_steps=20, checkpoint_every=5, num_workers=num_workers,
                          lr_schedule="linear_decay", decay_start_step=8)
Trainer(ToyGan(ToyConfig()), config, ToyDataset(), resume=resume).fit()
"""


@pytest.mark.slow
def test_sigkill_then_resume_gives_bitwise_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "train_toy.py"
    script.write_text(KILL_SCRIPT.format(tests_dir=str(TESTS_DIR)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), os.environ.get("PYTHONPATH", "")])}

    def launch(run: Path, workers: int, mode: str, sleep: float = 0.0) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(script), str(run), str(workers), mode],
            env={**env, "IMSYNTH_TOY_SLEEP": str(sleep)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    reference_run, killed_run = tmp_path / "reference", tmp_path / "killed"
    reference = launch(reference_run, 0, "fresh")
    victim = launch(killed_run, 1, "fresh", sleep=0.15)  # a data worker this time: must not matter
    deadline = time.monotonic() + 60
    while (latest_step(killed_run) or 0) < 5:
        assert victim.poll() is None, victim.communicate()[0].decode()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert 5 <= latest_step(killed_run) < 20

    resumed = launch(killed_run, 0, "resume")
    outputs = {}
    for name, process in (("resumed", resumed), ("reference", reference)):
        outputs[name] = process.communicate(timeout=120)[0].decode()
        assert process.returncode == 0, outputs[name]
    assert "(resumed at step" in outputs["resumed"]

    reference_ckpt, resumed_ckpt = load_checkpoint(reference_run), load_checkpoint(killed_run)
    assert reference_ckpt.step == resumed_ckpt.step == 20
    assert_bitwise_equal(reference_ckpt.weights, resumed_ckpt.weights)
    for name in ("generator", "discriminator"):
        want = reference_ckpt.state["optimizers"][name]["state"]
        have = resumed_ckpt.state["optimizers"][name]["state"]
        for index in want:
            assert torch.equal(want[index]["exp_avg_sq"], have[index]["exp_avg_sq"])
    lrs = [[r["lr/generator"] for r in read_metrics(run)] for run in (killed_run, reference_run)]
    assert lrs[0] == lrs[1]


def _launch_toy(script: Path, run: Path, workers: int, mode: str, sleep: float = 0.0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(script), str(run), str(workers), mode],
        env={**env, "IMSYNTH_TOY_SLEEP": str(sleep)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _assert_same_end(reference_run: Path, resumed_run: Path) -> None:
    reference_ckpt, resumed_ckpt = load_checkpoint(reference_run), load_checkpoint(resumed_run)
    assert reference_ckpt.step == resumed_ckpt.step == 20
    assert_bitwise_equal(reference_ckpt.weights, resumed_ckpt.weights)
    for name in ("generator", "discriminator"):
        want = reference_ckpt.state["optimizers"][name]["state"]
        have = resumed_ckpt.state["optimizers"][name]["state"]
        for index in want:
            assert torch.equal(want[index]["exp_avg_sq"], have[index]["exp_avg_sq"])
    lrs = [[r["lr/generator"] for r in read_metrics(run)] for run in (resumed_run, reference_run)]
    assert lrs[0] == lrs[1]


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_exits_cleanly_and_resumes_bitwise(tmp_path: Path) -> None:
    """A scheduler's SIGTERM mid-run: the step finishes, a checkpoint is written, exit status 0; resuming
    from it ends with the same weights, optimizer states and learning rates as an uninterrupted run."""
    script = tmp_path / "train_toy.py"
    script.write_text(KILL_SCRIPT.format(tests_dir=str(TESTS_DIR)))
    reference_run, stopped_run = tmp_path / "reference", tmp_path / "stopped"
    reference = _launch_toy(script, reference_run, 0, "fresh")
    victim = _launch_toy(script, stopped_run, 1, "fresh", sleep=0.15)
    deadline = time.monotonic() + 60
    while not (stopped_run / "metrics.jsonl").is_file() or len(read_metrics(stopped_run)) < 7:
        assert victim.poll() is None, victim.communicate()[0].decode()
        assert time.monotonic() < deadline, "training did not reach step 7"
        time.sleep(0.01)
    victim.send_signal(signal.SIGTERM)  # between checkpoints (every 5 steps)
    output = victim.communicate(timeout=60)[0].decode()
    assert victim.returncode == 0, output
    assert "SIGTERM received" in output
    stopped_at = latest_step(stopped_run)
    assert stopped_at is not None and 7 <= stopped_at < 20
    assert load_checkpoint(stopped_run).step == stopped_at  # loadable, with its training state

    resumed = _launch_toy(script, stopped_run, 0, "resume")
    for process in (resumed, reference):
        text = process.communicate(timeout=120)[0].decode()
        assert process.returncode == 0, text
    _assert_same_end(reference_run, stopped_run)


def test_sigusr1_checkpoints_at_the_step_boundary_and_resumes_bitwise(tmp_path: Path, monkeypatch) -> None:
    """SLURM's --signal=USR1 warning: training stops after the current step with a checkpoint; resuming
    gives bitwise the weights of an uninterrupted run."""
    reference_run, stopped_run = tmp_path / "reference", tmp_path / "stopped"
    config = dict(max_steps=12, checkpoint_every=5, lr_schedule="linear_decay", decay_start_step=4)
    Trainer(ToyMethod(ToyConfig()), toy_train_config(reference_run, **config), ToyDataset()).fit()
    monkeypatch.setenv("IMSYNTH_TOY_SIGNAL_AT", "6")
    result = Trainer(ToyMethod(ToyConfig()), toy_train_config(stopped_run, **config), ToyDataset()).fit()
    assert result.stop_reason == "SIGUSR1" and result.step == 7 and latest_step(stopped_run) == 7
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # the handler is removed again
    monkeypatch.delenv("IMSYNTH_TOY_SIGNAL_AT")
    resumed = Trainer(ToyMethod(ToyConfig()), toy_train_config(stopped_run, **config), ToyDataset(), resume=True)
    assert resumed.fit().step == 12
    assert_bitwise_equal(load_checkpoint(reference_run).weights, load_checkpoint(stopped_run).weights)


def test_data_stream_resumes_at_any_position() -> None:
    from itertools import islice

    from imsynth.training.data import StreamSampler

    full = list(islice(iter(StreamSampler(5, seed=3)), 17))
    assert sorted(index for index, _ in full[:5]) == list(range(5))  # each epoch is a permutation
    assert [position for _, position in full] == list(range(17))
    assert list(islice(iter(StreamSampler(5, seed=3, start=7)), 10)) == full[7:17]
    assert full[:5] != list(islice(iter(StreamSampler(5, seed=4)), 5))


def test_stream_items_set_the_epoch_and_seed_the_rngs() -> None:
    from imsynth.training.data import StreamDataset

    class EpochAware(Dataset):
        def __init__(self) -> None:
            self.epoch = -1

        def __len__(self) -> int:
            return 4

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __getitem__(self, index: int) -> tuple[int, int, float]:
            return index, self.epoch, torch.rand(()).item()

    items = StreamDataset(EpochAware(), seed=0)
    assert items[(2, 9)][:2] == (2, 2)  # stream position 9 of a 4-item dataset is in epoch 2
    assert items[(2, 9)] == items[(2, 9)] and items[(2, 9)] != items[(2, 10)]
    before = torch.get_rng_state()
    items[(0, 0)]
    assert torch.equal(before, torch.get_rng_state())  # the caller's RNG stream is untouched


def test_train_context_autocast_and_gradient_clipping() -> None:
    from imsynth.training import TrainContext

    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    ctx = TrainContext(torch.device("cpu"), amp_dtype=torch.bfloat16, grad_clip=0.1)
    with ctx.autocast():
        output = model(torch.randn(8, 4))
    assert output.dtype == torch.bfloat16
    ctx.optimize(output.float().pow(2).sum() * 100, optimizer)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert norm == pytest.approx(0.1, rel=1e-3)
    batch = ctx.to_device({"image": torch.zeros(2, 3, 4, 4), "ids": [torch.zeros(2)], "name": "x"})
    assert batch["name"] == "x" and batch["image"].shape == (2, 3, 4, 4)


def test_progress_bar_total_follows_the_time_budget(monkeypatch):
    """With --max-minutes the bar ends where the budget will, not at a far-away max_steps."""
    from imsynth.training import logging as run_logging

    clock = [100.0]
    monkeypatch.setattr(run_logging.time, "monotonic", lambda: clock[0])
    progress = run_logging.Progress(False, start_step=10, max_steps=1_000_000, max_minutes=1.0)
    assert progress.expected_last_step() == 1_000_000  # no speed known yet
    for _ in range(20):  # 20 steps in 10 s: 2 steps/s, 50 s left -> 100 more steps
        clock[0] += 0.5
        progress.update({"loss": 1.0}, None)
    assert progress.expected_last_step() == 30 + 100
    assert run_logging.Progress(False, 0, 50, max_minutes=1.0).expected_last_step() == 50
    untimed = run_logging.Progress(False, 0, 500)
    untimed.update({}, None)
    assert untimed.expected_last_step() == 500
