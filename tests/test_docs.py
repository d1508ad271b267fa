"""The repository's documents: the output format is the shared contract, docs carry no machine paths."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CONTRACT = ROOT.parent / "shared" / "CONTRACT.md"


@pytest.mark.skipif(not SHARED_CONTRACT.exists(), reason="../shared/CONTRACT.md is not beside this clone")
def test_output_format_is_the_shared_contract_word_for_word() -> None:
    assert (ROOT / "docs" / "output-format.md").read_text() == SHARED_CONTRACT.read_text()


def test_docs_and_readme_carry_repository_relative_paths_only() -> None:
    absolute = re.compile(r"(?<![\w.])/(?:work|home|root|tmp|Users)/\S+")
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
                 for m in absolute.finditer(p.read_text())]
    assert offenders == []


def test_readme_links_point_inside_the_repository() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", (ROOT / "README.md").read_text())
    outside = [link for link in links if not link.startswith("http") and not (ROOT / link).resolve().is_relative_to(ROOT)]
    missing = [link for link in links if not link.startswith("http") and not (ROOT / link).exists()]
    assert outside == [] and missing == []


def test_license_file_matches_the_declared_licence() -> None:
    assert "Apache-2.0" in (ROOT / "pyproject.toml").read_text()
    assert "Apache License" in (ROOT / "LICENSE").read_text()
