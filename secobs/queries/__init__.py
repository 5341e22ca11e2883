"""The correlation query catalog: one `.sql` file per query, with a header of typed parameters.

Header lines start with `--`::

    -- name: actor_timeline
    -- description: the question the query covers (may continue on lines indented by two spaces)
    -- param: actor_id VARCHAR -- no default, so the parameter is required
    -- param: start TIMESTAMPTZ = NULL -- with a default
    -- require_any: trace_id actor_id token_id

Parameters appear in the SQL as `$name` and are always bound by DuckDB, never formatted into
the text. Parameter types: VARCHAR, INTEGER, DOUBLE, BOOLEAN, TIMESTAMPTZ and TRACE_ID (a
VARCHAR normalised to the canonical 32-hex form) and SPAN_ID (16 hex).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import duckdb
import polars as pl

from secobs import ids
from secobs.errors import QueryError
from secobs.timeutil import parse_timestamp

_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Z_]+)"
    r"(?:\s*=\s*(?P<default>[^-]+?))?\s*(?:--\s*(?P<help>.*))?$"
)
_PLACEHOLDER = re.compile(r"\$([a-z_][a-z0-9_]*)")
TYPES = ("VARCHAR", "INTEGER", "DOUBLE", "BOOLEAN", "TIMESTAMPTZ", "TRACE_ID", "SPAN_ID")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any
    required: bool
    help: str


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    parameters: tuple[Parameter, ...]
    require_any: tuple[str, ...]
    sql: str

    def bind(self, values: dict[str, Any]) -> dict[str, Any]:
        """Convert and check parameter values, filling defaults; raise QueryError if invalid."""
        known = {parameter.name for parameter in self.parameters}
        unknown = sorted(set(values) - known)
        if unknown:
            raise QueryError(
                f"unknown parameter(s) {', '.join(unknown)}; "
                f"parameters are {', '.join(sorted(known)) or 'none'}",
                query=self.name,
            )
        bound: dict[str, Any] = {}
        for parameter in self.parameters:
            if parameter.name in values:
                bound[parameter.name] = convert(
                    values[parameter.name], parameter.type, parameter.name, self.name
                )
            elif parameter.required:
                raise QueryError(f"missing required parameter {parameter.name}", query=self.name)
            else:
                bound[parameter.name] = parameter.default
        if self.require_any and all(bound[name] is None for name in self.require_any):
            raise QueryError(f"give one of {', '.join(self.require_any)}", query=self.name)
        return bound

    def run(self, con: duckdb.DuckDBPyConnection, **values: Any) -> duckdb.DuckDBPyConnection:
        """Execute the query with bound parameters and return the cursor."""
        bound = self.bind(values)
        try:
            return con.execute(self.sql, bound)
        except duckdb.Error as error:
            raise QueryError(_explain(error), query=self.name) from error

    def frame(self, con: duckdb.DuckDBPyConnection, **values: Any) -> pl.DataFrame:
        """Execute the query with bound parameters and return the rows as a polars DataFrame."""
        bound = self.bind(values)
        try:
            return con.sql(self.sql, params=bound).pl()
        except duckdb.Error as error:
            raise QueryError(_explain(error), query=self.name) from error


# Views that `secobs detect` creates; queries over them fail until it has run once.
DERIVED_VIEWS = ("alerts", "risk", "login_pairs", "audit_enriched", "spans_enriched")


def _explain(error: duckdb.Error) -> str:
    """Turn a DuckDB error into a message, adding the next step where it is known."""
    message = str(error).splitlines()[0]
    if isinstance(error, duckdb.CatalogException):
        for view in DERIVED_VIEWS:
            if f"with name {view} does not exist" in message:
                return f"this case has no {view} view yet; run `secobs detect CASE` first"
    return f"failed: {message}"


def convert(value: Any, type_name: str, name: str, query: str | None = None) -> Any:
    """Convert a parameter value (often a string from the command line) to its declared type."""
    if value is None or (isinstance(value, str) and value.upper() == "NULL"):
        return None
    try:
        if type_name == "INTEGER":
            return int(value)
        if type_name == "DOUBLE":
            return float(value)
        if type_name == "BOOLEAN":
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"expected true or false, got {value!r}")
            return text in ("true", "1", "yes")
        if type_name == "TIMESTAMPTZ":
            return value if isinstance(value, datetime) else parse_timestamp(value)
        if type_name == "TRACE_ID":
            return ids.trace_id(value)
        if type_name == "SPAN_ID":
            return ids.span_id(value)
        return str(value)
    except ValueError as error:
        message = f"parameter {name}: invalid {type_name} value: {error}"
        raise QueryError(message, query=query) from None


def parse_query(text: str, source: str) -> Query:
    """Parse a catalog `.sql` file into a Query, or raise QueryError naming what is wrong."""
    fields: dict[str, str] = {}
    parameters: list[Parameter] = []
    last_key = None
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line[2:]
        if body.startswith("   ") and last_key == "description":
            fields["description"] += " " + body.strip()
            continue
        key, _, value = body.strip().partition(":")
        value = value.strip()
        last_key = key
        if key == "param":
            parameters.append(_parse_parameter(value, source))
        else:
            fields[key] = value
    name = fields.get("name")
    if not name:
        raise QueryError(f"{source}: header has no `-- name:` line")
    query = Query(
        name=name,
        description=fields.get("description", ""),
        parameters=tuple(parameters),
        require_any=tuple(fields.get("require_any", "").split()),
        sql=text,
    )
    used = set(_PLACEHOLDER.findall(_strip_comments(text)))
    declared = {parameter.name for parameter in parameters}
    if used != declared:
        raise QueryError(
            f"{source}: declared parameters {sorted(declared)} do not match "
            f"placeholders {sorted(used)}",
            query=name,
        )
    return query


def _parse_parameter(text: str, source: str) -> Parameter:
    match = _PARAM.match(text)
    if not match or match["type"] not in TYPES:
        raise QueryError(f"{source}: invalid parameter line {text!r}; types are {', '.join(TYPES)}")
    default_text = match["default"]
    required = default_text is None
    default = None if required else convert(default_text.strip(), match["type"], match["name"])
    return Parameter(match["name"], match["type"], default, required, (match["help"] or "").strip())


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def catalog() -> dict[str, Query]:
    """Load every query shipped in this package, keyed by name."""
    queries = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".sql"):
            query = parse_query(entry.read_text(encoding="utf-8"), entry.name)
            queries[query.name] = query
    return queries


def get_query(name: str) -> Query:
    """Return the catalog query `name`, or raise QueryError listing the known names."""
    queries = catalog()
    if name not in queries:
        raise QueryError(f"unknown query; known queries: {', '.join(sorted(queries))}", query=name)
    return queries[name]
