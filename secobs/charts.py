"""Investigation charts, drawn with altair and exported offline with vl-convert.

Every chart embeds its rows inline in the Vega-Lite spec, and `save` rejects specs that load data
from a URL, so an exported chart fetches nothing when it is opened. Telemetry strings stay data:
the HTML export escapes `<`, `>` and `&` in the spec before it enters the page, and Vega draws
text in SVG and PNG as escaped text, never as markup.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import altair as alt
import pyarrow as pa
import vl_convert as vlc

from secobs.errors import UsageError

log = logging.getLogger("secobs")

SAVE_SUFFIXES = (".png", ".svg", ".html", ".json", ".vl.json")
SOURCES = ("audit", "request", "span")
MAX_COLOURS = 10
"""Maximum colour groups in a legend. Beyond it, the lowest-risk groups share one colour."""

WIDTH = 720
# Vega's "tableau10" scheme without its last colour, grey, which marks the "other" group.
TABLEAU10 = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
)
OTHER_COLOUR = "#bab0ac"
RULE_COLOUR = "#333333"

# (field, Vega-Lite type, tooltip title) for the columns a chart shows on hover, in order.
TIMELINE_TOOLTIP = (
    ("time_utc", "nominal", "time (UTC)"),
    ("source", "nominal", "source"),
    ("activity", "nominal", "activity"),
    ("outcome", "nominal", "outcome"),
    ("service", "nominal", "service"),
    ("route", "nominal", "route"),
    ("client_ip", "nominal", "client IP"),
    ("geo_country", "nominal", "country"),
    ("risk_score", "quantitative", "risk score"),
    ("latency_ms", "quantitative", "latency (ms)"),
    ("trace_id", "nominal", "trace id"),
)
LOGIN_TOOLTIP = (
    ("time_utc", "nominal", "time (UTC)"),
    ("actor_id", "nominal", "actor"),
    ("tenant_id", "nominal", "tenant"),
    ("event", "nominal", "event"),
    ("result", "nominal", "result"),
    ("reason", "nominal", "reason"),
    ("client_ip", "nominal", "client IP"),
    ("geo_country", "nominal", "country"),
    ("geo_city", "nominal", "city"),
    ("auth_method", "nominal", "auth method"),
    ("mfa", "nominal", "MFA"),
    ("risk_score", "quantitative", "risk score"),
    ("signals", "nominal", "signals"),
    ("latency_ms", "quantitative", "latency (ms)"),
    ("status_code", "nominal", "status"),
    ("joined_on", "nominal", "latency joined on"),
)
COLOUR_FIELDS = {"actor_id": "actor", "result": "result"}

# Options for vega-embed in the HTML export: no "Open in Vega Editor" action, which would post
# the spec, rows included, to a remote site.
EMBED_OPTIONS = {
    "renderer": "svg",
    "actions": {"export": True, "source": True, "compiled": False, "editor": False},
}

HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script>{bundle}</script>
</head>
<body>
<div id="chart"></div>
<script>
vegaEmbed("#chart", {spec}, {options}).catch(console.error);
</script>
</body>
</html>
"""


