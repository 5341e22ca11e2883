"""Shared parts of the DuckDB fast paths for JSON lines audit exports (CloudTrail, Okta).

DuckDB reads the file's lines with their numbers, parses each and maps the lines that are
plainly well-formed straight to audit_events columns. Every other line goes back to Python,
which handles it exactly as `jsonstream.iter_json_records` and the format's reader do, so both
paths give the same rows, rejections and record numbers.

A line is plainly well-formed only when DuckDB's JSON parser and orjson provably agree on it.
DuckDB accepts text that orjson rejects (NaN, Infinity, trailing commas, numbers beyond the
double range), keeps the first of two duplicate keys where orjson keeps the last, and writes
JSON text that differs from orjson's for floats and escapes. So a clean line contains no
backslash and none of those number forms, the objects it is read from have unique keys, and
the JSON text it stores contains no float.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from secobs import tables
from secobs.ingest.audit_sql import can_use_fast_path
from secobs.ingest.jsonstream import MAX_LINE_BYTES as FIRST_LINE_BYTES
from secobs.ingest.jsonstream import JsonRecord
from secobs.ingest.records import ArrowBatch, ReaderOutput, Rejected, Row, decode_raw
from secobs.ingest.source import is_gzip

BATCH_ROWS = 20_000
MAX_LINE_BYTES = 8 * 1024 * 1024

STRING = ("VARCHAR",)
OBJECT = ("OBJECT",)
NUMBER = ("UBIGINT", "BIGINT", "DOUBLE")
# A flag (flag() in auditmap) is a JSON boolean or a short ASCII word such as "Yes" or "true".
FLAG = ("BOOLEAN", "VARCHAR")
# JSON text stored as it is (request_parameters): any type but a float, checked further below.
JSON_TEXT = ("OBJECT", "ARRAY", "VARCHAR", "BOOLEAN", "UBIGINT", "BIGINT")

# Text that DuckDB's parser accepts or reads differently from orjson: backslash escapes,
# trailing commas, NaN and Infinity, and numbers with an exponent of three digits (orjson
# rejects 1e400) or 20 integer digits (past the 64-bit range, both read a float, and orjson
# rejects an infinite one). Control characters need no check: both parsers reject them inside
# strings. A string value that happens to match only sends its line to Python.
UNSAFE_TEXT = (
    r"\\|,[ \t]*[}\]]|[:,\[][ \t]*[-+]?([nN][aA][nN]|[iI][nN][fF])"
    r"|[:,\[][ \t]*-?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]{3}|[:,\[][ \t]*-?[0-9]{20}"
)
# Python's re with IGNORECASE matches U+0131 and U+0130 to i, U+017F to s and U+212A (Kelvin)
# to k, and RE2 does not fold all of them the same way, so a line with one of them never
# passes a case-insensitive check.
CASE_FOLDING = (
    "NOT (" + " OR ".join(f"contains(line, '{char}')" for char in "\u0131\u0130\u017f\u212a") + ")"
)
ASCII = r"[ -~]*"
OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A dotted IPv4 address as ipaddress writes it (no leading zeros), so it needs no normalising.
IPV4 = OCTET + r"(\." + OCTET + r"){3}"

LineItems = Callable[[int, int, bytes], tuple[list[Row | Rejected], int]]


def sql_string(text: str) -> str:
    """Quote a constant as a SQL string literal (the constants here are fixed, never input)."""
    return "'" + text.replace("'", "''") + "'"


def types_match(fields: dict[str, tuple[str, ...]]) -> str:
    """Return a SQL condition on `types`: every path of `fields` has one of its JSON types.

    `types` contains the types of all paths from one `json_type` call. As text it reads
    "[VARCHAR, NULL, 'NULL', ...]" (NULL for absent, 'NULL' for JSON null), which one
    pattern checks.
    """
    pattern = ", ".join(
        "(" + "|".join((*allowed, "NULL", "'NULL'")) + ")" for allowed in fields.values()
    )
    return (
        f"regexp_full_match(types::VARCHAR, {sql_string(chr(92) + '[' + pattern + chr(92) + ']')})"
    )


def plain_json_text(column: str, structure: str) -> str:
    """Return a SQL condition: DuckDB's JSON text of `column` is what orjson.dumps writes.

    That holds when the value has no float and every object in it has unique keys. The check
    reads the value's `json_structure`: it accepts scalars, arrays of scalars, one object
    of scalars or arrays of scalars, and an array of such objects. Other shapes go to Python.
    """
    objects = f"(length({structure}) - length(replace({structure}, '{{', '')))"
    unique = "len(json_keys({0})) = list_unique(json_keys({0}))"
    flat_object = f"(starts_with({structure}, '{{') AND {unique.format(column)})"
    object_array = (
        f"(starts_with({structure}, '[{{') AND "
        f"list_bool_and([{unique.format('e')} FOR e IN json_extract({column}, '$[*]')]))"
    )
    return (
        f"({column} IS NULL OR {column} = '{{}}' OR ("
        f"NOT contains({structure}, '\"DOUBLE\"') AND NOT contains({structure}, '\"JSON\"') "
        f"AND ({objects} = 0 OR ({objects} = 1 AND ({flat_object} OR {object_array})))))"
    )


def flag_value(column: str) -> str:
    """Return the SQL for auditmap.flag() of a JSON text column (NULL, true, or "Yes")."""
    return (
        f"CASE WHEN {column} = 'true' THEN true WHEN {column} = 'false' THEN false "
        f"WHEN lower({column}) IN ('\"true\"', '\"yes\"', '\"1\"') THEN true "
        f"WHEN lower({column}) IN ('\"false\"', '\"no\"', '\"0\"') THEN false END"
    )


def flag_plain(column: str) -> str:
    """Return a SQL condition: a flag column is NULL, a boolean or a quoted ASCII word."""
    return f"({column} IS NULL OR regexp_full_match({column}, 'true|false|\"[A-Za-z0-9]*\"'))"


def build_sql(
    spec: str,
    fields: dict[str, tuple[str, ...]],
    objects: list[str],
    json_texts: list[str],
    unsafe: str,
    checks: list[str],
    columns: dict[str, str],
) -> str:
    """Return the SELECT that maps lines to `columns` plus `record`, `clean` and `dirty_line`.

    Each line is parsed three times: into `v` by `spec`, for the JSON types of `fields` and
    for the keys of the `objects` (paths), which must be unique. `json_texts` are the
    expressions stored as JSON text; `structure_N` contains the structure of the Nth. A line is
    clean when it matches none of the `unsafe` pattern and all `checks` hold. Column values
    of lines that are not clean are meaningless; the caller drops those rows.
    """
    paths = "[" + ", ".join(sql_string(path) for path in fields) + "]"
    listed = "[" + ", ".join(sql_string(path) for path in objects) + "]"
    structures = "".join(
        f", json_structure({expression}) AS structure_{number}"
        for number, expression in enumerate(json_texts)
    )
    common = [
        "v IS NOT NULL",
        # No spaces around the object, so `raw`, the line, is also its Python strip().
        "starts_with(line, '{')",
        "ends_with(line, '}')",
        f"NOT regexp_matches(line, {sql_string('|'.join(filter(None, [UNSAFE_TEXT, unsafe])))})",
        # orjson rejects nesting deeper than 1024, which needs at least 2050 characters.
        "CASE WHEN strlen(line) < 2048 THEN true "
        "ELSE length(regexp_replace(line, '[^\\[{]', '', 'g')) < 1024 END",
        types_match(fields),
        *(
            f"coalesce(len(keys[{index}]) = list_unique(keys[{index}]), true)"
            for index in range(1, len(objects) + 1)
        ),
        *(
            plain_json_text(expression, f"structure_{number}")
            for number, expression in enumerate(json_texts)
        ),
    ]
    clean = "\n        AND ".join([*common, *checks])
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
        try(from_json(line, {sql_string(spec)})) AS v,
        try(json_type(line, {paths})) AS types,
        try(json_keys(line, {listed})) AS keys
    FROM lines
),
shaped AS (
    SELECT *{structures} FROM parsed
),
checked AS (
    SELECT *, coalesce({clean}, false) AS clean FROM shaped
)
SELECT
    record,
    clean,
    CASE WHEN NOT clean THEN coalesce(line, '') END AS dirty_line,
    line AS raw,
    {selected}
FROM checked
"""


