"""The playbooks over the shipped sample incident: results, widget callbacks and export.

Expected values come from the sample's ground truth and from reading the sample files
directly, not from the playbooks' own queries.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

from secobs.case import Case
from secobs.errors import UsageError
from secobs.playbooks import (
    AbuseBaselinesPlaybook,
    AccountTakeoverPlaybook,
    AdhocSqlPlaybook,
    BlastRadiusPlaybook,
    EvidenceIntegrityPlaybook,
    TriageOverviewPlaybook,
    abuse_baselines,
)
from secobs.playbooks.adhoc_sql import parse_parameters

from .conftest import REPO

SAMPLE = REPO / "sample_data"
TRUTH = json.loads((SAMPLE / "ground_truth.json").read_text())
AUDIT = [json.loads(line) for line in (SAMPLE / "audit.ndjson").read_text().splitlines()]


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sample_bursts(window_minutes: int, min_failures: int) -> set[tuple[str, datetime]]:
    """Failed logins per client IP in fixed windows, counted from the sample file."""
    counts: Counter = Counter()
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    for event in AUDIT:
        if event["event"].startswith("auth.login") and event["result"] == "failure":
            ts = parse_ts(event["ts"])
            start = epoch + (ts - epoch) // timedelta(minutes=window_minutes) * timedelta(
                minutes=window_minutes
            )
            counts[(event["client"]["ip"], start)] += 1
    return {key for key, count in counts.items() if count >= min_failures}


def drop_alerts(con) -> None:
    """Drop the alerts table or view that `secobs detect` may have added to a case's catalog."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'alerts'"
    ).fetchall()
    for (kind,) in rows:
        con.execute("DROP VIEW alerts" if kind == "VIEW" else "DROP TABLE alerts")


@pytest.fixture
def case_copy(demo_case, tmp_path):
    """A private copy of the demo case, for playbooks that write into it."""
    target = tmp_path / "case"
    shutil.copytree(demo_case, target)
    for extra in ("reports", "lake/alerts"):
        shutil.rmtree(target / extra, ignore_errors=True)
    with duckdb.connect(str(target / "secobs.duckdb")) as con:
        drop_alerts(con)
    return target


# --- Triage overview ----------------------------------------------------------------------------


def test_triage_volumes_count_every_event(demo_case):
    playbook = TriageOverviewPlaybook(demo_case)

    volumes = playbook.volumes
    audit = volumes.filter(volumes["table_name"] == "audit_events")
    assert audit["events"].sum() == len(AUDIT)
    services = Counter(event["service"] for event in AUDIT)
    by_service = dict(audit.group_by("service").agg(pl.col("events").sum()).rows())
    assert by_service == dict(services)
    # The shared demo case may also have alerts, which add an "alerts" chart.
    assert {"volume", "risk_distribution", "top_actors"} <= set(playbook.charts)


def test_triage_bucket_change_reruns(demo_case):
    playbook = TriageOverviewPlaybook(demo_case)
    hourly = playbook.volumes["bucket"].n_unique()
    playbook.bucket_picker.value = 15

    buckets = playbook.volumes["bucket"].unique().to_list()
    assert len(buckets) > hourly
    assert all(bucket.minute % 15 == 0 and bucket.second == 0 for bucket in buckets)
    audit = playbook.volumes.filter(playbook.volumes["table_name"] == "audit_events")
    assert audit["events"].sum() == len(AUDIT)


