"""The postmortem report, written as Markdown and as a self-contained HTML page.

The report is built once as a list of blocks (headings, paragraphs, tables, charts) and each
block is rendered to both formats. Telemetry strings (actor ids, routes, user agents) are
attacker-controlled, so every value goes through `markdown_cell` or `markdown_code` in Markdown
and `html.escape` in HTML. The HTML page loads nothing: charts are embedded as base64 `data:`
URIs of their SVG, shown through `<img>`, where a browser never runs scripts, and a
Content-Security-Policy allows only inline styles and `data:` images.
"""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from secobs import charts
from secobs.case import Case
from secobs.chain import SEAL_JSON, Verification
from secobs.errors import UsageError
from secobs.investigation import Findings, investigate

log = logging.getLogger("secobs")

TIMELINE_ROWS = 40


def markdown_cell(value: Any) -> str:
    """Render a value for a Markdown table cell, escaping HTML, pipes, backticks and newlines."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    elif isinstance(value, list):
        text = ", ".join(str(item) for item in value)
    elif isinstance(value, float):
        text = f"{value:,.1f}"
    else:
        text = str(value)
    text = html.escape(text, quote=True)
    for character in ("\\", "|", "`", "[", "]"):
        text = text.replace(character, "\\" + character)
    return " ".join(text.split())


def markdown_code(value: Any) -> str:
    """Render a value as inline code; HTML is inert there, so only backticks need care."""
    text = " ".join(str(value).split()).replace("`", "'")
    return f"`{text}`"


def markdown_table(frame: pl.DataFrame, columns: Sequence[str], limit: int | None = None) -> str:
    """Render chosen columns of a DataFrame as a Markdown table (at most `limit` rows)."""
    present = [column for column in columns if column in frame.columns]
    if frame.height == 0 or not present:
        return "_No rows._\n"
    rows = frame.select(present).head(limit) if limit else frame.select(present)
    lines = ["| " + " | ".join(present) + " |", "|" + "---|" * len(present)]
    for row in rows.iter_rows():
        lines.append("| " + " | ".join(markdown_cell(value) for value in row) + " |")
    if limit and frame.height > limit:
        lines.append(f"\n_{frame.height - limit} more rows not shown._")
    return "\n".join(lines) + "\n"


RISKY_LOGIN_COLUMNS = (
    "ts",
    "actor_id",
    "tenant_id",
    "result",
    "client_ip",
    "geo_country",
    "risk_score",
    "signals",
    "latency_ms",
    "joined_on",
)
TIMELINE_COLUMNS = ("ts", "activity", "outcome", "route", "client_ip", "geo_country", "risk_score")
ALERT_COLUMNS = (
    "detection",
    "severity",
    "window_start",
    "window_end",
    "actor_id",
    "client_ip",
    "tenant_id",
    "event_count",
    "summary",
)
EXPORT_SPAN_COLUMNS = ("start_ts", "trace_id", "service", "http_route", "tenant_id", "enduser_id")
MANIFEST_COLUMNS = ("path", "format", "sha256", "size", "records_in", "loaded", "quarantined")
CHART_SUFFIXES = (".png", ".svg")
REPORT_LIMIT = 20

HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eef1f6; }
code { background: #f3f3f3; padding: 0 0.2em; word-break: break-all; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; }
.invalid { color: #b2182b; }
"""
# The page may use inline styles and data: images, and nothing else: no scripts, no fetches.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
</body>
</html>
"""


@dataclass(frozen=True)
class Code:
    """An inline value shown as code: an id or hash that should be copied exactly."""

    value: Any


@dataclass(frozen=True)
class Strong:
    """Inline text shown in bold."""

    text: str


Inline = str | Code | Strong


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    parts: tuple[Inline, ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True)
class Table:
    frame: pl.DataFrame
    columns: tuple[str, ...]
    limit: int | None = None


@dataclass(frozen=True)
class Chart:
    """A chart exported as files; the first SVG is embedded in HTML, the first PNG in Markdown."""

    title: str
    paths: tuple[Path, ...]


Block = Heading | Paragraph | Bullets | Table | Chart


@dataclass
class Report:
    """The files `write_report` wrote and the verification result it reported."""

    markdown: Path
    html: Path
    charts: list[Path] = field(default_factory=list)
    verification: Verification | None = None
    findings: Findings | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "markdown": str(self.markdown),
            "html": str(self.html),
            "charts": [str(path) for path in self.charts],
            "chain": None if self.verification is None else self.verification.to_json(),
            "suspect_actor": None if self.findings is None else self.findings.suspect_actor,
        }


def write_postmortem(
    reports_dir: Path,
    findings: Findings,
    verification: Verification | None,
    charts: dict[str, list[Path]],
    *,
    alerts: pl.DataFrame | None = None,
) -> Path:
    """Write reports_dir/postmortem.md and postmortem.html and return the Markdown path.

    `charts` maps a title to the files of one exported chart (PNG and SVG), which must be in
    `reports_dir` or below it. `verification` is None for a case without a seal, and `alerts`
    None for a case without an alerts view.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    blocks = postmortem_blocks(findings, verification, charts, alerts)
    markdown = reports_dir / "postmortem.md"
    markdown.write_text(render_markdown(blocks, reports_dir), encoding="utf-8")
    page = reports_dir / "postmortem.html"
    page.write_text(render_html(blocks, title="Postmortem: investigation summary"), "utf-8")
    return markdown


