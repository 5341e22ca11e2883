"""Validation rate of `secobs schema validate` against a plain jsonschema loop, in one run.

The input is the shipped sample's audit events repeated to --events lines, with one line in
1,000 made invalid so the error-listing path is exercised. secobs validates the whole file
(compiled fastjsonschema validator, jsonschema only for invalid events, worker processes for
large files). The baseline parses each line with the json module and runs
`Draft202012Validator(schema).iter_errors` on it, over the first --baseline-events lines,
because at a few thousand events per second the full file would take many minutes; its rate
is events per second over the lines it read.

    python benchmarks/schema_validate.py --events 1000000 [--baseline-events 100000]
        [--jobs N] [--workdir /tmp/secobs-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from jsonschema import Draft202012Validator

from secobs.gates.validate import validate_files
from secobs.schemas import load_schema

REPO = Path(__file__).resolve().parent.parent
INVALID_EVERY = 1000


def build_input(path: Path, events: int) -> int:
    """Write `events` lines cycling over the sample; return how many were made invalid."""
    sample = (REPO / "sample_data" / "audit.ndjson").read_text().splitlines()
    invalid = 0
    with path.open("w", encoding="utf-8") as stream:
        for number in range(1, events + 1):
            line = sample[(number - 1) % len(sample)]
            if number % INVALID_EVERY == 0:
                line = line.replace('"result":"success"', '"result":"ok"', 1).replace(
                    '"result":"failure"', '"result":"ok"', 1
                )
                invalid += 1
            stream.write(line + "\n")
    return invalid


def run_baseline(path: Path, limit: int) -> tuple[float, int, int]:
    validator = Draft202012Validator(load_schema())
    started = time.perf_counter()
    count = invalid = 0
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if count == limit:
                break
            count += 1
            if list(validator.iter_errors(json.loads(line))):
                invalid += 1
    return time.perf_counter() - started, count, invalid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/secobs-bench"))
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"audit-{args.events}.ndjson"
    planted = build_input(path, args.events)

    started = time.perf_counter()
    result = validate_files([path], jobs=args.jobs)
    secobs_seconds = time.perf_counter() - started
    assert result.records == args.events, result.records
    assert len(result.invalid) == planted, len(result.invalid)

    baseline_seconds, baseline_events, baseline_invalid = run_baseline(
        path, min(args.baseline_events, args.events)
    )
    assert baseline_invalid == baseline_events // INVALID_EVERY

    secobs_rate = args.events / secobs_seconds
    baseline_rate = baseline_events / baseline_seconds
    report = {
        "events": args.events,
        "file_bytes": path.stat().st_size,
        "invalid": planted,
        "secobs_seconds": round(secobs_seconds, 2),
        "secobs_events_per_second": round(secobs_rate),
        "jobs": args.jobs or os.cpu_count(),
        "baseline_events": baseline_events,
        "baseline_seconds": round(baseline_seconds, 2),
        "baseline_events_per_second": round(baseline_rate),
        "speedup": round(secobs_rate / baseline_rate, 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
