"""A vectorised fast path for audit.v1 NDJSON, run inside DuckDB.

DuckDB reads the file's lines (in parallel, keeping their numbers), parses each line and maps
every line that is plainly well-formed straight to audit_events columns. A line is plainly
well-formed when every field has the expected JSON type, the ids are already canonical, the
timestamp is RFC 3339, the client address is IPv4 or IPv6 and the risk score is a whole
number from 0 to 100.
Every other line goes to the Python reader (`audit_v1.map_event`), which maps what it can and
rejects the rest with the exact reason, so both paths give the same rows.

Files this path cannot read safely (a byte-order mark, mixed line endings, a 0x01 byte, blank
lines, invalid UTF-8, very long lines) are read by the Python reader alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from secobs import tables
from secobs.ingest.audit_v1 import read_audit_v1, reject_or_map
from secobs.ingest.auditmap import classify_source
from secobs.ingest.records import ArrowBatch, ReaderOutput

BATCH_ROWS = 20_000
MAX_LINE_BYTES = 8 * 1024 * 1024
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
CANONICAL_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
IPV6_LIKE = r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"
RFC3339 = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?"

# Every audit.v1 field with the JSON types it may have (NULL: JSON null or absent). A line whose
# fields all match is mapped here; any other line goes to the Python reader.
STRING = ("VARCHAR",)
NUMBER = ("UBIGINT", "BIGINT", "DOUBLE")
FIELDS: dict[str, tuple[str, ...]] = {
    "$.schema": STRING,
    "$.ts": STRING,
    "$.service": STRING,
    "$.env": STRING,
    "$.version": STRING,
    "$.event": STRING,
    "$.severity": STRING,
    "$.result": STRING,
    "$.reason": STRING,
    "$.request": ("OBJECT",),
    "$.request.request_id": STRING,
    "$.request.trace_id": STRING,
    "$.request.span_id": STRING,
    "$.request.method": STRING,
    "$.request.route": STRING,
    "$.actor": ("OBJECT",),
    "$.actor.type": STRING,
    "$.actor.id": STRING,
    "$.actor.tenant_id": STRING,
    "$.actor.roles": ("ARRAY",),
    "$.client": ("OBJECT",),
    "$.client.ip": STRING,
    "$.client.ua": STRING,
    "$.client.geo": ("OBJECT",),
    "$.client.geo.country": STRING,
    "$.client.geo.region": STRING,
    "$.client.geo.city": STRING,
    "$.client.geo.lat": NUMBER,
    "$.client.geo.lon": NUMBER,
    "$.security": ("OBJECT",),
    "$.security.auth_method": STRING,
    "$.security.token_id": STRING,
    "$.security.mfa": ("BOOLEAN",),
    "$.security.risk_score": ("UBIGINT", "BIGINT"),
    "$.security.signals": ("ARRAY",),
}

SPEC = """{
    "schema": "VARCHAR", "ts": "VARCHAR", "service": "VARCHAR", "env": "VARCHAR",
    "version": "VARCHAR", "event": "VARCHAR", "severity": "VARCHAR", "result": "VARCHAR",
    "reason": "VARCHAR",
    "request": {"request_id": "VARCHAR", "trace_id": "VARCHAR", "span_id": "VARCHAR",
                "method": "VARCHAR", "route": "VARCHAR"},
    "actor": {"type": "VARCHAR", "id": "VARCHAR", "tenant_id": "VARCHAR", "roles": ["JSON"]},
    "client": {"ip": "VARCHAR", "ua": "VARCHAR",
               "geo": {"country": "VARCHAR", "region": "VARCHAR", "city": "VARCHAR",
                       "lat": "DOUBLE", "lon": "DOUBLE"}},
    "security": {"auth_method": "VARCHAR", "token_id": "VARCHAR", "mfa": "BOOLEAN",
                 "risk_score": "BIGINT", "signals": ["JSON"]}
}"""


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build_sql() -> str:
    """Return the SELECT that maps lines to columns plus `record`, `clean` and `dirty_line`.

    Each line is parsed twice: once for the JSON type of every field and once for the values.
    Column values of lines that are not clean are meaningless; the caller drops those rows.
    """
    paths = "[" + ", ".join(_sql_string(path) for path in FIELDS) + "]"
    # One regular expression checks the type of every field at once: the types are joined into
    # a string such as "VARCHAR,NULL,OBJECT,..." and each position lists what it may be.
    type_pattern = ",".join("(" + "|".join((*allowed, "NULL")) + ")" for allowed in FIELDS.values())
    checks = [
        "t IS NOT NULL",
        "v IS NOT NULL",
        "ltrim(line)[1] = '{'",
        "regexp_full_match(array_to_string([coalesce(x, 'NULL') FOR x IN t], ','), "
        f"{_sql_string(type_pattern)})",
    ]
    checks += [
        "(v.schema IS NULL OR v.schema = 'audit.v1')",
        f"regexp_full_match(v.ts, {_sql_string(RFC3339)})",
        "v.event <> ''",
        "(v.request.trace_id IS NULL OR regexp_full_match(v.request.trace_id, '[0-9a-f]{32}'))",
        "(v.request.span_id IS NULL OR regexp_full_match(v.request.span_id, '[0-9a-f]{16}'))",
        # A canonical dotted IPv4 address is kept as it is. A value that looks like IPv6 (hex
        # digits, colons and dots) is normalised per distinct value in `_normalise_ipv6`.
        # Everything else (host names, placeholders) goes to the Python reader.
        f"(v.client.ip IS NULL OR regexp_full_match(v.client.ip, {_sql_string(CANONICAL_IPV4)})"
        f" OR regexp_full_match(v.client.ip, {_sql_string(IPV6_LIKE)}))",
        "(v.security.risk_score IS NULL OR v.security.risk_score BETWEEN 0 AND 100)",
        # Every element of roles and signals must be a JSON string (JSON null counts as not).
        "len([x FOR x IN coalesce(v.actor.roles, []) "
        "IF x IS NULL OR NOT starts_with(x, '\"')]) = 0",
        "len([x FOR x IN coalesce(v.security.signals, []) "
        "IF x IS NULL OR NOT starts_with(x, '\"')]) = 0",
    ]
    clean = "\n        AND ".join(checks)

    columns = {
        "ts": "TRY_CAST(v.ts AS TIMESTAMPTZ)",
        "schema": "'audit.v1'",
        "source_format": "'audit.v1'",
        "service": "v.service",
        "env": "v.env",
        "version": "v.version",
        "event": "v.event",
        "severity": "v.severity",
        "result": "v.result",
        "reason": "v.reason",
        "request_id": "v.request.request_id",
        "trace_id": "v.request.trace_id",
        "span_id": "v.request.span_id",
        "method": "v.request.method",
        "route": "v.request.route",
        "actor_type": "v.actor.type",
        "actor_id": "v.actor.id",
        "tenant_id": "v.actor.tenant_id",
        "roles": "[x ->> '$' FOR x IN v.actor.roles]",
        "client_ip": "v.client.ip",
        "source_kind": "CASE WHEN v.client.ip IS NOT NULL THEN 'ip' END",
        "user_agent": "v.client.ua",
        "geo_country": "v.client.geo.country",
        "geo_region": "v.client.geo.region",
        "geo_city": "v.client.geo.city",
        "geo_lat": "v.client.geo.lat",
        "geo_lon": "v.client.geo.lon",
        "auth_method": "v.security.auth_method",
        "token_id": "v.security.token_id",
        "mfa": "v.security.mfa",
        "risk_score": "CAST(v.security.risk_score AS INTEGER)",
        "signals": "[x ->> '$' FOR x IN v.security.signals]",
        "raw": "line",
    }
    selected = ",\n    ".join(f"{expression} AS {name}" for name, expression in columns.items())
    return f"""
