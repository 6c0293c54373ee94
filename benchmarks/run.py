"""One benchmark run: peak GEMM FLOP/s of the machine (float32, TF32 and bfloat16), then every model's
training and inference throughput, achieved FLOP/s, utilization against each peak and peak memory,
for each speed option against the plain eager baseline of the same model, the data stream with
several worker processes, and the 1024x2048 synthesis of the full-width CRN.

Usage::

    python benchmarks/run.py                         # everything, on the GPU when there is one
    python benchmarks/run.py --models crn --options eager,channels_last --repeats 2
    python benchmarks/run.py --json /tmp/bench.json  # also keep the numbers

Each (model, option) runs in a fresh child process, one after the other, so compiled-code caches
and peak memory do not leak between measurements (peak memory: the child's peak RSS on a CPU,
``torch.cuda.max_memory_allocated`` on a GPU). Times are the best of ``--repeats`` steps after
warm-up (compilation happens in the warm-up and is reported separately). FLOPs are counted once,
on the eager model, by ``torch.utils.flop_counter``: all options do the same arithmetic, so
achieved FLOP/s = counted FLOPs / time and utilization = achieved / a measured peak GEMM FLOP/s:
the float32 peak, the TF32 peak (float32 on a GPU's tensor cores, what cuDNN's convolutions use by
default; the float32 figure on a CPU) and the bfloat16 peak. Ratios are "option time / eager
time" inverted (> 1: faster than eager), measured side by side. cuDNN's benchmark mode is on, as
in the trainer. ``benchmarks/gpu_targets.py`` measures the targets of issue 16 in one run.

Models (the methods' own training steps, through the trainer's TrainContext):

* ``crn``: the paper's CRN at full width (``--crn-width``), k = 3 variants, diversity loss over
  EfficientNet-Lite0; 256x512 on a GPU, 128x256 on a CPU (``--crn-size``).
* ``pix2pix``: unet_256 + 70x70 PatchGAN at 256x256, batch 1 (the paper's setting).
* ``colorizer``: Zhang et al.'s network at full width, 176x176 crops, batch 8 on a GPU, 2 on a CPU.

Also the data stream (images/s the trainer's loader delivers with 0, 1, 2, 4 and 8 worker
processes, as many as the machine has cores, to compare with the training rates) and, unless
``--skip-synthesis``, the 1024x2048 synthesis.

Options: ``eager`` (baseline: float32, contiguous, not compiled), ``channels_last``, ``bf16``
(autocast), ``compile`` (``torch.compile``, default mode), ``defaults`` (what the trainer does by
default on this device: on CUDA bfloat16 autocast + channels-last + compile, on a CPU eager).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from imsynth.utils.sizes import parse_size

OPTIONS = ("eager", "channels_last", "bf16", "compile", "defaults")
MODELS = ("crn", "pix2pix", "colorizer")


# ----------------------------------------------------------------------------- child: one measurement


def build(model: str, args: argparse.Namespace, device: torch.device):
    """(method, batch, inference function) for one model, built at the benchmark's size."""
    from imsynth.training import TrainConfig

    if model == "crn":
        from imsynth.methods.crn import CRNMethod, CRNMethodConfig, PerceptualLossConfig
        from imsynth.models.crn import CRNConfig

        height, width = args.crn_size or ((256, 512) if device.type == "cuda" else (128, 256))
        method = CRNMethod(
            CRNMethodConfig(
                model=CRNConfig(height=height, width=width, num_variants=3, width_multiplier=args.crn_width),
                loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
            )
        )
        labels = torch.randint(0, 19, (1, height, width))
        batch = {"label": labels, "image": torch.rand(1, 3, height, width)}
        infer = lambda m, b: m.generator(b["label"])  # noqa: E731
        train = TrainConfig(lr=2e-4, betas=(0.9, 0.999))
        description = f"CRN {height}x{width} k=3 width x{args.crn_width:g}"
    elif model == "pix2pix":
        from imsynth.methods.pix2pix import Pix2PixMethod, Pix2PixMethodConfig, Pix2PixModelConfig
        from imsynth.models.pix2pix import DiscriminatorConfig, generator_config_from_name

        method = Pix2PixMethod(
            Pix2PixMethodConfig(
                model=Pix2PixModelConfig(generator_config_from_name("unet_256"), DiscriminatorConfig(n_layers=3))
            )
        )
        batch = {"A": torch.rand(1, 3, 256, 256), "B": torch.rand(1, 3, 256, 256)}
        infer = lambda m, b: m.generator(b["A"] * 2 - 1)  # noqa: E731
        train = TrainConfig(lr=2e-4, betas=(0.5, 0.999))
        description = "pix2pix unet_256 + PatchGAN 70, 256x256, batch 1"
    elif model == "colorizer":
        from imsynth.color.bins import QuantizationConfig, ab_bins
        from imsynth.methods.colorizer import ColorizerMethod, ColorizerMethodConfig
        from imsynth.models.colorizer import ColorizerConfig

        bins = ab_bins(QuantizationConfig()).shape[0]
        method = ColorizerMethod(
            ColorizerMethodConfig(model=ColorizerConfig(width_multiplier=1.0), prior=[1.0 / bins] * bins)
        )
        size = 176
        count = 8 if device.type == "cuda" else 2
        batch = {"image": torch.rand(count, 3, size, size)}
        infer = lambda m, b: m.net(b["image"][:, :1] * 100 - 50)  # noqa: E731
        train = TrainConfig(lr=3e-5, betas=(0.9, 0.99))
        description = f"colorizer full width, {count} x {size}x{size}"
    else:
        raise SystemExit(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    return method, batch, infer, train, description


def child(model: str, option: str, args: argparse.Namespace) -> dict:
    from imsynth.training import TrainContext
    from imsynth.training.speed import resolve_speed_settings
    from imsynth.utils.device import autocast_dtype, resolve_device
    from imsynth.utils.profiling import count_flops, peak_rss_bytes, time_call

    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = True  # as the trainer (not deterministic)
    torch.manual_seed(0)
    method, batch, infer, train, description = build(model, args, device)
    if option == "defaults":
        resolved = resolve_speed_settings(train, device)
        amp = autocast_dtype(device) if resolved.amp else None
        channels_last, compile_mode = bool(resolved.channels_last), "default" if resolved.compile else None
    else:
        amp = torch.bfloat16 if option == "bf16" else None
        channels_last, compile_mode = option == "channels_last", "default" if option == "compile" else None
    for network in method.models().values():
        network.to(device).train()
        if channels_last:
            network.to(memory_format=torch.channels_last)
    context = TrainContext(device, amp, channels_last=channels_last, compile_mode=compile_mode)
    method.attach(context)
    method.optimizers(train)
    method.on_train_start()
    batch = context.to_device(batch)
    if compile_mode is not None:
        method.wrap_models(context.compile)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        method.training_step(batch, 0)

    def inference() -> None:
        with torch.inference_mode(), context.autocast():
            infer(method, batch)

    start = time.perf_counter()
    step()
    first_step = time.perf_counter() - start
    step_seconds = time_call(step, repeats=args.repeats, warmup=1, device=device)
    for network in method.models().values():
        network.eval()
    start = time.perf_counter()
    inference()
    first_inference = time.perf_counter() - start
    infer_seconds = time_call(inference, repeats=args.repeats, warmup=1, device=device)
    result = {
        "model": model,
        "option": option,
        "description": description,
        "step_s": step_seconds,
        "inference_s": infer_seconds,
        "first_step_s": first_step,
        "first_inference_s": first_inference,
        "images_per_step": int(next(v for v in batch.values() if torch.is_tensor(v)).shape[0]),
        "parameters": sum(p.numel() for m in method.models().values() for p in m.parameters()),
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        result["memory_kind"] = "cuda max allocated"
    else:
        result["peak_memory_gib"] = peak_rss_bytes() / 2**30
        result["memory_kind"] = "process peak RSS"
    if model == "crn":  # the cascade alone (forward + backward), without the loss network
        generator = method.generator
        for network in method.models().values():
            network.train()

        def cascade() -> None:
            with context.autocast():
                generator(batch["label"]).float().square().mean().backward()

        result["cascade_s"] = time_call(cascade, repeats=args.repeats, warmup=1, device=device)
        if option == "eager":
            result["cascade_flops"] = count_flops(cascade)
    if option == "eager":
        for network in method.models().values():
            network.train()
        result["step_flops"] = count_flops(step)
        for network in method.models().values():
            network.eval()
        result["inference_flops"] = count_flops(inference)
    return result


def synthesis_child(args: argparse.Namespace, option: str) -> dict:
    """Synthesize one image at ``--synth-size`` with the full-width CRN in inference mode."""
    from imsynth.models.crn import CRN, CRNConfig
    from imsynth.utils.device import resolve_device
    from imsynth.utils.profiling import count_flops, peak_rss_bytes, time_call

    device = resolve_device(args.device)
    height, width = args.synth_size
    model = CRN(CRNConfig(height=height, width=width, num_variants=1)).to(device).eval()
    labels = torch.randint(0, 19, (1, height, width), device=device)
    dtype = torch.bfloat16 if option == "bf16" else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def run() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            model.synthesize(labels)

    seconds = time_call(run, repeats=1, warmup=1, device=device)
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda" else peak_rss_bytes()) / 2**30
    result = {
        "model": "crn_synthesis",
        "option": option,
        "size": f"{height}x{width}",
        "modules": model.config.num_modules,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
        "peak_memory_gib": peak,
        "memory_kind": "cuda max allocated" if device.type == "cuda" else "process peak RSS",
    }
    if option == "eager":
        with torch.inference_mode():
            result["flops"] = count_flops(lambda: model(labels))
    return result


def loading_child(args: argparse.Namespace, workers: str) -> dict:
    """Images/s of the trainer's data stream on Cityscapes-format 256x512 pairs (PNG decode + flips)."""
    import tempfile

    from imsynth.data.datasets import CityscapesPairs
    from imsynth.data.streets import write_streets_dataset
    from imsynth.training.data import make_loader

    with tempfile.TemporaryDirectory() as folder:
        write_streets_dataset(folder, {"train": 16}, height=256, width=512, workers=2, progress=False)
        dataset = CityscapesPairs(folder, "train", size=(256, 512), flip=True)
        loader = iter(
            make_loader(
                dataset, batch_size=1, seed=0, start=0, num_workers=int(workers), pin_memory=torch.cuda.is_available()
            )
        )
        for _ in range(4):
            next(loader)
        count = 48
        start = time.perf_counter()
        for _ in range(count):
            next(loader)
        seconds = time.perf_counter() - start
    return {"model": "data", "option": f"workers={workers}", "images_per_s": count / seconds}


# ----------------------------------------------------------------------------- parent: the run


def run_child(arguments: list[str]) -> dict | None:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        print(f"  ! {' '.join(arguments[:2])} failed: {' | '.join(tail)}", flush=True)
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--options", default=",".join(OPTIONS))
    parser.add_argument("--crn-size", type=parse_size, default=None, help="HxW (default: 256x512 GPU, 128x256 CPU)")
    parser.add_argument("--crn-width", type=float, default=1.0)
    parser.add_argument("--synth-size", type=parse_size, default=(1024, 2048))
    parser.add_argument("--skip-synthesis", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, option = args.child[0], args.child[1]
        if kind == "synthesis":
            result = synthesis_child(args, option)
        elif kind == "data":
            result = loading_child(args, option)
        else:
            result = child(kind, option, args)
        print(json.dumps(result))
        return

    from imsynth.training.speed import available_cores
    from imsynth.utils.device import describe_device, resolve_device
    from imsynth.utils.profiling import measure_peaks

    device = resolve_device(args.device)
    peaks = measure_peaks(device)
    peak = peaks["fp32"]
    print(
        f"device: {describe_device(device)} | torch {torch.__version__} | peak GEMM "
        + ", ".join(f"{name} {value / 1e9:.1f}" for name, value in peaks.items())
        + " GFLOP/s (measured now)",
        flush=True,
    )
    forwarded = [
        "--device",
        args.device,
        "--repeats",
        str(args.repeats),
        "--crn-width",
        str(args.crn_width),
        "--synth-size",
        f"{args.synth_size[0]}x{args.synth_size[1]}",
    ]
    if args.crn_size:
        forwarded += ["--crn-size", f"{args.crn_size[0]}x{args.crn_size[1]}"]
    # eager first, always: the other options' FLOPs and ratios are taken from its measurement
    options = ["eager", *(o for o in dict.fromkeys(args.options.split(",")) if o and o != "eager")]
    results: list[dict] = []
    rows = []
    for model in (m for m in args.models.split(",") if m):
        eager = None
        for option in options:
            r = run_child([model, option, *forwarded])
            if r is None:
                continue
            if option == "eager":
                eager = r
            flops, infer_flops = (eager or {}).get("step_flops"), (eager or {}).get("inference_flops")
            r["images_per_s"] = r["images_per_step"] / r["step_s"]
            r["inference_images_per_s"] = r["images_per_step"] / r["inference_s"]
            if flops:
                r["achieved_gflops"] = flops / r["step_s"] / 1e9
                r["utilization"] = flops / r["step_s"] / peak
                r["inference_utilization"] = infer_flops / r["inference_s"] / peak
                for name, value in peaks.items():
                    r[f"utilization_{name}"] = flops / r["step_s"] / value
                    r[f"inference_utilization_{name}"] = infer_flops / r["inference_s"] / value
            if eager and "cascade_s" in r:
                r["cascade_utilization"] = eager["cascade_flops"] / r["cascade_s"] / peak
            if eager:
                r["speedup_train"] = eager["step_s"] / r["step_s"]
                r["speedup_inference"] = eager["inference_s"] / r["inference_s"]
            results.append(r)
            rows.append(r)
            print(
                f"  {r['description']} | {option}: train {r['images_per_s']:.3f} img/s "
                f"(x{r.get('speedup_train', 1):.2f}), {r.get('achieved_gflops', 0):.1f} GFLOP/s = "
                + "/".join(f"{100 * r.get(f'utilization_{n}', 0):.1f}" for n in peaks)
                + f"% of the {'/'.join(peaks)} peaks | inference {r['inference_images_per_s']:.2f} img/s "
                f"(x{r.get('speedup_inference', 1):.2f}, {100 * r.get('inference_utilization', 0):.0f}% of peak) | "
                f"peak memory {r['peak_memory_gib']:.2f} GiB | first step {r['first_step_s']:.1f} s"
                + (
                    f" | cascade alone {100 * r['cascade_utilization']:.0f}% of peak"
                    if "cascade_utilization" in r
                    else ""
                ),
                flush=True,
            )

    for workers in (w for w in ("0", "1", "2", "4", "8") if int(w) < max(2, available_cores())):
        r = run_child(["data", workers, *forwarded])
        if r is not None:
            results.append(r)
            print(
                f"  data stream, Cityscapes-format 256x512 pairs, {r['option']}: {r['images_per_s']:.1f} img/s "
                "(to compare with the training img/s above)",
                flush=True,
            )

    if not args.skip_synthesis:
        eager = None
        for option in ("eager", "bf16"):
            if option != "eager" and option not in options:
                continue
            r = run_child(["synthesis", option, *forwarded])
            if r is None:
                continue
            eager = eager or r
            r["utilization"] = eager["flops"] / r["seconds"] / peak
            r["speedup"] = eager["seconds"] / r["seconds"]
            results.append(r)
            print(
                f"  CRN synthesis {r['size']} full width ({r['modules']} modules, {r['parameters'] / 1e6:.1f} M "
                f"params) | {option}: {r['seconds']:.1f} s (x{r['speedup']:.2f}), {eager['flops'] / 1e9:.0f} GFLOP, "
                f"{100 * r['utilization']:.0f}% of peak | peak memory {r['peak_memory_gib']:.2f} GiB "
                f"({r['memory_kind']})",
                flush=True,
            )

    print()
    print(
        "| model | option | train img/s | x eager | GFLOP/s | % fp32 peak | % tf32 peak | % bf16 peak "
        "| infer img/s | x eager | peak GiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        utilization = " | ".join(f"{100 * r.get(f'utilization_{n}', 0):.1f}" for n in ("fp32", "tf32", "bf16"))
        print(
            f"| {r['description']} | {r['option']} | {r['images_per_s']:.3f} | {r.get('speedup_train', 1):.2f} | "
            f"{r.get('achieved_gflops', 0):.1f} | {utilization} | "
            f"{r['inference_images_per_s']:.2f} | {r.get('speedup_inference', 1):.2f} | {r['peak_memory_gib']:.2f} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "device": str(device),
                    "peak_gemm_gflops": peak / 1e9,
                    "peak_gflops": {name: value / 1e9 for name, value in peaks.items()},
                    "torch": torch.__version__,
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