def reads_as_json_lines(path: Path, containers: tuple[str, ...]) -> bool:
    """Check that DuckDB's line reader sees the lines `iter_json_records` reads as JSON lines.

    That excludes gzip, the files `audit_sql.can_use_fast_path` excludes (byte-order mark,
    empty lines, mixed line endings, 0x01 bytes) and files whose first line is not a JSON
    object without a wrapper key, which `iter_json_records` reads as documents.
    """
    if is_gzip(path) or not can_use_fast_path(path):
        return False
    with path.open("rb") as stream:
        first = stream.readline(FIRST_LINE_BYTES)
    if not (first.endswith(b"\n") or len(first) < FIRST_LINE_BYTES):
        return False
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and not any(key in value for key in containers)


def json_line_records(
    index: int, number: int, line: bytes, containers: tuple[str, ...]
) -> list[JsonRecord]:
    """Read line `index` as `iter_json_records` reads a JSON lines file, numbering from `number`.

    A blank line gives no record, a line that is a wrapper document one record per element.
    """
    if not line.strip():
        return []
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return [JsonRecord(number, None, decode_raw(line), f"line {index}: invalid JSON: {error}")]
    if isinstance(value, dict):
        for key in containers:
            items = value.get(key)
            if isinstance(items, list):
                return [
                    JsonRecord(number + offset, item, orjson.dumps(item).decode(), container=key)
                    for offset, item in enumerate(items)
                ]
    return [JsonRecord(number, value, line.decode("utf-8", errors="replace").strip())]


