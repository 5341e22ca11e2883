"""Reader for Microsoft Entra ID (Azure AD) sign-in logs in the diagnostic-settings envelope.

Each record has `time`, `category` (SignInLogs, NonInteractiveUserSignInLogs,
ServicePrincipalSignInLogs, ...), `resultType` and `properties{...}`; some pipelines lower-case
the envelope keys, and both spellings load. The event name is the category.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secobs.ingest.auditmap import (
    first_time,
    ip_and_source,
    lower_keys,
    obj,
    read_audit_source,
    text,
)
from secobs.ingest.records import ReaderOutput

FORMAT = "entra-signin"
SUCCESS_WORDS = {"0", "success"}
FAILURE_WORDS = {"failure", "failed"}
MFA_REQUIREMENTS = {"multifactorauthentication": True, "singlefactorauthentication": False}


def read_entra_signin(path: Path) -> ReaderOutput:
    """Yield one audit_events row per sign-in record."""
    return read_audit_source(path, FORMAT, map_entra_signin, containers=("records", "value"))


def entra_result(result_type: Any, error_code: Any) -> tuple[str | None, str | None]:
    """Map resultType ("0", "Success", "Failure" or an error code such as "50126").

    "0" and "Success" mean success; "Failure" and any other number are a failure whose reason
    is the error code. Without resultType, properties.status.errorCode decides the same way.
    """
    value = text(result_type)
    if value is None:
        value = text(error_code)
    if value is None:
        return None, None
    lowered = value.strip().lower()
    if lowered in SUCCESS_WORDS:
        return "success", None
    code = text(error_code)
    if lowered in FAILURE_WORDS:
        return "failure", code if code not in (None, "0") else None
    return "failure", value


def map_entra_signin(record: dict[str, Any]) -> dict[str, Any]:
    """Map one sign-in record to audit_events columns."""
    envelope = lower_keys(record)
    properties = obj(envelope.get("properties"))
    status = obj(properties.get("status"))
    location = obj(properties.get("location"))
    coordinates = obj(location.get("geoCoordinates"))
    category = text(envelope.get("category"))
    result, reason = entra_result(envelope.get("resulttype"), status.get("errorCode"))
    principal = text(properties.get("servicePrincipalName"))
    user = text(properties.get("userPrincipalName"))
    actor_type = "service_principal" if category == "ServicePrincipalSignInLogs" else "user"
    details = properties.get("authenticationDetails")
    method = None
    if isinstance(details, list) and details and isinstance(details[0], dict):
        method = text(details[0].get("authenticationMethod"))
    method = method or text(properties.get("authenticationProtocol"))
    requirement = (text(properties.get("authenticationRequirement")) or "").lower()
    return {
        "ts": first_time(envelope.get("time"), properties.get("createdDateTime")),
        "service": "entra-id",
        "event": category or text(envelope.get("operationname")),
        "severity": text(envelope.get("level")),
        "result": result,
        "reason": reason or text(status.get("failureReason")),
        "event_id": text(properties.get("id")),
        "request_id": text(envelope.get("correlationid")),
        "actor_id": user or principal or text(properties.get("userId")),
        "actor_type": actor_type,
        "tenant_id": text(envelope.get("tenantid")) or text(properties.get("tenantId")),
        "user_agent": text(properties.get("userAgent")),
        "geo_country": text(location.get("countryOrRegion")),
        "geo_region": text(location.get("state")),
        "geo_city": text(location.get("city")),
        "geo_lat": _number(coordinates.get("latitude")),
        "geo_lon": _number(coordinates.get("longitude")),
        "auth_method": method.lower() if method else None,
        "mfa": MFA_REQUIREMENTS.get(requirement),
        **ip_and_source(envelope.get("calleripaddress") or properties.get("ipAddress")),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
