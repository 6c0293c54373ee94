"""``imsynth synthesize``: label maps in, photographs out, from a checkpoint alone."""

from __future__ import annotations

from pathlib import Path

import click

from imsynth.cli.batch import finish_batch, out_option, overwrite_option
from imsynth.cli.options import COLOR_TOLERANCE


@click.command("synthesize")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Run folder, checkpoint folder or generator.safetensors.",
)
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A label map (colour-coded or ids, any size) or a folder of them (searched recursively).",
)
@out_option("--labels")
@click.option("--variants", type=click.IntRange(1), default=None, help="Write only the first k variants.")
@click.option("--device", default="auto", show_default=True)
@click.option("--color-tolerance", type=COLOR_TOLERANCE, default=40.0, show_default=True)
@overwrite_option
def synthesize_command(
    checkpoint: Path,
    labels_path: Path,
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
    listing = list_label_maps(labels_path)
    if not listing.maps:
        raise click.ClickException(f"no label maps (image files) found under {labels_path}")
    root = labels_path if labels_path.is_dir() else None
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
