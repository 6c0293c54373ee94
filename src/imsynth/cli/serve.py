"""``imsynth serve``: the painter -- draw a layout in the browser, get photographs back."""

from __future__ import annotations

import ipaddress
import warnings
from pathlib import Path

import click

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Run folder, checkpoint folder or generator.safetensors. Default: the packaged "
    "street-scene CRN (128x256, 3 variants).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default is reachable from this machine only; 0.0.0.0 opens "
    "the painter to your network.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--max-upload-mb",
    type=click.FloatRange(min=0.001),
    default=10.0,
    show_default=True,
    help="Largest label-map file accepted, in MiB.",
)
@click.option(
    "--max-megapixels",
    type=click.FloatRange(min=0.001),
    default=4.0,
    show_default=True,
    help="Largest label map accepted, in millions of pixels (checked before decoding).",
)
def serve_command(
    checkpoint: Path | None, host: str, port: int, device: str, max_upload_mb: float, max_megapixels: float
) -> None:
    """Start the painter: a local web page to paint a layout and synthesize photographs from it.

    The page and its JSON API (GET /api/info, GET /api/palette, POST /api/synthesize, POST /api/decode)
    are served at http://HOST:PORT/ until Ctrl+C.
    """
    try:
        import uvicorn

        from imsynth.serving.app import ServingLimits, create_app, load_packaged_synthesizer, model_grid_size
        from imsynth.serving.guard import LOOPBACK_HOSTS
    except ImportError as exc:
        raise click.ClickException(
            f"{exc}. The painter needs the 'serve' extra: pip install 'imsynth[serve]'"
        ) from None
    from PIL import Image

    from imsynth.inference.synthesizer import load_synthesizer
    from imsynth.runs import CheckpointError

    limits = ServingLimits(
        max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=int(max_megapixels * 1_000_000)
    )
    # Process-wide decompression-bomb guard: Pillow refuses any image far beyond the limit. Its warnings
    # about broken uploads are not logged: each such upload is answered with a 400 that names the problem.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    try:
        synthesizer = load_synthesizer(checkpoint, device) if checkpoint else load_packaged_synthesizer(device)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    # On a loopback address only loopback Host names are served: a DNS-rebinding page cannot reach the painter.
    allowed_hosts = (*LOOPBACK_HOSTS, host) if is_loopback(host) else None
    app = create_app(synthesizer, limits, allowed_hosts=allowed_hosts)

    height, width = model_grid_size(synthesizer)
    source = checkpoint or "packaged street-scene checkpoint"
    click.echo(
        f"imsynth painter: {synthesizer.method} step {synthesizer.step}, canvas {height}x{width}, "
        f"{synthesizer.num_variants} variants ({source})"
    )
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine can use the painter", err=True)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"open http://{shown_host}:{port}/ in a browser (Ctrl+C stops the server)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
