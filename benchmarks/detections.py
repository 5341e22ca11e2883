"""Measure each detection's precision and recall on the labelled sample scenarios.

For every scenario and seed, the script generates a sample (`secobs.sample.generate`),
ingests it into a fresh case, runs `secobs.detect.run_detections` and compares the alerts
with the ground truth:

- an alert is a true positive when at least one of its evidence rows belongs to an attack
  trace (ground truth `trace_ids`), and a false alert otherwise;
- recall counts, per detection, the scenarios in EXPECTED where that detection raised at
  least one true-positive alert, over the scenarios where it was expected;
- the benign scenario gives false alerts per 100,000 benign audit events.

Run from the repository root:

    python benchmarks/detections.py --seeds 3 --events 20000

It prints a Markdown table and, with --json, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from secobs.case import Case
from secobs.detect import DETECTIONS, run_detections
from secobs.ingest import ingest
from secobs.sample import generate

# Detections that each scenario must raise. Others may fire on attack rows without penalty.
EXPECTED = {
    "incident": {
        "auth_failure_burst",
        "password_spray",
        "impossible_travel",
        "admin_new_geo",
        "export_spike",
    },
    "spray": {"auth_failure_burst", "password_spray"},
    "takeover": {"impossible_travel"},
    "escalation": {"privileged_denied_spike", "admin_new_geo"},
    "token_theft": {"token_new_ip"},
    "export_spike": {"export_spike"},
    "stuffing": {"credential_stuffing"},
    "benign": set(),
}


def evaluate(scenario: str, seed: int, events: int, work: Path) -> dict:
    """Generate, ingest and detect one scenario; return per-detection outcomes."""
    folder = work / f"{scenario}-{seed}"
    files = generate(folder / "sources", seed=seed, events=events, scenario=scenario)
    truth = json.loads(files.ground_truth.read_text(encoding="utf-8"))
    case = folder / "case"
    ingest(case, [files.audit, files.requests, files.spans])
    started = time.perf_counter()
    alerts = run_detections(case).alerts
    elapsed = time.perf_counter() - started

    con = Case.open(case).connect()
    rows = con.execute(
        "SELECT source_file, source_record, trace_id FROM audit_events "
        "UNION ALL SELECT source_file, source_record, trace_id FROM request_metrics"
    ).fetchall()
    con.close()
    trace_of = {(file, record): trace for file, record, trace in rows}
    attack = set(truth["trace_ids"])
    outcome: dict[str, dict[str, int]] = defaultdict(lambda: {"true": 0, "false": 0})
    for alert in alerts.iter_rows(named=True):
        evidence = {trace_of.get((item["source_file"], item["source_record"]))
                    for item in alert["evidence"]}  # fmt: skip
        kind = "true" if evidence & attack else "false"
        outcome[alert["detection"]][kind] += 1
    attack_events = truth.get("events", 0) if scenario != "incident" else 0
    return {
        "scenario": scenario,
        "seed": seed,
        "audit_events": files.counts["audit_events"],
        "benign_events": files.counts["audit_events"] - attack_events,
        "seconds": elapsed,
        "alerts": dict(outcome),
    }


def summarise(results: list[dict]) -> dict:
    """Add up the outcomes into precision, recall and false alerts per 100k benign events."""
    table = {}
    benign_events = sum(result["audit_events"] for result in results
                        if result["scenario"] == "benign")  # fmt: skip
    for detection in DETECTIONS:
        true = sum(r["alerts"].get(detection, {}).get("true", 0) for r in results)
        false = sum(r["alerts"].get(detection, {}).get("false", 0) for r in results)
        expected = [r for r in results if detection in EXPECTED[r["scenario"]]]
        found = [r for r in expected if r["alerts"].get(detection, {}).get("true", 0) > 0]
        benign_false = sum(r["alerts"].get(detection, {}).get("false", 0) for r in results
                           if r["scenario"] == "benign")  # fmt: skip
        table[detection] = {
            "alerts": true + false,
            "precision": true / (true + false) if true + false else None,
            "recall": len(found) / len(expected) if expected else None,
            "expected_in": len(expected),
            "false_per_100k_benign": benign_false * 100_000 / benign_events
            if benign_events
            else None,
        }
    return table


def markdown(table: dict) -> str:
    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        "| detection | alerts | precision | recall | scenarios expected "
        "| false alerts per 100k benign |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for detection, row in table.items():
        lines.append(
            f"| {detection} | {row['alerts']} | {number(row['precision'])} | "
            f"{number(row['recall'])} | {row['expected_in']} | "
            f"{number(row['false_per_100k_benign'])} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per scenario (1, 2, ...)")
    parser.add_argument("--events", type=int, default=20_000, help="audit events per sample")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="secobs-bench-") as work:
        for scenario in EXPECTED:
            for seed in range(1, args.seeds + 1):
                results.append(evaluate(scenario, seed, args.events, Path(work)))
                print(f"{scenario} seed {seed}: {dict(results[-1]['alerts'])}", file=sys.stderr)
    table = summarise(results)
    if args.json:
        print(json.dumps({"settings": vars(args), "detections": table, "runs": results}))
    else:
        print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
