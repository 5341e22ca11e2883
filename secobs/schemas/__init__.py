"""JSON Schemas of the telemetry formats secobs reads, shipped as package data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from secobs.errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parent
AUDIT_V1 = "audit.v1"


def schema_path(name: str = AUDIT_V1) -> Path:
    """Return the path of a shipped schema, such as `audit.v1`."""
    return SCHEMA_DIR / f"{name}.json"


def load_schema(source: str | Path = AUDIT_V1) -> dict[str, Any]:
    """Load a shipped schema by name, or a schema file by path; raise InputError if unreadable."""
    path = Path(source)
    if isinstance(source, str) and not path.exists() and schema_path(source).is_file():
        path = schema_path(source)
    try:
        schema = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError("schema not found", path=str(path)) from None
    except (OSError, orjson.JSONDecodeError) as error:
        raise InputError(f"cannot read schema: {error}", path=str(path)) from None
    if not isinstance(schema, dict):
        raise InputError("a schema must be a JSON object", path=str(path))
    return schema