WITH lines AS (
    SELECT ordinality AS record, line
    FROM read_csv(
        $path, columns = {{'line': 'VARCHAR'}}, delim = chr(1), quote = '', escape = '',
        header = false, auto_detect = false, max_line_size = {MAX_LINE_BYTES}
    ) WITH ORDINALITY
),
parsed AS (
    SELECT
        record, line,
        try(json_type(line, {paths})) AS t,
        try(from_json(line, {_sql_string(SPEC)})) AS v
    FROM lines
),
checked AS (
    SELECT *, coalesce({clean}, false) AS clean FROM parsed
)
SELECT
    record,
    clean,
    CASE WHEN NOT clean THEN line END AS dirty_line,
    {selected}
FROM checked
"""


SQL = build_sql()


def can_use_fast_path(path: Path) -> bool:
    """Check the bytes that would make DuckDB's line reader differ from the Python reader."""
    with path.open("rb") as stream:
        head = stream.read(3)
        if head == b"\xef\xbb\xbf":
            return False
        stream.seek(0)
        carry = b""
        crlf = lf = 0
        while chunk := stream.read(1 << 22):
            block = carry + chunk
            if b"\x01" in chunk or b"\n\n" in block or b"\n\r\n" in block:
                return False
            crlf += chunk.count(b"\r\n")
            lf += chunk.count(b"\n")
            carry = chunk[-2:]
        crlf += 0
    # DuckDB picks one newline style per file; a file with both goes to the Python reader.
    return crlf == 0 or crlf == lf


