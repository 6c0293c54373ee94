"""Packaging like a library: the README's Python example runs, the citation files agree, the metadata is honest."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import yaml

import imsynth

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_python_api_example_runs(tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- api-example[^>]*-->\s*```python\n(.*?)```", readme, re.S)
    assert block is not None, "the README's Python API example is missing"
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert (tmp_path / "street.png").is_file()
    method, _step, shape = capsys.readouterr().out.split(" ", 2)
    assert method == "crn" and shape.strip() == "(3, 128, 256, 3)"


def test_citation_files_name_every_paper_and_the_version():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    bibtex = (ROOT / "docs" / "references.bib").read_text()
    titles = [re.sub(r"[{}]", "", t) for t in re.findall(r"^\s*title\s*=\s*\{(.*)\},", bibtex, re.M)]
    assert len(titles) >= 15
    assert [ref["title"] for ref in citation["references"]] == titles
    for needed in (
        "Cascaded Refinement",
        "Conditional Adversarial",
        "Colorful Image Colorization",
        "High-Resolution Image Synthesis",
        "EfficientNet",
        "Demystifying",
    ):
        assert any(needed in title for title in titles), needed
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert citation["version"] == project["version"] == imsynth.__version__
    assert citation["license"] == project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT")
    assert f"## [{project['version']}]" in (ROOT / "CHANGELOG.md").read_text()


def test_python_versions_are_the_tested_ones():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    named = [
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.match(r"Programming Language :: Python :: 3\.\d+$", c)
    ]
    assert named == [running] == ["3.11"]
    assert project["requires-python"] == ">=3.11,<3.12"
