"""``Trainer``: the one training loop shared by every method.

::

    trainer = Trainer(Pix2Pix(pix2pix_config), TrainConfig(out_dir="runs/p2p", max_steps=20_000),
                      dataset, resume=True)
    result = trainer.fit()

The trainer seeds everything, builds the method's models on the chosen device, creates their
optimizers and LR schedules, then repeats: next batch -> ``method.training_step`` -> check the
reported losses are finite -> schedule step -> log / sample / checkpoint. It stops at
``max_steps``, when the ``max_minutes`` budget is used up or on SIGTERM / SIGUSR1
(:mod:`imsynth.training.signals`), and always ends with a checkpoint.

With ``resume=True`` it continues from ``OUT_DIR``'s latest checkpoint: weights, optimizer and
schedule states, RNG states and the exact position in the data stream are restored, so on CPU
with ``deterministic=True`` an interrupted-and-resumed run ends with bitwise the same weights as
an uninterrupted one.

Launched by ``torchrun`` with several processes, the same trainer runs data-parallel with
PyTorch DDP (:mod:`imsynth.training.distributed`): ``batch_size`` is the global batch, each
process loads its share, the method's models are wrapped in ``DistributedDataParallel``, the
logged scalars are averaged over processes and rank 0 alone writes the run folder.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from imsynth.runs import find_latest, load_latest_complete, load_weights_into, save_checkpoint
from imsynth.runs.files import CHECKPOINTS_DIR, CONFIG_FILE, checkpoint_name
from imsynth.training import distributed
from imsynth.training.config import TrainConfig, check_resume_compatible, make_run_config
from imsynth.training.context import TrainContext
from imsynth.training.data import check_dataset, make_loader, preview_batch
from imsynth.training.failures import (
    WRITE_ERRNOS,
    RunExistsError,
    RunWriteError,
    TrainingDivergedError,
    divergence_message,
    write_failure_message,
)
from imsynth.training.logging import Progress, RunLogger, ScalarWindow, Throughput
from imsynth.training.method import TrainingMethod
from imsynth.training.optim import lr_factor, make_scheduler
from imsynth.training.signals import StopSignals
from imsynth.training.speed import GuardedSteps, resolve_speed_settings
from imsynth.training.summary import PendingScalars, end_summary, start_summary
from imsynth.training.visualize import sample_grid
from imsynth.utils.config import save_config
from imsynth.utils.console import say
from imsynth.utils.device import autocast_dtype, resolve_device
from imsynth.utils.seeding import configure_determinism, get_rng_state, mix_seed, seed_everything, set_rng_state

__all__ = ["Trainer", "TrainResult", "TrainingDivergedError", "RunExistsError", "RunWriteError"]

#: Steps whose scalars may wait on the device at most (then they are read even between log steps).
MAX_PENDING_STEPS = 500
#: Under DDP the processes agree on stopping (time budget, signals) every this many steps: the
#: agreement is an all_reduce read back to the host, a synchronisation (one process: every step).
STOP_CHECK_EVERY = 10


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` did."""

    step: int
    stop_reason: str  # "max_steps", "max_minutes" or the stop signal's name ("SIGTERM", "SIGUSR1")
    checkpoint: Path
    elapsed_seconds: float
    last_scalars: dict[str, float]


