"""Measure evidence chain throughput and memory, and print one JSON summary.

Throughput, in one run over the same events (the shipped sample's audit events, repeated with
a distinct sequence number so every event differs):

- ``raw_sha256``: the chain hash alone, ``sha256(prev_hash + canonical)``, over canonical bytes
  computed beforehand. This is the ceiling for any canonicaliser.
- ``native``: secobs's jcs canonical form (orjson fast path) plus the chain hash, from parsed
  events: the work per event of sealing and of verifying a case against its seal.
- ``plain``: ``json.dumps(event, sort_keys=True)`` plus the chain hash, the loop services run.
- ``rfc8785``: the rfc8785 package plus the chain hash, the previous implementation.
- ``verify_file`` and ``plain_text``: the same from NDJSON text, parsing included:
  secobs.chain.verify_file on an exported chain file against json.loads + json.dumps.

Memory: seal and verify ``--rss-sizes`` records in a fresh subprocess each and report the
peak RSS, to show that it stays flat as the record count grows.

Run: python benchmarks/chain_verify.py [--events N] [--rss-sizes 1000000,3000000]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import rfc8785

from secobs import chain

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "audit.ndjson"
GENESIS = "0" * 64


def sample_events(count: int) -> list[dict]:
    base = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    return [{**event, "seq": i} for i, event in zip(range(count), itertools.cycle(base))]


def event_stream(count: int):
    """Yield (event, source_file, source_record) without holding the events in memory."""
    base = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    for i, event in zip(range(count), itertools.cycle(base)):
        yield {**event, "seq": i}, "audit.ndjson", i + 1


def timed(function, *args) -> float:
    """Return the best wall time of three runs, in seconds."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def loop_raw(canonical: list[bytes]) -> str:
    previous = GENESIS
    for data in canonical:
        previous = hashlib.sha256(previous.encode() + data).hexdigest()
    return previous


def loop_native(events: list[dict]) -> str:
    previous = GENESIS
    for event in events:
        previous = hashlib.sha256(previous.encode() + chain._canonical(event, "jcs")).hexdigest()
    return previous


def loop_plain(events: list[dict]) -> str:
    previous = GENESIS
    for event in events:
        text = json.dumps(event, sort_keys=True).encode()
        previous = hashlib.sha256(previous.encode() + text).hexdigest()
    return previous


def loop_rfc8785(events: list[dict]) -> str:
    previous = GENESIS
    for event in events:
        previous = hashlib.sha256(previous.encode() + rfc8785.dumps(event)).hexdigest()
    return previous


def loop_plain_text(lines: list[bytes]) -> str:
    previous = GENESIS
    for line in lines:
        record = json.loads(line)
        del record["prev_hash"], record["hash"]
        text = json.dumps(record, sort_keys=True).encode()
        previous = hashlib.sha256(previous.encode() + text).hexdigest()
    return previous


def rate(records: int, canonical_bytes: int, seconds: float) -> dict:
    return {
        "seconds": round(seconds, 4),
        "records_per_s": round(records / seconds),
        "canonical_mb_per_s": round(canonical_bytes / seconds / 1e6, 1),
    }


def throughput(count: int) -> dict:
    events = sample_events(count)
    canonical = [rfc8785.dumps(event) for event in events]
    assert [chain._canonical(event, "jcs") for event in events] == canonical
    total = sum(len(data) for data in canonical)
    results = {
        "records": count,
        "mean_canonical_bytes": round(total / count, 1),
        "raw_sha256": rate(count, total, timed(loop_raw, canonical)),
        "native": rate(count, total, timed(loop_native, events)),
        "plain": rate(count, total, timed(loop_plain, events)),
        "rfc8785": rate(count, total, timed(loop_rfc8785, events[: count // 10])),
    }
    results["rfc8785"] = rate(count // 10, total // 10, results["rfc8785"]["seconds"])

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chain.ndjson"
        chain.export_chain(((event, "audit.ndjson", 1) for event in events), path)
        lines = path.read_bytes().splitlines()
        results["verify_file"] = rate(count, total, timed(chain.verify_file, path))
        results["plain_text"] = rate(count, total, timed(loop_plain_text, lines))
        assert chain.verify_file(path).valid

    native = results["native"]["records_per_s"]
    results["native_vs_raw_sha256"] = round(native / results["raw_sha256"]["records_per_s"], 3)
    results["native_vs_plain"] = round(native / results["plain"]["records_per_s"], 2)
    results["native_vs_rfc8785"] = round(native / results["rfc8785"]["records_per_s"], 2)
    verify_rate = results["verify_file"]["records_per_s"]
    results["verify_file_vs_plain_text"] = round(
        verify_rate / results["plain_text"]["records_per_s"], 2
    )
    return results


def memory_child(count: int, folder: str) -> None:
    """Seal, export and verify ``count`` records; print seconds and peak RSS as JSON."""
    evidence_dir = Path(folder) / "evidence"
    start = time.perf_counter()
    seal = chain.seal_events(event_stream(count), evidence_dir)
    sealed = time.perf_counter()
    result = chain.verify_sealed(event_stream(count), evidence_dir)
    verified = time.perf_counter()
    assert result.valid and result.records == count
    path = Path(folder) / "chain.ndjson"
    chain.export_chain(event_stream(count), path)
    exported = time.perf_counter()
    assert chain.verify_file(path).head_hash == seal.head_hash
    done = time.perf_counter()
    peak_kib = peak_rss_kib()
    summary = {
        "records": count,
        "seal_s": round(sealed - start, 1),
        "verify_sealed_s": round(verified - sealed, 1),
        "export_s": round(exported - verified, 1),
        "verify_file_s": round(done - exported, 1),
        "chain_file_mb": round(path.stat().st_size / 1e6, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }
    print(json.dumps(summary))


def peak_rss_kib() -> int:
    """Return this process's peak RSS in KiB.

    VmHWM belongs to the process image, so it starts afresh at exec. On Linux ru_maxrss
    keeps the parent's RSS from before the fork, which would hide the child's own peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory(sizes: list[int]) -> list[dict]:
    results = []
    for count in sizes:
        with tempfile.TemporaryDirectory() as folder:
            output = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(count), "--folder", folder],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    return results


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "orjson": orjson.__version__,
        "openssl": __import__("ssl").OPENSSL_VERSION,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per throughput loop")
    parser.add_argument(
        "--rss-sizes",
        default="1000000,3000000",
        help="comma-separated record counts for the memory runs; empty to skip",
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(args.memory_child, args.folder)
        return
    sizes = [int(size) for size in args.rss_sizes.split(",") if size.strip()]
    # The memory runs go first so that the subprocesses start from a small parent.
    memory_runs = memory(sizes)
    summary = {"machine": machine(), "throughput": throughput(args.events)}
    summary["memory"] = memory_runs
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
