"""``TrainingMethod``: the interface between one learning method and the shared trainer.

A method (CRN, pix2pix, colorizer, segmenter...) knows its networks, its optimizers and what one
training step computes. The :class:`~imsynth.training.trainer.Trainer` does everything else:
seeding, devices, mixed precision, data loading, LR schedules, logging, checkpoints and resume.

Life cycle, as driven by the trainer::

    method = MyMethod(my_config)           # stores the config only
    models = method.models()               # calls build_models() once (after the trainer seeded)
    # trainer moves models to the device, then attaches the TrainContext as method.ctx
    optimizers = method.optimizers(train_config)
    method.on_train_start()
    for step in ...:
        scalars = method.training_step(batch, step)   # forward + backward + optimizer steps
    images = method.sample(batch)          # every sample_every steps, under no_grad/eval()

A GAN with two optimizers::

    class Pix2Pix(TrainingMethod):
        name = "pix2pix"
        config_class = Pix2PixConfig

        def build_models(self):
            self.G, self.D = UNet(self.config.model), PatchGAN(self.config.model)
            return {"generator": self.G, "discriminator": self.D}

        def optimizers(self, train):
            self.opt_g = make_optimizer(self.G, train)
            self.opt_d = make_optimizer(self.D, train)
            return {"generator": self.opt_g, "discriminator": self.opt_d}

        def training_step(self, batch, step):
            ctx = self.ctx
            with ctx.autocast():
                fake = self.G(batch["label"])
                d_loss = d_criterion(self.D(batch["label"], batch["image"]),
                                     self.D(batch["label"], fake.detach()))
            ctx.optimize(d_loss, self.opt_d)
            with ctx.autocast():
                g_loss = g_criterion(self.D(batch["label"], fake), fake, batch["image"])
            ctx.optimize(g_loss, self.opt_g)
            return {"loss_d": d_loss.detach(), "loss_g": g_loss.detach()}

        def sample(self, batch):
            return {"label": colorize(batch["label"]), "real": batch["image"],
                    "synthesized": self.G(batch["label"])}

Methods with one loss and one optimizer subclass :class:`SingleOptimizerMethod` and only write
``build_models`` and ``compute_loss``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import torch
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import Dataset

from imsynth.training.config import Recipe, TrainConfig
from imsynth.training.context import TrainContext
from imsynth.training.optim import make_optimizer
from imsynth.utils.config import from_dict, to_dict

__all__ = ["StepOutput", "TrainingMethod", "SingleOptimizerMethod"]

#: What ``training_step`` returns: named scalars (floats or 0-dim tensors, e.g. detached losses).
#: Every entry is logged and checked; a NaN/inf entry stops training with ``TrainingDivergedError``.
StepOutput = Mapping[str, float | torch.Tensor]

ConfigT = TypeVar("ConfigT")


class TrainingMethod(ABC, Generic[ConfigT]):
    """Base class of every trainable method; see the module docstring for an example.

    Construct it from the method's config (``MyMethod(config)``); a subclass that defines its own
    ``__init__`` must call ``super().__init__(config)``. Build networks in :meth:`build_models`,
    not in ``__init__``, so the trainer can seed their initialization.
    """

    #: Short unique identifier, stored in run configs ("crn", "pix2pix"...).
    name: ClassVar[str]
    #: The method's config dataclass; lets :meth:`from_config_dict` rebuild the method.
    config_class: ClassVar[type | None] = None
    #: The default settings of a new run: optimizer, schedule and method-config fields
    #: (``recipe.train_config(out_dir=...)``).
    recipe: ClassVar[Recipe] = Recipe(lr=2e-4, betas=(0.5, 0.999))
    #: Other named recipes a user may pick (``imsynth train METHOD --recipe NAME``), e.g. the paper's
    #: own where the default departs from it; the default is always available as ``"default"``.
    recipes: ClassVar[Mapping[str, Recipe]] = {}

    @classmethod
    def recipe_named(cls, name: str | None) -> Recipe:
        """The recipe called ``name`` (``None`` or ``"default"``: :attr:`recipe`)."""
        if name in (None, "default"):
            return cls.recipe
        if name not in cls.recipes:
            known = ", ".join(["default", *cls.recipes])
            raise ValueError(f"{cls.name} has no recipe {name!r}; choose from {known}")
        return cls.recipes[name]

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self._models: dict[str, nn.Module] | None = None
        self._ctx: TrainContext | None = None
        self._wrapped: dict[str, tuple[nn.Module, nn.Module]] = {}  # attribute -> (plain, wrapped)

    # ------------------------------------------------------------------ to implement

    @abstractmethod
    def build_models(self) -> dict[str, nn.Module]:
        """Create the networks and return them by name (e.g. ``{"generator": G}``)."""

    @abstractmethod
    def optimizers(self, train: TrainConfig) -> dict[str, Optimizer]:
        """Create one optimizer per parameter group; names label their learning rates in logs."""

    @abstractmethod
    def training_step(self, batch: Any, step: int) -> StepOutput:
        """One update on ``batch`` (already on the device); ``step`` counts completed steps.

        Do the forward passes inside ``self.ctx.autocast()`` and the updates with
        ``self.ctx.optimize(loss, optimizer)``. Return the scalars to log.
        """

    # ------------------------------------------------------------------ optional

    def build_dataset(self, seed: int = 0) -> Dataset[Any]:
        """The training data its config names, with the paper's augmentation (``seed``: the jitter's)."""
        raise NotImplementedError(f"{type(self).__name__} does not build its own dataset; pass one to the Trainer")

    def sample(self, batch: Any) -> dict[str, torch.Tensor]:
        """Images to visualise for ``batch``: name -> (N, 1|3, H, W) in [0, 1], shown as columns.

        Called under ``torch.no_grad()`` with the models in ``eval()`` mode. Default: none.
        """
        return {}

    def config_dict(self) -> dict[str, Any]:
        """The method's configuration as a plain dict (stored with runs and checkpoints)."""
        if dataclasses.is_dataclass(self.config) and not isinstance(self.config, type):
            return to_dict(self.config)
        if isinstance(self.config, Mapping):
            return to_dict(dict(self.config))
        raise TypeError(f"{type(self).__name__}: override config_dict() for a {type(self.config).__name__} config")

    def on_train_start(self) -> None:
        """Called once after models, optimizers and (on resume) their states are ready."""

    def state_dict_extra(self) -> dict[str, Any]:
        """Extra state to checkpoint besides models and optimizers (e.g. an EMA counter).

        Use plain data and tensors only: checkpoints are loaded with ``weights_only=True``.
        """
        return {}

    def load_state_dict_extra(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict_extra` returned."""

    # ------------------------------------------------------------------ provided

    def models(self) -> dict[str, nn.Module]:
        """The networks by name, built by :meth:`build_models` on first use."""
        if self._models is None:
            models = self.build_models()
            if not models or not all(isinstance(m, nn.Module) for m in models.values()):
                raise TypeError(f"{type(self).__name__}.build_models() must return a non-empty dict of nn.Module")
            self._models = dict(models)
        return self._models

    def wrap_models(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Replace every attribute of the method that holds one of its models by ``wrap(model)``.

        The trainer uses this for ``DistributedDataParallel`` and ``torch.compile``: a method keeps
        calling ``self.generator(x)`` and runs data-parallel or compiled without knowing about it.
        Wrapping again wraps the current wrapper (compile over DDP). ``models()`` keeps returning
        the plain networks (for checkpoints) and :meth:`unwrapped` restores them (for sampling).
        """
        plain_ids = {id(model) for model in self.models().values()}
        new_wrappers: dict[int, nn.Module] = {}
        for attribute, value in list(vars(self).items()):
            if attribute in self._wrapped and value is self._wrapped[attribute][1]:
                plain = self._wrapped[attribute][0]
            elif id(value) in plain_ids:
                plain = value
            else:
                continue
            if id(value) not in new_wrappers:
                new_wrappers[id(value)] = wrap(value)
            if new_wrappers[id(value)] is not value:
                self._wrapped[attribute] = (plain, new_wrappers[id(value)])
                setattr(self, attribute, new_wrappers[id(value)])

    @contextlib.contextmanager
    def unwrapped(self) -> Iterator[None]:
        """The plain models in place of their wrappers (e.g. for sampling on one process only)."""
        for attribute, (plain, _) in self._wrapped.items():
            setattr(self, attribute, plain)
        try:
            yield
        finally:
            for attribute, (_, wrapped) in self._wrapped.items():
                setattr(self, attribute, wrapped)

    @property
    def ctx(self) -> TrainContext:
        """The trainer's :class:`TrainContext` (device, autocast, optimize)."""
        if self._ctx is None:
            raise RuntimeError(f"{type(self).__name__}.ctx is only available while a Trainer runs it")
        return self._ctx

    def attach(self, ctx: TrainContext) -> None:
        """Give the method its training context (done by the trainer)."""
        self._ctx = ctx

    @property
    def device(self) -> torch.device:
        """Where the models live (the context's device, or CPU outside training)."""
        return self._ctx.device if self._ctx is not None else torch.device("cpu")

    @classmethod
    def from_config_dict(cls, data: Mapping[str, Any]) -> TrainingMethod[Any]:
        """Rebuild the method from ``config_dict()`` output (needs ``config_class``)."""
        if cls.config_class is None:
            raise TypeError(f"{cls.__name__} sets no config_class; construct it directly")
        return cls(from_dict(cls.config_class, data))


class SingleOptimizerMethod(TrainingMethod[ConfigT]):
    """A method with one loss and one optimizer over all its models' parameters.

    Implement :meth:`build_models` and :meth:`compute_loss` (and usually :meth:`sample`)::

        class Colorizer(SingleOptimizerMethod):
            name = "colorizer"

            def build_models(self):
                self.net = ColorNet(self.config.model)
                return {"colorizer": self.net}

            def compute_loss(self, batch, step):
                return F.l1_loss(self.net(batch["gray"]), batch["color"])
    """

    optimizer_name: ClassVar[str] = "main"

    @abstractmethod
    def compute_loss(
        self, batch: Any, step: int
    ) -> torch.Tensor | tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]:
        """The loss for ``batch`` (runs under autocast), optionally with extra scalars to log."""

    def optimizers(self, train: TrainConfig) -> dict[str, Optimizer]:
        unique = {id(p): p for model in self.models().values() for p in model.parameters()}
        self._optimizer = make_optimizer(unique.values(), train)
        return {self.optimizer_name: self._optimizer}

    def training_step(self, batch: Any, step: int) -> StepOutput:
        with self.ctx.autocast():
            result = self.compute_loss(batch, step)
        loss, extra = result if isinstance(result, tuple) else (result, {})
        self.ctx.optimize(loss, self._optimizer)
        return {"loss": loss.detach(), **extra}
