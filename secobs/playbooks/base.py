"""What every playbook shares: the case, an output area, a status line and an export button.

Playbooks show telemetry in HTML, so every value goes through `html.escape` (see `html_table`
and `escape`). Charts are shown as SVG drawn by vl-convert, so displaying them runs no
JavaScript and fetches nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import ipywidgets as widgets
import polars as pl

from secobs.case import Case, quote_identifier
from secobs.charts import save, to_svg
from secobs.errors import SecobsError, UsageError

log = logging.getLogger("secobs")

EXPORT_FORMATS = (".png", ".svg")
TABLE_ROWS = 25
"""Rows shown in the output area per table; the whole frame stays on the playbook object."""


class Playbook:
    """Base of the playbooks: runs `_run`, draws the output area and exports the charts.

    Subclasses set `slug` (the export folder under the case's reports folder and the log name),
    build their controls, then call `_start(controls)`. `_run` computes the results and fills
    `charts` and `tables`. It raises SecobsError for a value the user can fix, and `refresh`
    shows that error in the output area instead of raising it.
    """

    slug = "playbook"

    def __init__(self, case_dir: Path | str):
        self.case = Case.open(case_dir)
        self.charts: dict[str, alt.TopLevelMixin] = {}
        self.tables: dict[str, pl.DataFrame] = {}
        self.error: str | None = None
        self.exported: list[Path] = []
        self.output = widgets.Output()
        self.status = widgets.HTML(value="")
        self.export_button = widgets.Button(
            description="Export charts",
            icon="download",
            tooltip="Save every chart as PNG and SVG under the case's reports folder",
        )
        self.export_button.on_click(self._on_export)
        self._box = widgets.VBox()
        self._open_connection: duckdb.DuckDBPyConnection | None = None

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a catalog connection: the one opened for construction, else a new one.

        Opening a case registers its views (about 0.3 s on a case of 1M events), so the
        constructor shares one connection between its own queries and the first run. Later
        runs connect anew and close at once, so an idle notebook never keeps open the catalog
        that `secobs ingest` needs to write.
        """
        if self._open_connection is not None:
            yield self._open_connection
            return
        with self.case.connect() as con:
            yield con

    @contextmanager
    def _constructing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Keep one connection open while the constructor and the first run use it."""
        with self.case.connect() as con:
            self._open_connection = con
            try:
                yield con
            finally:
                self._open_connection = None

    def _start(self, controls: Sequence[widgets.Widget], *, raise_errors: bool = True) -> None:
        """Lay out the controls above the export row and the output area, then run once.

        With `raise_errors`, invalid constructor arguments raise; otherwise the first run
        shows its error in the output area like any later change does.
        """
        self._box.children = (
            *controls,
            widgets.HBox([self.export_button, self.status]),
            self.output,
        )
        if not raise_errors:
            self.refresh()
            return
        self._run()
        self._draw()

    def refresh(self, *_: Any) -> None:
        """Re-run for the current widget values and redraw the output area.

        Widgets call this on every change. An invalid value clears the results, sets `error`
        and shows the message in the output area instead of raising.
        """
        try:
            self._run()
            self.error = None
        except SecobsError as error:
            log.info("%s playbook: %s", self.slug, error)
            self.error = str(error)
            self.charts, self.tables = {}, {}
            self._clear()
            self.output.outputs = (display_data({"text/plain": f"Cannot refresh: {error}"}),)
            return
        self._draw()

    def widget(self) -> widgets.Widget:
        """Return the box of controls, export button and output area to show in the notebook."""
        return self._box

    @property
    def export_dir(self) -> Path:
        """Folder that the export button writes to: CASE/reports/<slug>."""
        return self.case.reports_dir / self.slug

    def export(self, folder: Path | str | None = None) -> list[Path]:
        """Save each chart as PNG and SVG (named after its key) and return the paths written.

        `folder` defaults to `export_dir`. Raises UsageError when there is no chart to save.
        """
        if not self.charts:
            raise UsageError(f"no charts to export: {self.error or 'the playbook has no results'}")
        target = Path(folder) if folder is not None else self.export_dir
        return [
            save(chart, target / f"{name}{suffix}")
            for name, chart in self.charts.items()
            for suffix in EXPORT_FORMATS
        ]

    def _on_export(self, _button: widgets.Button | None = None) -> None:
        try:
            self.exported = self.export()
        except SecobsError as error:
            log.info("%s playbook: export failed: %s", self.slug, error)
            self.status.value = f"<span>Export failed: {escape(error)}</span>"
            return
        self.status.value = (
            f"<span>Saved {len(self.exported)} files to <code>{escape(self.export_dir)}</code>"
            "</span>"
        )

    def _run(self) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        """Drop results that depend on the widget values after a failed refresh."""

    def _summary_html(self) -> str:
        return ""

    def _shown_tables(self) -> dict[str, tuple[str, pl.DataFrame]]:
        """Return the tables to show under the charts: key to (heading, frame)."""
        return {}

    def _draw(self) -> None:
        outputs = []
        summary = self._summary_html()
        if summary:
            outputs.append(display_data({"text/html": summary, "text/plain": self.slug}))
        for name, chart in self.charts.items():
            outputs.append(display_data({"image/svg+xml": to_svg(chart), "text/plain": name}))
        for heading, frame in self._shown_tables().values():
            table = f"<h4>{escape(heading)}</h4>{html_table(frame)}"
            outputs.append(display_data({"text/html": table, "text/plain": heading}))
        self.output.outputs = tuple(outputs)


def escape(value: Any) -> str:
    """Return text that HTML shows literally: telemetry strings are data, never markup."""
    return html.escape(str(value), quote=True)


def cell_text(value: Any) -> str:
    """Render one value for a table cell: UTC times, comma-joined lists, empty for null."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, list):
        return ", ".join(cell_text(item) for item in value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def html_table(frame: pl.DataFrame | None, *, limit: int = TABLE_ROWS) -> str:
    """Render a frame as an HTML table with every header and value escaped."""
    if frame is None or frame.height == 0:
        return "<p><i>No rows.</i></p>"
    header = "".join(f"<th>{escape(name)}</th>" for name in frame.columns)
    rows = [
        "<tr>" + "".join(f"<td>{escape(cell_text(value))}</td>" for value in row) + "</tr>"
        for row in frame.head(limit).iter_rows()
    ]
    more = ""
    if frame.height > limit:
        more = f"<p><i>{frame.height - limit:,} more rows not shown.</i></p>"
    return (
        '<table class="secobs-table"><thead><tr>'
        + header
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + more
    )


def display_data(data: dict[str, str]) -> dict[str, Any]:
    """Return one output in the notebook format, which the Output widget shows without a kernel."""
    return {"output_type": "display_data", "data": data, "metadata": {}}


def relation_exists(con: Any, name: str) -> bool:
    """Return whether the catalog has a table or view called `name`."""
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = $name",
        {"name": name},
    ).fetchall()
    return rows[0][0] > 0


def select_all(con: Any, name: str) -> pl.DataFrame:
    """Return every row of the table or view `name` (quoted, so any name is safe)."""
    return con.sql(f"SELECT * FROM {quote_identifier(name)}").pl()
