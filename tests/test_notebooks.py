"""Playbook notebooks: committed without outputs, and they run headless against the demo case.

A headless run keeps the widgets' state in the notebook metadata, including the outputs that
each playbook drew into its Output widget, so the tests read those as well as the cell outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import duckdb
import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO
from .test_playbook_hostile import ESCAPED_ACTOR, RAW_MARKUP, build_hostile_case

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
PLAYBOOKS = (
    "abuse_baselines.ipynb",
    "account_takeover.ipynb",
    "adhoc_sql.ipynb",
    "blast_radius.ipynb",
    "evidence_integrity.ipynb",
    "triage_overview.ipynb",
)
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TRUTH = json.loads((REPO / "sample_data" / "ground_truth.json").read_text())


def test_every_playbook_notebook_exists():
    assert sorted(path.name for path in NOTEBOOKS) == sorted(PLAYBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_has_parameters_cell(path):
    notebook = nbformat.read(path, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert 'os.environ.get("SECOBS_CASE", "secobs-demo")' in tagged[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} has outputs; clear them before committing"
            assert cell.execution_count is None


def execute(path, case, monkeypatch):
    monkeypatch.setenv("SECOBS_CASE", str(case))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def outputs_of(notebook) -> list[dict]:
    return [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]


def widget_models(notebook) -> dict[str, dict]:
    """Return the saved widget models by id: model name and state."""
    return notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def widget_outputs(notebook) -> list[dict]:
    """Return what the playbook drew into its Output widget during the run."""
    return [
        output
        for model in widget_models(notebook).values()
        if model["model_name"] == "OutputModel"
        for output in model["state"].get("outputs", [])
    ]


def all_data(notebook) -> list[dict]:
    return [output.get("data", {}) for output in outputs_of(notebook) + widget_outputs(notebook)]


def run_clean(name: str, case, monkeypatch):
    notebook = execute(REPO / "notebooks" / name, case, monkeypatch)
    errors = [output for output in outputs_of(notebook) if output.get("output_type") == "error"]
    assert errors == []
    return notebook


def svgs_of(notebook) -> list[str]:
    return [item["image/svg+xml"] for item in all_data(notebook) if "image/svg+xml" in item]


def html_of(notebook) -> str:
    return "\n".join(item.get("text/html", "") for item in all_data(notebook))


def test_account_takeover_notebook_runs(demo_case, monkeypatch):
    truth = json.loads((REPO / "sample_data" / "ground_truth.json").read_text())
    actor = truth["takeover"]["actor_id"]
    notebook = execute(REPO / "notebooks" / "account_takeover.ipynb", demo_case, monkeypatch)
    outputs = outputs_of(notebook)
    errors = [output for output in outputs if output.get("output_type") == "error"]
    assert errors == []

    data = [output.get("data", {}) for output in outputs]
    widgets = [item for item in data if "application/vnd.jupyter.widget-view+json" in item]
    assert widgets, "the playbook widget was not displayed"
    svgs = [item["image/svg+xml"] for item in data if "image/svg+xml" in item]
    assert len(svgs) >= 2, "both charts should render as SVG"
    html = "".join(item.get("text/html", "") for item in data)
    assert actor in html
    assert os.environ.get("SECOBS_CASE") == str(demo_case)


def drop_alerts(con) -> None:
    """Drop the alerts table or view that `secobs detect` may have added to a case's catalog."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'alerts'"
    ).fetchall()
    for (kind,) in rows:
        con.execute("DROP VIEW alerts" if kind == "VIEW" else "DROP TABLE alerts")


def private_case(demo_case, tmp_path):
    """Copy the shared demo case, which other tests may seal or add alerts to."""
    target = tmp_path / "case"
    shutil.copytree(demo_case, target)
    for extra in ("evidence", "reports", "lake/alerts"):
        shutil.rmtree(target / extra, ignore_errors=True)
    with duckdb.connect(str(target / "secobs.duckdb")) as con:
        drop_alerts(con)
    return target