def write_report(
    case_dir: Path | str,
    out: Path | str | None = None,
    *,
    min_risk: int = 70,
    min_latency_ms: float = 1000.0,
) -> Report:
    """Investigate a case and write its postmortem (Markdown, HTML and charts) to `out`.

    `out` defaults to CASE/reports. The chain is verified when the case has a seal. A case
    without one is reported as unsealed and is not sealed here, because a responder decides
    when the evidence is trustworthy enough to seal.
    """
    from secobs.evidence import verify

    case = Case.open(case_dir)
    reports_dir = Path(out) if out is not None else case.reports_dir
    if reports_dir.exists() and not reports_dir.is_dir():
        raise UsageError(f"{reports_dir} exists and is not a folder; choose another --out")
    findings = investigate(case, min_risk=min_risk, min_latency_ms=min_latency_ms)
    verification = verify(case.root) if (case.evidence_dir / SEAL_JSON).is_file() else None
    with case.connect() as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'alerts'"
        ).fetchall()[0][0]
        alerts = con.sql("SELECT * FROM alerts").pl() if exists else None
        logins = None
        if findings.suspect_actor is not None:
            logins = con.sql(
                "SELECT ts, actor_id, result, client_ip, user_agent, geo_country, geo_city, "
                "geo_lat, geo_lon, risk_score FROM audit_events "
                "WHERE actor_id = $actor AND event LIKE 'auth.login%' ORDER BY ts",
                params={"actor": findings.suspect_actor},
            ).pl()

    drawn = report_charts(
        findings, alerts, logins, min_risk=min_risk, min_latency_ms=min_latency_ms
    )
    exported: dict[str, list[Path]] = {}
    for title, (stem, chart) in drawn.items():
        exported[title] = [
            charts.save(chart, reports_dir / f"{stem}{suffix}") for suffix in CHART_SUFFIXES
        ]
    markdown = write_postmortem(reports_dir, findings, verification, exported, alerts=alerts)
    log.info("wrote the postmortem of %s to %s", case.root, reports_dir)
    return Report(
        markdown=markdown,
        html=reports_dir / "postmortem.html",
        charts=[path for paths in exported.values() for path in paths],
        verification=verification,
        findings=findings,
    )


def report_charts(
    findings: Findings,
    alerts: pl.DataFrame | None,
    logins: pl.DataFrame | None,
    *,
    min_risk: int = 70,
    min_latency_ms: float = 1000.0,
) -> dict[str, tuple[str, Any]]:
    """Draw the postmortem's charts: title to (file stem, chart), for the data present."""
    drawn: dict[str, tuple[str, Any]] = {}
    if findings.all_logins.height:
        drawn["Login latency versus risk"] = (
            "latency_vs_risk",
            charts.latency_risk_chart(
                findings.all_logins, min_risk=min_risk, min_latency_ms=min_latency_ms
            ),
        )
    actor = findings.suspect_actor
    if findings.timeline.height:
        title = f"Timeline of {actor}"
        drawn[title] = (
            "actor_timeline",
            charts.actor_timeline_chart(findings.timeline, title=title),
        )
    if logins is not None and logins.height:
        title = f"Logins of {actor}"
        located = charts.locate_logins(logins)
        drawn[title] = ("login_map", charts.login_map_chart(located, title=title))
    radius = findings.blast_radius
    if radius is not None and radius.spans.height:
        exports = radius.spans.filter(pl.col("is_export"))
        trace = (exports if exports.height else radius.spans)["trace_id"][0]
        title = f"Spans of trace {trace}"
        spans = radius.spans.filter(pl.col("trace_id") == trace)
        drawn[title] = ("span_waterfall", charts.span_waterfall_chart(spans, title=title))
    if alerts is not None and alerts.height:
        if all(name in alerts.columns for name in ("detection", "window_start", "window_end")):
            drawn["Detections over time"] = (
                "detections",
                charts.detection_timeline_chart(alerts.sort("window_start")),
            )
    return drawn


