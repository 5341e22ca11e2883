"""A DuckDB fast path for the Okta System Log written one LogEvent per line.

DuckDB maps the lines whose events have the common shape: fields with their usual JSON
types, `published` as `YYYY-MM-DD[T ]HH:MM:SS[.f][Z]` and client.ipAddress a dotted IPv4
address. Every other line, and every file in another layout (an API page as one JSON array,
gzip), is read by `okta.read_okta`'s logic, so both paths give the same rows. `raw` is the
line itself in both paths.
"""

from __future__ import annotations

from pathlib import Path

from secobs.ingest import ndjson_sql as lines
from secobs.ingest.auditmap import map_record
from secobs.ingest.okta import FORMAT, map_okta_event, read_okta
from secobs.ingest.records import ReaderOutput, Rejected, Row

PUBLISHED = (
    r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z?"
)

FIELDS: dict[str, tuple[str, ...]] = {
    "$.published": lines.STRING,
    "$.version": lines.STRING,
    "$.eventType": lines.STRING,
    "$.legacyEventType": lines.STRING,
    "$.severity": lines.STRING,
    "$.uuid": lines.STRING,
    "$.actor": lines.OBJECT,
    "$.actor.alternateId": lines.STRING,
    "$.actor.id": lines.STRING,
    "$.actor.type": lines.STRING,
    "$.client": lines.OBJECT,
    "$.client.ipAddress": lines.STRING,
    "$.client.userAgent": lines.OBJECT,
    "$.client.userAgent.rawUserAgent": lines.STRING,
    "$.client.geographicalContext": lines.OBJECT,
    "$.client.geographicalContext.country": lines.STRING,
    "$.client.geographicalContext.state": lines.STRING,
    "$.client.geographicalContext.city": lines.STRING,
    "$.client.geographicalContext.geolocation": lines.OBJECT,
    "$.client.geographicalContext.geolocation.lat": lines.NUMBER,
    "$.client.geographicalContext.geolocation.lon": lines.NUMBER,
    "$.outcome": lines.OBJECT,
    "$.outcome.result": lines.STRING,
    "$.outcome.reason": lines.STRING,
    "$.authenticationContext": lines.OBJECT,
    "$.authenticationContext.credentialType": lines.STRING,
    "$.authenticationContext.authenticationProvider": lines.STRING,
    "$.debugContext": lines.OBJECT,
    "$.debugContext.debugData": lines.OBJECT,
    "$.debugContext.debugData.requestId": lines.STRING,
    "$.target": lines.JSON_TEXT,
}
OBJECTS = [
    "$",
    "$.actor",
    "$.client",
    "$.client.userAgent",
    "$.client.geographicalContext",
    "$.client.geographicalContext.geolocation",
    "$.outcome",
    "$.authenticationContext",
    "$.debugContext",
    "$.debugContext.debugData",
]

SPEC = """{
    "published": "VARCHAR", "version": "VARCHAR", "eventType": "VARCHAR",
    "legacyEventType": "VARCHAR", "severity": "VARCHAR", "uuid": "VARCHAR",
    "actor": {"alternateId": "VARCHAR", "id": "VARCHAR", "type": "VARCHAR"},
    "client": {
        "ipAddress": "VARCHAR", "userAgent": {"rawUserAgent": "VARCHAR"},
        "geographicalContext": {"country": "VARCHAR", "state": "VARCHAR", "city": "VARCHAR",
                                "geolocation": {"lat": "DOUBLE", "lon": "DOUBLE"}}
    },
    "outcome": {"result": "VARCHAR", "reason": "VARCHAR"},
    "authenticationContext": {"credentialType": "VARCHAR", "authenticationProvider": "VARCHAR"},
    "debugContext": {"debugData": {"requestId": "VARCHAR"}},
    "target": "JSON"
}"""


def build_sql() -> str:
    """Return the SELECT that maps Okta lines to audit_events columns."""
    q = lines.sql_string
    geo = "v.client.geographicalContext"
    result = "nullif(v.outcome.result, '')"
    context = "v.authenticationContext"
    method = (
        f"coalesce(nullif({context}.credentialType, ''), "
        f"nullif({context}.authenticationProvider, ''))"
    )
    address = "v.client.ipAddress"
    checks = [
        f"(v.published IS NULL OR (regexp_full_match(v.published, {q(PUBLISHED)}) "
        "AND TRY_CAST(v.published AS TIMESTAMPTZ) IS NOT NULL))",
        f"({address} IS NULL OR regexp_full_match({address}, {q(lines.IPV4)}))",
        # okta_result and the auth_method lower-case with Python's str methods, which agree
        # with DuckDB's upper() and lower() on ASCII text.
        f"(v.outcome.result IS NULL OR regexp_full_match(v.outcome.result, {q(lines.ASCII)}))",
        f"({method} IS NULL OR regexp_full_match({method}, {q(lines.ASCII)}))",
    ]
    columns = {
        "ts": "TRY_CAST(v.published AS TIMESTAMPTZ)",
        "source_format": q(FORMAT),
        "service": "'okta'",
        "version": "nullif(v.version, '')",
        "event": "coalesce(nullif(v.eventType, ''), nullif(v.legacyEventType, ''))",
        "severity": "nullif(v.severity, '')",
        "result": f"CASE upper({result}) WHEN 'SUCCESS' THEN 'success' WHEN 'ALLOW' THEN 'success' "
        f"WHEN 'FAILURE' THEN 'failure' WHEN 'DENY' THEN 'failure' ELSE lower({result}) END",
        "reason": "nullif(v.outcome.reason, '')",
        "event_id": "nullif(v.uuid, '')",
        "request_id": "nullif(v.debugContext.debugData.requestId, '')",
        "actor_id": "coalesce(nullif(v.actor.alternateId, ''), nullif(v.actor.id, ''))",
        "actor_type": "nullif(v.actor.type, '')",
        "user_agent": "nullif(v.client.userAgent.rawUserAgent, '')",
        "geo_country": f"nullif({geo}.country, '')",
        "geo_region": f"nullif({geo}.state, '')",
        "geo_city": f"nullif({geo}.city, '')",
        "geo_lat": f"{geo}.geolocation.lat",
        "geo_lon": f"{geo}.geolocation.lon",
        "auth_method": f"lower({method})",
        "request_parameters": "v.target",
        "client_ip": address,
        "source_kind": f"CASE WHEN {address} IS NOT NULL THEN 'ip' END",
    }
    return lines.build_sql(SPEC, FIELDS, OBJECTS, ["v.target"], "", checks, columns)


SQL = build_sql()


def read_okta_fast(path: Path) -> ReaderOutput:
    """Yield audit_events for an Okta System Log file, mapping clean JSON lines in DuckDB."""
    if not lines.reads_as_json_lines(path, ()):
        yield from read_okta(path)
        return
    yield from lines.read_lines_fast(path, SQL, line_items, read_okta)


def line_items(index: int, number: int, line: bytes) -> tuple[list[Row | Rejected], int]:
    """Map one line the way `read_okta` does; return the items and the record count."""
    records = lines.json_line_records(index, number, line, ())
    items = []
    for record in records:
        if record.error is not None:
            items.append(Rejected(record.number, record.error, record.raw))
            continue
        item = map_record(record.number, record.value, record.raw, FORMAT, map_okta_event)
        if item is not None:
            items.append(item)
    return items, len(records)
