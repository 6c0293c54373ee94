"""Check label maps before training: decode every map, count its classes, list every problem.

:func:`inspect_paths` accepts label-map files, folders of label maps (searched recursively), and
Cityscapes-format dataset roots (recognised by ``leftImg8bit/``, ``gtFine/`` or ``gtCoarse/``). For
dataset roots it also pairs photos with maps and compares their sizes. The result is an
:class:`InspectionReport`; :func:`run_inspect` prints it and turns it into an exit code.

Memory: maps are decoded in strips of rows (:data:`imsynth.data.strips.STRIP_PIXELS`), so a map
costs about 4 bytes per pixel beyond Pillow's own copy (8000 x 8000: 0.75 GB in all, was 3 GB);
maps over :data:`imsynth.data.imagefile.MAX_IMAGE_PIXELS` (89 megapixels) are refused from their
header as unreadable.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from imsynth.data.cityscapes import is_cityscapes_root, list_splits, parse_label_name, scan_pairs
from imsynth.data.imagefile import ImageReadError, open_image
from imsynth.data.labels import (
    DEFAULT_COLOR_TOLERANCE,
    LabelDecodeError,
    LabelSpace,
    MapKind,
    get_label_space,
    iter_class_histogram,
)
from imsynth.data.listing import list_label_maps


@dataclass(frozen=True)
class Problem:
    """Something wrong with one path: ``kind`` is a short category, ``message`` the details."""

    path: Path
    kind: str
    message: str


@dataclass(frozen=True)
class MapSummary:
    """One decoded label map: its size ``(height, width)`` and class pixel counts, largest first."""

    path: Path
    size: tuple[int, int]
    histogram: tuple[tuple[str, int], ...]

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


@dataclass
class InspectionReport:
    """Everything :func:`inspect_paths` found."""

    label_space: str
    maps: list[MapSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def histogram(self) -> list[tuple[str, int]]:
        """Class pixel counts summed over all maps, largest first."""
        total: Counter[str] = Counter()
        for summary in self.maps:
            total.update(dict(summary.histogram))
        return total.most_common()

    def format(self, verbose: bool = False) -> str:
        """A readable report: summary, (per map if ``verbose``), class histogram, problems."""
        lines = [f"inspected {len(self.maps)} label map(s) with label space {self.label_space!r}"]
        if verbose and self.maps:
            lines.append("")
            lines += [f"  {s.path}  {s.size[0]}x{s.size[1]}  {_top_classes(s.histogram, s.pixels)}" for s in self.maps]
        histogram = self.histogram()
        if histogram:
            total = sum(count for _, count in histogram)
            lines += ["", f"class histogram over all maps ({total} pixels):"]
            width = max(len(name) for name, _ in histogram)
            for name, count in histogram:
                share = 100.0 * count / total
                lines.append(f"  {name:<{width}}  {share:6.2f}%  {'#' * round(share / 2)}")
        lines.append("")
        if self.ok:
            lines.append("OK: no problems found")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += _format_problems(self.problems, verbose)
        return "\n".join(lines)


def _top_classes(histogram: Sequence[tuple[str, int]], pixels: int, count: int = 4) -> str:
    shown = ", ".join(f"{name} {100.0 * n / pixels:.1f}%" for name, n in histogram[:count])
    return shown + (f", +{len(histogram) - count} more" if len(histogram) > count else "")


def _format_problems(problems: Sequence[Problem], verbose: bool, per_kind: int = 10) -> list[str]:
    """One line per problem; without ``verbose`` at most ``per_kind`` of each kind."""
    lines: list[str] = []
    shown: Counter[str] = Counter()
    for problem in problems:
        shown[problem.kind] += 1
        if verbose or shown[problem.kind] <= per_kind:
            lines.append(f"  [{problem.kind}] {problem.path}: {problem.message}")
    totals = Counter(p.kind for p in problems)
    for kind, total in totals.items():
        if not verbose and total > per_kind:
            lines.append(f"  ... and {total - per_kind} more [{kind}] (use --verbose to list all)")
    return lines


# ------------------------------------------------------------------------------ collecting work
@dataclass(frozen=True)
class _MapTask:
    """A label map to decode, and (in a dataset) the photo whose size it must match."""

    path: Path
    kind: MapKind = "auto"
    photo: Path | None = None


def _label_maps_in(folder: Path) -> list[_MapTask]:
    """Label maps under ``folder`` (:func:`~imsynth.data.listing.list_label_maps`: labelIds beat colour maps)."""
    return [_MapTask(found.path, found.kind) for found in list_label_maps(folder).maps]


def _dataset_tasks(root: Path, problems: list[Problem]) -> list[_MapTask]:
    """Maps of every split of a Cityscapes-format root; pairing problems go to ``problems``."""
    tasks = []
    for split in list_splits(root):
        scan = scan_pairs(root, split)
        tasks += [_MapTask(s.label_path, s.label_kind, s.image_path) for s in scan.samples]
        for pairing in scan.problems:
            problems.append(Problem(pairing.path, pairing.kind, pairing.message))
            if pairing.kind == "label without image":
                parsed = parse_label_name(pairing.path)
                tasks.append(_MapTask(pairing.path, parsed[1] if parsed else "auto"))
    return tasks


def _collect(paths: Iterable[str | Path], problems: list[Problem]) -> list[_MapTask]:
    tasks: list[_MapTask] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            problems.append(Problem(path, "missing", "no such file or folder"))
        elif is_cityscapes_root(path):
            known = len(problems)
            found = _dataset_tasks(path, problems)
            if not found and len(problems) == known:
                problems.append(Problem(path, "empty", "dataset root without any photo or label map"))
            tasks += found
        elif path.is_dir():
            found = _label_maps_in(path)
            if not found:
                problems.append(Problem(path, "empty", "folder without any label-map image"))
            tasks += found
        else:
            parsed = parse_label_name(path)
            tasks.append(_MapTask(path, parsed[1] if parsed else "auto"))
    return tasks


# ------------------------------------------------------------------------------ checking one map
def _photo_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of a photo from its header, after checking the file's integrity."""
    with Image.open(path) as image:
        width, height = image.size
        image.verify()
    return height, width