class Trainer:
    """Trains a :class:`TrainingMethod` on a map-style dataset according to a :class:`TrainConfig`.

    Construction does all set-up (and may raise on a bad config or checkpoint): it seeds the
    global RNGs with ``config.seed``, builds the method's models on the device, creates optimizers
    and schedules and, with ``resume=True``, restores the latest checkpoint of ``out_dir``.
    A fresh run refuses an ``out_dir`` that already holds checkpoints (:class:`RunExistsError`).
    """

    def __init__(
        self,
        method: TrainingMethod[Any],
        config: TrainConfig,
        dataset: Dataset[Any],
        resume: bool = False,
    ) -> None:
        if not isinstance(getattr(method, "name", None), str) or not method.name:
            raise TypeError(f"{type(method).__name__} must set a class attribute `name` (e.g. 'pix2pix')")
        self.method = method
        self.dataset = dataset
        self.dataset_size = check_dataset(dataset)
        self.out_dir = Path(config.out_dir)
        self.checkpoint_dir = self.out_dir / CHECKPOINTS_DIR
        if not resume:
            self._refuse_existing_run()

        self.device = resolve_device(config.device)
        self.dist = distributed.init_distributed(self.device, config.dist_backend)
        if self.dist.enabled and self.device.type == "cuda" and config.device in ("auto", "cuda"):
            self.device = torch.device("cuda", self.dist.local_rank)  # one GPU per process
            torch.cuda.set_device(self.device)
        distributed.per_rank_batch_size(config.batch_size, self.dist)  # checks it divides
        self.run_config = make_run_config(method.name, config, method.config_dict())  # "auto" stays auto
        # What runs: channels_last/compile on with CUDA, workers from the machine (training/speed.py).
        self.config = config = resolve_speed_settings(config, self.device, self.dist.world_size)
        amp_dtype = autocast_dtype(self.device, config.amp_dtype) if config.amp else None
        configure_determinism(config.deterministic)
        seed_everything(config.seed)

        self.models = method.models()
        for model in self.models.values():
            model.to(self.device)
            if config.channels_last:
                model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            model.train()
        compile_mode = config.compile_mode if config.compile else None
        self.context = TrainContext(self.device, amp_dtype, config.grad_clip, bool(config.channels_last), compile_mode)
        method.attach(self.context)
        self.optimizers = method.optimizers(config)
        if not self.optimizers:
            raise TypeError(f"{type(method).__name__}.optimizers() returned no optimizer")
        self.schedulers = {name: make_scheduler(opt, config) for name, opt in self.optimizers.items()}
        if self.dist.enabled:
            method.wrap_models(lambda model: distributed.wrap_model(model, self.device, self.dist))
            if self.dist.rank > 0:  # same initial weights (DDP broadcasts rank 0's), own noise streams
                seed_everything(mix_seed(config.seed, self.dist.rank))
        if config.compile:
            method.wrap_models(self.context.compile)
        # The first steps may fall back to eager when compilation fails (one process only).
        models, optimizers = list(self.models.values()), list(self.optimizers.values())
        guard = config.compile and not self.dist.enabled
        self._guard = GuardedSteps(method, self.context, models, optimizers, self._say) if guard else None

        self.step = 0  # completed training steps
        self.samples_seen = 0  # position in the data stream
        self.resumed_from: Path | None = None
        self._last_saved_step: int | None = None
        self._rng_to_restore: dict[str, Any] | None = None
        self._notes: list[str] = []
        if resume:
            self._resume()

    # ------------------------------------------------------------------ set-up

    def _refuse_existing_run(self) -> None:
        latest = find_latest(self.checkpoint_dir)
        if latest is not None:
            raise RunExistsError(
                f"{self.out_dir} already holds a run (latest checkpoint: {latest.name}); resume it "
                "with resume=True or choose another out_dir"
            )

    def _resume(self) -> None:
        """Restore weights, optimizer/scheduler states, data position and (later, in fit) RNGs."""
        checkpoint, skipped = load_latest_complete(self.checkpoint_dir)  # a broken latest falls back
        if checkpoint is None:
            self._notes.append(f"no checkpoint in {self.out_dir} to resume, starting from step 0")
            return
        self._notes += skipped
        check_resume_compatible(checkpoint.config, self.run_config, self.out_dir)
        state = checkpoint.state
        assert state is not None  # a checkpoint folder always has its training state
        load_weights_into(self.models, checkpoint)
        _load_named_states("optimizer", self.optimizers, state["optimizers"])
        _load_named_states("scheduler", self.schedulers, state["schedulers"])
        # The saved learning rates were computed under the saved max_steps; re-derive them for the
        # (possibly longer) run now configured, so the first resumed step uses the right rate.
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * lr_factor(checkpoint.step, self.config)
        self.context.load_state_dict(state["context"])
        self.method.load_state_dict_extra(state["method"])
        self.step = checkpoint.step
        self.samples_seen = int(state["data"]["position"])
        if state["data"]["dataset_size"] != self.dataset_size:
            self._notes.append(
                f"dataset size changed ({state['data']['dataset_size']} -> "
                f"{self.dataset_size}); the batch sequence differs from the original run"
            )
        self._rng_to_restore = self._rank_rng_state(state, checkpoint.step)
        self._last_saved_step = self.step
        self.resumed_from = checkpoint.path

    def _rank_rng_state(self, state: dict[str, Any], step: int) -> dict[str, Any] | None:
        """This process's saved RNG state; a rank the checkpoint did not have gets fresh streams."""
        if self.dist.rank == 0:
            return state["rng"]
        others = state.get("rng_per_rank") or []
        if len(others) >= self.dist.rank:
            return others[self.dist.rank - 1]
        if self.dist.rank == 1:
            self._notes.append(
                f"the checkpoint was written by {len(others) + 1} process(es); the new ranks draw fresh random streams"
            )
        seed_everything(mix_seed(self.config.seed, self.dist.rank, step))
        return None

    # ------------------------------------------------------------------ the loop

    def fit(self) -> TrainResult:
        """Train until ``max_steps`` or the time budget; returns where it stopped."""
        config = self.config
        main = self.dist.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.out_dir / CONFIG_FILE, self.run_config)
        preview = self.context.to_device(preview_batch(self.dataset, config.sample_count, config.seed))
        loader = make_loader(
            self.dataset,
            batch_size=config.batch_size,
            seed=config.seed,
            start=self.samples_seen,
            num_workers=int(config.num_workers or 0),
            pin_memory=self.device.type == "cuda",
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        batches = iter(loader)
        logger = RunLogger(self.out_dir, self.step, tensorboard=config.tensorboard) if main else None
        if logger is not None and self.step == 0:
            logger.describe(self.run_config)
        self._say(start_summary(self))
        progress = Progress(config.progress and main, self.step, config.max_steps, max_minutes=config.max_minutes)

        self.method.on_train_start()
        if self._rng_to_restore is not None:  # last, so nothing above disturbs the streams
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None

        start = time.monotonic()
        deadline = start + 60.0 * config.max_minutes if config.max_minutes is not None else None
        first_step = self.step
        window, speed = ScalarWindow(), Throughput()
        pending = PendingScalars(type(self.method).__name__, self.device, self.dist)
        scalars: dict[str, float] = {}
        stop_reason = "max_steps"
        try:
            with StopSignals() as signals:
                while self.step < config.max_steps:
                    if self._should_stop(deadline, signals):
                        stop_reason = "max_minutes" if self._past(deadline) else signals.received or "a stop signal"
                        break
                    learning_rates = self._train_step(next(batches), pending)
                    speed.add(config.batch_size)
                    progress.update(None, speed.recent)
                    # Scalars are read from the device (one synchronisation) only when something uses
                    # them, and always before a checkpoint or sample grid: a diverged state is never saved.
                    every = (config.log_every, config.sample_every, config.checkpoint_every, MAX_PENDING_STEPS)
                    if any(self.step % n == 0 for n in every):
                        scalars = self._read_scalars(pending, window, scalars)
                        progress.show(scalars)
                    if logger is not None and self.step % config.log_every == 0:
                        logger.scalars(
                            self.step,
                            {
                                **window.pop(),
                                **learning_rates,
                                "epoch": self.samples_seen / self.dataset_size,
                                "images_per_s": speed.pop_window_rate(),
                            },
                        )
                    if logger is not None and self.step % config.sample_every == 0:
                        self._save_samples(logger, preview)
                    if self.step % config.checkpoint_every == 0:
                        self._save_checkpoint()
                scalars = self._read_scalars(pending, window, scalars)
                if self._last_saved_step != self.step:
                    self._save_checkpoint()
        except KeyboardInterrupt:
            progress.close()
            self._say(
                f"imsynth: interrupted at step {self.step}; the latest checkpoint in {self.checkpoint_dir} "
                "is where a resumed run continues"
            )
            raise
        except OSError as error:
            if error.errno not in WRITE_ERRNOS:
                raise
            message = write_failure_message(error, self.out_dir, self.checkpoint_dir, self.step, self.method.name)
            raise RunWriteError(message) from None
        finally:
            progress.close()
            if logger is not None:
                # after a write failure, closing (flushing) the logs may fail the same way: keep the first error
                with contextlib.suppress(OSError) if sys.exc_info()[0] is not None else contextlib.nullcontext():
                    logger.close()
            del batches, loader  # stops worker processes

        elapsed = time.monotonic() - start
        checkpoint = self.checkpoint_dir / checkpoint_name(self.step)
        steps = self.step - first_step
        self._say(
            end_summary(self.method.name, self.step, config, stop_reason, steps, elapsed, self.out_dir, checkpoint)
        )
        return TrainResult(self.step, stop_reason, checkpoint, elapsed, scalars)

    @staticmethod
    def _past(deadline: float | None) -> bool:
        return deadline is not None and time.monotonic() >= deadline

    def _should_stop(self, deadline: float | None, signals: StopSignals) -> bool:
        """The time budget is used up or a stop signal arrived (on any process, under DDP)."""
        if not self.dist.enabled:
            return self._past(deadline) or signals.received is not None
        if self.step % STOP_CHECK_EVERY:  # the same steps on every process
            return False
        return distributed.any_rank(self._past(deadline) or signals.received is not None, self.device, self.dist)

    def _train_step(self, batch: Any, pending: PendingScalars) -> dict[str, float]:
        """One optimization step (its scalars join ``pending``); returns the learning rates it used."""
        batch = self.context.to_device(batch)
        run_step = self.method.training_step if self._guard is None else self._guard.training_step
        output = run_step(batch, self.step)
        self.context.end_iteration()
        pending.add(self.step + 1, output)
        learning_rates = {f"lr/{name}": opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}
        for scheduler in self.schedulers.values():
            scheduler.step()
        self.step += 1
        self.samples_seen += self.config.batch_size
        return learning_rates

    def _read_scalars(self, pending: PendingScalars, window: ScalarWindow, last: dict[str, float]) -> dict[str, float]:
        """The pending steps' scalars as floats (one synchronisation) into ``window``; the newest
        step's are returned (``last`` when none pend). Stops at the first NaN/inf."""
        if not len(pending):
            return last
        for step, values in pending.read():
            for name, value in values.items():
                if not math.isfinite(value):
                    message = divergence_message(self.checkpoint_dir, step - 1, name, value, self.optimizers)
                    raise TrainingDivergedError(message)
            window.add(values)
            last = values
        return last

    # ------------------------------------------------------------------ outputs

    def _save_samples(self, logger: RunLogger, batch: Any) -> None:
        """The method's sample grid for the fixed preview batch (RNG streams untouched)."""
        grid = sample_grid(self.method, self.models, batch, max_rows=self.config.sample_count)
        if grid is not None:
            logger.image(self.step, grid)

    def _save_checkpoint(self) -> Path:
        """Rank 0 writes the checkpoint (with every rank's RNG state); the others wait for it."""
        rng_per_rank = distributed.gather_to_main(get_rng_state(), self.dist)
        path = self.checkpoint_dir / checkpoint_name(self.step)
        if self.dist.is_main:
            path = self._write_checkpoint(rng_per_rank or [])
        distributed.barrier(self.dist)
        self._last_saved_step = self.step
        return path

    def _write_checkpoint(self, rng_per_rank: list[dict[str, Any]]) -> Path:
        state = {
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {name: sch.state_dict() for name, sch in self.schedulers.items()},
            "context": self.context.state_dict(),
            "method": self.method.state_dict_extra(),
            "rng": rng_per_rank[0],
            "rng_per_rank": rng_per_rank[1:],  # ranks 1.. of a DDP job (empty for one process)
            "data": {
                "seed": self.config.seed,
                "position": self.samples_seen,
                "epoch": self.samples_seen // self.dataset_size,
                "dataset_size": self.dataset_size,
            },
        }
        return save_checkpoint(
            self.checkpoint_dir, self.step, self.models, state, self.run_config, keep_last=self.config.keep_last
        )

    def _say(self, message: str) -> None:
        if self.dist.is_main:
            say(message)


def _load_named_states(kind: str, targets: Mapping[str, Any], states: Mapping[str, Any]) -> None:
    if set(targets) != set(states):
        raise ValueError(f"the checkpoint has {kind}s {sorted(states)} but the method now makes {sorted(targets)}")
    for name, target in targets.items():
        target.load_state_dict(states[name])
