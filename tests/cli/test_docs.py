"""The documentation: the README stays a short guide whose links land, and the MkDocs site
(mkdocs.yml over docs/, the API reference from the docstrings) builds with --strict, so a
broken link, anchor or docstring reference fails here and in CI (.ci/run)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: The README is a user's guide; results and studies live in docs/.
README_MAX_LINES = 250


def _slug(heading: str) -> str:
    """The anchor GitHub and MkDocs give a heading: lower case, punctuation dropped,
    spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_readme_is_a_short_guide():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README has {len(lines)} lines"


@pytest.mark.parametrize("page", [README, *sorted(DOCS.rglob("*.md"))],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_land(page):
    """Every relative Markdown link names a file that exists and, with `#anchor`, one of
    its headings."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s): and the like
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_file(), f"{page.name}: link to missing {target}"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), f"{page.name}: no heading for #{anchor}"


def test_mkdocs_nav_names_every_page():
    """Each docs page is in mkdocs.yml's nav (the strict build only warns of omissions)."""
    config = (ROOT / "mkdocs.yml").read_text()
    named = set(re.findall(r":\s*(\S+\.md)\s*$", config, re.M))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages == named, f"not in nav: {pages - named}; missing: {named - pages}"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "api" / "core" / "index.html").is_file()
