"""The postmortem: Markdown and self-contained HTML from a case, and escaping of telemetry."""

from __future__ import annotations

import base64
import json
import re
import shutil
from html.parser import HTMLParser

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from secobs.case import Case
from secobs.cli import main
from secobs.evidence import seal_case
from secobs.report import cell_text, html_table, write_report

from .conftest import REPO
from .test_playbook_hostile import (
    ESCAPED_ACTOR,
    ESCAPED_SCRIPT,
    HOSTILE_ACTOR,
    RAW_MARKUP,
    build_hostile_case,
)

TRUTH = json.loads((REPO / "sample_data" / "ground_truth.json").read_text())


class PageScan(HTMLParser):
    """Collect the tags and the resource-loading attributes of an HTML page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data") and value is not None:
                self.sources.append(value)
            assert not name.startswith("on"), f"event handler attribute {name} in <{tag}>"


def scan(page: str) -> PageScan:
    parser = PageScan()
    parser.feed(page)
    return parser


def drop_alerts(con) -> None:
    """Drop the alerts table or view that `secobs detect` may have added to a case's catalog."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'alerts'"
    ).fetchall()
    for (kind,) in rows:
        con.execute("DROP VIEW alerts" if kind == "VIEW" else "DROP TABLE alerts")


@pytest.fixture
def case_copy(demo_case, tmp_path):
    """A private copy of the demo case without seal or alerts, which other tests may add."""
    target = tmp_path / "case"
    shutil.copytree(demo_case, target)
    for extra in ("evidence", "reports", "lake/alerts"):
        shutil.rmtree(target / extra, ignore_errors=True)
    with duckdb.connect(str(Case.open(target).catalog_path)) as con:
        drop_alerts(con)
    return target


def test_report_writes_markdown_and_html(case_copy):
    seal_case(case_copy)
    report = write_report(case_copy)

    assert report.markdown == case_copy / "reports" / "postmortem.md"
    assert report.html == case_copy / "reports" / "postmortem.html"
    markdown = report.markdown.read_text()
    page = report.html.read_text()
    actor = TRUTH["takeover"]["actor_id"]
    for text in (markdown, page):
        assert actor in text
        assert TRUTH["token"]["token_id"] in text
        assert f"{TRUTH['exports']['count']} data exports" in text
        assert "Audit evidence chain: valid, 4,000 records checked." in text
    assert report.verification.valid is True
    assert sorted(path.stem for path in report.charts) == sorted(
        stem
        for stem in ("actor_timeline", "latency_vs_risk", "login_map", "span_waterfall")
        for _ in range(2)
    )
    for chart in report.charts:
        assert f"]({chart.name})" in markdown


def test_report_html_is_self_contained(case_copy):
    report = write_report(case_copy)
    page = report.html.read_text()

    parsed = scan(page)
    assert "script" not in parsed.tags
    assert "link" not in parsed.tags
    assert parsed.sources, "charts should be embedded"
    assert all(source.startswith("data:image/svg+xml;base64,") for source in parsed.sources)
    assert not re.search(r"(?:https?:)?//[a-z0-9]", page.replace("http://www.w3.org/", ""))
    # Each embedded chart is the SVG file written next to the report.
    svgs = {path.read_bytes() for path in report.charts if path.suffix == ".svg"}
    embedded = {base64.b64decode(source.split(",", 1)[1]) for source in parsed.sources}
    assert embedded == svgs


def test_report_unsealed_case(case_copy):
    report = write_report(case_copy)
    page = report.html.read_text()

    assert report.verification is None
    assert "Audit evidence chain: not sealed, so not verified." in page
    assert not (case_copy / "evidence" / "chain-seal.json").exists()


def test_report_lists_manifest_hashes(case_copy, tmp_path):
    report = write_report(case_copy, tmp_path / "out")

    assert report.markdown.parent == tmp_path / "out"
    markdown = report.markdown.read_text()
    page = report.html.read_text()
    for name in ("audit.ndjson", "requests.csv", "spans.otlp.jsonl"):
        import hashlib

        digest = hashlib.sha256((REPO / "sample_data" / name).read_bytes()).hexdigest()
        assert digest in markdown
        assert digest in page


def test_report_includes_alerts(case_copy):
    with duckdb.connect(str(Case.open(case_copy).catalog_path)) as con:
        con.execute(
            "CREATE TABLE alerts AS SELECT 'password_spray' AS detection, 'high' AS severity, "
            "TIMESTAMPTZ '2026-02-24 02:49:57+00' AS window_start, "
            "TIMESTAMPTZ '2026-02-24 03:16:29+00' AS window_end, "
            "'203.0.113.148' AS client_ip, 86 AS event_count"
        )
    report = write_report(case_copy)
    markdown = report.markdown.read_text()

    assert "## Alerts" in markdown
    assert "| password_spray | high | 2026-02-24T02:49:57Z |" in markdown
    assert "- Alerts: 1." in markdown
    assert any(path.stem == "detections" for path in report.charts)


