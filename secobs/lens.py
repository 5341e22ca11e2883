"""A security lens: slice a case table by risk, event kinds, auth method and route.

`security_lens` works on any table or view of the case that has some of the columns it
filters on. A filter whose column the table lacks raises UsageError rather than being
ignored. The catalog query `security_lens` is the same slice of audit_enriched for the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from secobs.case import quote_identifier
from secobs.errors import QueryError, UsageError

# Columns that contain each concept, by table; the first one a table has is used.
RISK_COLUMNS = ("computed_risk_score", "risk_score")
EVENT_COLUMNS = ("event", "name", "detection")
AUTH_COLUMNS = ("auth_method",)
ROUTE_COLUMNS = ("route", "http_route")


def security_lens(
    con: duckdb.DuckDBPyConnection,
    table: str = "audit_enriched",
    *,
    min_risk: int | None = None,
    events: Iterable[str] | None = None,
    auth_methods: Iterable[str] | None = None,
    route: str | None = None,
) -> pl.DataFrame:
    """Return the rows of `table` that pass every given filter, values bound as parameters.

    `min_risk` compares the higher of the computed and logged risk scores where a table has
    both. `events` are event kinds (a trailing * makes a prefix, such as "admin.*"), and
    `route` is an SQL LIKE pattern such as "/v1/admin/%".
    """
    columns = _columns(con, table)
    conditions: list[str] = []
    params: list[object] = []
    if min_risk is not None:
        present = [quote_identifier(name) for name in RISK_COLUMNS if name in columns]
        if not present:
            raise UsageError(f"{table} has no risk column ({', '.join(RISK_COLUMNS)})")
        score = present[0] if len(present) == 1 else f"greatest({', '.join(present)})"
        conditions.append(f"{score} >= ?")
        params.append(int(min_risk))
    if events is not None:
        column = _pick(table, columns, EVENT_COLUMNS)
        kinds = [kind.strip() for kind in events if kind.strip()]
        checks = []
        for kind in kinds:
            if kind.endswith("*"):
                checks.append(f"starts_with({column}, ?)")
                params.append(kind.rstrip("*"))
            else:
                checks.append(f"{column} = ?")
                params.append(kind)
        conditions.append("(" + (" OR ".join(checks) or "false") + ")")
    if auth_methods is not None:
        column = _pick(table, columns, AUTH_COLUMNS)
        methods = list(auth_methods)
        conditions.append(f"list_contains(?, {column})")
        params.append(methods)
    if route is not None:
        column = _pick(table, columns, ROUTE_COLUMNS)
        conditions.append(f"{column} LIKE ?")
        params.append(route)
    where = " AND ".join(conditions) or "true"
    sql = f"SELECT * FROM {quote_identifier(table)} WHERE {where}"
    try:
        return con.sql(sql, params=params).pl()
    except duckdb.Error as error:
        raise QueryError(f"security lens on {table} failed: {error}") from error


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    try:
        described = con.execute(f"DESCRIBE {quote_identifier(table)}").fetchall()
    except duckdb.Error as error:
        raise UsageError(f"no table or view {table!r} in the case: {error}") from error
    return {row[0] for row in described}


def _pick(table: str, columns: set[str], candidates: tuple[str, ...]) -> str:
    for name in candidates:
        if name in columns:
            return quote_identifier(name)
    raise UsageError(f"{table} has none of the columns {', '.join(candidates)}")