def test_triage_risk_bands(demo_case):
    playbook = TriageOverviewPlaybook(demo_case)

    expected: Counter = Counter()
    for event in AUDIT:
        risk = event["security"]["risk_score"]
        if risk is not None:
            expected[(risk // 10 * 10, event["result"])] += 1
    got = {(row[0], row[1]): row[2] for row in playbook.risk.rows()}
    assert got == dict(expected)


def test_triage_top_lists_name_the_attack(demo_case):
    playbook = TriageOverviewPlaybook(demo_case, top=5)

    assert playbook.tables["top_actors"]["actor_id"][0] == TRUTH["takeover"]["actor_id"]
    assert playbook.tables["top_actors"].height == 5
    top_ips = set(playbook.tables["top_ips"]["client_ip"].head(3))
    assert set(TRUTH["takeover"]["attacker_ips"]) <= top_ips
    assert playbook.tables["top_tenants"]["tenant_id"][0] == TRUTH["takeover"]["tenant_id"]

    playbook.top_picker.value = 3
    assert playbook.tables["top_ips"].height == 3


def test_triage_without_alerts_view(case_copy):
    with duckdb.connect(str(Case.open(case_copy).catalog_path)) as con:
        drop_alerts(con)
    playbook = TriageOverviewPlaybook(case_copy)

    assert playbook.alerts is None
    assert "alerts" not in playbook.charts
    assert "secobs detect CASE" in playbook.output.outputs[0]["data"]["text/html"]


def test_triage_reads_alerts_view(case_copy):
    with duckdb.connect(str(Case.open(case_copy).catalog_path)) as con:
        con.execute(
            "CREATE TABLE alerts AS SELECT * FROM (VALUES "
            "('password_spray', 'high', TIMESTAMPTZ '2026-02-24 02:49:57+00', "
            "TIMESTAMPTZ '2026-02-24 03:16:29+00', '203.0.113.148'), "
            "('impossible_travel', 'high', TIMESTAMPTZ '2026-02-24 08:00:23+00', "
            "TIMESTAMPTZ '2026-02-24 08:08:01+00', '203.0.113.211')) "
            "AS t(detection, severity, window_start, window_end, client_ip)"
        )
    playbook = TriageOverviewPlaybook(case_copy)

    assert playbook.alerts["detection"].to_list() == ["password_spray", "impossible_travel"]
    assert "alerts" in playbook.charts
    spec = playbook.charts["alerts"].to_dict()
    rows = (
        spec["layer"][0]["data"]["values"] if "data" in spec["layer"][0] else spec["data"]["values"]
    )
    assert sorted(row["detection"] for row in rows) == ["impossible_travel", "password_spray"]
    assert "2 alerts" in playbook.output.outputs[0]["data"]["text/html"]


def test_triage_export_button(case_copy):
    playbook = TriageOverviewPlaybook(case_copy)
    playbook.export_button.click()

    folder = Case.open(case_copy).reports_dir / "triage_overview"
    names = sorted(path.name for path in folder.iterdir())
    assert names == sorted(
        f"{name}{suffix}" for name in playbook.charts for suffix in (".png", ".svg")
    )
    assert "Saved 6 files" in playbook.status.value


# --- Account takeover ---------------------------------------------------------------------------


def test_takeover_map_finds_impossible_travel(demo_case):
    playbook = AccountTakeoverPlaybook(demo_case)

    assert playbook.actor_picker.value == TRUTH["takeover"]["actor_id"]
    legs = playbook.legs.filter(playbook.legs["impossible"])
    home, foreign = TRUTH["takeover"]["home"], TRUTH["takeover"]["foreign"]
    first = legs.row(0, named=True)
    assert first["from_place"] == f"{home['city']}, {home['country']}"
    assert first["to_place"] == f"{foreign['city']}, {foreign['country']}"
    assert first["to_ts"] == parse_ts(foreign["ts"])
    # Munich to Singapore is about 9,900 km, whatever the exact coordinates.
    assert 9_500 < first["distance_km"] < 10_300
    assert "login_map" in playbook.charts


def test_takeover_first_seen_country(demo_case):
    playbook = AccountTakeoverPlaybook(demo_case)

    countries = playbook.first_seen.filter(playbook.first_seen["kind"] == "country")
    new = countries.filter(countries["appeared_later"])
    assert TRUTH["takeover"]["foreign"]["country"] in new["value"].to_list()
    assert TRUTH["spray"]["success"]["country"] in new["value"].to_list()
    home = countries.filter(countries["value"] == TRUTH["takeover"]["home"]["country"])
    assert home["appeared_later"].to_list() == [False]


def test_takeover_window_narrows_map(demo_case):
    playbook = AccountTakeoverPlaybook(demo_case)
    playbook.start_picker.value = TRUTH["takeover"]["foreign"]["ts"]

    assert playbook.logins["ts"].min() >= parse_ts(TRUTH["takeover"]["foreign"]["ts"])
    assert playbook.legs.filter(playbook.legs["impossible"]).height == 1


# --- Blast radius -------------------------------------------------------------------------------


def test_blast_radius_from_token(demo_case):
    playbook = BlastRadiusPlaybook(demo_case, token_id=TRUTH["token"]["token_id"])

    assert playbook.seed_kind.value == "token_id"
    assert playbook.radius.export_traces == TRUTH["exports"]["count"]
    exports = playbook.tables["exports"]
    assert set(exports["trace_id"]) == set(TRUTH["exports"]["trace_ids"])
    assert playbook.trace_picker.value in TRUTH["exports"]["trace_ids"]
    assert TRUTH["takeover"]["tenant_id"] in playbook.tables["tenants"]["tenant_id"].to_list()
    assert set(playbook.charts) == {"waterfall", "routes"}


def test_blast_radius_trace_picker_redraws(demo_case):
    playbook = BlastRadiusPlaybook(demo_case, token_id=TRUTH["token"]["token_id"])
    other = TRUTH["exports"]["trace_ids"][5]
    playbook.trace_picker.value = other

    assert set(playbook.tables["trace"]["trace_id"]) == {other}
    rows = playbook.charts["waterfall"].to_dict()["data"]["values"]
    assert {row["trace_id"] for row in rows} == {other}
    assert min(row["offset_ms"] for row in rows) == 0


def test_blast_radius_seed_kind_change(demo_case):
    playbook = BlastRadiusPlaybook(demo_case)
    assert playbook.radius.seed == {"actor_id": TRUTH["takeover"]["actor_id"]}

    playbook.seed_kind.value = "trace_id"
    assert set(playbook.radius.seed) == {"trace_id"}
    assert playbook.radius.traces == [playbook.radius.seed["trace_id"]]

    playbook.seed_value.value = TRUTH["exports"]["trace_ids"][0]
    assert playbook.radius.export_traces == 1


def test_blast_radius_empty_seed_shows_error(demo_case, tmp_path):
    playbook = BlastRadiusPlaybook(demo_case)
    playbook.seed_value.value = "  "

    assert playbook.error == "enter an actor id to start from"
    assert playbook.radius is None
    with pytest.raises(UsageError, match="no charts"):
        playbook.export(tmp_path)


def test_blast_radius_rejects_two_seeds(demo_case):
    with pytest.raises(UsageError, match="give one seed"):
        BlastRadiusPlaybook(demo_case, actor_id="a", trace_id=TRUTH["exports"]["trace_ids"][0])


# --- Abuse baselines ----------------------------------------------------------------------------


def test_abuse_bursts_name_spray_ips(demo_case):
    playbook = AbuseBaselinesPlaybook(demo_case)

    assert playbook.burst_source == "catalog query auth_failure_burst"
    assert set(playbook.bursts["client_ip"]) == set(TRUTH["spray"]["ips"])
    assert set(playbook.charts) == {"bursts", "zscores"}


def test_abuse_sliders_rerun(demo_case):
    playbook = AbuseBaselinesPlaybook(demo_case)
    playbook.failures_picker.value = 100
    assert playbook.bursts.height == 0

    before = playbook.anomalies.height
    playbook.threshold_picker.value = 10.0
    assert playbook.anomalies.height <= before
    assert (playbook.anomalies["z_score"] >= 10.0).all()
    playbook.min_count_picker.value = 1
    playbook.threshold_picker.value = 2.0
    assert playbook.anomalies.height >= before
    assert (playbook.anomalies["event_count"] >= 1).all()


def test_abuse_builtin_queries_without_catalog(demo_case, monkeypatch):
    monkeypatch.setattr(abuse_baselines, "catalog", lambda: {})
    playbook = AbuseBaselinesPlaybook(demo_case)

    assert playbook.burst_source.startswith("built-in")
    assert playbook.zscore_source.startswith("built-in")
    got = {(row["client_ip"], row["window_start"]) for row in playbook.bursts.iter_rows(named=True)}
    assert got == sample_bursts(5, 5)

    playbook.window_picker.value = 15
    playbook.failures_picker.value = 10
    got = {(row["client_ip"], row["window_start"]) for row in playbook.bursts.iter_rows(named=True)}
    assert got == sample_bursts(15, 10)
    assert {"auth_failure", "http_4xx"} <= set(playbook.zscores["metric"])


# --- Evidence integrity -------------------------------------------------------------------------


def test_evidence_unsealed_asks_before_sealing(case_copy):
    shutil.rmtree(Case.open(case_copy).evidence_dir, ignore_errors=True)
    playbook = EvidenceIntegrityPlaybook(case_copy)

    assert playbook.sealed is False
    assert playbook.verification is None
    assert playbook.seal_button.disabled is False
    assert not (Case.open(case_copy).evidence_dir / "chain-seal.json").exists()
    assert "has no seal" in playbook.output.outputs[0]["data"]["text/html"]

    playbook.seal_button.click()
    assert playbook.sealed is True
    assert playbook.verification.valid is True
    assert playbook.verification.records == len(AUDIT)
    assert playbook.seal_button.disabled is True


def test_evidence_manifest_hashes(demo_case):
    playbook = EvidenceIntegrityPlaybook(demo_case)

    expected = {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (SAMPLE / "audit.ndjson", SAMPLE / "requests.csv", SAMPLE / "spans.otlp.jsonl")
    }
    assert dict(playbook.manifest.select("path", "sha256").rows()) == expected
    playbook.check_button.click()
    assert playbook.source_check["status"].to_list() == ["unchanged"] * 3


def test_evidence_checkpoints(case_copy):
    from secobs.evidence import seal_case

    seal = seal_case(case_copy)
    evidence = Case.open(case_copy).evidence_dir
    (evidence / "checkpoint-4000-a.json").write_text(
        json.dumps({"records": seal.records, "head_hash": seal.head_hash, "key_id": "k1"})
    )
    (evidence / "checkpoint-4000-b.json").write_text(
        json.dumps({"records": seal.records, "head_hash": "00" * 32})
    )
    (evidence / "checkpoint-broken.json").write_text("{not json")
    playbook = EvidenceIntegrityPlaybook(case_copy)

    rows = {row["file"]: row for row in playbook.checkpoints.iter_rows(named=True)}
    assert rows["checkpoint-4000-a.json"]["matches_chain"] is True
    assert rows["checkpoint-4000-a.json"]["key_id"] == "k1"
    assert rows["checkpoint-4000-b.json"]["matches_chain"] is False
    assert rows["checkpoint-broken.json"]["problem"].startswith("not valid JSON")


def test_evidence_finds_tampering(case_copy):
    from secobs.evidence import seal_case

    seal_case(case_copy)
    parquet = sorted((Case.open(case_copy).lake_dir / "audit_events").glob("**/*.parquet"))[0]
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * REPLACE (replace(raw, '\"success\"', '\"failure\"') AS raw) "
            f"FROM read_parquet('{parquet}')) TO '{parquet}.tmp' (FORMAT parquet)"
        )
    shutil.move(f"{parquet}.tmp", parquet)
    playbook = EvidenceIntegrityPlaybook(case_copy)

    assert playbook.verification.valid is False
    assert "Verification failed" in playbook.output.outputs[0]["data"]["text/html"]


# --- Ad-hoc SQL ---------------------------------------------------------------------------------


def test_adhoc_binds_parameters(demo_case):
    actor = TRUTH["takeover"]["actor_id"]
    playbook = AdhocSqlPlaybook(
        demo_case,
        sql="SELECT count(*) AS n FROM audit_events WHERE actor_id = $actor",
        parameters={"actor": actor},
    )
    assert playbook.result["n"].to_list() == [sum(e["actor"]["id"] == actor for e in AUDIT)]

    # A quote in a value is data: it cannot change the query.
    playbook.parameters_box.value = "actor = x' OR '1'='1"
    playbook.run_button.click()
    assert playbook.error is None
    assert playbook.result["n"].to_list() == [0]


def test_adhoc_missing_parameter_shows_error(demo_case):
    playbook = AdhocSqlPlaybook(demo_case, sql="SELECT $nope AS x", parameters="")

    assert "missing value for parameter(s) $nope" in playbook.error
    assert playbook.result is None


def test_adhoc_limit_and_chart_pickers(demo_case):
    playbook = AdhocSqlPlaybook(
        demo_case, sql="SELECT ts, risk_score, service FROM audit_events", parameters="", limit=100
    )
    assert playbook.result.height == 100
    assert playbook.truncated is True
    assert playbook.x_picker.value == "ts"
    assert playbook.y_picker.value == "risk_score"

    playbook.colour_picker.value = "service"
    playbook.mark_picker.value = "point"
    spec = playbook.charts["chart"].to_dict()
    assert spec["mark"]["type"] == "point"
    assert spec["encoding"]["color"]["field"] == "service"
    assert spec["encoding"]["x"]["type"] == "temporal"

    playbook.y_picker.value = "(none)"
    assert playbook.charts["chart"].to_dict()["encoding"]["y"]["aggregate"] == "count"


def test_adhoc_cannot_change_case(case_copy):
    playbook = AdhocSqlPlaybook(case_copy, sql="DROP VIEW audit_events", parameters="")
    assert playbook.error is None

    with Case.open(case_copy).connect() as con:
        assert con.sql("SELECT count(*) FROM audit_events").fetchall() == [(len(AUDIT),)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = 1", {"a": 1}),
        ("a = 1.5\nb = true", {"a": 1.5, "b": True}),
        ("name = 'x = y'", {"name": "x = y"}),
        ('name = "7"', {"name": "7"}),
        ("# comment\n\nv = null", {"v": None}),
        ("who = u-acme-001", {"who": "u-acme-001"}),
    ],
)
def test_parse_parameters(text, expected):
    assert parse_parameters(text) == expected


def test_parse_parameters_rejects_bad_line():
    with pytest.raises(UsageError, match="invalid parameter line 2"):
        parse_parameters("a = 1\nnot a parameter")