def test_report_escapes_hostile_telemetry(tmp_path):
    case = build_hostile_case(tmp_path)
    seal_case(case)
    report = write_report(case)
    page = report.html.read_text()
    markdown = report.markdown.read_text()

    parsed = scan(page)
    assert set(parsed.tags) <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "li",
        "table", "thead", "tbody", "tr", "th", "td", "code", "strong", "i", "figure", "img",
    }  # fmt: skip
    # Inline code spans show HTML as text in Markdown; outside them no markup may remain.
    prose = re.sub(r"`[^`]*`", "", markdown)
    for raw in RAW_MARKUP:
        assert raw not in page
        assert raw not in prose
    assert ESCAPED_ACTOR in page
    assert ESCAPED_SCRIPT in page
    # In Markdown the actor id is inline code, where HTML is inert, or an escaped table cell.
    assert f"`{HOSTILE_ACTOR}`" in markdown
    assert ESCAPED_ACTOR in markdown
    for source in parsed.sources:
        svg = base64.b64decode(source.split(",", 1)[1]).decode()
        assert "<script" not in svg
        assert "<img" not in svg


def test_html_table_escapes_cells():
    frame = pl.DataFrame({"route": ["<script>alert(1)</script>"], "n": [1]})
    table = html_table(frame, ["route", "n", "missing"])

    assert "<th>route</th><th>n</th></tr>" in table
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>1</td>" in table


def test_cell_text_formats():
    from datetime import datetime, timedelta, timezone

    moment = datetime(2026, 2, 24, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert cell_text(moment) == "2026-02-24T08:00:00Z"
    assert cell_text(["a", "b"]) == "a, b"
    assert cell_text(1234.56) == "1,234.6"
    assert cell_text(None) == ""


def test_report_command(case_copy, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["report", str(case_copy), "--out", str(tmp_path / "r"), "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["markdown"] == str(tmp_path / "r" / "postmortem.md")
    assert summary["chain"] is None
    assert summary["suspect_actor"] == TRUTH["takeover"]["actor_id"]


def test_report_command_exits_1_on_broken_chain(case_copy):
    seal_case(case_copy)
    seal = case_copy / "evidence" / "chain-seal.parquet"
    shutil.copy(seal, seal.with_suffix(".bak"))
    parquet = sorted((case_copy / "lake" / "audit_events").glob("**/*.parquet"))[0]
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * REPLACE (replace(raw, '\"success\"', '\"failure\"') AS raw) "
            f"FROM read_parquet('{parquet}')) TO '{parquet}.tmp' (FORMAT parquet)"
        )
    shutil.move(f"{parquet}.tmp", parquet)
    result = CliRunner().invoke(main, ["report", str(case_copy)])

    assert result.exit_code == 1, result.output
    assert "chain:      INVALID" in result.output
    assert "does not verify" in (case_copy / "reports" / "postmortem.md").read_text()


def test_report_command_rejects_missing_case(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nothing")])

    assert result.exit_code == 2
    assert "not a secobs case" in result.output


def test_lab_command_binds_loopback(demo_case):
    from secobs.playbooks.lab import lab_command

    command = lab_command(demo_case, port=8899, token="t0ken")

    assert "--ServerApp.ip=127.0.0.1" in command.argv
    assert "--ServerApp.open_browser=False" in command.argv
    assert "--ServerApp.port=8899" in command.argv
    assert "--IdentityProvider.token=t0ken" in command.argv
    assert f"--ServerApp.root_dir={REPO / 'notebooks'}" in command.argv
    assert command.env["SECOBS_CASE"] == str(demo_case.resolve())
    assert command.root_dir == REPO / "notebooks"


def test_lab_copies_packaged_notebooks(demo_case, tmp_path, monkeypatch):
    from secobs.playbooks import lab

    case = tmp_path / "case"
    shutil.copytree(demo_case, case)
    packaged = tmp_path / "package"
    (packaged / "notebooks").mkdir(parents=True)
    (packaged / "notebooks" / "triage_overview.ipynb").write_text("{}")
    monkeypatch.setattr(lab, "CHECKOUT_NOTEBOOKS", tmp_path / "no-checkout")
    monkeypatch.setattr(lab.resources, "files", lambda _package: packaged)
    (case / "notebooks").mkdir()
    (case / "notebooks" / "kept.ipynb").write_text("edited")

    command = lab.lab_command(case, open_browser=True)

    assert command.root_dir == case / "notebooks"
    assert (case / "notebooks" / "triage_overview.ipynb").read_text() == "{}"
    assert (case / "notebooks" / "kept.ipynb").read_text() == "edited"
    assert "--ServerApp.open_browser=True" in command.argv
    assert not any(arg.startswith("--ServerApp.port=") for arg in command.argv)


def test_lab_without_notebooks_raises(demo_case, tmp_path, monkeypatch):
    from secobs.errors import UsageError
    from secobs.playbooks import lab

    monkeypatch.setattr(lab, "CHECKOUT_NOTEBOOKS", tmp_path / "no-checkout")
    monkeypatch.setattr(lab.resources, "files", lambda _package: tmp_path / "empty")
    with pytest.raises(UsageError, match="no playbook notebooks found"):
        lab.lab_command(demo_case)
