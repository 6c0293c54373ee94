"""``imsynth data ...``: render the embedded street-scene dataset, inspect label maps."""

from __future__ import annotations

from pathlib import Path

import click

from imsynth.cli.options import COLOR_TOLERANCE, SIZE


@click.group("data")
def data_group() -> None:
    """Create and check datasets."""


@data_group.command("streets")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Dataset root to write (Cityscapes directory format).",
)
@click.option("--train", "n_train", type=click.IntRange(0), default=500, show_default=True, help="Training scenes.")
@click.option("--val", "n_val", type=click.IntRange(0), default=50, show_default=True, help="Validation scenes.")
@click.option("--size", type=SIZE, default="256x512", show_default=True, help="HEIGHTxWIDTH of every image.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed: the same seed renders the same data.")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True, help="Rendering processes.")
def streets_command(out_dir: Path, n_train: int, n_val: int, size: tuple[int, int], seed: int, workers: int) -> None:
    """Render the embedded procedural street-scene dataset (label maps + photos)."""
    from imsynth.data.streets import write_streets_dataset

    try:
        root = write_streets_dataset(
            out_dir, splits={"train": n_train, "val": n_val}, height=size[0], width=size[1], seed=seed, workers=workers
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"wrote {n_train} train + {n_val} val scenes at {size[0]}x{size[1]} to {root}")


@data_group.command("inspect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--label-space",
    default="cityscapes",
    show_default=True,
    help="'cityscapes' or a .json/.yaml/.csv file of (name, id, color) per class.",
)
@click.option(
    "--color-tolerance",
    type=COLOR_TOLERANCE,
    default=None,
    help="Largest RGB distance snapped to a palette colour (default 40).",
)
@click.option("-v", "--verbose", is_flag=True, help="One line per label map.")
def inspect_command(paths: tuple[Path, ...], label_space: str, color_tolerance: float | None, verbose: bool) -> None:
    """Decode label maps (files, folders or a Cityscapes-format dataset) and report every problem.

    Exits with status 1 when any problem was found.
    """
    from imsynth.data.inspect import run_inspect
    from imsynth.data.labels import DEFAULT_COLOR_TOLERANCE, get_label_space

    try:
        space = get_label_space(label_space)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--label-space") from None
    tolerance = DEFAULT_COLOR_TOLERANCE if color_tolerance is None else color_tolerance
    raise SystemExit(run_inspect(list(paths), label_space=space, tolerance=tolerance, verbose=verbose))


@data_group.command("sheet")
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PNG file to write."
)
@click.option(
    "--data",
    "data_root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A Cityscapes-format dataset to show; default: render street scenes directly.",
)
@click.option("--split", default="val", show_default=True, help="Split whose layouts are shown (with --data).")
@click.option("--size", type=SIZE, default="256x512", show_default=True, help="Rendered scene size.")
@click.option("--scenes", type=click.IntRange(1), default=4, show_default=True, help="Scenes (rows) on the sheet.")
@click.option(
    "--appearances",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Photos of one shared layout (rendered scenes only).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the scenes and appearances drawn.")
def sheet_command(
    out_file: Path, data_root: Path | None, split: str, size: tuple[int, int], scenes: int, appearances: int, seed: int
) -> None:
    """Write a contact sheet of layouts and photos (a dataset's pairs, or freshly rendered scenes)."""
    from imsynth.data.preview import contact_sheet, streets_sheet
    from imsynth.utils.io import save_image

    if data_root is not None:
        try:
            sheet = contact_sheet(data_root, split, count=scenes)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        sheet = streets_sheet(size, scenes, appearances, seed)
    save_image(out_file, sheet)
    click.echo(f"wrote {out_file} ({sheet.shape[1]}x{sheet.shape[0]})")
