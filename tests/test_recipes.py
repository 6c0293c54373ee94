"""Each method owns its paper recipe and its dataset; resume goes through the method registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imsynth.methods import known_methods, method_class, resume_method
from imsynth.methods.colorizer import ColorizerMethod
from imsynth.methods.crn import CRNMethod
from imsynth.methods.pix2pix import Pix2PixMethod
from imsynth.methods.segmenter import SegmenterMethod
from imsynth.runs import NotARunError
from imsynth.training.optim import lr_factor

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints_v0"


def test_the_papers_settings_come_with_each_method():
    crn = CRNMethod.recipe_named("paper").train_config()
    assert (crn.lr, crn.betas, crn.lr_schedule) == (1e-4, (0.9, 0.999), "constant")
    assert CRNMethod.recipe_named("paper").method_config == {}  # the paper: dataclass defaults only
    assert CRNMethod.recipe_named("default") is CRNMethod.recipe and CRNMethod.recipe.train_config().lr == 2e-4
    color = ColorizerMethod.recipe.train_config()
    assert (color.lr, color.betas, color.weight_decay) == (3e-5, (0.9, 0.99), 1e-3)
    assert SegmenterMethod.recipe.train_config().batch_size == 4
    assert SegmenterMethod.recipe.train_config(batch_size=2).batch_size == 2  # settings win


def test_pix2pix_decays_linearly_over_the_second_half_for_library_users_too():
    train = Pix2PixMethod.recipe.train_config(max_steps=100)
    assert (train.lr, train.betas, train.lr_schedule, train.decay_start_step) == (
        2e-4,
        (0.5, 0.999),
        "linear_decay",
        50,
    )
    assert [lr_factor(step, train) for step in (0, 50, 75, 100)] == [1.0, 1.0, 0.5, 0.0]


def test_the_registry_knows_every_method():
    assert known_methods() == ["colorizer", "crn", "pix2pix", "segmenter"]
    assert all(method_class(name).name == name for name in known_methods())
    with pytest.raises(ValueError, match="unknown method 'cyclegan'"):
        method_class("cyclegan")


def test_resume_rebuilds_the_method_and_settings_of_a_run(tmp_path):
    run = shutil.copytree(FIXTURES / "pix2pix_run", tmp_path / "run")
    method, train = resume_method(run, "pix2pix")
    assert isinstance(method, Pix2PixMethod) and method.config.model.generator.ngf == 4
    assert train.out_dir == run and (train.lr_schedule, train.decay_start_step, train.batch_size) == (
        "linear_decay",
        1,
        2,
    )
    with pytest.raises(ValueError, match="is a 'pix2pix' run, not a crn run: resume it with `imsynth train pix2pix"):
        resume_method(run, "crn")
    with pytest.raises(NotARunError, match="no config.yaml"):
        resume_method(tmp_path, "pix2pix")


def test_a_recipe_sets_method_fields_of_new_runs_only_and_everything_given_wins():
    from imsynth.methods.crn import CRNMethodConfig
    from imsynth.methods.runconfig import build_run
    from imsynth.utils.config import from_dict, to_dict

    base = {"model": {"height": 32, "width": 64}, "train": {"out_dir": "run"}}
    train, config = build_run(CRNMethod, [base])
    assert (config.model.noise_channels, config.model.projection_init) == (4, "xavier")
    assert config.loss.texture_scales == [2.0] * 6 and config.adversarial.weight == 1.0
    _, paper = build_run(CRNMethod, [base], "paper")
    assert (paper.model.noise_channels, paper.loss.texture_scales, paper.adversarial.weight) == (0, None, 0.0)
    _, given = build_run(CRNMethod, [base, {"model": {"noise_channels": 0}, "adversarial": {"weight": 0.5}}])
    assert (given.model.noise_channels, given.adversarial.weight, given.model.projection_init) == (0, 0.5, "xavier")
    # a stored run config that predates the new fields keeps the paper's meaning
    stored = to_dict(paper)
    for part, names in {"model": ("noise_channels", "projection_init"), "loss": ("texture_scales",)}.items():
        for name in names:
            stored[part].pop(name)
    stored.pop("adversarial")
    old = from_dict(CRNMethodConfig, stored)
    assert (old.model.noise_channels, old.loss.texture_scales, old.adversarial.weight) == (0, None, 0.0)
    with pytest.raises(ValueError, match="has no recipe 'fast'; choose from default, paper"):
        build_run(CRNMethod, [base], "fast")
