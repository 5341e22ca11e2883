"""The sample incident and the demo: `secobs sample` and `secobs demo`."""

from __future__ import annotations

from pathlib import Path

import click

from secobs.commands.base import emit_json, main
from secobs.sample import SCENARIOS

SCENARIO_NAMES = list(SCENARIOS)


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
@click.option(
    "--scenario",
    type=click.Choice(SCENARIO_NAMES),
    default="incident",
    show_default=True,
    help="Which labelled story to write; benign has no attack at all.",
)
def sample(out_dir: Path, seed: int, events: int | None, scenario: str) -> None:
    """Write the sample incident (audit NDJSON, request CSV, OTLP spans, ground truth) to OUT."""
    from secobs.sample import generate

    files = generate(out_dir, seed=seed, events=events, scenario=scenario)
    for table, count in files.counts.items():
        click.echo(f"{table}: {count}")
    click.echo(f"wrote {files.audit.parent}")


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
        emit_json(summary)
