"""The ad-hoc SQL playbook: a query box over the case, a results grid and a chart helper.

`notebooks/adhoc_sql.ipynb` drives this class. The SQL box contains the user's own SQL. Values
typed in the parameters box (one `name = value` per line) are bound by DuckDB as `$name`, never
formatted into the SQL text. The catalog is opened read-only, so a statement that writes only
changes an in-memory copy of the views, never the case.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import ipywidgets as widgets
import polars as pl

from secobs.charts import CUSTOM_MARKS, custom_chart
from secobs.errors import QueryError, UsageError
from secobs.playbooks.base import Playbook, escape

DEFAULT_SQL = """SELECT event, result, count(*) AS events, max(risk_score) AS max_risk_score
FROM audit_events
WHERE risk_score >= $min_risk
GROUP BY event, result
ORDER BY events DESC"""
DEFAULT_PARAMETERS = "min_risk = 50"
ROW_LIMITS = (100, 1000, 10_000, 100_000)
NONE = "(none)"
_PARAMETER_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class AdhocSqlPlaybook(Playbook):
    """A query box, bound parameters, a results grid and a chart of chosen columns.

    `result` contains the rows of the last run, at most `limit_picker` of them (`truncated`
    is true when more were available). The chart helper draws `result` with the columns picked
    in `x_picker`, `y_picker` (or a row count) and `colour_picker` and the mark in
    `mark_picker`; changing them redraws the chart without re-running the query.
    """

    slug = "adhoc_sql"

    def __init__(
        self,
        case_dir: Path | str,
        *,
        sql: str = DEFAULT_SQL,
        parameters: str | dict[str, Any] = DEFAULT_PARAMETERS,
        limit: int = 1000,
    ):
        super().__init__(case_dir)
        self.result: pl.DataFrame | None = None
        self.truncated = False
        if isinstance(parameters, dict):
            parameters = "\n".join(f"{name} = {value}" for name, value in parameters.items())
        self.sql_box = widgets.Textarea(
            value=sql,
            description="SQL",
            layout=widgets.Layout(width="60em", height="10em"),
        )
        self.parameters_box = widgets.Textarea(
            value=parameters,
            description="Parameters",
            placeholder="one name = value per line, used in the SQL as $name",
            layout=widgets.Layout(width="30em", height="10em"),
        )
        limits = sorted({*ROW_LIMITS, limit})
        self.limit_picker = widgets.Dropdown(options=limits, value=limit, description="Max rows")
        self.run_button = widgets.Button(description="Run", icon="play", button_style="primary")
        self.x_picker = widgets.Dropdown(options=[], description="x")
        self.y_picker = widgets.Dropdown(options=[NONE], value=NONE, description="y")
        self.colour_picker = widgets.Dropdown(options=[NONE], value=NONE, description="colour")
        self.mark_picker = widgets.Dropdown(options=CUSTOM_MARKS, value="bar", description="mark")
        self._choosing = False
        self._start(
            [
                widgets.HBox([self.sql_box, self.parameters_box]),
                widgets.HBox([self.limit_picker, self.run_button]),
                widgets.HBox([self.x_picker, self.y_picker, self.colour_picker, self.mark_picker]),
            ],
            # The SQL is the user's own: a mistake in it is shown, not raised.
            raise_errors=False,
        )
        self.run_button.on_click(self.refresh)
        for picker in (self.x_picker, self.y_picker, self.colour_picker, self.mark_picker):
            picker.observe(self._on_chart_change, names="value")

    def _clear(self) -> None:
        self.result = None
        self.truncated = False

    def _run(self) -> None:
        sql = self.sql_box.value
        if not sql.strip():
            raise UsageError(
                "the SQL box is empty; type a query such as SELECT * FROM audit_events"
            )
        values = parse_parameters(self.parameters_box.value)
        used = set(_PLACEHOLDER.findall(sql))
        missing = sorted(used - set(values))
        if missing:
            raise UsageError(
                f"missing value for parameter(s) {', '.join('$' + n for n in missing)}; "
                "add a line such as `name = value` to the parameters box"
            )
        limit = self.limit_picker.value
        with self.case.connect(read_only=True) as con:
            try:
                relation = con.sql(sql, params={k: v for k, v in values.items() if k in used})
                result = pl.DataFrame() if relation is None else relation.limit(limit + 1).pl()
            except duckdb.Error as error:
                raise QueryError(f"failed: {error}", query="ad hoc") from error
        self.truncated = result.height > limit
        self.result = result.head(limit)
        self.tables = {"result": self.result}
        self._choose_columns()
        self._chart()

    def _choose_columns(self) -> None:
        """Offer the result's columns, keeping earlier picks that still exist."""
        columns = list(self.result.columns) if self.result is not None else []
        numeric = [name for name in columns if self.result.schema[name].is_numeric()]
        x = self.x_picker.value if self.x_picker.value in columns else next(iter(columns), None)
        y = self.y_picker.value
        if y not in columns:
            y = next((name for name in numeric if name != x), NONE)
        colour = self.colour_picker.value if self.colour_picker.value in columns else NONE
        self._choosing = True
        try:
            self.x_picker.options = columns
            self.x_picker.value = x
            self.y_picker.options = [NONE, *columns]
            self.y_picker.value = y
            self.colour_picker.options = [NONE, *columns]
            self.colour_picker.value = colour
        finally:
            self._choosing = False

    def _chart(self) -> None:
        x = self.x_picker.value
        if self.result is None or self.result.height == 0 or x is None:
            self.charts = {}
            return
        y = None if self.y_picker.value == NONE else self.y_picker.value
        colour = None if self.colour_picker.value == NONE else self.colour_picker.value
        self.charts = {
            "chart": custom_chart(self.result, x=x, y=y, color=colour, mark=self.mark_picker.value)
        }

    def _on_chart_change(self, _change: dict) -> None:
        if self._choosing or self.result is None:
            return
        self._chart()
        self._draw()

    def _summary_html(self) -> str:
        if self.result is None:
            return ""
        more = f" (the first {self.result.height:,}; more rows exist)" if self.truncated else ""
        return (
            f"{self.result.height:,} rows{more}, columns: "
            f"{escape(', '.join(self.result.columns)) or 'none'}."
        )

    def _shown_tables(self) -> dict[str, tuple[str, pl.DataFrame]]:
        return {} if self.result is None else {"result": ("Result", self.result)}


def parse_parameters(text: str) -> dict[str, Any]:
    """Parse `name = value` lines into values to bind.

    Integers and decimals become numbers, true/false booleans, `null` None, and a value in
    single or double quotes the text inside them; anything else is text. Empty lines and
    lines starting with `#` or `--` are skipped. Raises UsageError on any other line.
    """
    values: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "--")):
            continue
        match = _PARAMETER_LINE.match(line)
        if not match:
            raise UsageError(f"invalid parameter line {number}: {stripped!r}; write `name = value`")
        values[match.group(1)] = _parameter_value(match.group(2))
    return values


def _parameter_value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
