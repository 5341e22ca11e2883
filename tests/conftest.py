"""Shared fixtures: paths to the public data sets and small cases built in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SECOBS_SHARED", REPO.parent / "shared"))
REALDATA = SHARED / "realdata"
CASES = SHARED / "cases" / "inputs"
VECTORS = SHARED / "vectors"


def require(path: Path) -> Path:
    """Skip the test when a public data set is not next to the repository."""
    if not path.exists():
        pytest.skip(f"{path} is not available (set SECOBS_SHARED to the shared data folder)")
    return path


@pytest.fixture
def realdata() -> Path:
    return require(REALDATA)


@pytest.fixture
def case_inputs() -> Path:
    return require(CASES)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo_case(tmp_path_factory) -> Path:
    """The shipped sample incident ingested into a case, shared by the tests that read it."""
    from secobs.ingest import ingest

    case = tmp_path_factory.mktemp("demo") / "case"
    sources = [
        REPO / "sample_data" / name for name in ("audit.ndjson", "requests.csv", "spans.otlp.jsonl")
    ]
    ingest(case, sources)
    return case
