"""pix2pix training throughput at the paper's setting, with the machine's GEMM peak in the same run.

Usage::

    python benchmarks/bench_pix2pix.py [--size 256] [--generator unet_256] [--n-layers-d 3]
                                       [--repeats 3] [--device auto] [--json out.json]

Measures one full pix2pix training step (Isola et al. 2017: batch 1, U-Net generator, 70x70
PatchGAN, D update then G update with cGAN + 100 L1, two Adam optimizers) exactly as
:class:`~imsynth.methods.pix2pix.Pix2PixMethod` runs it under the trainer, minus data loading.
Prints images/s, the FLOPs of one step counted by ``torch.utils.flop_counter`` (convolutions and
matrix products, forward and backward), the achieved FLOP/s and its ratio to the measured peak
GEMM FLOP/s; then the same for one test-mode generator forward (dropout on, batch statistics).
"""

from __future__ import annotations

import argparse
import json

import torch

from imsynth.methods.pix2pix import Pix2PixMethod, Pix2PixMethodConfig, Pix2PixModelConfig
from imsynth.models.pix2pix import DiscriminatorConfig, generator_config_from_name, generator_test_mode
from imsynth.training import TrainConfig, TrainContext
from imsynth.utils.device import resolve_device
from imsynth.utils.profiling import count_flops, measure_peak_gemm_flops, time_call


def build(generator: str, n_layers: int, device: torch.device) -> Pix2PixMethod:
    config = Pix2PixMethodConfig(
        model=Pix2PixModelConfig(generator_config_from_name(generator), DiscriminatorConfig(n_layers=n_layers))
    )
    method = Pix2PixMethod(config)
    for model in method.models().values():
        model.to(device).train()
    method.attach(TrainContext(device))
    method.optimizers(TrainConfig(lr=2e-4, betas=(0.5, 0.999)))
    return method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--generator", default="unet_256")
    parser.add_argument("--n-layers-d", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    peak = measure_peak_gemm_flops(device)
    print(f"device {device} | threads {torch.get_num_threads()} | peak GEMM fp32 {peak / 1e9:.1f} GFLOP/s")

    method = build(args.generator, args.n_layers_d, device)
    generator, discriminator = method.generator, method.discriminator
    assert generator is not None and discriminator is not None
    batch = {
        "A": torch.rand(1, 3, args.size, args.size, device=device),
        "B": torch.rand(1, 3, args.size, args.size, device=device),
    }

    def step() -> None:
        method.training_step(batch, 0)

    seconds = time_call(step, repeats=args.repeats, device=device)
    step_flops = count_flops(step)

    def synthesize() -> None:
        with torch.inference_mode(), generator_test_mode(generator, stochastic=True):
            generator(batch["A"] * 2 - 1)

    infer_seconds = time_call(synthesize, repeats=args.repeats, device=device)
    infer_flops = count_flops(synthesize)

    results = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "peak_gemm_gflops": peak / 1e9,
        "size": args.size,
        "generator": args.generator,
        "generator_parameters": sum(p.numel() for p in generator.parameters()),
        "discriminator_parameters": sum(p.numel() for p in discriminator.parameters()),
        "receptive_field": discriminator.receptive_field,
        "train_step_s": seconds,
        "images_per_s": 1 / seconds,
        "step_gflop": step_flops / 1e9,
        "achieved_gflops": step_flops / seconds / 1e9,
        "utilization": step_flops / seconds / peak,
        "inference_s": infer_seconds,
        "inference_gflop": infer_flops / 1e9,
        "inference_utilization": infer_flops / infer_seconds / peak,
    }
    print(
        f"train {args.size}x{args.size} batch 1, {args.generator} ({results['generator_parameters'] / 1e6:.1f} M) + "
        f"{results['receptive_field']}x{results['receptive_field']} PatchGAN "
        f"({results['discriminator_parameters'] / 1e6:.1f} M): {results['images_per_s']:.3f} img/s "
        f"({seconds:.2f} s/step), {results['step_gflop']:.1f} GFLOP/step, {results['achieved_gflops']:.1f} GFLOP/s "
        f"= {100 * results['utilization']:.0f}% of peak"
    )
    print(
        f"test-mode generator forward {args.size}x{args.size}: {infer_seconds:.3f} s, "
        f"{results['inference_gflop']:.1f} GFLOP, {100 * results['inference_utilization']:.0f}% of peak"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
