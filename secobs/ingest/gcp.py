"""Reader for Google Cloud Audit Logs: LogEntry records whose protoPayload is an AuditLog.

Exports differ in spelling, and both spellings are read: `@type` or `at_sign_type` (a
pipeline rename), `callerIp` or `callerIP`, and lower-cased top-level keys (`insertid`). The
event name is the AuditLog `methodName`; `service` is `serviceName`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from secobs.ingest.auditmap import (
    first_time,
    ip_and_source,
    json_text,
    lower_keys,
    obj,
    read_audit_source,
    text,
)
from secobs.ingest.records import ReaderOutput

FORMAT = "gcp-audit"
_PROJECT = re.compile(r"^(?:projects|organizations|folders)/([^/]+)/")
# callerIp values that stand for an address Google does not disclose.
INTERNAL_CALLERS = {"private", "gce-internal-ip"}


def read_gcp_audit(path: Path) -> ReaderOutput:
    """Yield one audit_events row per Cloud Audit Logs entry."""
    return read_audit_source(path, FORMAT, map_gcp_entry, containers=("entries",))


def gcp_result(payload: dict[str, Any]) -> tuple[str, str | None]:
    """Failure when status.code is not 0 or a permission was not granted; else success."""
    status = obj(payload.get("status"))
    code = status.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        return "failure", text(status.get("message")) or f"status code {code}"
    denied = [
        text(obj(item).get("permission"))
        for item in payload.get("authorizationInfo") or []
        if isinstance(item, dict) and item.get("granted") is False
    ]
    if denied:
        return "failure", "permission denied: " + ", ".join(name or "?" for name in denied)
    return "success", None


def map_gcp_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """Map one LogEntry with an AuditLog protoPayload to audit_events columns."""
    entry = lower_keys(entry)
    payload = obj(entry.get("protopayload"))
    authentication = obj(payload.get("authenticationInfo"))
    metadata = obj(payload.get("requestMetadata"))
    resource = obj(entry.get("resource"))
    labels = obj(resource.get("labels"))
    principal = text(authentication.get("principalEmail")) or text(
        authentication.get("principalSubject")
    )
    project = text(labels.get("project_id"))
    if project is None:
        match = _PROJECT.match(text(entry.get("logname")) or "")
        project = match[1] if match else None
    result, reason = gcp_result(payload)
    caller = metadata.get("callerIp", metadata.get("callerIP"))
    source = ip_and_source(caller)
    if isinstance(caller, str) and caller.lower() in INTERNAL_CALLERS:
        source["source_kind"] = "gcp_internal"
    return {
        "ts": first_time(entry.get("timestamp"), entry.get("receivetimestamp")),
        "service": text(payload.get("serviceName")),
        "event": text(payload.get("methodName")),
        "severity": text(entry.get("severity")),
        "result": result,
        "reason": reason,
        "event_id": text(entry.get("insertid")),
        "route": text(payload.get("resourceName")),
        "actor_id": principal,
        "actor_type": _principal_type(principal),
        "tenant_id": project,
        "target_account": project,
        "user_agent": text(metadata.get("callerSuppliedUserAgent")),
        "request_parameters": json_text(payload.get("request")),
        "response_elements": json_text(payload.get("response")),
        **source,
    }


def _principal_type(principal: str | None) -> str | None:
    if principal is None:
        return None
    if principal.endswith(".gserviceaccount.com"):
        return "service_account"
    return "user"