def read_lines_fast(
    path: Path, sql: str, line_items: LineItems, fallback: Callable[[Path], ReaderOutput]
) -> ReaderOutput:
    """Run `sql` over the file and yield ArrowBatch items, with `line_items` for dirty lines.

    `line_items(index, number, line)` maps line `index` with its first record numbered
    `number` and returns the items plus how many records the line held. Files DuckDB
    cannot read the same way, or fails on before the first batch, are read by `fallback`.
    """
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        try:
            batches = iter(con.sql(sql, params={"path": str(path)}).to_arrow_reader(BATCH_ROWS))
            first = next(batches, None)
        except duckdb.Error:
            yield from fallback(path)
            return
        yield from _convert(first, batches, line_items)
    finally:
        con.close()


def _convert(
    first: pa.RecordBatch | None, batches: Iterator[pa.RecordBatch], line_items: LineItems
) -> ReaderOutput:
    # Columns the SQL has no source for (geo_lat for CloudTrail, ...) are filled by the writer.
    if first is None:
        return
    names = set(first.schema.names)
    columns = [field.name for field in tables.AUDIT_EVENTS if field.name in names]
    # Records counted so far minus lines read so far: blank lines and wrapper documents
    # among the dirty lines shift the record numbers of the lines after them.
    shift = 0
    batch: pa.RecordBatch | None = first
    while batch is not None:
        table = pa.Table.from_batches([batch])
        clean = table.column("clean")
        numbers = pc.add(table.column("record"), shift)
        if not pc.all(clean).as_py():
            numbers, shift = yield from _map_dirty(table, shift, line_items)
        good = table.filter(clean)
        if good.num_rows:
            good = good.select(columns).append_column("source_record", numbers.filter(clean))
            yield ArrowBatch("audit_events", good)
        batch = next(batches, None)


def _map_dirty(
    table: pa.Table, shift: int, line_items: LineItems
) -> Generator[Row | Rejected, None, tuple[pa.ChunkedArray, int]]:
    """Yield the items of the table's dirty lines; return the record numbers and new shift."""
    lines = table.column("record").to_pylist()
    shifts: list[int] | None = None
    dirty = pc.indices_nonzero(pc.invert(table.column("clean"))).to_pylist()
    texts = table.column("dirty_line").take(pa.array(dirty)).to_pylist()
    for position, text in zip(dirty, texts, strict=True):
        items, count = line_items(lines[position], lines[position] + shift, text.encode("utf-8"))
        yield from items
        if count != 1:
            if shifts is None:
                shifts = [shift] * len(lines)
            shift += count - 1
            shifts[position + 1 :] = [shift] * (len(lines) - position - 1)
    if shifts is None:
        return pc.add(table.column("record"), shift), shift
    return pc.add(table.column("record"), pa.array(shifts, pa.int64())), shift
