"""Ingest throughput on a generated audit.v1 file, against a plain DuckDB copy of the same file.

Both runs happen in fresh subprocesses in the same invocation, so the ratio compares like with
like on whatever machine runs it. Peak memory is the child's maximum resident set size.

    python benchmarks/ingest_audit.py --events 1000000 [--workdir /tmp/secobs-bench]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

SECOBS_INGEST = """
import sys
from secobs.ingest import ingest
result = ingest(sys.argv[1], [sys.argv[2]])
print(result.loaded["audit_events"], result.quarantined)
"""

DUCKDB_COPY = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(
    "COPY (SELECT * FROM read_json($path, format = 'newline_delimited')) "
    "TO '" + sys.argv[2].replace("'", "''") + "' (FORMAT parquet, COMPRESSION zstd)",
    {"path": sys.argv[1]},
)
print(con.execute("SELECT count(*) FROM read_parquet($p)", {"p": sys.argv[2]}).fetchall()[0][0])
"""

# The child reports its own peak RSS (Linux: kilobytes) on its last line.
PEAK = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def run_child(code: str, *args: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code + PEAK, *args], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - started
    lines = completed.stdout.strip().splitlines()
    return elapsed, int(lines[-1]), lines[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/secobs-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    from secobs.sample import generate

    source_dir = options.workdir / f"sample-{options.events}"
    if not (source_dir / "audit.ndjson").exists():
        started = time.perf_counter()
        generate(source_dir, events=options.events)
        print(f"generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    audit = source_dir / "audit.ndjson"
    lines = sum(1 for _ in audit.open("rb"))
    size_mb = audit.stat().st_size / 1e6

    results: dict[str, list[tuple[float, int]]] = {"secobs": [], "duckdb": []}
    for _ in range(options.repeat):
        case = options.workdir / "case"
        shutil.rmtree(case, ignore_errors=True)
        elapsed, peak_kb, out = run_child(SECOBS_INGEST, str(case), str(audit))
        assert int(out.split()[0]) == lines, out
        results["secobs"].append((elapsed, peak_kb))

        target = options.workdir / "copy.parquet"
        target.unlink(missing_ok=True)
        elapsed, peak_kb, out = run_child(DUCKDB_COPY, str(audit), str(target))
        assert int(out) == lines, out
        results["duckdb"].append((elapsed, peak_kb))

    best = {name: min(runs) for name, runs in results.items()}
    summary = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}",
        "events": lines,
        "file_mb": round(size_mb, 1),
        "secobs_s": round(best["secobs"][0], 2),
        "duckdb_s": round(best["duckdb"][0], 2),
        "secobs_events_per_s": round(lines / best["secobs"][0]),
        "duckdb_events_per_s": round(lines / best["duckdb"][0]),
        "ratio_secobs_to_duckdb": round(best["duckdb"][0] / best["secobs"][0], 2),
        "secobs_peak_mb": round(max(peak for _, peak in results["secobs"]) / 1024),
        "duckdb_peak_mb": round(max(peak for _, peak in results["duckdb"]) / 1024),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
