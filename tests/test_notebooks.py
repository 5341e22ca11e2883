"""Playbook notebooks: committed without outputs, and they run headless against the demo case."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


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
