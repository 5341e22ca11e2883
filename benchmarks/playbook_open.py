"""Time to open the account-takeover playbook and have its first chart as SVG.

Each run starts a fresh Python process, as a new notebook kernel would, imports the playbooks
(timed apart), then times constructing `AccountTakeoverPlaybook` on the case: the catalog
queries, the charts and their SVG, which the constructor draws before it returns. A second
construction in the same process shows the warm time, once vl-convert has started.

    python benchmarks/playbook_open.py CASE [--runs 3]
    python benchmarks/playbook_open.py --events 1000000 [--workdir /tmp/secobs-bench]

The second form generates the sample with `secobs sample --events N`, ingests it into
WORKDIR/case-N (reused when present) and then measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, sys, time
started = time.perf_counter()
from secobs.playbooks import AccountTakeoverPlaybook
imported = time.perf_counter()
playbook = AccountTakeoverPlaybook(sys.argv[1])
first = playbook.output.outputs[1]["data"]["image/svg+xml"]
opened = time.perf_counter()
AccountTakeoverPlaybook(sys.argv[1])
again = time.perf_counter()
print(json.dumps({
    "import_s": imported - started,
    "open_s": opened - imported,
    "warm_open_s": again - opened,
    "first_chart": playbook.output.outputs[1]["data"]["text/plain"],
    "svg_bytes": len(first),
    "actor": playbook.actor_picker.value,
    "timeline_rows": playbook.timeline.height,
    "logins": playbook.logins.height,
}))
"""


def prepare(events: int, workdir: Path) -> Path:
    """Generate and ingest a sample of about `events` audit events unless it exists."""
    case = workdir / f"case-{events}"
    if (case / "manifest").is_dir():
        return case
    sources = workdir / f"sample-{events}"
    secobs = [sys.executable, "-m", "secobs.cli"]
    subprocess.run([*secobs, "sample", str(sources), "--events", str(events)], check=True)
    files = [sources / name for name in ("audit.ndjson", "requests.csv", "spans.otlp.jsonl")]
    subprocess.run([*secobs, "ingest", str(case), *map(str, files)], check=True)
    return case


def measure(case: Path, runs: int) -> dict:
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        output = subprocess.run(
            [sys.executable, "-c", CHILD, str(case)], check=True, capture_output=True, text=True
        ).stdout
        result = json.loads(output.splitlines()[-1])
        result["process_s"] = time.perf_counter() - started
        results.append(result)
    summary = {
        key: statistics.median(result[key] for result in results)
        for key in ("import_s", "open_s", "warm_open_s", "process_s")
    }
    return {
        "case": str(case),
        "runs": runs,
        "median": summary,
        "last_run": results[-1],
        # Other work on the machine slows every number; the load average shows how much.
        "load_average_1m": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", type=Path, help="an ingested case folder")
    parser.add_argument("--events", type=int, help="generate and ingest a sample of this size")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/secobs-bench"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.case is None and args.events is None:
        parser.error("give a CASE or --events N")
    case = args.case if args.case is not None else prepare(args.events, args.workdir)
    print(json.dumps(measure(case, args.runs), indent=2))


if __name__ == "__main__":
    main()
