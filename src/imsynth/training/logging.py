"""Where training reports go: ``metrics.jsonl``, TensorBoard, sample PNGs and the console.

``OUT_DIR/metrics.jsonl`` gets one JSON object per logging step (``{"step": 100, "loss": ...}``);
TensorBoard event files go to ``OUT_DIR/tb`` and sample grids to
``OUT_DIR/samples/step_XXXXXX.png``. When a run resumes at step ``s``, records after ``s`` (written
by the interrupted process) are dropped from both logs, so they describe a single trajectory.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from imsynth.runs.files import METRICS_FILE, SAMPLES_DIR, TENSORBOARD_DIR, sample_path
from imsynth.runs.tensorboard import describe_run, open_writer
from imsynth.utils.console import is_quiet, progress, say
from imsynth.utils.io import save_image, write_text

__all__ = ["RunLogger", "ScalarWindow", "Throughput", "Progress"]


class ScalarWindow:
    """Running means of named scalars since the last :meth:`pop`."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, scalars: dict[str, float]) -> None:
        for name, value in scalars.items():
            self._sums[name] = self._sums.get(name, 0.0) + value
            self._counts[name] = self._counts.get(name, 0) + 1

    def pop(self) -> dict[str, float]:
        """The means, then start a new window."""
        means = {name: total / self._counts[name] for name, total in self._sums.items()}
        self._sums.clear()
        self._counts.clear()
        return means


class Throughput:
    """Images per second: a smoothed recent rate (for the progress bar) and a per-log-window rate."""

    def __init__(self) -> None:
        self.recent: float | None = None
        self._last = self._window_start = time.monotonic()
        self._window_images = 0

    def add(self, images: int) -> None:
        """Count ``images`` processed since the previous call."""
        now = time.monotonic()
        rate = images / max(now - self._last, 1e-9)
        self.recent = rate if self.recent is None else 0.9 * self.recent + 0.1 * rate
        self._last = now
        self._window_images += images

    def pop_window_rate(self) -> float:
        """The mean rate since the previous call, then start a new window."""
        rate = self._window_images / max(self._last - self._window_start, 1e-9)
        self._window_start, self._window_images = self._last, 0
        return rate


class RunLogger:
    """Writes scalars to ``metrics.jsonl`` and TensorBoard, and sample grids to PNG and TensorBoard."""

    def __init__(self, out_dir: Path, start_step: int, tensorboard: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.metrics_path = self.out_dir / METRICS_FILE
        self.samples_dir = self.out_dir / SAMPLES_DIR
        self._drop_records_after(start_step)
        self._metrics = self.metrics_path.open("a", encoding="utf-8")
        # purge_step hides events that an earlier, interrupted process wrote after start_step.
        self._tb = open_writer(self.out_dir / TENSORBOARD_DIR, start_step + 1) if tensorboard else None

    def _drop_records_after(self, step: int) -> None:
        """Forget log records beyond ``step`` (left by an interrupted run that is being resumed)."""
        if not self.metrics_path.exists():
            return
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        steps = [_record_step(line) for line in lines]
        kept = [line for line, at in zip(lines, steps, strict=True) if at is not None and at <= step]
        if len(kept) != len(lines):
            write_text(self.metrics_path, "".join(line + "\n" for line in kept))

    def describe(self, run_config: dict[str, Any]) -> None:
        """The run config as TensorBoard text and HPARAMS (:func:`imsynth.runs.tensorboard.describe_run`)."""
        if self._tb is not None:
            describe_run(self._tb, run_config)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, **{k: (v if math.isfinite(v) else str(v)) for k, v in values.items()}}
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        if self._tb is not None:
            for name, value in values.items():
                self._tb.add_scalar(name, value, step)

    def image(self, step: int, grid: np.ndarray, tag: str = "samples") -> Path:
        """Save an ``(H, W, 3)`` uint8 grid as ``samples/step_XXXXXX.png`` (and to TensorBoard)."""
        path = sample_path(self.out_dir, step)
        save_image(path, grid)
        if self._tb is not None:
            self._tb.add_image(tag, grid, step, dataformats="HWC")
        return path

    def close(self) -> None:
        self._metrics.close()
        if self._tb is not None:
            self._tb.close()


def _record_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None  # a torn last line from a killed process


class Progress:
    """A tqdm progress bar (step, losses, images/s), or silence when disabled.

    With a time budget (``max_minutes``) the bar's total is the step the run will reach when the
    budget ends at the current speed (or ``max_steps`` if that comes first), so bar and ETA are
    honest about when training stops.
    """

    def __init__(self, enabled: bool, start_step: int, max_steps: int, max_minutes: float | None = None) -> None:
        self._bar = None
        self._max_steps = max_steps
        self._start_step = start_step
        self._step = start_step
        self._started = time.monotonic()
        self._budget = None if max_minutes is None else 60.0 * max_minutes
        self._shown: dict[str, str] = {}
        if enabled and not is_quiet():
            self._bar = progress(
                total=max_steps if self._budget is None else None, initial=start_step, unit="step", smoothing=0.1
            )

    def update(self, scalars: dict[str, float] | None, images_per_second: float | None) -> None:
        """One more step; ``scalars`` None keeps the losses shown last (the trainer reads them from
        the device every few steps only)."""
        self._step += 1
        if self._bar is None:
            return
        if scalars is not None:
            self.show(scalars)
        shown = dict(self._shown)
        if images_per_second is not None:
            shown["img/s"] = f"{images_per_second:.1f}"
        if self._budget is not None:
            self._bar.total = self.expected_last_step()
        self._bar.set_postfix(shown, refresh=False)
        self._bar.update(1)

    def show(self, scalars: dict[str, float]) -> None:
        """The losses to show from now on."""
        # Top-level scalars only ("loss", "loss_g"...); per-term "group/name" values go to the logs.
        self._shown = {name: f"{value:.4g}" for name, value in scalars.items() if "/" not in name}

    def expected_last_step(self) -> int:
        """The step at which training will stop: ``max_steps`` or where the time budget runs out."""
        if self._budget is None:
            return self._max_steps
        elapsed = time.monotonic() - self._started
        done = self._step - self._start_step
        if done == 0 or elapsed <= 0:
            return self._max_steps
        reachable = self._step + int(done / elapsed * max(0.0, self._budget - elapsed))
        return min(self._max_steps, reachable)

    def write(self, message: str) -> None:
        """Print a line to the console without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message)
        else:
            say(message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
