"""The `secobs` command group and the helpers its command modules share.

Exit status: 0 success, 1 a finding (verification failed, records quarantined), 2 bad usage
or input. With --json a command prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
import duckdb

from secobs import __version__
from secobs.errors import SecobsError
from secobs.output import dumps, render_rows

EXIT_FINDING = 1
EXIT_USAGE = 2
# The shell convention for a program stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

FORMAT_CHOICE = click.Choice(["table", "csv", "json"])


class SecobsGroup(click.Group):
    """Turn library errors into one message on stderr and the contract's exit status.

    With --json, the error is also printed on stdout as one object, {"error": ...}, so a
    script that parses stdout always gets JSON.
    """

    def invoke(self, ctx: click.Context) -> Any:
        wants_json = "--json" in _command_args(ctx)  # read now: Group.invoke clears them
        try:
            return super().invoke(ctx)
        except SecobsError as error:
            click.echo(f"error: {error}", err=True)
            if wants_json:
                click.echo(dumps({"error": str(error), "exit_code": error.exit_code}))
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


def _command_args(ctx: click.Context) -> list[str]:
    """Return the arguments after the group's own options (the subcommand and its options)."""
    # Click 8.5 keeps them in _protected_args, older releases in protected_args.
    protected = getattr(ctx, "_protected_args", None)
    if protected is None:
        protected = getattr(ctx, "protected_args", [])
    return [*protected, *ctx.args]


@click.group(cls=SecobsGroup)
@click.version_option(__version__, prog_name="secobs")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def main(verbose: bool) -> None:
    """Investigate security incidents from audit events, request metrics and trace spans."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def emit_json(value: Any) -> None:
    click.echo(dumps(value))


def print_cursor(cursor: duckdb.DuckDBPyConnection, fmt: str, title: str | None = None) -> None:
    if cursor.description is None:
        click.echo("[]" if fmt == "json" else "ok")
        return
    columns = [column[0] for column in cursor.description]
    click.echo(render_rows(columns, cursor.fetchall(), fmt, title=title), nl=fmt == "json")
