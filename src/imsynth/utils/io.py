"""Atomic file output: nothing imsynth writes is ever left half-written.

Every writer goes through :func:`atomic_write`: the data lands in a temporary file in the
destination folder, is flushed and fsync'ed, then renamed over the target (``os.replace`` is
atomic on POSIX and Windows). A crash or SIGKILL leaves either the old file or the new one.
:func:`ensure_output_dir` checks an output folder up front, and :func:`describe_os_error` words
an ``OSError`` (full disk, read-only file system...) for a message instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image


class OutputError(OSError):
    """An output folder or file that cannot be written; the message names the path and what to do."""


_ERRNO_WORDS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EEXIST: "a file is in the way",
}


def describe_os_error(exc: OSError) -> str:
    """A short lower-case reason for an ``OSError`` ("no space left on device"), without a traceback."""
    if exc.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[exc.errno]
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def ensure_output_dir(folder: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``folder`` and prove it writable, or raise :class:`OutputError` naming ``option``."""
    folder = Path(folder)
    blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise OutputError(f"{option} {folder}: {blocker} is a file, not a folder; choose another {option}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".imsynth-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{option} {folder}: cannot write there ({describe_os_error(exc)}); choose another {option}"
        ) from None
    return folder


def _default_file_mode() -> int:
    """Permissions a plain ``open()`` would give: 0o666 minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(folder: Path) -> None:
    """Persist the rename itself (directory entry) where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success fsync and rename it to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp_name, _default_file_mode())  # mkstemp creates 0600
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def save_image(path: str | os.PathLike, image: np.ndarray | Image.Image, **save_kwargs: Any) -> None:
    """Atomically save a uint8 HxW / HxWx3 / HxWx4 array (or a PIL image); format from the suffix."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot save image {path}: unknown file extension (use .png or .jpg)")
    with atomic_write(path, "wb") as f:
        pil.save(f, format=fmt, **save_kwargs)