def test_triage_overview_notebook_runs(demo_case, tmp_path, monkeypatch):
    notebook = run_clean("triage_overview.ipynb", private_case(demo_case, tmp_path), monkeypatch)

    # Three charts in the widget (volume, risk, top actors) and two in cells.
    assert len(svgs_of(notebook)) == 5
    html = html_of(notebook)
    assert TRUTH["takeover"]["actor_id"] in html
    assert "secobs detect CASE" in html
    last = notebook.cells[-1].outputs[0]["data"]["text/plain"]
    assert "No alerts view" in last


def test_account_takeover_notebook_map(demo_case, monkeypatch):
    notebook = run_clean("account_takeover.ipynb", demo_case, monkeypatch)

    html = html_of(notebook)
    # The legs table (a polars frame in a cell) shows the flight the attacker could not make.
    home, foreign = TRUTH["takeover"]["home"], TRUTH["takeover"]["foreign"]
    assert f"{home['city']}, {home['country']}" in html
    assert f"{foreign['city']}, {foreign['country']}" in html
    assert "Logins of " + TRUTH["takeover"]["actor_id"] in "".join(svgs_of(notebook))
    dropdowns = [
        model["state"]
        for model in widget_models(notebook).values()
        if model["model_name"] == "DropdownModel"
    ]
    assert dropdowns[0]["index"] == 0


def test_blast_radius_notebook_runs(demo_case, monkeypatch):
    notebook = run_clean("blast_radius.ipynb", demo_case, monkeypatch)

    svgs = svgs_of(notebook)
    assert any("Spans of trace" in svg for svg in svgs)
    html = html_of(notebook)
    assert "Data exports:" in html
    assert TRUTH["takeover"]["tenant_id"] in html


def test_abuse_baselines_notebook_runs(demo_case, monkeypatch):
    notebook = run_clean("abuse_baselines.ipynb", demo_case, monkeypatch)

    html = html_of(notebook)
    for ip in TRUTH["spray"]["ips"]:
        assert ip in html
    sliders = [
        model["state"]
        for model in widget_models(notebook).values()
        if model["model_name"] == "IntSliderModel"
    ]
    assert sorted(state["value"] for state in sliders) == [5, 5, 10]
    assert any("Baseline z-scores" in svg for svg in svgs_of(notebook))


def test_evidence_integrity_notebook_runs(demo_case, tmp_path, monkeypatch):
    case = private_case(demo_case, tmp_path)
    notebook = run_clean("evidence_integrity.ipynb", case, monkeypatch)

    html = html_of(notebook)
    assert "has no seal" in html
    sample = REPO / "sample_data" / "audit.ndjson"
    assert hashlib.sha256(sample.read_bytes()).hexdigest() in html
    buttons = {
        model["state"]["description"]: model["state"]
        for model in widget_models(notebook).values()
        if model["model_name"] == "ButtonModel"
    }
    assert buttons["Seal the case now"]["disabled"] is False
    assert buttons["Verify again"]["disabled"] is True
    # Opening the notebook never seals the case.
    assert not (case / "evidence" / "chain-seal.json").exists()


def test_adhoc_sql_notebook_runs(demo_case, monkeypatch):
    notebook = run_clean("adhoc_sql.ipynb", demo_case, monkeypatch)

    html = html_of(notebook)
    assert "auth.login" in html
    assert svgs_of(notebook)
    textareas = [
        model["state"]["value"]
        for model in widget_models(notebook).values()
        if model["model_name"] == "TextareaModel"
    ]
    assert any("$min_risk" in value for value in textareas)


@pytest.mark.parametrize("name", ["account_takeover.ipynb", "triage_overview.ipynb"])
def test_notebook_escapes_hostile_telemetry(name, tmp_path, monkeypatch):
    case = build_hostile_case(tmp_path)
    notebook = run_clean(name, case, monkeypatch)

    text = html_of(notebook) + "\n".join(svgs_of(notebook))
    for raw in RAW_MARKUP:
        assert raw not in text
    assert ESCAPED_ACTOR in text
