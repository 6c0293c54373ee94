"""Batch runs over input files (``synthesize``, ``translate``, ``colorize``): nothing lost, nothing crashes.

The rules every batch command follows:

* **Every input is processed.** A file that cannot be read or decoded is recorded with its reason
  and the run goes on; :class:`BatchReport` lists every failure at the end.
* **Outputs mirror the input tree** under the output folder (``L/a/scene.png`` ->
  ``OUT/a/scene_...``), and no two inputs share an output: when two inputs have the same name
  but different formats (``x.png`` and ``x.jpg``), both outputs carry the format (``x_png``,
  ``x_jpg``). Outputs that exist before the run are replaced only with ``overwrite=True``.
* **Nothing partial.** An input's outputs are computed first, then written (each atomically);
  if a write fails, the outputs already written for that input are removed. A write failure
  (full disk, read-only folder) ends the run with an :class:`~imsynth.utils.io.OutputError`
  saying what was done, since every later input would fail the same way.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imsynth.utils.io import OutputError, describe_os_error, ensure_output_dir, save_image, write_json

__all__ = ["BatchItem", "BatchReport", "Outputs", "plan_items", "run_batch"]

Outputs = dict[Path, Any]
"""One input's results: output path (relative to the output folder) -> image array or JSON-able object."""


@dataclass(frozen=True)
class BatchItem:
    """One input file, its output base name (relative, no suffix) and what it writes."""

    source: Path
    name: Path
    outputs: tuple[Path, ...]
    kind: str = "auto"


@dataclass
class BatchReport:
    """What a batch run did: the inputs done, the ones that failed and the files passed over."""

    out_dir: Path
    total: int = 0
    done: list[BatchItem] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def written(self) -> list[Path]:
        return [self.out_dir / output for item in self.done for output in item.outputs]

    def problem_lines(self, limit_skipped: int = 10) -> list[str]:
        """Lines for the end of a command's output: skipped files (first few), then every failure."""
        lines = []
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped[:limit_skipped]]
            if len(self.skipped) > limit_skipped:
                lines.append(f"  ... and {len(self.skipped) - limit_skipped} more")
        if self.failures:
            lines.append(f"{len(self.failures)} of {self.total} file(s) failed (nothing written for them):")
            lines += [f"  {path}: {reason}" for path, reason in self.failures]
        return lines


def _base_name(source: Path, root: Path | None, stem: Callable[[Path], str]) -> Path:
    relative = source.relative_to(root) if root is not None else Path(source.name)
    return relative.parent / stem(source)


def plan_items(
    sources: Sequence[Path | tuple[Path, str]],
    root: Path | None,
    outputs: Callable[[Path], Sequence[Path]],
    stem: Callable[[Path], str] = lambda path: path.stem,
) -> list[BatchItem]:
    """Give every input its own outputs, mirroring the tree under ``root`` (``None``: flat).

    ``sources`` are paths or ``(path, kind)`` pairs; ``outputs(name)`` lists the relative files an
    input named ``name`` writes; ``stem`` names an input (default: file name without suffix).
    """
    pairs = [(s, "auto") if isinstance(s, Path) else (Path(s[0]), s[1]) for s in sources]
    bases = {path: _base_name(path, root, stem) for path, _ in pairs}
    shared = Counter(bases.values())
    claimed: set[Path] = set()
    items = []
    for path, kind in pairs:
        name = bases[path]
        if shared[name] > 1:  # x.png and x.jpg: keep the format in both names
            name = name.with_name(f"{name.name}_{path.suffix.lstrip('.').lower()}")
        candidate, n = name, 1
        while claimed & set(outputs(candidate)):  # still taken (x.png and x.PNG, or x_v0 and x): number it
            n += 1
            candidate = name.with_name(f"{name.name}_{n}")
        files = tuple(outputs(candidate))
        claimed.update(files)
        items.append(BatchItem(path, candidate, files, kind))
    return items


def _refuse_existing(items: Sequence[BatchItem], out_dir: Path) -> None:
    existing = [output for item in items for output in item.outputs if (out_dir / output).exists()]
    if existing:
        shown = ", ".join(str(p) for p in existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        raise OutputError(
            f"{len(existing)} output file(s) already exist in {out_dir} ({shown}); pass --overwrite to replace "
            "them, or choose another --out"
        )


def _write(path: Path, value: Any) -> None:
    if isinstance(value, np.ndarray):
        save_image(path, value)
    else:
        write_json(path, value)


def _write_all(out_dir: Path, outputs: Outputs, written_before: set[Path]) -> None:
    """Write one input's outputs; on failure remove those already written and raise ``OSError``."""
    done: list[Path] = []
    try:
        for relative, value in outputs.items():
            target = out_dir / relative
            if target in written_before:  # plan_items makes this impossible; never lose a result to a bug
                raise RuntimeError(f"{target} was already written by this run")
            _write(target, value)
            done.append(target)
    except BaseException:
        for target in done:
            with contextlib.suppress(OSError):
                target.unlink()
        raise
    written_before.update(done)


def run_batch(
    items: Sequence[BatchItem],
    out_dir: str | Path,
    produce: Callable[[BatchItem], Outputs],
    input_errors: tuple[type[BaseException], ...],
    *,
    overwrite: bool = False,
    skipped: Sequence[tuple[Path, str]] = (),
) -> BatchReport:
    """Run ``produce`` on every item and write its outputs; inputs raising ``input_errors`` are reported.

    Raises :class:`OutputError` (before any work) when the folder cannot be written or outputs
    exist and ``overwrite`` is false, and (during the run) when a write fails.
    """
    out_dir = Path(out_dir)
    report = BatchReport(out_dir, len(items), skipped=list(skipped))
    ensure_output_dir(out_dir)
    if not overwrite:
        _refuse_existing(items, out_dir)
    written: set[Path] = set()
    for item in items:
        try:
            outputs = produce(item)
        except input_errors as exc:
            report.failures.append((item.source, _reason(exc, item.source)))
            continue
        try:
            _write_all(out_dir, outputs, written)
        except OSError as exc:
            raise OutputError(
                f"cannot write the outputs of {item.source} into {out_dir} ({describe_os_error(exc)}); "
                f"{len(report.done)} of {len(items)} input(s) were done before it. Free space or choose "
                "another --out, then run again (--overwrite replaces the outputs already written)"
            ) from None
        report.done.append(item)
    return report


def _reason(exc: BaseException, source: Path) -> str:
    """The error's message without a leading copy of the file name (the report shows it)."""
    text = str(exc)
    for prefix in (f"{source}: ", f"cannot read image {source}: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text
