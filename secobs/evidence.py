"""Seal, export and verify a case's audit evidence with the hash chain.

The chain covers the audit events as received (the `raw` column), in time order with ties
broken by source file and record number, so the order does not depend on how Parquet files
were written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from secobs import chain
from secobs.case import Case

FETCH_ROWS = 10_000

CHAIN_ORDER_SQL = """
SELECT raw, source_file, source_record
FROM audit_events
ORDER BY ts, source_file, source_record
"""


def case_events(case: Case) -> Iterator[tuple[Any, str, int]]:
    """Yield (event, source_file, source_record) for every audit event in chain order."""
    con = case.connect(read_only=False)
    try:
        cursor = con.execute(CHAIN_ORDER_SQL)
        while rows := cursor.fetchmany(FETCH_ROWS):
            for raw, source_file, source_record in rows:
                # The standard json module keeps floats and big integers exactly as written.
                yield json.loads(raw), source_file, source_record
    finally:
        con.close()


def seal_case(case_dir: Path | str, mode: str = "jcs") -> chain.Seal:
    """Seal the case's audit events: write the chain seal under CASE/evidence/."""
    case = Case.open(case_dir)
    return chain.seal_events(case_events(case), case.evidence_dir, mode=mode)


def export_case(case_dir: Path | str, out: Path | str, mode: str = "jcs") -> chain.ChainExport:
    """Write the case's audit events as a chain file (each record: event, prev_hash, hash)."""
    case = Case.open(case_dir)
    return chain.export_chain(case_events(case), Path(out), mode=mode)


def verify(path: Path | str, mode: str = "jcs") -> chain.Verification:
    """Verify a case against its seal, or a chain file by its own links."""
    target = Path(path)
    if target.is_dir():
        case = Case.open(target)
        return chain.verify_sealed(case_events(case), case.evidence_dir)
    return chain.verify_file(target, mode=mode)
