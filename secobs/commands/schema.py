"""Telemetry gates for CI: `secobs schema validate|coverage|diff`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, emit_json, main
from secobs.output import dumps


def printable(text: str) -> str:
    """Escape control characters, so text from telemetry cannot rewrite the terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


@main.group()
def schema() -> None:
    """Check telemetry against the audit.v1 JSON Schema before it ships (exit 1 on a finding)."""


@schema.command("validate")
@click.argument(
    "paths", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--schema",
    "schema_source",
    default="audit.v1",
    show_default=True,
    metavar="NAME|FILE",
    help="Shipped schema name or JSON Schema file to validate against.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for large NDJSON files [default: number of CPUs].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def schema_validate(
    paths: tuple[Path, ...], schema_source: str, jobs: int | None, as_json: bool
) -> None:
    """Validate events in NDJSON or JSON-array FILEs; list each invalid event and its errors.

    The record is the line number (from 1) in NDJSON and the index (from 0) in a JSON array.
    Each error names the JSON pointer of the failing value. Values are never printed.
    """
    from secobs.gates.validate import validate_files

    result = validate_files(list(paths), schema=schema_source, jobs=jobs)
    if as_json:
        emit_json(result.to_json())
    else:
        for item in result.invalid:
            for error in item.errors:
                where = printable(error.pointer) or "(event)"
                click.echo(f"{item.path}:{item.record}: {where}: {error.message} [{error.keyword}]")
        click.echo(
            f"{result.records} events in {len(result.files)} files: "
            f"{len(result.invalid)} invalid ({result.schema_id})"
        )
    if not result.ok:
        sys.exit(EXIT_FINDING)


@schema.command("coverage")
@click.argument(
    "paths", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--routes",
    required=True,
    metavar="LIST",
    help="Comma-separated route globs on request.route: * one segment, ** any depth.",
)
@click.option(
    "--require",
    metavar="LIST",
    default=None,
    help="Comma-separated dotted fields every matching event must carry "
    "[default: actor,client,security].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def schema_coverage(
    paths: tuple[Path, ...], routes: str, require: str | None, as_json: bool
) -> None:
    """Check that every event on a sensitive route carries the required fields.

    Lists each gap (record, route, missing field) and a summary per route pattern. A pattern
    that matches no event is a warning, not a failure.
    """
    from secobs.gates.coverage import check_coverage, parse_field_list

    result = check_coverage(list(paths), parse_field_list(routes), parse_field_list(require))
    if as_json:
        emit_json(result.to_json())
    else:
        for gap in result.gaps:
            click.echo(
                f"{gap.path}:{gap.record}: {printable(gap.route)} ({gap.pattern}) "
                f"missing {gap.missing}"
            )
        for summary in result.routes:
            click.echo(
                f"{summary.pattern}: {summary.events} events, {summary.events_with_gaps} with gaps"
            )
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    if not result.ok:
        sys.exit(EXIT_FINDING)


@schema.command("diff")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option(
    "--protect",
    metavar="LIST",
    default=None,
    help="Comma-separated dotted fields that must not be removed, made optional or loosened "
    "[default: actor.id,request.trace_id,request.request_id].",
)
@click.option(
    "--opa-input",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the change set as JSON to this file, as input for an OPA/Rego policy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def schema_diff(
    old: str, new: str, protect: str | None, opa_input: Path | None, as_json: bool
) -> None:
    """Compare two versions of a schema (files or shipped names) and guard protected fields.

    Exits 1 when a protected field is removed, made optional, or loosened in type, enum,
    pattern, format or bounds.
    """
    from secobs.gates.coverage import parse_field_list
    from secobs.gates.diff import diff_schemas
    from secobs.schemas import load_schema

    result = diff_schemas(load_schema(old), load_schema(new), parse_field_list(protect))
    if opa_input is not None:
        opa_input.write_text(dumps(result.to_json(), indent=True) + "\n", encoding="utf-8")
    if as_json:
        emit_json(result.to_json())
    else:
        for change in result.changes:
            label = "VIOLATION" if change.violation else "change   "
            click.echo(f"{label} {change.field}: {change.kind} ({change.old} -> {change.new})")
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(
            f"{len(result.changes)} changes, {len(result.violations)} on protected fields "
            f"({', '.join(result.protected)})"
        )
    if not result.ok:
        sys.exit(EXIT_FINDING)
