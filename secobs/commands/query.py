"""Commands that ask questions of a case: `secobs sql` and `secobs query`."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb

from secobs.commands.base import FORMAT_CHOICE, main, print_cursor
from secobs.errors import QueryError


@main.command()
@click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.argument("statement", metavar="SQL")
@click.option(
    "--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True, help="Output format."
)
def sql(case_dir: Path, statement: str, fmt: str) -> None:
    """Run an SQL statement against CASE's catalog (audit_events, request_metrics, spans, ...)."""
    from secobs.case import Case

    con = Case.open(case_dir).connect()
    try:
        cursor = con.execute(statement)
    except duckdb.Error as error:
        raise QueryError(str(error)) from error
    print_cursor(cursor, fmt)


@main.command()
@click.argument(
    "case_dir", metavar="CASE", required=False, type=click.Path(file_okay=False, path_type=Path)
)
@click.argument("name", required=False)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A query parameter; repeat for more.",
)
@click.option(
    "--list", "list_only", is_flag=True, help="List the catalog's queries and their parameters."
)
@click.option(
    "--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True, help="Output format."
)
def query(
    case_dir: Path | None, name: str | None, params: tuple[str, ...], list_only: bool, fmt: str
) -> None:
    """Run the catalog query NAME against CASE, or list the catalog with --list."""
    from secobs.case import Case
    from secobs.queries import catalog, get_query

    if list_only:
        for item in catalog().values():
            click.echo(f"{item.name}: {item.description}")
            for parameter in item.parameters:
                default = "required" if parameter.required else f"default {parameter.default}"
                click.echo(f"    {parameter.name} ({parameter.type}, {default}): {parameter.help}")
        return
    if case_dir is None or name is None:
        raise click.UsageError("give CASE and NAME, or --list")
    values = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        values[key.strip()] = value
    selected = get_query(name)
    con = Case.open(case_dir).connect()
    print_cursor(selected.run(con, **values), fmt, title=name)