def actor_timeline_chart(df: Any, *, title: str | None = None) -> alt.Chart:
    """Draw one actor's audit events, requests and spans over time, one row per source.

    `df` contains `actor_timeline` rows (polars, pandas or pyarrow). Failed activity (audit result
    failure, HTTP status 400 or more, span status ERROR) is drawn in red so it stands out.
    """
    records = _records(df, ("ts", "source"), _fields(TIMELINE_TOOLTIP))
    for record in records:
        record["failed"] = "failure" if is_failure(record.get("outcome")) else "success"
    chart = (
        alt.Chart(alt.Data(values=records))
        .mark_point(filled=True, size=60, opacity=0.75)
        .encode(
            x=alt.X("ts:T", title="time (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("source:N", title=None, scale=alt.Scale(domain=list(SOURCES))),
            color=alt.Color(
                "failed:N",
                title="outcome",
                scale=alt.Scale(domain=["success", "failure"], range=["#4c78a8", "#e45756"]),
            ),
            shape=alt.Shape(
                "failed:N",
                title="outcome",
                scale=alt.Scale(domain=["success", "failure"], range=["circle", "cross"]),
            ),
            tooltip=_tooltip(TIMELINE_TOOLTIP, records),
        )
        .properties(width=WIDTH, height=alt.Step(45), title=title or "Actor timeline")
    )
    return chart


def latency_risk_chart(
    df: Any,
    *,
    min_risk: float | None = None,
    min_latency_ms: float | None = None,
    color_by: str = "actor_id",
    title: str | None = None,
) -> alt.Chart | alt.LayerChart:
    """Plot login latency against risk score, with dashed rules at the thresholds given.

    `df` contains `risky_logins_with_latency` rows. The x axis is logarithmic, so rows without a
    positive latency cannot be placed: they are left out and the subtitle counts them. When
    `color_by` has more than MAX_COLOURS values, the riskiest keep their own colour and the
    rest are drawn as one "other" group (the tooltip still names each actor).
    """
    if color_by not in COLOUR_FIELDS:
        raise UsageError(f"invalid color_by {color_by!r}; use one of {', '.join(COLOUR_FIELDS)}")
    records = _records(df, ("latency_ms", "risk_score", color_by), _fields(LOGIN_TOOLTIP))
    plotted = [row for row in records if row["latency_ms"] is not None and row["latency_ms"] > 0]
    left_out = len(records) - len(plotted)
    colour_scale = _group_colours(plotted, color_by)

    points = (
        alt.Chart(alt.Data(values=plotted))
        .mark_point(filled=True, size=70, opacity=0.8)
        .encode(
            x=alt.X("latency_ms:Q", title="request latency (ms, log scale)").scale(type="log"),
            y=alt.Y("risk_score:Q", title="risk score").scale(domain=[0, 100]),
            color=alt.Color("colour_group:N", title=COLOUR_FIELDS[color_by], scale=colour_scale),
            tooltip=_tooltip(LOGIN_TOOLTIP, plotted),
        )
    )
    layers: list[alt.Chart] = [points]
    if min_risk is not None:
        layers.append(_threshold_rule("y", float(min_risk), f"min risk {min_risk:g}"))
    if min_latency_ms is not None and min_latency_ms > 0:
        layers.append(
            _threshold_rule("x", float(min_latency_ms), f"min latency {min_latency_ms:g} ms")
        )

    subtitle = f"{left_out} login(s) without a positive latency are not shown" if left_out else ""
    heading = alt.TitleParams(title or "Login latency versus risk", subtitle=subtitle)
    chart = points if len(layers) == 1 else alt.layer(*layers)
    return chart.properties(width=WIDTH, height=360, title=heading)


def is_failure(outcome: Any) -> bool:
    """Return whether a timeline outcome is a failure.

    Failures are the audit result "failure" (or "denied"), an HTTP status of 400 or more and the
    span status ERROR. A missing outcome is not a failure.
    """
    if outcome is None:
        return False
    text = str(outcome).strip().lower()
    if text.isdigit():
        return int(text) >= 400
    return text in ("failure", "error", "denied")


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to SVG text with vl-convert, fetching nothing."""
    spec = _offline_spec(chart)
    return vlc.vegalite_to_svg(spec, vl_version=_vl_version(), allowed_base_urls=[])


def to_png(chart: alt.TopLevelMixin, *, scale: float = 2.0) -> bytes:
    """Render a chart to PNG bytes with vl-convert, `scale` times the chart's pixel size."""
    if not scale > 0:
        raise UsageError(f"invalid PNG scale {scale!r}; use a number above 0, such as 2")
    spec = _offline_spec(chart)
    return vlc.vegalite_to_png(spec, vl_version=_vl_version(), scale=scale, allowed_base_urls=[])


def to_html(chart: alt.TopLevelMixin) -> str:
    """Render a chart to a self-contained HTML page: Vega's JavaScript is inlined, not linked."""
    spec = _offline_spec(chart)
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if not isinstance(title, str) or not title:
        title = "secobs chart"
    return HTML_PAGE.format(
        title=html.escape(title),
        bundle=_javascript_bundle(_vl_version()),
        spec=_script_json(spec),
        options=_script_json(EMBED_OPTIONS),
    )


def to_json(chart: alt.TopLevelMixin) -> str:
    """Return the chart's Vega-Lite spec as indented JSON."""
    return _strict_json(_offline_spec(chart), indent=2)


def save(chart: alt.TopLevelMixin, path: Path | str, *, scale: float = 2.0) -> Path:
    """Export a chart by the path's suffix (.png, .svg, .html, .json or .vl.json).

    Creates missing parent folders and returns the path written. `scale` applies to PNG only.
    Raises UsageError for any other suffix.
    """
    target = Path(path)
    suffix = ".vl.json" if target.name.lower().endswith(".vl.json") else target.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise UsageError(
            f"cannot save a chart as {target.name!r}: unsupported suffix {suffix or '(none)'}; "
            f"use one of {', '.join(SAVE_SUFFIXES)}"
        )
    if suffix == ".png":
        content: bytes = to_png(chart, scale=scale)
    elif suffix == ".svg":
        content = to_svg(chart).encode("utf-8")
    elif suffix == ".html":
        content = to_html(chart).encode("utf-8")
    else:
        content = to_json(chart).encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    log.debug("saved chart %s (%d bytes)", target, len(content))
    return target


def _fields(tooltip: tuple[tuple[str, str, str], ...]) -> tuple[str, ...]:
    return tuple(field for field, _, _ in tooltip if field != "time_utc")


def _tooltip(
    tooltip: tuple[tuple[str, str, str], ...], records: list[dict[str, Any]]
) -> list[alt.Tooltip]:
    """Build tooltips for the fields present in the rows (all of them when there are no rows)."""
    present = set(records[0]) if records else {field for field, _, _ in tooltip}
    return [
        alt.Tooltip(field, type=kind, title=title)
        for field, kind, title in tooltip
        if field in present
    ]


def _threshold_rule(channel: str, value: float, label: str) -> alt.Chart:
    position = alt.X("threshold:Q") if channel == "x" else alt.Y("threshold:Q")
    return (
        alt.Chart(alt.Data(values=[{"threshold": value, "label": label}]))
        .mark_rule(color=RULE_COLOUR, strokeDash=[6, 4], strokeWidth=1.5)
        .encode(position, tooltip=[alt.Tooltip("label:N", title="threshold")])
    )


def _group_colours(records: list[dict[str, Any]], field: str) -> alt.Scale:
    """Set each row's `colour_group` and return the colour scale for it.

    Rows keep their `field` value as the group unless there are more than MAX_COLOURS values.
    Then the values with the highest risk score keep a colour each and the rest become one grey
    "other" group, which moves to the front of `records` so Vega draws it underneath.
    """
    highest: dict[Any, float] = {}
    for row in records:
        risk = row["risk_score"] if row["risk_score"] is not None else -1
        highest[row[field]] = max(highest.get(row[field], -1), risk)
    if len(highest) <= MAX_COLOURS:
        for row in records:
            row["colour_group"] = _label(row[field])
        return alt.Scale(domain=sorted(_label(value) for value in highest))

    ranked = sorted(highest, key=lambda value: (-highest[value], _label(value)))
    coloured = set(ranked[: MAX_COLOURS - 1])
    other = f"other ({len(highest) - len(coloured)})"
    for row in records:
        row["colour_group"] = _label(row[field]) if row[field] in coloured else other
    records.sort(key=lambda row: row["colour_group"] != other)
    domain = sorted(_label(value) for value in coloured)
    return alt.Scale(domain=[*domain, other], range=[*TABLEAU10[: len(domain)], OTHER_COLOUR])


def _label(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _records(frame: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> list[dict]:
    """Turn a data frame into JSON-ready rows of the named columns.

    Timestamps become RFC 3339 UTC strings with millisecond precision (what JavaScript dates
    hold), naive timestamps are read as UTC, NaN becomes null and lists become comma-joined text.
    A `time_utc` text copy of `ts` is added for tooltips, so hovering shows UTC in any time zone.
    """
    table = _to_arrow(frame)
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise UsageError(
            f"chart data lacks column(s) {', '.join(missing)}; "
            f"columns present: {', '.join(table.column_names) or 'none'}"
        )
    selected = dict.fromkeys(name for name in (*required, *optional) if name in table.column_names)
    columns = {}
    for name in selected:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            # Casting a naive timestamp to a zoned one keeps its value, so it is read as UTC.
            column = column.cast(pa.timestamp("ms", tz=column.type.tz or "UTC"), safe=False)
        columns[name] = [_json_value(value) for value in column.to_pylist()]
    records = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    if "ts" in selected:
        for record in records:
            ts = record["ts"]
            record["time_utc"] = ts.replace("T", " ").replace("Z", " UTC") if ts else None
    return records


def _to_arrow(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    try:
        # pa.table reads pandas frames directly and polars frames through the Arrow C stream.
        return pa.table(frame)
    except (TypeError, ValueError, pa.ArrowException) as error:
        raise UsageError(
            f"cannot chart a {type(frame).__name__}: expected a polars or pandas DataFrame "
            "or a pyarrow Table"
        ) from error


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if item is not None)
    return value


def _offline_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """Return the chart's Vega-Lite spec, or raise UsageError if it would load data from a URL."""
    spec = chart.to_dict()
    url = _find_data_url(spec)
    if url is not None:
        raise UsageError(
            f"chart loads data from {url!r}; embed the rows instead (alt.Data(values=...) or "
            "a data frame) so the exported chart fetches nothing"
        )
    return spec


def _find_data_url(node: Any) -> str | None:
    if isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, dict) and "url" in data:
            return str(data["url"])
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        url = _find_data_url(child)
        if url is not None:
            return url
    return None


def _strict_json(value: Any, **options: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, **options)
    except ValueError as error:
        raise UsageError(f"chart spec is not valid JSON: {error}") from error


def _script_json(value: Any) -> str:
    """Serialise JSON for an inline <script>: no `<`, `>` or `&` can end the element."""
    text = _strict_json(value)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _vl_version() -> str | None:
    """Return the Vega-Lite version altair writes, as vl-convert names it, if vl-convert has it."""
    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vlc.get_vegalite_versions() else None


@functools.lru_cache(maxsize=2)
def _javascript_bundle(vl_version: str | None) -> str:
    # The bundle contains Vega, Vega-Lite and vega-embed (about 900 kB with vl-convert 1.9) and
    # is slow to build, hence the cache. A literal "</script" in it would end the inline element
    # early, so it is written as the equivalent "<\/script" inside JavaScript strings.
    bundle = vlc.javascript_bundle(vl_version=vl_version)
    return bundle.replace("</script", "<\\/script")
