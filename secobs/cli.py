"""The `secobs` command line.

Each command parses its input, calls one library function and prints the result. Commands
live in `secobs/commands/`, one module per area; importing them here registers them.
"""

from __future__ import annotations

from secobs.commands import (  # noqa: F401  (registers commands)
    chain,
    demo,
    detect,
    evidence,
    ingest,
    query,
    report,
    scan,
    schema,
)
from secobs.commands.base import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
