"""Ingest throughput per input format on generated files, against a plain DuckDB copy.

For each format a deterministic generator writes `--records` records (1,000,000 by default).
secobs ingests the file in a fresh subprocess, and a second subprocess copies the same file
to Parquet with DuckDB alone (`read_json` for JSON formats, a one-column `read_csv` of the
lines for text logs). Both run in the same invocation, so the ratio compares like with like
on the machine that runs it. Peak memory is each child's maximum resident set size, which
for `cloudtrail-document` shows that a single large `{"Records": [...]}` document streams.

    python benchmarks/ingest_formats.py [--records 1000000] [--formats cloudtrail-ndjson,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SECOBS_INGEST = """
import sys
from secobs.ingest import ingest
result = ingest(sys.argv[1], [sys.argv[2]], format=sys.argv[3])
item = result.files[0]
assert item.status == "loaded", item.error
print(item.loaded, item.quarantined)
"""

DUCKDB_JSON_COPY = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
source = "read_json($path, format = '" + sys.argv[3] + "', maximum_object_size = 1073741824)"
if sys.argv[4] == "Records":
    source = "(SELECT unnest(Records, max_depth := 2) FROM " + source + ")"
con.execute(
    "COPY (SELECT * FROM " + source + ") TO '" + sys.argv[2].replace("'", "''")
    + "' (FORMAT parquet, COMPRESSION zstd)",
    {"path": sys.argv[1]},
)
print(con.execute("SELECT count(*) FROM read_parquet($p)", {"p": sys.argv[2]}).fetchall()[0][0])
"""

