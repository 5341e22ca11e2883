"""The `secobs` command line: each command parses input, calls one library function, prints.

Exit status: 0 success, 1 a finding (verification failed, records quarantined), 2 bad usage
or input. With --json a command prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
import duckdb

from secobs import __version__
from secobs.errors import QueryError, SecobsError
from secobs.output import dumps, render_rows

EXIT_FINDING = 1
EXIT_USAGE = 2

FORMAT_CHOICE = click.Choice(["table", "csv", "json"])


class SecobsGroup(click.Group):
    """Turn library errors into one message on stderr and the contract's exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SecobsError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)


@click.group(cls=SecobsGroup)
@click.version_option(__version__, prog_name="secobs")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def main(verbose: bool) -> None:
    """Investigate security incidents from audit events, request metrics and trace spans."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _emit_json(value: Any) -> None:
    click.echo(dumps(value))


@main.command()
@click.argument("case_dir", metavar="CASE", type=click.Path(file_okay=False, path_type=Path))
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--format", "fmt", metavar="NAME", help="Read every PATH as this format (see `secobs formats`)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def ingest(case_dir: Path, paths: tuple[Path, ...], fmt: str | None, as_json: bool) -> None:
    """Load source files into CASE (created when missing).

    Exits 0 when everything loaded, 1 when records were quarantined, 2 when a file could not
    be read at all (the other files still load).
    """
    from secobs.ingest import ingest as run_ingest

    files = _expand(paths)
    result = run_ingest(case_dir, files, format=fmt)
    if as_json:
        _emit_json(result.to_json())
    else:
        for item in result.files:
            if item.status == "failed":
                click.echo(f"failed    {item.path}: {item.error}", err=True)
                continue
            state = "skipped" if item.status == "already_ingested" else "loaded"
            click.echo(
                f"{state:<9} {item.path} ({item.format} -> {item.table}): "
                f"{item.loaded} loaded, {item.quarantined} quarantined"
                + (" (already ingested)" if state == "skipped" else "")
            )
        totals = ", ".join(f"{table} {count}" for table, count in result.loaded.items())
        click.echo(f"case {result.case}: {totals}; {result.quarantined} quarantined")
    if result.failed:
        sys.exit(EXIT_USAGE)
    if result.quarantined:
        sys.exit(EXIT_FINDING)


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Expand folders into the files they contain, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(item for item in path.rglob("*") if item.is_file()))
        else:
            files.append(path)
    return files


@main.command()
def formats() -> None:
    """List the input formats that ingest reads, with an example of each."""
    from secobs.ingest.formats import FORMATS

    for fmt in FORMATS.values():
        click.echo(f"{fmt.name:<14} -> {fmt.table:<16} {fmt.description}")
        click.echo(f"{'':<14}    example: {fmt.example}")


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
    _print_cursor(cursor, fmt)


def _print_cursor(cursor: duckdb.DuckDBPyConnection, fmt: str, title: str | None = None) -> None:
    if cursor.description is None:
        click.echo("[]" if fmt == "json" else "ok")
        return
    columns = [column[0] for column in cursor.description]
    click.echo(render_rows(columns, cursor.fetchall(), fmt, title=title), nl=fmt == "json")


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
    _print_cursor(selected.run(con, **values), fmt, title=name)


@main.command()
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--seed", default=7, show_default=True, help="Random seed; the same seed writes the same files."
)
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=None,
    help="About this many audit events (default: the small demo size).",
)
def sample(out_dir: Path, seed: int, events: int | None) -> None:
    """Write the sample incident (audit NDJSON, request CSV, OTLP spans, ground truth) to OUT."""
    from secobs.sample import generate

    files = generate(out_dir, seed=seed, events=events)
    for table, count in files.counts.items():
        click.echo(f"{table}: {count}")
    click.echo(f"wrote {files.audit.parent}")


@main.group()
def chain() -> None:
    """Seal, export and verify the audit evidence hash chain."""


MODE_CHOICE = click.Choice(["jcs", "seed"])


@chain.command("seal")
@click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the seal.")
def chain_seal(case_dir: Path, as_json: bool) -> None:
    """Hash-chain CASE's audit events in time order and store the seal under CASE/evidence/."""
    from secobs.evidence import seal_case

    seal = seal_case(case_dir)
    if as_json:
        _emit_json(seal.to_json())
    else:
        click.echo(f"sealed {seal.records} audit events; head {seal.head_hash}; seal {seal.path}")


@chain.command("export")
@click.argument(
    "case_dir", metavar="CASE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--mode", type=MODE_CHOICE, default="jcs", show_default=True, help="Canonical form to hash."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def chain_export(case_dir: Path, out: Path, mode: str, as_json: bool) -> None:
    """Write CASE's audit events as an NDJSON chain file (each record: event, prev_hash, hash)."""
    from secobs.evidence import export_case

    exported = export_case(case_dir, out, mode=mode)
    if as_json:
        _emit_json(exported.to_json())
    else:
        click.echo(f"exported {exported.records} records to {out}; head {exported.head_hash}")


@chain.command("verify")
@click.argument("target", metavar="PATH_OR_CASE", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mode",
    type=MODE_CHOICE,
    default="jcs",
    show_default=True,
    help="Canonical form of a chain file: jcs (RFC 8785) or seed (sorted json.dumps).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the result.")
def chain_verify(target: Path, mode: str, as_json: bool) -> None:
    """Verify a case against its seal, or a chain file by its links. Exits 1 when invalid."""
    from secobs.evidence import verify

    result = verify(target, mode=mode)
    if as_json:
        _emit_json(result.to_json())
    elif result.valid:
        click.echo(
            f"valid: {result.records} records checked ({result.mode}); head {result.head_hash}"
        )
    else:
        click.echo(
            f"INVALID: {result.problem} at record {result.first_bad} "
            f"after {result.records} checked ({result.mode}). {result.detail or ''}".rstrip()
        )
    if not result.valid:
        sys.exit(EXIT_FINDING)


@main.command()
@click.option(
    "--case",
    "case_dir",
    default="secobs-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo case; rebuilt on each run.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the summary.")
def demo(case_dir: Path, as_json: bool) -> None:
    """Investigate the shipped incident: ingest, query, seal and verify, write the postmortem."""
    from secobs.demo import run_demo

    summary = run_demo(case_dir, echo=None if as_json else click.echo)
    if as_json:
        _emit_json(summary)


if __name__ == "__main__":
    main()
