"""CRN throughput and memory, with the machine's measured GEMM peak in the same run.

Usage::

    python benchmarks/bench_crn.py [--size 256x512] [--multipliers 1,0.0625] [--variants 9]
                                   [--synth-size 1024x2048] [--skip-synth] [--device auto]

Prints, for each width multiplier: training images/s (batch 1, feature-matching/diversity loss
over EfficientNet-Lite0), the FLOPs of one step counted by ``torch.utils.flop_counter``, the
achieved FLOP/s and its ratio to the measured peak GEMM FLOP/s. Then the time and peak memory of
synthesizing one 1024x2048 image with the full-width 9-module CRN in ``torch.inference_mode``.
Each figure is measured in this one process, so ratios compare like with like.
"""

from __future__ import annotations

import argparse
import gc
import json

import torch

from imsynth.losses.perceptual import DiversityLoss, FeatureMatchingLoss
from imsynth.models.backbones import build_feature_extractor
from imsynth.models.crn import CRN, CRNConfig
from imsynth.utils.device import resolve_device
from imsynth.utils.profiling import count_flops, measure_peak_gemm_flops, peak_rss_bytes, time_call
from imsynth.utils.sizes import parse_size


def bench_training(size, multiplier, variants, device, repeats):
    model = CRN(CRNConfig(height=size[0], width=size[1], num_variants=variants, width_multiplier=multiplier)).to(device)
    extractor = build_feature_extractor("efficientnet_lite0").to(device)
    loss_fn = DiversityLoss(extractor) if variants > 1 else FeatureMatchingLoss(extractor)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 19, (1, *size), generator=generator).to(device)
    real = torch.rand(1, 3, *size, generator=generator).to(device)
    masks = torch.nn.functional.one_hot(labels, 20).permute(0, 3, 1, 2).float()

    def step():
        fakes = model(labels)
        loss, _ = loss_fn(fakes, real, masks) if variants > 1 else loss_fn(fakes[:, 0], real)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def generator_only():
        model(labels).sum().backward()

    seconds = time_call(step, repeats=repeats, device=device)
    step_flops = count_flops(step)
    gen_seconds = time_call(generator_only, repeats=repeats, device=device)
    gen_flops = count_flops(generator_only)
    params = sum(p.numel() for p in model.parameters())
    gc.collect()
    return {
        "width_multiplier": multiplier,
        "parameters": params,
        "images_per_s": 1 / seconds,
        "step_s": seconds,
        "step_gflop": step_flops / 1e9,
        "achieved_gflops": step_flops / seconds / 1e9,
        "generator_fwd_bwd_s": gen_seconds,
        "generator_achieved_gflops": gen_flops / gen_seconds / 1e9,
    }


@torch.inference_mode()
def bench_synthesis(size, device):
    model = CRN(CRNConfig(height=size[0], width=size[1], num_variants=1)).to(device).eval()
    labels = torch.randint(0, 19, (1, *size)).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rss_before = peak_rss_bytes()
    seconds = time_call(lambda: model.synthesize(labels), repeats=1, warmup=1, device=device)
    flops = count_flops(lambda: model(labels))
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else peak_rss_bytes()
    return {
        "size": f"{size[0]}x{size[1]}",
        "modules": model.config.num_modules,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
        "gflop": flops / 1e9,
        "achieved_gflops": flops / seconds / 1e9,
        "peak_memory_gib": peak / 2**30,
        "peak_rss_before_gib": rss_before / 2**30,
        "memory_kind": "cuda max allocated" if device.type == "cuda" else "process peak RSS",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=(256, 512))
    parser.add_argument("--multipliers", default="1,0.0625")
    parser.add_argument("--variants", type=int, default=9)
    parser.add_argument("--synth-size", type=parse_size, default=(1024, 2048))
    parser.add_argument("--skip-synth", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    peak = measure_peak_gemm_flops(device)
    print(f"device {device} | threads {torch.get_num_threads()} | peak GEMM fp32 {peak / 1e9:.1f} GFLOP/s")
    results = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "peak_gemm_gflops": peak / 1e9,
        "training": [],
        "synthesis": None,
    }
    for multiplier in (float(m) for m in args.multipliers.split(",")):
        r = bench_training(args.size, multiplier, args.variants, device, args.repeats)
        r["utilization"] = r["achieved_gflops"] * 1e9 / peak
        r["generator_utilization"] = r["generator_achieved_gflops"] * 1e9 / peak
        results["training"].append(r)
        print(
            f"train {args.size[0]}x{args.size[1]} k={args.variants} width x{multiplier:g} "
            f"({r['parameters'] / 1e6:.1f} M params): {r['images_per_s']:.3f} img/s, {r['step_gflop']:.0f} GFLOP/step, "
            f"{r['achieved_gflops']:.1f} GFLOP/s = {100 * r['utilization']:.0f}% of peak "
            f"(generator alone {100 * r['generator_utilization']:.0f}%)"
        )
    if not args.skip_synth:
        s = bench_synthesis(args.synth_size, device)
        s["utilization"] = s["achieved_gflops"] * 1e9 / peak
        results["synthesis"] = s
        print(
            f"synthesize {s['size']} full width ({s['modules']} modules, {s['parameters'] / 1e6:.1f} M params): "
            f"{s['seconds']:.1f} s, {s['gflop']:.0f} GFLOP, {100 * s['utilization']:.0f}% of peak, "
            f"peak memory {s['peak_memory_gib']:.2f} GiB ({s['memory_kind']})"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