DUCKDB_LINES_COPY = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(
    "COPY (SELECT * FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), "
    "quote = '', escape = '', header = false, auto_detect = false)) TO '"
    + sys.argv[2].replace("'", "''") + "' (FORMAT parquet, COMPRESSION zstd)",
    {"path": sys.argv[1]},
)
print(con.execute("SELECT count(*) FROM read_parquet($p)", {"p": sys.argv[2]}).fetchall()[0][0])
"""

# The child reports its own peak RSS (Linux: kilobytes) on its last line.
PEAK = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def cloudtrail_event(rng: random.Random, index: int) -> dict:
    user = f"user-{rng.randrange(500)}"
    failed = rng.random() < 0.05
    event = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDAEXAMPLE{rng.randrange(10**6):06d}",
            "arn": f"arn:aws:iam::111122223333:user/{user}",
            "accountId": "111122223333",
            "userName": user,
        },
        "eventTime": f"2024-06-{1 + index // 86400 % 28:02d}T{index // 3600 % 24:02d}:"
        f"{index // 60 % 60:02d}:{index % 60:02d}Z",
        "eventSource": rng.choice(["s3.amazonaws.com", "iam.amazonaws.com", "ec2.amazonaws.com"]),
        "eventName": rng.choice(["GetObject", "ListBuckets", "CreateUser", "RunInstances"]),
        "awsRegion": "us-east-1",
        "sourceIPAddress": rng.choice(
            [f"198.51.100.{rng.randrange(256)}", "AWS Internal", "cloudformation.amazonaws.com"]
        ),
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
        "requestParameters": {"bucketName": "evidence", "key": f"objects/{index:08d}.json"},
        "responseElements": None,
        "requestID": f"{rng.getrandbits(64):016X}",
        "eventID": f"{index:08d}-0000-4000-8000-{rng.getrandbits(48):012x}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }
    if failed:
        event["errorCode"] = "AccessDenied"
        event["errorMessage"] = "User is not authorized to perform this action"
    return event


def okta_event(rng: random.Random, index: int) -> dict:
    return {
        "uuid": f"{index:08d}-0000-4000-8000-{rng.getrandbits(48):012x}",
        "published": f"2024-06-01T{index // 3600 % 24:02d}:{index // 60 % 60:02d}:"
        f"{index % 60:02d}.{index % 1000:03d}Z",
        "eventType": rng.choice(["user.session.start", "user.authentication.sso"]),
        "version": "0",
        "severity": "INFO",
        "displayMessage": "User login to Okta",
        "actor": {
            "id": f"00u{rng.getrandbits(40):010x}",
            "type": "User",
            "alternateId": f"user{rng.randrange(500)}@example.com",
            "displayName": "Example User",
        },
        "client": {
            "userAgent": {"rawUserAgent": "Mozilla/5.0 (X11; Linux x86_64)", "os": "Linux"},
            "ipAddress": f"203.0.113.{rng.randrange(256)}",
            "geographicalContext": {"city": "Dublin", "state": "Leinster", "country": "Ireland"},
        },
        "outcome": {"result": "FAILURE" if rng.random() < 0.1 else "SUCCESS"},
        "authenticationContext": {"credentialType": "PASSWORD"},
    }


def nginx_line(rng: random.Random, index: int) -> str:
    second = index % 60
    upstream = rng.choice(['"0.004, 0.012"', '"0.020"', '"-"', '"1.500 : 1.499"'])
    return (
        f"10.0.{rng.randrange(256)}.{rng.randrange(256)} - - "
        f"[01/Jun/2024:{index // 3600 % 24:02d}:{index // 60 % 60:02d}:{second:02d} +0000] "
        f'"GET /api/orders/{rng.randrange(10**6)}?page=2 HTTP/1.1" '
        f'{rng.choice([200, 200, 200, 404, 502])} {rng.randrange(10**5)} "-" '
        f'"Mozilla/5.0 (X11; Linux x86_64)" rt=0.{rng.randrange(1000):03d} '
        f'urt={upstream} ust="200" rid=req-{index:08d}'
    )


def write_ndjson(path: Path, make: Callable[[random.Random, int], dict], count: int) -> None:
    rng = random.Random(7)
    with path.open("w") as stream:
        for index in range(count):
            stream.write(json.dumps(make(rng, index), separators=(",", ":")) + "\n")


def write_document(path: Path, count: int) -> None:
    rng = random.Random(7)
    with path.open("w") as stream:
        stream.write('{"Records":[')
        for index in range(count):
            if index:
                stream.write(",")
            stream.write(json.dumps(cloudtrail_event(rng, index), separators=(",", ":")))
        stream.write("]}\n")


def write_lines(path: Path, make: Callable[[random.Random, int], str], count: int) -> None:
    rng = random.Random(7)
    with path.open("w") as stream:
        for index in range(count):
            stream.write(make(rng, index) + "\n")


# name: (file name, secobs format, writer, baseline script, read_json format, container)
BENCHMARKS: dict[str, tuple] = {
    "cloudtrail-ndjson": (
        "cloudtrail.ndjson",
        "cloudtrail",
        lambda path, n: write_ndjson(path, cloudtrail_event, n),
        DUCKDB_JSON_COPY,
        "newline_delimited",
        "-",
    ),
    "cloudtrail-document": (
        "cloudtrail.json",
        "cloudtrail",
        write_document,
        DUCKDB_JSON_COPY,
        "auto",
        "Records",
    ),
    "okta-ndjson": (
        "okta.ndjson",
        "okta",
        lambda path, n: write_ndjson(path, okta_event, n),
        DUCKDB_JSON_COPY,
        "newline_delimited",
        "-",
    ),
    "nginx": (
        "nginx.log",
        "nginx",
        lambda path, n: write_lines(path, nginx_line, n),
        DUCKDB_LINES_COPY,
        "-",
        "-",
    ),
}


def run_child(code: str, *args: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code + PEAK, *args], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - started
    lines = completed.stdout.strip().splitlines()
    return elapsed, int(lines[-1]), lines[0]


def measure(name: str, records: int, workdir: Path) -> dict:
    file_name, fmt, write, baseline, json_format, container = BENCHMARKS[name]
    source = workdir / f"{records}-{file_name}"
    if not source.exists():
        write(source, records)
    case = workdir / f"case-{name}"
    shutil.rmtree(case, ignore_errors=True)
    secobs_s, secobs_kb, out = run_child(SECOBS_INGEST, str(case), str(source), fmt)
    loaded, quarantined = (int(value) for value in out.split())
    assert loaded + quarantined == records, out

    target = workdir / f"copy-{name}.parquet"
    target.unlink(missing_ok=True)
    duckdb_s, duckdb_kb, out = run_child(baseline, str(source), str(target), json_format, container)
    assert int(out) == records, out
    shutil.rmtree(case, ignore_errors=True)
    return {
        "records": records,
        "file_mb": round(source.stat().st_size / 1e6, 1),
        "secobs_s": round(secobs_s, 2),
        "duckdb_copy_s": round(duckdb_s, 2),
        "secobs_records_per_s": round(records / secobs_s),
        "duckdb_records_per_s": round(records / duckdb_s),
        "ratio_secobs_to_duckdb": round(duckdb_s / secobs_s, 3),
        "secobs_peak_mb": round(secobs_kb / 1024),
        "duckdb_peak_mb": round(duckdb_kb / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/secobs-bench-formats"))
    parser.add_argument("--formats", default=",".join(BENCHMARKS))
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)

    results = {}
    for name in options.formats.split(","):
        results[name] = measure(name, options.records, options.workdir)
        print(name, json.dumps(results[name]), file=sys.stderr)
    summary = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "formats": results,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
