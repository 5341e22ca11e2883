"""Render query results for the terminal: a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def to_jsonable(value: Any) -> Any:
    """Return a value orjson can write; unknown types become their string form."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        orjson.dumps(value, option=JSON_OPTIONS)
    except TypeError:
        return str(value)
    return value


def dumps(value: Any, *, indent: bool = False) -> str:
    option = JSON_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(to_jsonable(value), option=option).decode()


def rows_as_dicts(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def render_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: str,
    *,
    title: str | None = None,
    max_width: int = 48,
) -> str:
    """Render rows as `table`, `csv` or `json` (a JSON array of row objects)."""
    if fmt == "json":
        return dumps(rows_as_dicts(columns, rows))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if value is None else _cell(value, None) for value in row])
        return buffer.getvalue()
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(escape(column), overflow="fold")
    for row in rows:
        # Telemetry strings are data: escape them so rich never reads them as markup.
        table.add_row(*(escape(_cell(value, max_width)) for value in row))
    console = Console(file=io.StringIO(), width=200, force_terminal=False, color_system=None)
    console.print(table)
    console.print(f"{len(rows)} row(s)")
    return console.file.getvalue()


# C0 and C1 control characters and DEL: printed as escapes so that telemetry cannot move the
# cursor, set the terminal title or hide text on the responder's terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _cell(value: Any, max_width: int | None) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        text = value.isoformat()
    elif isinstance(value, list | dict):
        text = dumps(value)
    else:
        text = str(value)
    text = _escape_controls(text)
    if max_width and len(text) > max_width:
        text = text[: max_width - 1] + "…"
    return text
