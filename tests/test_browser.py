"""JupyterLab in headless Chromium: the account-takeover playbook runs and draws its widgets.

Needs Chromium at /usr/bin/chromium and Playwright for Python (no downloaded browsers); the
test skips when either is missing. JupyterLab listens on 127.0.0.1 on a free port and is
stopped at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from secobs.playbooks.lab import lab_command

from .conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 120
SCREENSHOT = REPO / "docs" / "screenshots" / "account_takeover.png"


def write_lab_settings(folder: Path) -> Path:
    """Render every notebook cell (JupyterLab detaches cells out of view by default) and
    turn off the news prompt, which would cover part of the screenshot."""
    settings = {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false"},
        "docmanager-extension/plugin": {"autosave": False},
    }
    for name, values in settings.items():
        package, plugin = name.split("/")
        path = folder / "@jupyterlab" / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """Stop JupyterLab and its kernels: the whole process group, politely first."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def test_account_takeover_in_chromium(demo_case, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed"
    )

    # Serve a copy: JupyterLab saves kernel metadata into the notebooks it runs.
    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)
    port, token = free_port(), secrets.token_hex(16)
    command = lab_command(demo_case, port=port, token=token, root_dir=notebooks)
    assert "--ServerApp.ip=127.0.0.1" in command.argv
    env = {**command.env, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}
    env["JUPYTERLAB_SETTINGS_DIR"] = str(write_lab_settings(tmp_path / "lab-settings"))
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "lab-workspaces")
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command.argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/api/status?token={token}", process, log)
        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 1400, "height": 1000},
            )
            page = context.new_page()
            try:
                page.goto(f"{base}/lab/tree/account_takeover.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook", timeout=60_000)
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator", timeout=60_000)
                # JupyterLab may ask which kernel to start; the notebook's own is preselected.
                try:
                    page.get_by_role("button", name="Select", exact=True).click(timeout=10_000)
                except sync_api.TimeoutError:
                    pass
                # Wait for the kernel, then run every cell from the Run menu.
                page.wait_for_selector(
                    ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
                )
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

                dropdown = page.locator(".widget-dropdown select").first
                dropdown.wait_for(state="attached", timeout=120_000)
                page.locator(".jp-RenderedSVG").first.wait_for(state="attached", timeout=120_000)
                page.wait_for_selector(
                    ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
                )
                dropdown.scroll_into_view_if_needed()

                assert dropdown.evaluate("select => select.value").startswith(
                    "u-globex-014 (max risk"
                )
                errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
                assert errors.count() == 0
                # The widget's output area contains the summary and the charts drawn as SVG.
                widget_charts = page.locator(".widget-output .jp-RenderedSVG")
                assert widget_charts.count() == 3
                summary = page.locator(".widget-output .jp-RenderedHTML").first.inner_text()
                assert summary.startswith("u-globex-014: ")
                shot = tmp_path / "account_takeover.png"
                page.screenshot(path=str(shot), full_page=False)
            except Exception:
                # Keep what the browser showed, to see why a wait timed out.
                page.screenshot(path=str(tmp_path / "failure.png"))
                (tmp_path / "failure.html").write_text(page.content())
                raise
            finally:
                context.close()
        assert shot.stat().st_size > 10_000
        # Tests leave the checkout unchanged; refresh the documented screenshot on request.
        if os.environ.get("SECOBS_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)
    finally:
        stop(process)
