"""Charts: Vega-Lite specs from small frames, offline export by suffix, escaping of telemetry."""

from __future__ import annotations

import json
import re
import xml.dom.minidom
from datetime import UTC, datetime, timedelta

import altair as alt
import polars as pl
import pyarrow as pa
import pytest

from secobs import charts
from secobs.errors import UsageError

SCRIPT_TAG = "<script>alert(1)</script>"


def timeline_frame(route: str = "/v1/login") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [
                datetime(2026, 2, 24, 8, 0, 0, tzinfo=UTC),
                datetime(2026, 2, 24, 8, 0, 1, 500000, tzinfo=UTC),
                datetime(2026, 2, 24, 8, 0, 2, 250000, tzinfo=UTC),
            ],
            "source": ["audit", "request", "span"],
            "activity": ["auth.login", "POST /v1/login", "POST /v1/login"],
            "outcome": ["failure", "200", "ERROR"],
            "service": ["auth", "auth", "auth"],
            "route": [route, route, route],
            "client_ip": ["203.0.113.5", "203.0.113.5", None],
            "geo_country": ["NZ", None, None],
            "risk_score": [91, None, 91],
            "latency_ms": [None, 1520.5, 1490.0],
            "trace_id": ["0af7651916cd43dd8448eb211c80319c"] * 3,
        }
    )


def logins_frame(actors: list[str], risks: list[int], latencies: list[float]) -> pl.DataFrame:
    count = len(actors)
    return pl.DataFrame(
        {
            "ts": [datetime(2026, 2, 24, 8, minute, tzinfo=UTC) for minute in range(count)],
            "actor_id": actors,
            "event": ["auth.login"] * count,
            "result": ["success"] * count,
            "client_ip": ["198.51.100.7"] * count,
            "risk_score": risks,
            "signals": [["geo_anomaly", "new_device"]] * count,
            "latency_ms": latencies,
            "status_code": [200] * count,
        }
    )


def inline_rows(spec: dict) -> list[dict]:
    """Return the rows a (single or first-layer) spec draws, wherever altair put them."""
    data = spec["layer"][0]["data"] if "layer" in spec else spec["data"]
    if "values" in data:
        return data["values"]
    return spec["datasets"][data["name"]]


def test_timeline_chart_spec():
    spec = charts.actor_timeline_chart(timeline_frame()).to_dict()

    assert spec["mark"]["type"] == "point"
    assert spec["encoding"]["x"]["field"] == "ts"
    assert spec["encoding"]["x"]["type"] == "temporal"
    assert spec["encoding"]["x"]["scale"]["type"] == "utc"
    assert spec["encoding"]["y"]["field"] == "source"
    tooltip_fields = {item["field"] for item in spec["encoding"]["tooltip"]}
    assert {"activity", "outcome", "route", "client_ip", "risk_score"} <= tooltip_fields
    assert len(inline_rows(spec)) == 3


def test_timeline_rows_utc_and_failed():
    rows = inline_rows(charts.actor_timeline_chart(timeline_frame()).to_dict())

    assert [row["ts"] for row in rows] == [
        "2026-02-24T08:00:00.000Z",
        "2026-02-24T08:00:01.500Z",
        "2026-02-24T08:00:02.250Z",
    ]
    assert rows[1]["time_utc"] == "2026-02-24 08:00:01.500 UTC"
    # Audit "failure" and span "ERROR" are failures, HTTP 200 is not.
    assert [row["failed"] for row in rows] == ["failure", "success", "failure"]
    assert rows[0]["latency_ms"] is None