def _inspect_map(task: _MapTask, space: LabelSpace, tolerance: float) -> tuple[MapSummary | None, list[Problem]]:
    problems = []
    try:
        with open_image(task.path) as image:
            ids = space.decode_image(image, kind=task.kind, tolerance=tolerance)
    except ImageReadError as exc:
        reason = str(exc).removeprefix(f"{task.path}: ")
        return None, [Problem(task.path, "unreadable", f"not a readable image ({reason})")]
    except LabelDecodeError as exc:
        return None, [Problem(task.path, "unknown labels", str(exc))]
    summary = MapSummary(task.path, ids.shape, tuple((c.name, n) for c, n in iter_class_histogram(space, ids)))
    if task.photo is not None:
        try:
            photo_size = _photo_size(task.photo)
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            problems.append(Problem(task.photo, "unreadable", f"photo is not a readable image ({exc})"))
        else:
            if photo_size != ids.shape:
                problems.append(
                    Problem(
                        task.path,
                        "size mismatch",
                        f"label map is {ids.shape[0]}x{ids.shape[1]} (HxW) but its photo {task.photo} is "
                        f"{photo_size[0]}x{photo_size[1]}",
                    )
                )
    return summary, problems


# ------------------------------------------------------------------------------ entry points
def inspect_paths(
    paths: Iterable[str | Path],
    label_space: LabelSpace | str | Path | None = None,
    tolerance: float = DEFAULT_COLOR_TOLERANCE,
    *,
    progress: bool = True,
) -> InspectionReport:
    """Decode every label map under ``paths`` and collect summaries and problems."""
    space = get_label_space(label_space)
    report = InspectionReport(space.name)
    tasks = _collect(paths, report.problems)
    for task in tqdm(
        tasks, desc="inspecting", unit="map", disable=None if progress else True, leave=False, file=sys.stderr
    ):
        summary, problems = _inspect_map(task, space, tolerance)
        if summary is not None:
            report.maps.append(summary)
        report.problems += problems
    return report


def run_inspect(
    paths: Iterable[str | Path],
    label_space: LabelSpace | str | Path | None = None,
    tolerance: float = DEFAULT_COLOR_TOLERANCE,
    verbose: bool = False,
) -> int:
    """Print the report of :func:`inspect_paths`; return 0 if no problem was found, else 1."""
    report = inspect_paths(paths, label_space, tolerance)
    print(report.format(verbose))
    return 0 if report.ok else 1
