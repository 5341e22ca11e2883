"""CI gates over telemetry files: schema validation, route coverage and schema guardrails.

Each gate is a library function that returns a result object; the `secobs schema` commands
turn a failed gate into exit status 1.
"""

from __future__ import annotations

from secobs.gates.coverage import CoverageResult, check_coverage
from secobs.gates.diff import SchemaDiff, diff_schemas
from secobs.gates.validate import ValidationResult, validate_files

__all__ = [
    "CoverageResult",
    "SchemaDiff",
    "ValidationResult",
    "check_coverage",
    "diff_schemas",
    "validate_files",
]
