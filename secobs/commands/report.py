"""Commands that present a case: `secobs report` and `secobs lab`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secobs.commands.base import EXIT_FINDING, emit_json, main


@main.command()
@click.argument("case_dir", metavar="CASE", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the postmortem and its charts (default: CASE/reports).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the paths.")
def report(case_dir: Path, out_dir: Path | None, as_json: bool) -> None:
    """Write the postmortem of CASE as Markdown and self-contained HTML, with charts.

    Exits 1 when the case is sealed and its evidence chain does not verify (the report is
    still written), 0 otherwise.
    """
    from secobs.report import write_report

    result = write_report(case_dir, out_dir)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(f"postmortem: {result.markdown}")
        click.echo(f"html:       {result.html}")
        click.echo(f"charts:     {len(result.charts)} files")
        if result.verification is None:
            click.echo("chain:      not sealed (seal with `secobs chain seal CASE`)")
        else:
            state = "valid" if result.verification.valid else "INVALID"
            click.echo(f"chain:      {state}")
    if result.verification is not None and not result.verification.valid:
        sys.exit(EXIT_FINDING)


@main.command()
@click.argument("case_dir", metavar="CASE", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port on 127.0.0.1 (default: the first free one from 8888).",
)
@click.option("--browser", is_flag=True, help="Open the lab in the default web browser.")
def lab(case_dir: Path, port: int | None, browser: bool) -> None:
    """Open JupyterLab on the playbook notebooks, bound to CASE and to 127.0.0.1 only.

    The notebooks read the case from SECOBS_CASE, which this command sets. Stop the lab
    with Ctrl-C.
    """
    from secobs.playbooks.lab import run_lab

    sys.exit(run_lab(case_dir, port=port, open_browser=browser))
