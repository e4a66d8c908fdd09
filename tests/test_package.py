"""What the package says of itself matches what it has."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import shoptrack

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(shoptrack.__file__).parent


def test_the_description_advertises_only_what_exists() -> None:
    description = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"]
    for feature, package in (("trigger", "triggers"), ("segment", "segments")):
        assert (feature in description.lower()) == (PACKAGE / package).is_dir(), feature


def test_the_documents_link_nothing_outside_the_repository() -> None:
    documents = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *ROOT.glob("docs/*.md")]
    for document in documents:
        text = document.read_text()
        for marker in ("../shared", "](http", "](../"):
            assert marker not in text, f"{document.name}: {marker}"


def test_the_documents_show_only_pictures_that_exist() -> None:
    documents = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *ROOT.glob("docs/*.md")]
    for document in documents:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", document.read_text()):
            assert (document.parent / target).is_file(), f"{document.name}: {target}"
