"""`secobs demo`: investigate the shipped sample incident from end to end."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secobs import charts
from secobs.case import Case
from secobs.detect import run_detections
from secobs.errors import UsageError
from secobs.evidence import seal_case, verify
from secobs.ingest import ingest
from secobs.investigation import Findings, investigate
from secobs.report import write_postmortem

SAMPLE_FILES = ("audit.ndjson", "requests.csv", "spans.otlp.jsonl")
REPO_SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


def sample_sources(case_dir: Path) -> list[Path]:
    """Return the shipped sample files, generating them when secobs runs outside a checkout."""
    if all((REPO_SAMPLE_DIR / name).is_file() for name in SAMPLE_FILES):
        return [REPO_SAMPLE_DIR / name for name in SAMPLE_FILES]
    from secobs.sample import generate

    generated = generate(case_dir / "sources")
    return [generated.audit, generated.requests, generated.spans]


def prepare_case_dir(case_dir: Path) -> None:
    """Remove an earlier demo case; refuse to delete a folder that is not a secobs case."""
    if not case_dir.exists():
        return
    if not case_dir.is_dir():
        raise UsageError(f"{case_dir} exists and is not a folder; choose another --case")
    is_case = (case_dir / "manifest").is_dir() and (case_dir / "lake").is_dir()
    if any(case_dir.iterdir()) and not is_case:
        raise UsageError(
            f"{case_dir} is not empty and is not a secobs case; choose another --case folder"
        )
    shutil.rmtree(case_dir)


def export_charts(findings: Findings, reports_dir: Path) -> dict[str, list[Path]]:
    """Draw the latency-versus-risk and actor timeline charts as PNG and SVG."""
    drawn = {}
    if findings.all_logins.height:
        drawn["Login latency versus risk"] = (
            "latency_vs_risk",
            charts.latency_risk_chart(findings.all_logins, min_risk=70, min_latency_ms=1000),
        )
    if findings.timeline.height:
        drawn[f"Timeline of {findings.suspect_actor}"] = (
            "actor_timeline",
            charts.actor_timeline_chart(
                findings.timeline, title=f"Timeline of {findings.suspect_actor}"
            ),
        )
    exported: dict[str, list[Path]] = {}
    for title, (stem, chart) in drawn.items():
        exported[title] = [
            charts.save(chart, reports_dir / f"{stem}{suffix}") for suffix in (".png", ".svg")
        ]
    return exported


def run_demo(case_dir: Path | str, *, echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Build the demo case, investigate it, seal and verify it, and write the postmortem."""
    say = echo or (lambda _message: None)
    case_dir = Path(case_dir)
    prepare_case_dir(case_dir)
    case_dir.mkdir(parents=True)
    sources = sample_sources(case_dir)

    loaded = ingest(case_dir, sources)
    case = Case.open(case_dir)
    say(f"Ingested {len(loaded.files)} files into {case.root}:")
    for table, count in loaded.loaded.items():
        say(f"  {table:<16} {count:>7,} rows")
    say(f"  quarantined      {loaded.quarantined:>7,} records")

    detected = run_detections(case_dir)
    findings = investigate(case)
    seal = seal_case(case_dir)
    verification = verify(case_dir)
    exported = export_charts(findings, case.reports_dir)
    report = write_postmortem(case.reports_dir, findings, verification, exported)

    say("")
    say(f"Alerts: {detected.alerts.height}")
    for row in detected.alerts.sort(["window_start", "detection"]).iter_rows(named=True):
        who = ", ".join(value for value in (row["actor_id"], row["client_ip"]) if value)
        say(
            f"  {row['window_start']:%Y-%m-%d %H:%M}Z  {row['severity']:<6} "
            f"{row['detection']:<20} {who or row['tenant_id'] or ''}"
        )
    say(f"Risky logins with high latency: {findings.risky_logins.height}")
    for row in findings.risky_logins.head(5).iter_rows(named=True):
        say(
            f"  {row['ts']:%Y-%m-%d %H:%M:%S}Z  {row['actor_id']:<16} {row['client_ip']:<16} "
            f"{row['geo_country'] or '?':<3} risk {row['risk_score']:>3}  "
            f"latency {row['latency_ms']:>8,.0f} ms"
        )
    say(f"Suspected actor: {findings.suspect_actor}")
    say(f"Token created by that actor: {findings.token_id}")
    radius = findings.blast_radius
    if radius is not None:
        say(
            f"Blast radius: {len(radius.traces)} traces, {radius.spans.height} spans, "
            f"services {', '.join(radius.services)}; {radius.export_traces} data exports; "
            f"tenants {', '.join(radius.tenants)}"
        )
    state = "valid" if verification.valid else f"INVALID ({verification.problem})"
    say(f"Evidence chain: {seal.records:,} events sealed; verification {state}")
    say(f"Postmortem: {report}")

    return {
        "case": str(case.root),
        "loaded": loaded.loaded,
        "quarantined": loaded.quarantined,
        "alerts": detected.to_json()["alerts"],
        "risky_logins": findings.risky_logins.height,
        "suspect_actor": findings.suspect_actor,
        "token_id": findings.token_id,
        "blast_radius": radius.to_json() if radius else None,
        "chain": verification.to_json(),
        "report": str(report),
        "charts": [str(path) for paths in exported.values() for path in paths],
    }
