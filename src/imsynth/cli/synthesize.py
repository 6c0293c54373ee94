"""``imsynth synthesize``: label maps in, photographs out, from a checkpoint alone."""

from __future__ import annotations

from pathlib import Path

import click


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
    help="A label map (colour-coded or ids, any size) or a folder of them.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--variants", type=click.IntRange(1), default=None, help="Write only the first k variants.")
@click.option("--device", default="auto", show_default=True)
@click.option("--color-tolerance", type=float, default=40.0, show_default=True)
def synthesize_command(
    checkpoint: Path, labels_path: Path, out_dir: Path, variants: int | None, device: str, color_tolerance: float
) -> None:
    """Synthesize photographs (all k variants and a grid per layout) with a CRN or any layout-to-photo model."""
    from imsynth.data.labels import LabelDecodeError
    from imsynth.data.listing import list_label_maps
    from imsynth.inference.crn import synthesize_files
    from imsynth.inference.synthesizer import load_synthesizer
    from imsynth.runs import CheckpointError

    try:
        synthesizer = load_synthesizer(checkpoint, device)
        paths = list_label_maps(labels_path)
        written = synthesize_files(synthesizer, paths, out_dir, variants=variants, tolerance=color_tolerance)
    except (CheckpointError, LabelDecodeError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"synthesized {len(written)} layout(s) x {variants or synthesizer.num_variants} variant(s) into {out_dir}"
    )
