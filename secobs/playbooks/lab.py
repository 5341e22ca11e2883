"""Start JupyterLab on the playbook notebooks, bound to one case and to loopback only.

In a checkout the notebooks are the repository's `notebooks/` folder. An installed secobs
without a checkout copies the notebooks shipped as package data (`secobs/notebooks/`) into
CASE/notebooks/ and serves that folder instead; copies that exist already are kept, so a
responder's edits survive the next start.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from secobs.case import Case
from secobs.errors import UsageError

log = logging.getLogger("secobs")

CASE_SETTING = "SECOBS_CASE"
"""Environment variable that the playbook notebooks read the case folder from."""

CHECKOUT_NOTEBOOKS = Path(__file__).resolve().parent.parent.parent / "notebooks"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class LabCommand:
    """The JupyterLab command line, its environment and the folder it serves."""

    argv: list[str]
    env: dict[str, str]
    root_dir: Path


def notebooks_dir(case: Case) -> Path:
    """Return the folder of playbook notebooks to serve for `case`.

    Prefers the checkout's `notebooks/`; otherwise copies the packaged notebooks into
    CASE/notebooks/. Raises UsageError when neither has any notebook.
    """
    if any(CHECKOUT_NOTEBOOKS.glob("*.ipynb")):
        return CHECKOUT_NOTEBOOKS
    packaged = resources.files("secobs") / "notebooks"
    sources = (
        [item for item in packaged.iterdir() if item.name.endswith(".ipynb")]
        if (packaged.is_dir())
        else []
    )
    if not sources:
        raise UsageError(
            "no playbook notebooks found: this secobs has neither a checkout's notebooks/ folder "
            "nor packaged notebooks; reinstall secobs or run it from a checkout"
        )
    target = case.root / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        destination = target / source.name
        if not destination.exists():
            with resources.as_file(source) as path:
                shutil.copyfile(path, destination)
    return target


def lab_command(
    case_dir: Path | str,
    *,
    port: int | None = None,
    open_browser: bool = False,
    token: str | None = None,
    root_dir: Path | None = None,
) -> LabCommand:
    """Build the command that serves the playbooks of `case_dir` on 127.0.0.1.

    `port` None lets JupyterLab pick a free one (from 8888 up). `token` sets the access token;
    by default JupyterLab makes a random one and prints the URL with it. `root_dir` serves
    that folder of notebooks instead of `notebooks_dir(case)`.
    """
    case = Case.open(case_dir)
    root_dir = notebooks_dir(case) if root_dir is None else Path(root_dir)
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={LOOPBACK}",
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.open_browser={open_browser}",
        # The lab serves evidence offline: no update checks, no extension index queries.
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Jupyter refuses to start as root without this; containers often run as root.
        argv.append("--allow-root")
    if port is not None:
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    env = {**os.environ, CASE_SETTING: str(case.root)}
    return LabCommand(argv=argv, env=env, root_dir=root_dir)


def run_lab(case_dir: Path | str, *, port: int | None = None, open_browser: bool = False) -> int:
    """Run JupyterLab on the playbooks of `case_dir` until it stops; return its exit status."""
    command = lab_command(case_dir, port=port, open_browser=open_browser)
    log.info("starting JupyterLab on %s for case %s", command.root_dir, command.env[CASE_SETTING])
    try:
        return subprocess.run(command.argv, env=command.env, check=False).returncode
    except KeyboardInterrupt:
        # JupyterLab got the same interrupt and shuts down on its own.
        return 0
