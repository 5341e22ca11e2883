"""Exceptions that carry the facts a user needs to fix the problem.

The library raises these and never prints. The command line turns them into one message and
an exit status: 2 for bad usage or input, 1 for a finding such as a failed verification.
"""

from __future__ import annotations


class SecobsError(Exception):
    """Base class for every error secobs raises on purpose."""

    exit_code = 2


class InputError(SecobsError):
    """A file or record that cannot be read; names the file and, where known, the record."""

    def __init__(self, message: str, *, path: str | None = None, record: int | None = None):
        self.path = path
        self.record = record
        where = ""
        if path is not None:
            where = f"{path}"
            if record is not None:
                where += f", record {record}"
            where += ": "
        super().__init__(where + message)


class UsageError(SecobsError):
    """A command or function called with arguments that cannot work."""


class CaseError(SecobsError):
    """A case folder that is missing, unreadable or not a secobs case."""


class QueryError(SecobsError):
    """A catalog query that is unknown, malformed or called with invalid parameters."""

    def __init__(self, message: str, *, query: str | None = None):
        self.query = query
        prefix = f"query {query!r}: " if query else ""
        super().__init__(prefix + message)
