"""Coverage of sensitive routes: every event on such a route must carry the fields we rely on.

A route pattern is a glob over `request.route`: `*` matches within one path segment, `**`
matches any number of segments (including none) and `?` one character, so `/v1/admin/*`
matches `/v1/admin/roles` but not `/v1/admin/roles/42`, and `/v1/admin/**` matches both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secobs.errors import UsageError
from secobs.gates.records import iter_records
from secobs.secrets import mask_text

DEFAULT_REQUIRED = ("actor", "client", "security")
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, slots=True)
class CoverageGap:
    """A required field that an event on a sensitive route lacks (absent, null or empty)."""

    path: str
    record: int
    route: str
    pattern: str
    missing: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "record": self.record,
            "route": self.route,
            "pattern": self.pattern,
            "missing": self.missing,
        }


@dataclass
class RouteSummary:
    """Events seen on the routes a pattern matches, and how many of them had gaps."""

    pattern: str
    events: int = 0
    events_with_gaps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "events": self.events,
            "events_with_gaps": self.events_with_gaps,
        }


@dataclass
class CoverageResult:
    """Gaps per event and field, a summary per route pattern, and warnings."""

    files: list[str]
    required: list[str]
    routes: list[RouteSummary]
    gaps: list[CoverageGap] = field(default_factory=list)
    unreadable: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.gaps

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "required": self.required,
            "routes": [summary.to_json() for summary in self.routes],
            "gaps": [gap.to_json() for gap in self.gaps],
            "unreadable": self.unreadable,
            "warnings": self.warnings,
        }


def route_regex(pattern: str) -> re.Pattern[str]:
    """Compile a route glob (`*` one segment, `**` any depth, `?` one character) to a regex."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("/**", index):
            parts.append("(?:/[^/]*)*")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z")


def parse_field_list(text: str | None) -> list[str]:
    """Split a comma-separated list, dropping blanks."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def check_coverage(
    paths: list[Path | str], routes: list[str], require: list[str] | None = None
) -> CoverageResult:
    """Check that every event on a route matching `routes` carries every `require` field.

    `require` holds dotted paths such as `actor.id` (default: the actor, client and security
    blocks). A field counts as missing when it is absent, null, an empty or blank string, an
    empty list, or an object whose values are all missing. A pattern that matches no event is
    reported as a warning, because the route may have been renamed.
    """
    if not routes:
        raise UsageError("no route patterns given; pass --routes such as '/v1/export,/v1/admin/*'")
    required = list(require) if require else list(DEFAULT_REQUIRED)
    for name in required:
        if not _FIELD_PATH.fullmatch(name):
            raise UsageError(f"invalid field path {name!r}; use dotted names such as actor.id")
    matchers = [(pattern, route_regex(pattern)) for pattern in routes]
    result = CoverageResult(
        files=[str(path) for path in paths],
        required=required,
        routes=[RouteSummary(pattern) for pattern in routes],
    )
    for raw_path in paths:
        path = Path(raw_path)
        for item in iter_records(path):
            if item.error is not None or not isinstance(item.event, dict):
                result.unreadable += 1
                continue
            route = _route(item.event)
            if route is None:
                continue
            matched = [i for i, (_, regex) in enumerate(matchers) if regex.match(route)]
            if not matched:
                continue
            missing = [name for name in required if _is_missing(_lookup(item.event, name))]
            for i in matched:
                result.routes[i].events += 1
                result.routes[i].events_with_gaps += bool(missing)
            shown_route = mask_text(route)
            for name in missing:
                result.gaps.append(
                    CoverageGap(str(path), item.record, shown_route, routes[matched[0]], name)
                )
    for summary in result.routes:
        if summary.events == 0:
            result.warnings.append(
                f"route pattern {summary.pattern!r} matched no event; was the route renamed?"
            )
    if result.unreadable:
        result.warnings.append(
            f"{result.unreadable} records are not JSON objects and were not checked; "
            "run `secobs schema validate` to list them"
        )
    return result


def _route(event: dict[str, Any]) -> str | None:
    request = event.get("request")
    if not isinstance(request, dict):
        return None
    route = request.get("route")
    return route if isinstance(route, str) else None


def _lookup(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return not value
    if isinstance(value, dict):
        return all(_is_missing(item) for item in value.values())
    return False
