"""Reader for Kubernetes audit events (audit.k8s.io Event), JSON lines or an EventList.

Events load at any stage and with or without `apiVersion`. The event name is
`<resource>[/<subresource>].<verb>` (`pods/exec.create`), or the verb alone when the event
has no objectRef; `method` holds the verb and `route` the request URI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secobs.ingest.auditmap import (
    first_time,
    ip_and_source,
    json_text,
    obj,
    read_audit_source,
    text,
)
from secobs.ingest.records import ReaderOutput

FORMAT = "k8s-audit"


def read_k8s_audit(path: Path) -> ReaderOutput:
    """Yield one audit_events row per Kubernetes audit event."""
    return read_audit_source(path, FORMAT, map_k8s_event, containers=("items",))


def k8s_actor_type(username: str | None) -> str | None:
    """Classify a Kubernetes user name: service_account, anonymous, system or user."""
    if username is None:
        return None
    if username.startswith("system:serviceaccount:"):
        return "service_account"
    if username == "system:anonymous":
        return "anonymous"
    if username.startswith("system:"):
        return "system"
    return "user"


def k8s_event_name(event: dict[str, Any]) -> str | None:
    verb = text(event.get("verb"))
    target = obj(event.get("objectRef"))
    resource = text(target.get("resource"))
    if resource and text(target.get("subresource")):
        resource = f"{resource}/{target['subresource']}"
    if resource and verb:
        return f"{resource}.{verb}"
    return verb or resource


def map_k8s_event(event: dict[str, Any]) -> dict[str, Any]:
    """Map one audit.k8s.io Event to audit_events columns.

    The result is failure for a response code of 400 or more or an authorization decision
    of "forbid", success for a lower code, and NULL when the event has neither.
    """
    user = obj(event.get("user"))
    status = obj(event.get("responseStatus"))
    annotations = obj(event.get("annotations"))
    code = status.get("code")
    decision = text(annotations.get("authorization.k8s.io/decision"))
    result = None
    if isinstance(code, int) and not isinstance(code, bool):
        result = "failure" if code >= 400 else "success"
    if decision == "forbid":
        result = "failure"
    reason = text(status.get("reason")) or text(status.get("message"))
    if result == "failure" and reason is None and code is not None:
        reason = str(code)
    sources = event.get("sourceIPs")
    username = text(user.get("username"))
    groups = user.get("groups")
    return {
        "ts": first_time(
            event.get("requestReceivedTimestamp"),
            event.get("stageTimestamp"),
            obj(event.get("metadata")).get("creationTimestamp"),
        ),
        "service": "kube-apiserver",
        "event": k8s_event_name(event),
        "severity": text(event.get("level")),
        "result": result,
        "reason": reason,
        "event_id": text(event.get("auditID")),
        "method": text(event.get("verb")),
        "route": text(event.get("requestURI")),
        "actor_id": username,
        "actor_type": k8s_actor_type(username),
        "roles": [str(group) for group in groups] if isinstance(groups, list) else None,
        "tenant_id": text(obj(event.get("objectRef")).get("namespace")),
        "user_agent": text(event.get("userAgent")),
        "request_parameters": json_text(event.get("requestObject") or event.get("objectRef")),
        "response_elements": json_text(event.get("responseObject")),
        **ip_and_source(sources[0] if isinstance(sources, list) and sources else None),
    }
