"""The package layers, stated once, and a test that holds the code to them.

A module may import its own package and any package on a lower layer, never one on its own layer
or above. ``training`` (the trainer) is a side branch: only the methods that plug into it and the CLI
that starts it may import it, so inference, evaluation and serving run without the training code.
Imports are read with :mod:`ast` (top-level, inside functions and under ``TYPE_CHECKING`` alike).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "imsynth"

#: Lowest first. Packages on one layer are independent of each other.
LAYERS: list[tuple[str, ...]] = [
    ("utils",),
    ("nn",),
    ("color", "data", "runs"),
    ("models",),
    ("losses",),
    ("training",),
    ("methods",),
    ("inference",),
    ("evaluation", "serving"),
    ("cli",),
]
#: Packages that only the listed packages may import (besides the layer rule).
ONLY_IMPORTED_BY = {"training": {"training", "methods", "cli"}}

RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def package_of(module: str) -> str | None:
    """``imsynth.data.labels`` -> ``data``; top-level modules (``imsynth.__main__``) -> ``cli``."""
    parts = module.split(".")
    if parts[0] != "imsynth" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in RANK else "cli"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every ``import imsynth...`` / ``from imsynth... import`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("imsynth")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("imsynth"):
            module = node.module or ""
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def violations() -> list[str]:
    """Every import that breaks the layer rule, as ``file:line: importer -> imported (why)``."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC.parent)
        source = package_of(".".join(relative.with_suffix("").parts))
        for line, module in imports(path):
            target = package_of(module)
            if source is None or target is None or target == source:
                continue
            where = f"{relative}:{line}: {source} -> {module}"
            if RANK[target] >= RANK[source]:
                bad.append(f"{where} (layer {RANK[source]} imports layer {RANK[target]})")
            elif source not in ONLY_IMPORTED_BY.get(target, {source}):
                bad.append(f"{where} (only {sorted(ONLY_IMPORTED_BY[target])} may import {target})")
    return bad


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages == set(RANK), f"add {sorted(packages - set(RANK))} to LAYERS; remove {sorted(set(RANK) - packages)}"


def test_lower_layers_never_import_higher_ones():
    assert violations() == []


def test_the_checker_sees_an_upward_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from imsynth.cli.main import cli\n")
    assert imports(module) == [(2, "imsynth.cli.main.cli")]
    assert RANK[package_of("imsynth.cli.main")] > RANK[package_of("imsynth.data.labels")]