def read_audit_v1_fast(path: Path) -> ReaderOutput:
    """Yield ArrowBatch items for clean lines and Row/Rejected items for the others."""
    if not can_use_fast_path(path):
        yield from read_audit_v1(path)
        return
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    try:
        reader = con.sql(SQL, params={"path": str(path)}).to_arrow_reader(BATCH_ROWS)
        batches = iter(reader)
        first = next(batches, None)
    except duckdb.Error:
        con.close()
        yield from read_audit_v1(path)
        return
    yield from _convert(first, batches)
    con.close()


def _normalise_ipv6(table: pa.Table) -> pa.Table:
    """Give rows whose client_ip contains a colon the address columns the Python reader gives.

    `classify_source` runs once per distinct value, so a batch costs as many calls as it has
    distinct IPv6-looking addresses, not rows.
    """
    addresses = table.column("client_ip")
    has_colon = pc.fill_null(pc.match_substring(addresses, ":"), False)
    if not pc.any(has_colon).as_py():
        return table
    distinct = pc.unique(pc.filter(addresses, has_colon)).to_pylist()
    classified = {value: classify_source(value) for value in distinct}
    values = addresses.to_pylist()
    kinds = table.column("source_kind").to_pylist()
    hosts = [None] * len(values)
    for index, value in enumerate(values):
        if value is not None and value in classified:
            values[index], hosts[index], kinds[index] = classified[value]
    table = table.set_column(
        table.schema.get_field_index("client_ip"), "client_ip", pa.array(values, pa.string())
    )
    table = table.set_column(
        table.schema.get_field_index("source_kind"), "source_kind", pa.array(kinds, pa.string())
    )
    if "source_host" in table.column_names:
        return table.set_column(
            table.schema.get_field_index("source_host"), "source_host", pa.array(hosts, pa.string())
        )
    return table.append_column("source_host", pa.array(hosts, pa.string()))


def _convert(first: pa.RecordBatch | None, batches: Iterator[pa.RecordBatch]) -> ReaderOutput:
    # Columns this path has no source for (source_host, ...) are filled with nulls by the writer.
    mapped = {*(first.schema.names if first is not None else ()), "source_record"}
    columns = [field.name for field in tables.AUDIT_EVENTS if field.name in mapped]
    batch = first
    while batch is not None:
        clean = batch.column("clean")
        table = pa.Table.from_batches([batch])
        good = table.filter(clean).select([*columns[:-1], "record"])
        good = good.rename_columns(columns)
        if "client_ip" in columns:
            good = _normalise_ipv6(good)
        if good.num_rows:
            yield ArrowBatch("audit_events", good)
        if good.num_rows != table.num_rows:
            dirty = table.filter(pa.compute.invert(clean)).select(["record", "dirty_line"])
            for record, line in zip(
                dirty.column("record").to_pylist(),
                dirty.column("dirty_line").to_pylist(),
                strict=True,
            ):
                item = reject_or_map(record, line.encode("utf-8"))
                if item is not None:
                    yield item
        batch = next(batches, None)