def postmortem_blocks(
    findings: Findings,
    verification: Verification | None,
    charts: dict[str, list[Path]],
    alerts: pl.DataFrame | None,
) -> list[Block]:
    """Lay out the postmortem: summary, findings, alerts, charts, timeline, evidence, sources."""
    generated = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    blocks: list[Block] = [
        Heading(1, "Postmortem: investigation summary"),
        Paragraph((f"Generated by secobs on {generated}.",)),
        *_summary_blocks(findings, verification, alerts),
        Heading(2, "Risky logins with high latency"),
        Table(findings.risky_logins, RISKY_LOGIN_COLUMNS, REPORT_LIMIT),
        *_alert_blocks(alerts),
        *_chart_blocks(charts),
        *_timeline_blocks(findings),
        *_blast_radius_blocks(findings),
        Heading(2, "Evidence integrity"),
        _verification_paragraph(verification),
        Heading(2, "Source files"),
        Paragraph(("Every ingested file with its SHA-256 hash and record counts.",)),
        Table(findings.manifest, MANIFEST_COLUMNS),
    ]
    return blocks


def _summary_blocks(
    findings: Findings, verification: Verification | None, alerts: pl.DataFrame | None
) -> list[Block]:
    counts = ", ".join(f"{count:,} {table}" for table, count in findings.counts.items())
    items: list[tuple[Inline, ...]] = [(f"Loaded: {counts}.",)]
    if findings.suspect_actor:
        items.append(("Suspected compromised actor: ", Code(findings.suspect_actor), "."))
    else:
        items.append(("No login met both the risk and the latency thresholds.",))
    if findings.token_id:
        items.append(("API token created by that actor: ", Code(findings.token_id), "."))
    radius = findings.blast_radius
    if radius is not None:
        items.append(
            (
                f"Blast radius: {len(radius.traces)} traces, {radius.spans.height} spans, "
                f"services {', '.join(radius.services)}, {radius.export_traces} data exports.",
            )
        )
    if alerts is None:
        items.append(("Alerts: none recorded (the case has no alerts view).",))
    else:
        items.append((f"Alerts: {alerts.height}.",))
    if verification is None:
        items.append(("Audit evidence chain: not sealed, so not verified.",))
    else:
        state = "valid" if verification.valid else f"INVALID ({verification.problem})"
        items.append((f"Audit evidence chain: {state}, {verification.records:,} records checked.",))
    return [Heading(2, "Summary"), Bullets(tuple(items))]


def _alert_blocks(alerts: pl.DataFrame | None) -> list[Block]:
    if alerts is None:
        return []
    ordered = alerts.sort("window_start") if "window_start" in alerts.columns else alerts
    return [Heading(2, "Alerts"), Table(ordered, ALERT_COLUMNS, REPORT_LIMIT * 2)]


def _chart_blocks(charts: dict[str, list[Path]]) -> list[Block]:
    if not charts:
        return []
    return [Heading(2, "Charts"), *(Chart(title, tuple(paths)) for title, paths in charts.items())]


def _timeline_blocks(findings: Findings) -> list[Block]:
    if findings.suspect_actor is None or findings.timeline.height == 0:
        return []
    audit = findings.timeline.filter(pl.col("source") == "audit")
    return [
        Heading(2, f"Timeline of {findings.suspect_actor} (audit events)"),
        Paragraph(("From one hour before the first risky login.",)),
        Table(audit, TIMELINE_COLUMNS, TIMELINE_ROWS),
    ]


def _blast_radius_blocks(findings: Findings) -> list[Block]:
    radius = findings.blast_radius
    if radius is None:
        return []
    seed: list[Inline] = ["From "]
    for index, (key, value) in enumerate(radius.seed.items()):
        seed += [", " if index else "", f"{key} ", Code(value)]
    seed.append(":")
    exports = radius.spans.filter(pl.col("is_export")).sort("start_ts")
    return [
        Heading(2, "Blast radius"),
        Paragraph(tuple(seed)),
        Bullets(
            (
                (f"Traces: {len(radius.traces)}; spans: {radius.spans.height}.",),
                (f"Services: {', '.join(radius.services)}.",),
                (f"Routes: {', '.join(radius.routes)}.",),
                (f"Tenants: {', '.join(radius.tenants)}.",),
                (f"Actors on the spans: {', '.join(radius.actors)}.",),
                (f"Data exports: {radius.export_traces} traces ({radius.export_spans} spans).",),
            )
        ),
        Heading(3, "Data export spans"),
        Table(exports, EXPORT_SPAN_COLUMNS, REPORT_LIMIT),
    ]


