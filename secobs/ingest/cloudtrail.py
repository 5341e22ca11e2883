"""Reader for AWS CloudTrail: S3 log files, JSON lines and CloudWatch Logs subscription data.

Every layout CloudTrail events arrive in loads the same way: the `{"Records": [...]}` files
delivered to S3 (gzip or not, streamed record by record), one event per line, and the
CloudWatch Logs subscription envelope `{"messageType": ..., "logEvents": [{"message": "<event
as a JSON string>"}]}`, one or many per file. The event name stays CloudTrail's own
(`ConsoleLogin`, `CreateUser`) and `service` holds `eventSource`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from secobs.ingest.auditmap import (
    first_time,
    flag,
    ip_and_source,
    json_text,
    map_record,
    obj,
    text,
)
from secobs.ingest.jsonstream import JsonRecord, iter_json_records
from secobs.ingest.records import ReaderOutput, Rejected, Row

FORMAT = "cloudtrail"
CONTAINERS = ("Records", "logEvents")

_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d+):")
# Keys whose values are credentials; they are replaced before anything is stored.
SECRET_KEYS = frozenset({"sessiontoken", "secretaccesskey", "password", "newpassword"})
_SECRET_HINT = re.compile(r'"(?i:sessionToken|secretAccessKey|password|newPassword)"')
REDACTED = "REDACTED_BY_SECOBS"
_HIDDEN = {"HIDDEN_DUE_TO_SECURITY_REASONS", REDACTED, ""}


def read_cloudtrail(path: Path) -> ReaderOutput:
    """Yield one audit_events row per CloudTrail event, whatever the file layout."""
    for record in iter_json_records(path, CONTAINERS):
        item = map_json_record(record)
        if item is not None:
            yield item


def map_json_record(record: JsonRecord) -> Row | Rejected | None:
    """Map one record of any CloudTrail layout to a Row, a Rejected record, or None."""
    if record.error is not None:
        return Rejected(record.number, record.error, record.raw)
    value, raw = record.value, record.raw
    if record.container == "logEvents":
        message = obj(value).get("message")
        try:
            value = orjson.loads(message) if isinstance(message, str) else None
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            return Rejected(
                record.number,
                "logEvents message is not a CloudTrail event (JSON object); "
                "control messages look like this",
                raw,
            )
        raw = message
    if _SECRET_HINT.search(raw):
        value = redact(value)
        raw = orjson.dumps(value).decode()
    return map_record(record.number, value, raw, FORMAT, map_cloudtrail_event)


def redact(value: Any) -> Any:
    """Replace the values of credential keys (sessionToken, secretAccessKey, password)."""
    if isinstance(value, dict):
        return {
            key: (
                REDACTED
                if key.lower() in SECRET_KEYS and isinstance(item, str) and item not in _HIDDEN
                else redact(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def map_cloudtrail_event(event: dict[str, Any]) -> dict[str, Any]:
    """Map one CloudTrail event to audit_events columns."""
    identity = obj(event.get("userIdentity"))
    actor = actor_of(identity)
    recipient = text(event.get("recipientAccountId"))
    result, reason = outcome(event)
    values = {
        "ts": first_time(event.get("eventTime")),
        "service": text(event.get("eventSource")),
        "event": text(event.get("eventName")) or text(event.get("eventType")),
        "result": result,
        "reason": reason,
        "request_id": text(event.get("requestID")),
        "event_id": text(event.get("eventID")),
        "user_agent": text(event.get("userAgent")),
        "tenant_id": recipient or actor["actor_account"],
        "target_account": recipient,
        "auth_method": auth_method(event, identity),
        "mfa": mfa(event, identity),
        "request_parameters": json_text(event.get("requestParameters")),
        "response_elements": json_text(event.get("responseElements")),
        **actor,
        **ip_and_source(event.get("sourceIPAddress")),
    }
    if actor["actor_role"]:
        values["roles"] = [actor["actor_role"]]
    return values


def actor_of(identity: dict[str, Any]) -> dict[str, Any]:
    """Name the actor of a userIdentity block: the person or session, not the role.

    IAMUser: userName. AssumedRole: the session name (the last part of the ARN), with the
    role in actor_role. Root: "root". AWSService: invokedBy. IdentityCenterUser:
    onBehalfOf.userId. FederatedUser: the federated name. A block with only invokedBy (an
    AWS-internal call) names the invoking service.
    """
    kind = text(identity.get("type"))
    arn = text(identity.get("arn")) or ""
    issuer = obj(obj(identity.get("sessionContext")).get("sessionIssuer"))
    account = text(identity.get("accountId")) or _account_of(arn)
    role = None
    actor_id = None
    if kind == "AssumedRole":
        parts = arn.split(":", 5)[-1].split("/") if arn else []
        role = text(issuer.get("userName")) or (parts[1] if len(parts) > 2 else None)
        principal = text(identity.get("principalId")) or ""
        actor_id = (parts[2] if len(parts) > 2 else None) or principal.partition(":")[2] or None
    elif kind == "Root":
        actor_id = "root"
    elif kind == "AWSService":
        actor_id = text(identity.get("invokedBy"))
    elif kind == "IdentityCenterUser":
        actor_id = text(obj(identity.get("onBehalfOf")).get("userId")) or text(
            identity.get("userId")
        )
    elif kind == "FederatedUser":
        actor_id = arn.rpartition("/")[2] or None
    if actor_id is None:
        actor_id = text(identity.get("userName")) or _arn_name(arn)
    if actor_id is None and kind is None and identity.get("invokedBy"):
        kind, actor_id = "AWSService", text(identity.get("invokedBy"))
    if actor_id is None:
        actor_id = text(identity.get("principalId"))
    return {
        "actor_id": actor_id,
        "actor_type": kind,
        "actor_account": account,
        "actor_role": role,
    }


def _account_of(arn: str) -> str | None:
    match = _ARN_ACCOUNT.match(arn)
    return match[1] if match else None


def _arn_name(arn: str) -> str | None:
    if not arn:
        return None
    name = arn.rpartition("/")[2] if "/" in arn else arn.rpartition(":")[2]
    return name or None


def outcome(event: dict[str, Any]) -> tuple[str, str | None]:
    """Return (result, reason): failure on errorCode, errorMessage or ConsoleLogin "Failure"."""
    response = obj(event.get("responseElements"))
    login = text(response.get("ConsoleLogin"))
    code = text(event.get("errorCode"))
    message = text(event.get("errorMessage"))
    if code or message or (login and login.lower() == "failure"):
        return "failure", code or message or "Failure"
    return "success", None


def auth_method(event: dict[str, Any], identity: dict[str, Any]) -> str | None:
    """Name how the caller authenticated, where the event says so."""
    name = event.get("eventName")
    if name == "AssumeRoleWithSAML":
        return "saml"
    if name == "AssumeRoleWithWebIdentity":
        return "web_identity"
    if identity.get("type") == "IdentityCenterUser":
        return "sso"
    if name in ("ConsoleLogin", "CheckMfa"):
        return "password"
    if flag(event.get("sessionCredentialFromConsole")):
        return "session"
    key = text(identity.get("accessKeyId")) or ""
    if key.startswith("AKIA"):
        return "api_key"
    if key.startswith("ASIA"):
        return "session"
    return None


def mfa(event: dict[str, Any], identity: dict[str, Any]) -> bool | None:
    """Read MFA from additionalEventData.MFAUsed, else from the session's mfaAuthenticated."""
    used = flag(obj(event.get("additionalEventData")).get("MFAUsed"))
    if used is not None:
        return used
    attributes = obj(obj(identity.get("sessionContext")).get("attributes"))
    return flag(attributes.get("mfaAuthenticated"))
