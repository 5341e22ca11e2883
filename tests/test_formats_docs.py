"""docs/formats.md documents every registered input format."""

from __future__ import annotations

import re
from pathlib import Path

from secobs.ingest.formats import FORMATS

DOC = Path(__file__).resolve().parent.parent / "docs" / "formats.md"


def documented_names() -> set[str]:
    names: set[str] = set()
    for heading in re.findall(r"^#{2,3} (.+)$", DOC.read_text(), flags=re.MULTILINE):
        names.update(re.findall(r"[a-z0-9][a-z0-9.\-]*", heading))
    return names


def test_every_format_has_a_section():
    missing = sorted(set(FORMATS) - documented_names())
    assert missing == []


def test_every_format_lists_an_example():
    for fmt in FORMATS.values():
        assert fmt.example.strip(), fmt.name
        assert len(fmt.example) <= 200, fmt.name
