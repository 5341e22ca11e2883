"""The committed sample incident matches the generator, so the demo and the code agree."""

from __future__ import annotations

from secobs.sample import generate

from .conftest import REPO


def test_committed_sample_matches_generator(tmp_path):
    files = generate(tmp_path / "fresh", seed=7)
    for generated in (files.audit, files.requests, files.spans, files.ground_truth):
        committed = REPO / "sample_data" / generated.name
        assert committed.read_bytes() == generated.read_bytes(), generated.name
