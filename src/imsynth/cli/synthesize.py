"""``imsynth synthesize``: label maps in, photographs out, from a checkpoint alone."""

from __future__ import annotations

from pathlib import Path

import click

from imsynth.cli.batch import finish_batch, input_option, out_option, overwrite_option
from imsynth.cli.options import color_tolerance_option, device_option
from imsynth.utils.console import say


@click.command("synthesize")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Run folder, checkpoint folder or generator.safetensors.",
)
@input_option(
    "A label map (colour-coded, palette or ids; any size) or a folder of them (searched recursively). "
    "--labels is the same option.",
    "--labels",
)
@out_option("--input")
@click.option(
    "--variants", type=click.IntRange(1), default=None, help="Write only the first k variants (default: all)."
)
@device_option
@color_tolerance_option
@overwrite_option
def synthesize_command(
    checkpoint: Path,
    input_path: Path,
    out_dir: Path,
    variants: int | None,
    device: str,
    color_tolerance: float,
    overwrite: bool,
) -> None:
    """Synthesize photographs (all k variants and a grid per layout) with a CRN or any layout-to-photo model.

    Every label map is processed; maps that cannot be read are listed at the end (exit status 1).
    In a Cityscapes folder the labelIds map of each scene is used and its colour map skipped.
    """
    from imsynth.data.listing import list_label_maps
    from imsynth.inference.crn import synthesize_files
    from imsynth.inference.synthesizer import load_synthesizer
    from imsynth.runs import CheckpointError
    from imsynth.utils.io import OutputError

    try:
        synthesizer = load_synthesizer(checkpoint, device)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    k = synthesizer.num_variants
    if variants is not None and variants > k:
        raise click.UsageError(f"--variants {variants}: {checkpoint} makes {k} variants; choose 1 to {k}")
    listing = list_label_maps(input_path)
    if not listing.maps:
        raise click.ClickException(f"no label maps (image files) found under {input_path}")
    root = input_path if input_path.is_dir() else None
    say(
        f"synthesizing {len(listing.maps)} label map(s) with {synthesizer.method} step {synthesizer.step} "
        f"({variants or k} of {k} variants) into {out_dir}"
    )
    try:
        report = synthesize_files(
            synthesizer,
            listing.maps,
            out_dir,
            variants=variants,
            tolerance=color_tolerance,
            root=root,
            overwrite=overwrite,
            skipped=listing.skipped,
        )
    except OutputError as exc:
        raise click.ClickException(str(exc)) from None
    finish_batch(report, f"synthesized {len(report.done)} layout(s) x {variants or k} variant(s) into {out_dir}")
