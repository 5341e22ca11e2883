"""Tests for the detections: each on small hand-made cases, and all on the sample incident."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from click.testing import CliRunner

from secobs.case import Case
from secobs.cli import main
from secobs.detect import run_detections
from secobs.errors import UsageError
from secobs.ingest import ingest

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def event(
    at: timedelta,
    kind: str,
    actor: str,
    ip: str,
    *,
    result: str = "success",
    reason: str | None = None,
    route: str = "/v1/login",
    tenant: str = "t1",
    country: str | None = "DE",
    city: str | None = "Berlin",
    ua: str = "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
    token: str | None = None,
    mfa: bool = True,
) -> dict[str, Any]:
    """Return one audit.v1 record at START + at."""
    ts = (START + at).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    geo = {"country": country, "region": None, "city": city} if country else None
    return {
        "schema": "audit.v1",
        "ts": ts,
        "service": "auth",
        "env": "test",
        "version": "git:0000000",
        "event": kind,
        "severity": "info",
        "result": result,
        "reason": reason,
        "request": {"request_id": None, "trace_id": None, "span_id": None, "method": "POST",
                    "route": route},
        "actor": {"type": "user", "id": actor, "tenant_id": tenant, "roles": ["member"]},
        "client": {"ip": ip, "ua": ua, "geo": geo},
        "security": {"auth_method": "password", "token_id": token, "mfa": mfa,
                     "risk_score": 0, "signals": []},
    }  # fmt: skip


def build_case(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    source = tmp_path / "audit.ndjson"
    source.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    case = tmp_path / "case"
    result = ingest(case, [source])
    assert result.quarantined == 0
    return case


def detect(case: Path, name: str, **params: Any) -> pl.DataFrame:
    result = run_detections(case, detections=[name], params={name: params} if params else None)
    return result.alerts


def failures(count: int, ip: str, *, spacing_s: float, accounts: int | None = None) -> list[dict]:
    return [
        event(
            timedelta(seconds=index * spacing_s),
            "auth.login",
            f"u-{index % (accounts or count):03d}",
            ip,
            result="failure",
            reason="invalid_password",
        )
        for index in range(count)
    ]


def evidence_records(alert: dict[str, Any]) -> list[int]:
    return [item["source_record"] for item in alert["evidence"]]


# Failed-login bursts.


def test_burst_exactly_at_threshold(tmp_path: Path) -> None:
    # Five failures 74 s apart span 296 s, inside one 5-minute window.
    case = build_case(tmp_path, failures(5, "198.51.100.7", spacing_s=74))
    alerts = detect(case, "auth_failure_burst")
    assert alerts.height == 1
    alert = alerts.row(0, named=True)
    assert alert["client_ip"] == "198.51.100.7"
    assert alert["event_count"] == 5
    assert evidence_records(alert) == [1, 2, 3, 4, 5]


def test_burst_one_below_threshold(tmp_path: Path) -> None:
    case = build_case(tmp_path, failures(4, "198.51.100.7", spacing_s=60))
    assert detect(case, "auth_failure_burst").height == 0


def test_burst_window_end_is_exclusive(tmp_path: Path) -> None:
    # Five failures 75 s apart: the fifth is exactly 5 minutes after the first.
    case = build_case(tmp_path, failures(5, "198.51.100.7", spacing_s=75))
    assert detect(case, "auth_failure_burst").height == 0
    assert detect(case, "auth_failure_burst", window_minutes=6).height == 1


def test_burst_single_event(tmp_path: Path) -> None:
    case = build_case(tmp_path, failures(1, "198.51.100.7", spacing_s=1))
    assert detect(case, "auth_failure_burst", min_failures=1).height == 1
    assert detect(case, "auth_failure_burst").height == 0


def test_burst_per_address(tmp_path: Path) -> None:
    records = failures(3, "198.51.100.7", spacing_s=10) + failures(3, "198.51.100.8", spacing_s=10)
    case = build_case(tmp_path, records)
    assert detect(case, "auth_failure_burst").height == 0
    assert detect(case, "auth_failure_burst", min_failures=3).height == 2


# Password spray and credential stuffing.


def test_spray_many_accounts_one_source(tmp_path: Path) -> None:
    records = failures(12, "203.0.113.200", spacing_s=120)
    records.append(event(timedelta(minutes=30), "auth.login", "u-005", "203.0.113.200"))
    case = build_case(tmp_path, records)
    alerts = detect(case, "password_spray")
    assert alerts.height == 1
    alert = alerts.row(0, named=True)
    assert alert["severity"] == "high"
    assert alert["actor_id"] == "u-005"
    assert alert["event_count"] == 13
    assert evidence_records(alert)[-1] == 13


def test_spray_not_brute_force(tmp_path: Path) -> None:
    # Twelve failures on two accounts is guessing one account's password, not a spray.
    case = build_case(tmp_path, failures(12, "203.0.113.200", spacing_s=60, accounts=2))
    assert detect(case, "password_spray").height == 0
    assert detect(case, "auth_failure_burst").height == 1


def test_spray_threshold_accounts(tmp_path: Path) -> None:
    case = build_case(tmp_path, failures(10, "203.0.113.200", spacing_s=60))
    assert detect(case, "password_spray").height == 1
    assert detect(case, "password_spray", min_accounts=11).height == 0


def test_stuffing_many_sources_one_client(tmp_path: Path) -> None:
    records = [
        event(
            timedelta(seconds=30 * index),
            "auth.login",
            f"u-{index:03d}",
            f"198.51.100.{index % 6 + 1}",
            result="failure" if index % 10 else "success",
            reason="invalid_password" if index % 10 else None,
            ua="python-requests/2.31.0",
        )
        for index in range(20)
    ]
    case = build_case(tmp_path, records)
    alerts = detect(case, "credential_stuffing")
    assert alerts.height == 1
    alert = alerts.row(0, named=True)
    assert alert["event_count"] == 20
    assert alert["severity"] == "high"
    assert detect(case, "credential_stuffing", min_addresses=7).height == 0
    # 18 of 20 attempts failed: a ratio of exactly 0.9 qualifies, 0.95 does not.
    assert detect(case, "credential_stuffing", min_failure_ratio=0.9).height == 1
    assert detect(case, "credential_stuffing", min_failure_ratio=0.95).height == 0


# Impossible travel.


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance on a sphere of radius 6371 km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


def travel_records(second_at: timedelta, second_city: str, second_country: str) -> list[dict]:
    return [
        event(timedelta(0), "auth.login", "alice", "198.51.100.1"),
        event(second_at, "auth.login", "alice", "203.0.113.9", city=second_city,
              country=second_country),
    ]  # fmt: skip


def test_travel_berlin_to_singapore(tmp_path: Path) -> None:
    case = build_case(tmp_path, travel_records(timedelta(minutes=30), "Singapore", "SG"))
    alerts = detect(case, "impossible_travel")
    assert alerts.height == 1
    alert = alerts.row(0, named=True)
    assert alert["actor_id"] == "alice"
    assert alert["client_ip"] == "203.0.113.9"
    pairs = Case.open(case).connect().sql("SELECT * FROM login_pairs").pl()
    # The ellipsoid and a sphere of radius 6371 km agree to within 0.5 % over this distance.
    sphere_km = haversine_km((52.52, 13.405), (1.29, 103.85))
    assert pairs["distance_km"][0] == pytest.approx(sphere_km, rel=0.005)
    assert pairs["speed_kmh"][0] == pytest.approx(pairs["distance_km"][0] * 2)


def test_travel_plausible_flight(tmp_path: Path) -> None:
    case = build_case(tmp_path, travel_records(timedelta(hours=13), "Singapore", "SG"))
    assert detect(case, "impossible_travel").height == 0


def test_travel_simultaneous_sessions(tmp_path: Path) -> None:
    case = build_case(tmp_path, travel_records(timedelta(0), "Singapore", "SG"))
    alerts = detect(case, "impossible_travel")
    assert alerts.height == 1
    pairs = Case.open(case).connect().sql("SELECT * FROM login_pairs").pl()
    assert pairs["simultaneous"][0] is True
    assert pairs["elapsed_s"][0] == 0
    speed = pairs["speed_kmh"][0]
    assert speed is not None
    assert speed == pytest.approx(pairs["distance_km"][0] * 3600)


def test_travel_short_hop_ignored(tmp_path: Path) -> None:
    # Berlin to Potsdam is about 27 km: fast on paper, but within geolocation error.
    case = build_case(tmp_path, travel_records(timedelta(seconds=10), "Potsdam", "DE"))
    assert detect(case, "impossible_travel").height == 0


def test_travel_unknown_place(tmp_path: Path) -> None:
    case = build_case(tmp_path, travel_records(timedelta(minutes=5), "Atlantis", "ZZ"))
    assert detect(case, "impossible_travel").height == 0
    pairs = Case.open(case).connect().execute("SELECT count(*) FROM login_pairs").fetchone()
    assert pairs == (0,)


def test_travel_exempt_vpn(tmp_path: Path) -> None:
    case = build_case(tmp_path, travel_records(timedelta(minutes=30), "Singapore", "SG"))
    result = run_detections(
        case, detections=["impossible_travel"], exempt_networks=["203.0.113.0/24"]
    )
    assert result.alerts.height == 0


def test_travel_failed_logins_skipped(tmp_path: Path) -> None:
    records = travel_records(timedelta(minutes=30), "Singapore", "SG")
    records[1]["result"] = "failure"
    case = build_case(tmp_path, records)
    assert detect(case, "impossible_travel").height == 0
    result = run_detections(case, detections=["impossible_travel"], successful_logins_only=False)
    assert result.alerts.height == 1


# Admin action from a new country, tokens, exports and denials.


def history(actor: str, count: int, ip: str = "198.51.100.1") -> list[dict]:
    return [event(timedelta(hours=-count + index), "data.read", actor, ip, route="/v1/projects")
            for index in range(count)]  # fmt: skip


def test_admin_from_new_country(tmp_path: Path) -> None:
    records = history("bob", 5)
    records.append(event(timedelta(0), "auth.login", "bob", "203.0.113.50", country="BR",
                         city="São Paulo"))  # fmt: skip
    records.append(event(timedelta(minutes=5), "admin.change_role", "bob", "203.0.113.50",
                         route="/v1/admin/roles", country="BR", city="São Paulo"))  # fmt: skip
    case = build_case(tmp_path, records)
    alerts = detect(case, "admin_new_geo")
    assert alerts.height == 1
    assert evidence_records(alerts.row(0, named=True)) == [6, 7]
    assert detect(case, "admin_new_geo", min_history=6).height == 0


def test_admin_from_home_country(tmp_path: Path) -> None:
    records = history("bob", 5)
    records.append(event(timedelta(minutes=5), "admin.change_role", "bob", "198.51.100.1",
                         route="/v1/admin/roles"))  # fmt: skip
    case = build_case(tmp_path, records)
    assert detect(case, "admin_new_geo").height == 0


def test_admin_country_no_longer_new(tmp_path: Path) -> None:
    records = history("bob", 5)
    records.append(event(timedelta(0), "auth.login", "bob", "203.0.113.50", country="BR",
                         city="São Paulo"))  # fmt: skip
    records.append(event(timedelta(hours=25), "admin.change_role", "bob", "203.0.113.50",
                         route="/v1/admin/roles", country="BR", city="São Paulo"))  # fmt: skip
    case = build_case(tmp_path, records)
    assert detect(case, "admin_new_geo").height == 0
    assert detect(case, "admin_new_geo", new_geo_hours=26).height == 1


def test_token_from_new_address(tmp_path: Path) -> None:
    token = "tok_" + "a" * 32
    records = [
        event(timedelta(0), "token.create", "carol", "198.51.100.1", token=token),
        event(timedelta(minutes=1), "data.read", "carol", "198.51.100.1", token=token),
        event(timedelta(minutes=9), "data.export", "carol", "203.0.113.77", token=token),
        event(timedelta(minutes=10), "data.export", "carol", "203.0.113.77", token=token),
    ]
    case = build_case(tmp_path, records)
    alerts = detect(case, "token_new_ip")
    assert alerts.height == 1
    alert = alerts.row(0, named=True)
    assert alert["client_ip"] == "203.0.113.77"
    assert evidence_records(alert) == [3, 4]
    assert detect(case, "token_new_ip", min_prior_uses=3).height == 0


def test_token_single_use_no_alert(tmp_path: Path) -> None:
    token = "tok_" + "b" * 32
    case = build_case(tmp_path, [event(timedelta(0), "data.read", "carol", "203.0.113.77",
                                       token=token)])  # fmt: skip
    assert detect(case, "token_new_ip").height == 0


def exports(count: int, spacing_s: float) -> list[dict]:
    return [event(timedelta(seconds=index * spacing_s), "data.export", "dave", "198.51.100.4",
                  route="/v1/export") for index in range(count)]  # fmt: skip


def test_export_spike_at_threshold(tmp_path: Path) -> None:
    case = build_case(tmp_path, exports(10, 60))
    alerts = detect(case, "export_spike")
    assert alerts.height == 1
    assert alerts["event_count"][0] == 10
    assert detect(case, "export_spike", min_exports=11).height == 0


def test_export_spread_out(tmp_path: Path) -> None:
    # Ten exports 67 s apart span 603 s, so no ten of them fit in ten minutes.
    case = build_case(tmp_path, exports(10, 67))
    assert detect(case, "export_spike").height == 0


def test_denied_spike_privileged_route(tmp_path: Path) -> None:
    records = [
        event(timedelta(seconds=30 * index), "authz.denied", "erin", "198.51.100.5",
              result="failure", reason="missing_role", route="/v1/admin/roles")
        for index in range(5)
    ]  # fmt: skip
    records += [
        event(timedelta(seconds=30 * index), "authz.denied", "frank", "198.51.100.6",
              result="failure", reason="missing_role", route="/v1/billing/invoices")
        for index in range(8)
    ]  # fmt: skip
    case = build_case(tmp_path, records)
    alerts = detect(case, "privileged_denied_spike")
    assert alerts["actor_id"].to_list() == ["erin"]
    assert detect(case, "privileged_denied_spike", route_pattern="billing").height == 1


# Adaptive baselines.


def test_baseline_flat_series_no_division(tmp_path: Path) -> None:
    # One export in each of six hours: flat, so every z-score is exactly 0.
    records = [event(timedelta(hours=hour), "data.export", "dave", "198.51.100.4",
                     route="/v1/export") for hour in range(6)]  # fmt: skip
    case = build_case(tmp_path, records)
    con = Case.open(case).connect()
    from secobs.baselines import zscores

    scores = zscores(con, threshold=None, min_count=0)
    assert scores.height == 6
    assert scores["z_score"].to_list() == [0.0] * 6
    assert scores["baseline_std"].to_list() == [0.0] * 6


def test_baseline_spike_against_flat(tmp_path: Path) -> None:
    records = [event(timedelta(hours=hour), "data.export", "dave", "198.51.100.4",
                     route="/v1/export") for hour in range(6)]  # fmt: skip
    records += [event(timedelta(hours=6, minutes=minute), "data.export", "dave", "198.51.100.4",
                      route="/v1/export") for minute in range(12)]  # fmt: skip
    case = build_case(tmp_path, records)
    alerts = detect(case, "baseline_anomaly")
    assert alerts.height == 1
    alert = alerts.row(0, named=True)
    assert alert["event_count"] == 12
    details = json.loads(alert["details"])
    # Baseline: six buckets of 1, std 0 floored at 1, so z = (12 - 1) / 1.
    assert details["z_score"] == pytest.approx(11.0)
    assert details["metric"] == "export"
    # 12 is 12 times the baseline mean of 1, so a ratio of 13 hides it.
    assert detect(case, "baseline_anomaly", min_ratio=12).height == 1
    assert detect(case, "baseline_anomaly", min_ratio=13).height == 0


def test_baseline_single_bucket(tmp_path: Path) -> None:
    case = build_case(tmp_path, exports(12, 1))
    assert detect(case, "baseline_anomaly").height == 0


# Risk scores.


def test_risk_signals_and_cap(tmp_path: Path) -> None:
    records = history("gina", 5)
    records.append(event(timedelta(0), "admin.change_role", "gina", "203.0.113.60",
                         route="/v1/admin/roles", country="BR", city="São Paulo", mfa=False,
                         ua="curl/8.5.0"))  # fmt: skip
    case = build_case(tmp_path, records)
    run_detections(case)
    con = Case.open(case).connect()
    row = con.execute(
        "SELECT computed_risk_score, computed_signals FROM audit_enriched WHERE source_record = 6"
    ).fetchone()
    assert row == (70, ["new_device", "geo_anomaly", "sensitive_route", "admin_without_mfa"])
    quiet = con.execute(
        "SELECT computed_risk_score FROM audit_enriched WHERE source_record = 1"
    ).fetchone()
    assert quiet == (0,)


def test_risk_weights_override(tmp_path: Path) -> None:
    weights = tmp_path / "weights.toml"
    weights.write_text("cap = 50\n[weights]\nsensitive_route = 60\n", encoding="utf-8")
    records = [event(timedelta(0), "data.export", "dave", "198.51.100.4", route="/v1/export")]
    case = build_case(tmp_path, records)
    run_detections(case, risk_weights=weights)
    con = Case.open(case).connect()
    assert con.execute("SELECT computed_risk_score FROM audit_enriched").fetchone() == (50,)


def test_unknown_detection_rejected(tmp_path: Path) -> None:
    case = build_case(tmp_path, exports(1, 1))
    with pytest.raises(UsageError, match="no_such"):
        run_detections(case, detections=["no_such"])


# The sample incident.


@pytest.fixture(scope="module")
def demo_alerts(demo_case: Path) -> pl.DataFrame:
    return run_detections(demo_case).alerts


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return json.loads((REPO / "sample_data" / "ground_truth.json").read_text(encoding="utf-8"))


def test_demo_names_sprayed_ips(demo_alerts: pl.DataFrame, truth: dict[str, Any]) -> None:
    sprays = demo_alerts.filter(pl.col("detection") == "password_spray")
    assert sorted(sprays["client_ip"].to_list()) == truth["spray"]["ips"]
    bursts = demo_alerts.filter(pl.col("detection") == "auth_failure_burst")
    assert sorted(bursts["client_ip"].to_list()) == truth["spray"]["ips"]
    cracked = sprays.filter(pl.col("client_ip") == truth["spray"]["success"]["ip"])
    assert cracked["actor_id"].to_list() == [truth["takeover"]["actor_id"]]


def test_demo_names_impossible_travel(demo_alerts: pl.DataFrame, truth: dict[str, Any]) -> None:
    travel = demo_alerts.filter(pl.col("detection") == "impossible_travel")
    takeover = truth["takeover"]
    assert set(travel["actor_id"]) == {takeover["actor_id"]}
    assert takeover["foreign"]["ip"] in travel["client_ip"].to_list()


def test_demo_names_export_spike(demo_alerts: pl.DataFrame, truth: dict[str, Any]) -> None:
    spikes = demo_alerts.filter(pl.col("detection") == "export_spike")
    assert spikes["actor_id"].to_list() == [truth["takeover"]["actor_id"]]
    assert spikes["event_count"].to_list() == [truth["exports"]["count"]]
    assert truth["token"]["token_id"] in spikes["summary"][0]


def test_demo_nothing_on_benign_actors(
    demo_case: Path, demo_alerts: pl.DataFrame, truth: dict[str, Any]
) -> None:
    attack_traces = set(truth["trace_ids"])
    con = Case.open(demo_case).connect()
    rows = con.execute(
        "SELECT source_file, source_record, trace_id FROM audit_events "
        "UNION ALL SELECT source_file, source_record, trace_id FROM request_metrics"
    ).fetchall()
    trace_of = {(file, record): trace for file, record, trace in rows}
    attack_actors = set(truth["actors"])
    for alert in demo_alerts.iter_rows(named=True):
        if alert["actor_id"] is not None:
            assert alert["actor_id"] in attack_actors, alert["summary"]
        traces = {trace_of[(item["source_file"], item["source_record"])]
                  for item in alert["evidence"]}  # fmt: skip
        assert traces & attack_traces, alert["summary"]


def test_demo_alerts_view_and_json(demo_case: Path, demo_alerts: pl.DataFrame) -> None:
    con = Case.open(demo_case).connect()
    assert con.execute("SELECT count(*) FROM alerts").fetchone() == (demo_alerts.height,)
    runner = CliRunner()
    outcome = runner.invoke(main, ["detect", str(demo_case), "--json"])
    assert outcome.exit_code == 1
    payload = json.loads(outcome.output)
    assert len(payload["alerts"]) == demo_alerts.height
    first = payload["alerts"][0]
    assert set(first) >= {"detection", "severity", "actor_id", "client_ip", "tenant_id",
                          "window_start", "window_end", "evidence"}  # fmt: skip
    assert set(first["evidence"][0]) == {"table", "source_file", "source_record"}


def test_demo_risk_on_spans(demo_case: Path, demo_alerts: pl.DataFrame, truth: dict) -> None:
    con = Case.open(demo_case).connect()
    foreign = truth["takeover"]["foreign"]["trace_id"]
    rows = con.execute(
        "SELECT DISTINCT computed_risk_score, computed_signals FROM spans_enriched "
        "WHERE trace_id = ?",
        [foreign],
    ).fetchall()
    assert len(rows) == 1
    score, signals = rows[0]
    assert "geo_anomaly" in signals
    assert score >= 25


def test_risk_weights_invalid(tmp_path: Path) -> None:
    from secobs.errors import InputError
    from secobs.risk import load_weights

    defaults = load_weights()
    assert defaults.weights == {"new_device": 15, "geo_anomaly": 25, "auth_failure_burst": 30,
                                "sensitive_route": 10, "admin_without_mfa": 20}  # fmt: skip
    assert defaults.cap == 100
    bad = tmp_path / "bad.toml"
    bad.write_text("[weights]\nnew_device = -1\n", encoding="utf-8")
    with pytest.raises(InputError, match="new_device"):
        load_weights(bad)
    bad.write_text("[weights]\nno_such_signal = 5\n", encoding="utf-8")
    with pytest.raises(InputError, match="no_such_signal"):
        load_weights(bad)
    bad.write_text("cap = [", encoding="utf-8")
    with pytest.raises(InputError, match="invalid TOML"):
        load_weights(bad)
