"""``imsynth demo``: the main job on the embedded default data (README "Quick start").

1. render the procedural street-scene dataset (Cityscapes format) and a contact sheet of it;
2. train a small CRN on the CPU (or GPU) for a wall-clock budget;
3. synthesize the held-out layouts and write ``<out>/crn/report.html``
   (layout | real | synthesized variants, loss curves).
Running it again resumes the run for another budget and rewrites the report.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from imsynth.cli.options import SIZE, device_option
from imsynth.utils.console import say


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Folder for the dataset, the run and the report.",
)
@click.option("--size", type=SIZE, default="128x256", show_default=True, help="HEIGHTxWIDTH of scenes and model.")
@click.option("--train", "n_train", type=click.IntRange(1), default=400, show_default=True, help="Training scenes.")
@click.option("--val", "n_val", type=click.IntRange(1), default=24, show_default=True, help="Held-out scenes.")
@click.option(
    "--max-minutes",
    "--minutes",
    "minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=12.0,
    show_default=True,
    help="Training budget (wall clock) of this invocation, as in `imsynth train`.",
)
@click.option("--variants", type=click.IntRange(1), default=3, show_default=True, help="k images per layout.")
@click.option(
    "--width-multiplier",
    type=float,
    default=1 / 16,
    show_default=True,
    help="Fraction of the paper's feature widths (1/16 trains on a laptop CPU).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the scenes and of training.")
@device_option
def demo_command(
    out_dir: Path,
    size: tuple[int, int],
    n_train: int,
    n_val: int,
    minutes: float,
    variants: int,
    width_multiplier: float,
    seed: int,
    device: str,
) -> None:
    """Render street scenes, train a small CRN for a time budget, report synthesized photos."""
    from imsynth.cli.train import run_training
    from imsynth.data.preview import contact_sheet
    from imsynth.data.streets import ensure_streets_dataset, is_streets_dataset
    from imsynth.evaluation.run_report import appearance_on_split, appearance_summary, write_run_report
    from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig
    from imsynth.models.crn import CRNConfig
    from imsynth.runs import find_latest
    from imsynth.runs.files import CHECKPOINTS_DIR
    from imsynth.utils.io import save_image

    start = time.perf_counter()
    data_root = out_dir / "streets"
    if not is_streets_dataset(data_root):
        say(f"[1/3] rendering {n_train} + {n_val} street scenes at {size[0]}x{size[1]} into {data_root}")
        ensure_streets_dataset(data_root, n_train, n_val, size, seed)
    else:
        say(f"[1/3] using the street scenes already in {data_root}")
    save_image(out_dir / "contact_sheet.png", contact_sheet(data_root, "val", count=8))

    run_dir = out_dir / "crn"
    resume = find_latest(run_dir / CHECKPOINTS_DIR) is not None
    say(f"[2/3] {'resuming' if resume else 'training'} a CRN for {minutes:g} minutes in {run_dir}")
    config = CRNMethodConfig(
        model=CRNConfig(height=size[0], width=size[1], num_variants=variants, width_multiplier=width_multiplier),
        data=CRNDataConfig(root=str(data_root)),
    )
    method = CRNMethod(config)
    train = method.recipe.train_config(
        out_dir=run_dir,
        max_steps=1_000_000,
        max_minutes=minutes,
        lr=2e-4,  # twice the paper's rate: a small model on a short budget
        seed=seed,
        device=device,
        num_workers=1,
        log_every=25,
        sample_every=250,
        checkpoint_every=500,
    )
    run_training(method, train, method.build_dataset(seed), resume=resume)

    say("[3/3] synthesizing the held-out layouts")
    appearance = appearance_on_split(run_dir, data_root, "val", count=None)
    report = write_run_report(run_dir, data_root, "val", count=6, variants=variants, appearance=appearance)
    say(f"photographic? {appearance_summary(appearance)}")
    click.echo(
        f"contact sheet: {out_dir / 'contact_sheet.png'}\nreport: {report}\n"
        f"done in {(time.perf_counter() - start) / 60:.1f} min"
    )