def _verification_paragraph(verification: Verification | None) -> Paragraph:
    if verification is None:
        return Paragraph(
            (
                Strong("The case has no seal"),
                ", so the audit evidence was not verified. Seal it with ",
                Code("secobs chain seal CASE"),
                " once you trust the files, then run the report again.",
            )
        )
    if verification.valid:
        return Paragraph(
            (
                f"The hash chain over {verification.records:,} audit events verifies against its "
                f"seal ({verification.mode} mode). Head hash ",
                Code(verification.head_hash),
                ".",
            )
        )
    return Paragraph(
        (
            Strong("The evidence chain does not verify"),
            f": {verification.problem} at record {verification.first_bad}. ",
            verification.detail or "",
        )
    )


# --- Rendering ---------------------------------------------------------------------------------


def render_markdown(blocks: Sequence[Block], reports_dir: Path) -> str:
    """Render blocks as Markdown; chart images link to files relative to `reports_dir`."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {markdown_cell(block.text)}\n")
        elif isinstance(block, Paragraph):
            parts.append(_markdown_inline(block.parts) + "\n")
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {_markdown_inline(item)}" for item in block.items) + "\n")
        elif isinstance(block, Table):
            parts.append(markdown_table(block.frame, block.columns, limit=block.limit))
        else:
            parts.append(_markdown_chart(block, reports_dir))
    return "\n".join(parts)


def render_html(blocks: Sequence[Block], *, title: str) -> str:
    """Render blocks as one HTML page that loads nothing; every value is escaped."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            body.append(f"<h{level}>{html.escape(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_html_inline(block.parts)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_html_inline(item)}</li>" for item in block.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            body.append(html_table(block.frame, block.columns, limit=block.limit))
        else:
            body.append(_html_chart(block))
    return HTML_PAGE.format(
        policy=CONTENT_SECURITY_POLICY,
        title=html.escape(title),
        style=HTML_STYLE,
        body="\n".join(body),
    )


def html_table(frame: pl.DataFrame, columns: Sequence[str], limit: int | None = None) -> str:
    """Render chosen columns of a DataFrame as an HTML table with every value escaped."""
    present = [column for column in columns if column in frame.columns]
    if frame.height == 0 or not present:
        return "<p><i>No rows.</i></p>"
    rows = frame.select(present).head(limit) if limit else frame.select(present)
    header = "".join(f"<th>{html.escape(column)}</th>" for column in present)
    lines = [f"<table><thead><tr>{header}</tr></thead><tbody>"]
    for row in rows.iter_rows():
        cells = "".join(f"<td>{html.escape(cell_text(value))}</td>" for value in row)
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    if limit and frame.height > limit:
        lines.append(f"<p><i>{frame.height - limit} more rows not shown.</i></p>")
    return "".join(lines)


def cell_text(value: Any) -> str:
    """Render a value as plain text: UTC times, comma-joined lists, one decimal for floats."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _markdown_inline(parts: Sequence[Inline]) -> str:
    rendered = []
    for part in parts:
        if isinstance(part, Code):
            rendered.append(markdown_code(part.value))
        elif isinstance(part, Strong):
            rendered.append(f"**{markdown_cell(part.text)}**")
        else:
            rendered.append(_markdown_text(part))
    return "".join(rendered)


def _markdown_text(text: str) -> str:
    """Escape running text like `markdown_cell` does, but keep its spaces."""
    escaped = html.escape(text, quote=True)
    for character in ("\\", "|", "`", "[", "]"):
        escaped = escaped.replace(character, "\\" + character)
    return escaped.replace("\n", " ")


def _html_inline(parts: Sequence[Inline]) -> str:
    rendered = []
    for part in parts:
        if isinstance(part, Code):
            rendered.append(f"<code>{html.escape(str(part.value))}</code>")
        elif isinstance(part, Strong):
            rendered.append(f"<strong>{html.escape(part.text)}</strong>")
        else:
            rendered.append(html.escape(part))
    return "".join(rendered)


def _markdown_chart(chart: Chart, reports_dir: Path) -> str:
    def link(path: Path) -> str:
        try:
            return path.relative_to(reports_dir).as_posix()
        except ValueError:
            return path.as_posix()

    image = next((path for path in chart.paths if path.suffix == ".png"), chart.paths[0])
    others = ", ".join(f"[{path.suffix.lstrip('.').upper()}]({link(path)})" for path in chart.paths)
    title = markdown_cell(chart.title)
    return f"### {title}\n\n![{title}]({link(image)})\n\n{others}\n"


def _html_chart(chart: Chart) -> str:
    svg = next((path for path in chart.paths if path.suffix == ".svg"), None)
    title = html.escape(chart.title)
    if svg is None:
        return f"<h3>{title}</h3><p><i>No SVG export of this chart.</i></p>"
    # An SVG shown through <img> runs no script and loads nothing, whatever text it contains.
    data = base64.b64encode(svg.read_bytes()).decode("ascii")
    return (
        f'<figure><h3>{title}</h3><img alt="{title}" src="data:image/svg+xml;base64,{data}">'
        "</figure>"
    )