def test_timeline_naive_nanosecond_times_utc():
    frame = pl.DataFrame(
        {
            "ts": [datetime(2026, 2, 24, 8, 0, 0, 123456)],
            "source": ["audit"],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    rows = inline_rows(charts.actor_timeline_chart(frame).to_dict())

    assert rows[0]["ts"] == "2026-02-24T08:00:00.123Z"


def test_timeline_chart_accepts_pyarrow_table():
    table = timeline_frame().to_arrow()
    assert isinstance(table, pa.Table)
    rows = inline_rows(charts.actor_timeline_chart(table).to_dict())

    assert [row["source"] for row in rows] == ["audit", "request", "span"]


def test_timeline_chart_missing_column_raises():
    with pytest.raises(UsageError, match="source"):
        charts.actor_timeline_chart(timeline_frame().drop("source"))


def test_latency_risk_chart_spec():
    frame = logins_frame(["alice", "bob"], [80, 95], [1200.0, 4000.0])
    spec = charts.latency_risk_chart(frame).to_dict()

    assert spec["mark"]["type"] == "point"
    assert spec["encoding"]["x"]["field"] == "latency_ms"
    assert spec["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["encoding"]["y"]["field"] == "risk_score"
    assert spec["encoding"]["color"]["field"] == "colour_group"
    rows = inline_rows(spec)
    assert [row["colour_group"] for row in rows] == ["alice", "bob"]
    assert rows[0]["signals"] == "geo_anomaly, new_device"


def test_latency_risk_chart_draws_threshold_rules():
    frame = logins_frame(["alice"], [80], [1200.0])
    spec = charts.latency_risk_chart(frame, min_risk=70, min_latency_ms=1000).to_dict()

    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["point", "rule", "rule"]
    risk_rule, latency_rule = spec["layer"][1], spec["layer"][2]
    assert risk_rule["encoding"]["y"]["field"] == "threshold"
    assert risk_rule["data"]["values"][0]["threshold"] == 70
    assert latency_rule["encoding"]["x"]["field"] == "threshold"
    assert latency_rule["data"]["values"][0]["threshold"] == 1000


def test_latency_risk_chart_leaves_out_zero_latency():
    frame = logins_frame(["alice", "bob", "carol"], [80, 95, 75], [0.0, 4000.0, float("nan")])
    spec = charts.latency_risk_chart(frame).to_dict()

    assert [row["actor_id"] for row in inline_rows(spec)] == ["bob"]
    assert spec["title"]["subtitle"] == "2 login(s) without a positive latency are not shown"


def test_latency_risk_groups_low_risk_actors():
    actors = [f"u-{number:02d}" for number in range(1, 13)]
    frame = logins_frame(actors, list(range(1, 13)), [1500.0] * 12)
    spec = charts.latency_risk_chart(frame).to_dict()

    rows = inline_rows(spec)
    groups = {row["actor_id"]: row["colour_group"] for row in rows}
    # Twelve actors exceed ten colours: the nine riskiest (risk 12 down to 4) keep theirs.
    assert {actor for actor, group in groups.items() if group == actor} == set(actors[3:])
    assert {groups["u-01"], groups["u-02"], groups["u-03"]} == {"other (3)"}
    assert rows[0]["colour_group"] == "other (3)"
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"][-1] == "other (3)"
    assert len(scale["range"]) == 10


def test_latency_risk_chart_color_by_result():
    frame = logins_frame(["alice", "bob"], [80, 95], [1200.0, 4000.0])
    spec = charts.latency_risk_chart(frame, color_by="result").to_dict()

    assert {row["colour_group"] for row in inline_rows(spec)} == {"success"}
    assert spec["encoding"]["color"]["title"] == "result"


def test_latency_risk_chart_invalid_color_by_raises():
    with pytest.raises(UsageError, match="color_by"):
        charts.latency_risk_chart(logins_frame(["a"], [80], [1200.0]), color_by="route")


def test_save_png(tmp_path):
    path = charts.save(charts.actor_timeline_chart(timeline_frame()), tmp_path / "a" / "t.png")

    assert path == tmp_path / "a" / "t.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_svg(tmp_path):
    path = charts.save(
        charts.latency_risk_chart(logins_frame(["a"], [80], [1200.0])), tmp_path / "l.svg"
    )

    text = path.read_text(encoding="utf-8")
    assert text.startswith("<svg")
    assert "risk score" in text


def test_save_html_is_self_contained(tmp_path):
    path = charts.save(charts.actor_timeline_chart(timeline_frame()), tmp_path / "t.html")

    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "POST /v1/login" in page
    assert "203.0.113.5" in page
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert "vegaEmbed(" in page


def test_save_json_spec(tmp_path):
    chart = charts.actor_timeline_chart(timeline_frame())
    for name in ("t.json", "t.vl.json"):
        spec = json.loads(charts.save(chart, tmp_path / name).read_text(encoding="utf-8"))
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
        assert len(inline_rows(spec)) == 3


def test_save_unknown_suffix_raises(tmp_path):
    with pytest.raises(UsageError) as raised:
        charts.save(charts.actor_timeline_chart(timeline_frame()), tmp_path / "t.pdf")

    assert ".png" in str(raised.value)
    assert ".vl.json" in str(raised.value)
    assert not (tmp_path / "t.pdf").exists()


def test_save_rejects_data_url(tmp_path):
    # The .invalid domain never resolves, and save must raise before any conversion starts.
    chart = alt.Chart(alt.UrlData("https://example.invalid/rows.json")).mark_point().encode(x="a:Q")

    with pytest.raises(UsageError, match="example.invalid"):
        charts.save(chart, tmp_path / "u.svg")
    assert not (tmp_path / "u.svg").exists()


def test_html_escapes_script_tag_in_route(tmp_path):
    path = charts.save(charts.actor_timeline_chart(timeline_frame(SCRIPT_TAG)), tmp_path / "x.html")

    page = path.read_text(encoding="utf-8")
    assert SCRIPT_TAG not in page
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page
    # The escaped spec still decodes to the original route.
    start = page.index('vegaEmbed("#chart", ') + len('vegaEmbed("#chart", ')
    spec, _ = json.JSONDecoder().raw_decode(page, start)
    assert {row["route"] for row in inline_rows(spec)} == {SCRIPT_TAG}


def test_html_escapes_title_and_closing_tags(tmp_path):
    chart = charts.actor_timeline_chart(timeline_frame(), title="</title></script>&")
    page = charts.to_html(chart)

    assert "<title>&lt;/title&gt;&lt;/script&gt;&amp;</title>" in page
    # Only the page's two inline script elements close. None closes inside the data.
    assert page.count("</script>") == 2


def test_svg_escapes_script_tag_in_title():
    svg = charts.to_svg(charts.actor_timeline_chart(timeline_frame(), title=SCRIPT_TAG))

    assert SCRIPT_TAG not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("failure", True),
        ("success", False),
        ("401", True),
        ("200", False),
        ("ERROR", True),
        ("OK", False),
        ("UNSET", False),
        (None, False),
    ],
)
def test_is_failure(outcome, expected):
    assert charts.is_failure(outcome) is expected


# --- Playbook and postmortem charts -------------------------------------------------------------


def spans_frame() -> pl.DataFrame:
    start = datetime(2026, 2, 24, 8, 0, tzinfo=UTC)
    return pl.DataFrame(
        {
            "trace_id": ["a" * 32] * 3,
            "span_id": ["1" * 16, "2" * 16, "3" * 16],
            "parent_span_id": [None, "1" * 16, "2" * 16],
            "service": ["gateway", "export-worker", "storage"],
            "name": ["GET /v1/export", SCRIPT_TAG, "read"],
            "start_ts": [start, start + timedelta(milliseconds=5), start + timedelta(seconds=1)],
            "duration_ms": [1500.0, 900.0, None],
            "depth": [0, 1, 2],
            "is_export": [True, True, False],
        }
    )


def test_span_waterfall_offsets_and_order():
    spec = charts.span_waterfall_chart(spans_frame()).to_dict()

    rows = spec["data"]["values"]
    assert [row["offset_ms"] for row in rows] == [0.0, 5.0, 1000.0]
    assert [row["end_ms"] for row in rows] == [1500.0, 905.0, 1000.0]
    assert rows[2]["row_label"] == "· · read [333333]"
    assert [row["export"] for row in rows] == ["data export", "data export", "other"]
    assert spec["encoding"]["y"]["sort"] is None


def test_travel_legs_speed():
    frame = pl.DataFrame(
        {
            "ts": [
                datetime(2026, 2, 24, 8, 0, tzinfo=UTC),
                datetime(2026, 2, 24, 9, 0, tzinfo=UTC),
                datetime(2026, 2, 24, 9, 0, tzinfo=UTC),
            ],
            "actor_id": ["a", "a", "a"],
            # Equator, then 10 degrees east (about 1,112 km), then the same place.
            "lat": [0.0, 0.0, 0.0],
            "lon": [0.0, 10.0, 10.0],
        }
    )
    legs = charts.travel_legs(frame)

    assert legs.height == 2
    assert legs["distance_km"][0] == pytest.approx(1111.95, abs=0.5)
    assert legs["speed_kmh"][0] == pytest.approx(1111.95, abs=0.5)
    assert legs["impossible"].to_list() == [True, False]
    assert legs["elapsed_s"][1] == 0.0
    assert legs["speed_kmh"][1] == 0.0


def test_login_map_is_offline_and_escaped(tmp_path):
    frame = pl.DataFrame(
        {
            "ts": [
                datetime(2026, 2, 24, 8, 0, tzinfo=UTC),
                datetime(2026, 2, 24, 8, 10, tzinfo=UTC),
            ],
            "actor_id": [SCRIPT_TAG, SCRIPT_TAG],
            "result": ["success", "failure"],
            "geo_city": ["Munich", "Singapore"],
            "geo_country": ["DE", "SG"],
            "lat": [48.1351, 1.3521],
            "lon": [11.582, 103.8198],
        }
    )
    chart = charts.login_map_chart(frame)
    spec = chart.to_dict()

    assert spec["projection"]["type"] == "equalEarth"
    assert {"sphere": True} in [layer.get("data") for layer in spec["layer"]]
    legs = spec["layer"][2]["data"]["values"]
    assert [leg["travel"] for leg in legs] == ["impossible"]
    svg = charts.to_svg(chart)
    assert "<script" not in svg
    html = charts.save(chart, tmp_path / "map.html").read_text()
    assert SCRIPT_TAG not in html


def test_detection_timeline_rows_and_colours():
    frame = pl.DataFrame(
        {
            "detection": ["password_spray", "token_new_ip"],
            "severity": ["high", "custom"],
            "window_start": [datetime(2026, 2, 24, 3, tzinfo=UTC)] * 2,
            "window_end": [datetime(2026, 2, 24, 3, 30, tzinfo=UTC)] * 2,
            "client_ip": ["203.0.113.148", None],
        }
    )
    spec = charts.detection_timeline_chart(frame).to_dict()
    colour = spec["layer"][0]["encoding"]["color"]["scale"]

    assert colour["domain"] == ["high", "custom"]
    assert colour["range"] == [charts.SEVERITY_COLOURS["high"], charts.OTHER_COLOUR]
    by_ip = charts.detection_timeline_chart(frame, row="client_ip").to_dict()
    rows = (
        by_ip["layer"][0]["data"]["values"]
        if "data" in by_ip["layer"][0]
        else by_ip["data"]["values"]
    )
    assert sorted(row["client_ip"] for row in rows) == ["(none)", "203.0.113.148"]


def test_baseline_zscore_flags_buckets():
    frame = pl.DataFrame(
        {
            "window_start": [datetime(2026, 2, 24, hour, tzinfo=UTC) for hour in range(3)],
            "z_score": [0.5, 4.0, 5.0],
            "metric": ["auth_failure"] * 3,
            "event_count": [3, 20, 5],
        }
    )
    spec = charts.baseline_zscore_chart(frame, threshold=3, min_count=10).to_dict()

    rows = (
        spec["layer"][0]["data"]["values"] if "data" in spec["layer"][0] else spec["data"]["values"]
    )
    assert [row["flagged"] for row in rows] == ["normal", "anomaly", "normal"]
    assert spec["title"]["subtitle"] == "1 of 3 buckets flagged"


def test_binned_timeline_over_limit():
    start = datetime(2026, 2, 24, tzinfo=UTC)
    count = charts.MAX_TIMELINE_POINTS + 1
    frame = pl.DataFrame(
        {
            "ts": [start + timedelta(seconds=30 * index) for index in range(count)],
            "source": ["audit"] * count,
            "outcome": ["failure" if index % 2 else "success" for index in range(count)],
        }
    )
    spec = charts.actor_timeline_chart(frame).to_dict()

    rows = spec["data"]["values"]
    assert sum(row["rows"] for row in rows) == count
    # 2001 rows 30 s apart span 1000 minutes: 5-minute bins keep it under 240 bins.
    assert "in 5 minutes bins" in spec["title"]["subtitle"]
    assert {row["failed"] for row in rows} == {"success", "failure"}


def test_custom_chart_types_and_marks():
    frame = pl.DataFrame(
        {"ts": [datetime(2026, 2, 24, tzinfo=UTC)], "n": [3], "event": ["auth.login"]}
    )
    spec = charts.custom_chart(frame, x="ts", y="n", color="event", mark="line").to_dict()

    assert spec["mark"]["type"] == "line"
    assert [spec["encoding"][key]["type"] for key in ("x", "y", "color")] == [
        "temporal",
        "quantitative",
        "nominal",
    ]
    with pytest.raises(UsageError, match="invalid mark"):
        charts.custom_chart(frame, x="ts", mark="pie")
    with pytest.raises(UsageError, match="lacks column"):
        charts.custom_chart(frame, x="nope")


def test_locate_logins_prefers_event_coordinates():
    frame = pl.DataFrame(
        {
            "geo_country": ["DE", "SG", "XX"],
            "geo_city": ["Munich", "Singapore", "Nowhere"],
            "geo_lat": [10.0, None, None],
            "geo_lon": [20.0, None, None],
        }
    )
    located = charts.locate_logins(frame)

    assert located["lat"].to_list() == [10.0, 1.3521, None]
    assert located["lon"].to_list() == [20.0, 103.8198, None]


def test_control_characters_do_not_break_exports(tmp_path):
    """Telemetry with ESC or BEL in a route still exports as valid SVG and as PNG."""
    frame = pl.DataFrame(
        {
            "ts": [datetime(2026, 1, 1, tzinfo=UTC)],
            "source": ["audit"],
            "activity": ["login\x1b[31m"],
            "outcome": ["success"],
            "route": ["/v1/\x1b]0;title\x07"],
            "client_ip": ["198.51.100.1"],
            "risk_score": [5],
        }
    )
    chart = charts.actor_timeline_chart(frame)
    svg = charts.save(chart, tmp_path / "t.svg").read_text()
    xml.dom.minidom.parseString(svg)
    assert "\x1b" not in svg
    assert charts.save(chart, tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
