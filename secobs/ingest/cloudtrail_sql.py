"""A DuckDB fast path for CloudTrail events written one per line.

DuckDB maps the lines whose events have the common shape: a userIdentity of type IAMUser,
AssumedRole (with an `arn:...:sts::ACCOUNT:assumed-role/ROLE/SESSION` ARN), Root or
AWSService, fields with their usual JSON types, eventTime as `YYYY-MM-DDTHH:MM:SS[.f]Z` and
sourceIPAddress a dotted IPv4 address, "AWS Internal" or a name under amazonaws.com. Every
other line, every line that may hold a credential and every file in another layout (the
`{"Records": [...]}` document, gzip) is read by `cloudtrail.read_cloudtrail`'s logic, so both
paths give the same rows. `raw` is the line itself in both paths.
"""

from __future__ import annotations

from pathlib import Path

from secobs.ingest import ndjson_sql as lines
from secobs.ingest.cloudtrail import (
    CONTAINERS,
    FORMAT,
    map_json_record,
    read_cloudtrail,
)
from secobs.ingest.records import ReaderOutput, Rejected, Row

IDENTITY_TYPES = ("IAMUser", "AssumedRole", "Root", "AWSService")
EVENT_TIME = (
    r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z"
)
ASSUMED_ROLE_ARN = r"arn:aws[a-z-]*:sts::[0-9]+:assumed-role/[^/:]+/[^/:]+"
AWS_SERVICE = r"[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com"
# The same pattern as cloudtrail._SECRET_HINT: lines that may hold a credential are redacted
# and re-serialised by the Python reader.
SECRET_HINT = r'"(?i:sessionToken|secretAccessKey|password|newPassword)"'

FIELDS: dict[str, tuple[str, ...]] = {
    "$.Records": (),
    "$.logEvents": (),
    "$.eventTime": lines.STRING,
    "$.eventSource": lines.STRING,
    "$.eventName": lines.STRING,
    "$.eventType": lines.STRING,
    "$.errorCode": lines.STRING,
    "$.errorMessage": lines.STRING,
    "$.requestID": lines.STRING,
    "$.eventID": lines.STRING,
    "$.userAgent": lines.STRING,
    "$.recipientAccountId": lines.STRING,
    "$.sourceIPAddress": lines.STRING,
    "$.sessionCredentialFromConsole": lines.FLAG,
    "$.additionalEventData": lines.OBJECT,
    "$.additionalEventData.MFAUsed": lines.FLAG,
    "$.requestParameters": lines.JSON_TEXT,
    "$.responseElements": lines.JSON_TEXT,
    "$.responseElements.ConsoleLogin": lines.STRING,
    "$.userIdentity": lines.OBJECT,
    "$.userIdentity.type": lines.STRING,
    "$.userIdentity.arn": lines.STRING,
    "$.userIdentity.accountId": lines.STRING,
    "$.userIdentity.principalId": lines.STRING,
    "$.userIdentity.userName": lines.STRING,
    "$.userIdentity.invokedBy": lines.STRING,
    "$.userIdentity.accessKeyId": lines.STRING,
    "$.userIdentity.sessionContext": lines.OBJECT,
    "$.userIdentity.sessionContext.sessionIssuer": lines.OBJECT,
    "$.userIdentity.sessionContext.sessionIssuer.userName": lines.STRING,
    "$.userIdentity.sessionContext.attributes": lines.OBJECT,
    "$.userIdentity.sessionContext.attributes.mfaAuthenticated": lines.FLAG,
}
OBJECTS = [
    "$",
    "$.userIdentity",
    "$.userIdentity.sessionContext",
    "$.userIdentity.sessionContext.sessionIssuer",
    "$.userIdentity.sessionContext.attributes",
    "$.additionalEventData",
]

SPEC = """{
    "eventTime": "VARCHAR", "eventSource": "VARCHAR", "eventName": "VARCHAR",
    "eventType": "VARCHAR", "errorCode": "VARCHAR", "errorMessage": "VARCHAR",
    "requestID": "VARCHAR", "eventID": "VARCHAR", "userAgent": "VARCHAR",
    "recipientAccountId": "VARCHAR", "sourceIPAddress": "VARCHAR",
    "sessionCredentialFromConsole": "JSON",
    "additionalEventData": {"MFAUsed": "JSON"},
    "requestParameters": "JSON", "responseElements": "JSON",
    "userIdentity": {
        "type": "VARCHAR", "arn": "VARCHAR", "accountId": "VARCHAR", "principalId": "VARCHAR",
        "userName": "VARCHAR", "invokedBy": "VARCHAR", "accessKeyId": "VARCHAR",
        "sessionContext": {"sessionIssuer": {"userName": "VARCHAR"},
                           "attributes": {"mfaAuthenticated": "JSON"}}
    }
}"""


def build_sql() -> str:
    """Return the SELECT that maps CloudTrail lines to audit_events columns."""
    q = lines.sql_string
    identity = "v.userIdentity"
    kind = f"{identity}.type"
    arn = f"nullif({identity}.arn, '')"
    arn_name = (
        f"CASE WHEN {arn} IS NULL THEN NULL WHEN contains({arn}, '/') "
        f"THEN nullif(string_split({arn}, '/')[-1], '') "
        f"ELSE nullif(string_split({arn}, ':')[-1], '') END"
    )
    account = (
        f"coalesce(nullif({identity}.accountId, ''), nullif(regexp_extract({arn}, "
        f"'^arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:([0-9]+):', 1), ''))"
    )
    fallback_id = (
        f"coalesce(nullif({identity}.userName, ''), {arn_name}, nullif({identity}.principalId, ''))"
    )
    role = (
        f"CASE WHEN {kind} = 'AssumedRole' THEN coalesce("
        f"nullif({identity}.sessionContext.sessionIssuer.userName, ''), "
        f"split_part({arn}, '/', 2)) END"
    )
    actor_id = (
        f"CASE {kind} WHEN 'AssumedRole' THEN split_part({arn}, '/', 3) WHEN 'Root' THEN 'root' "
        f"WHEN 'AWSService' THEN coalesce(nullif({identity}.invokedBy, ''), {fallback_id}) "
        f"ELSE {fallback_id} END"
    )
    login = "json_extract_string(v.responseElements, '$.ConsoleLogin')"
    code, message = "nullif(v.errorCode, '')", "nullif(v.errorMessage, '')"
    failed = f"({code} IS NOT NULL OR {message} IS NOT NULL OR lower({login}) = 'failure')"
    recipient = "nullif(v.recipientAccountId, '')"
    key = f"coalesce({identity}.accessKeyId, '')"
    auth_method = (
        "CASE WHEN v.eventName = 'AssumeRoleWithSAML' THEN 'saml' "
        "WHEN v.eventName = 'AssumeRoleWithWebIdentity' THEN 'web_identity' "
        "WHEN v.eventName IN ('ConsoleLogin', 'CheckMfa') THEN 'password' "
        f"WHEN {lines.flag_value('v.sessionCredentialFromConsole')} THEN 'session' "
        f"WHEN starts_with({key}, 'AKIA') THEN 'api_key' "
        f"WHEN starts_with({key}, 'ASIA') THEN 'session' END"
    )
    mfa = (
        f"coalesce({lines.flag_value('v.additionalEventData.MFAUsed')}, "
        f"{lines.flag_value(f'{identity}.sessionContext.attributes.mfaAuthenticated')})"
    )
    source = "v.sourceIPAddress"
    is_ip = f"regexp_full_match({source}, {q(lines.IPV4)})"
    source_kind = (
        f"CASE WHEN {source} IS NULL THEN NULL WHEN {is_ip} THEN 'ip' "
        f"WHEN {source} = 'AWS Internal' THEN 'aws_internal' ELSE 'aws_service' END"
    )
    checks = [
        f"{kind} IN ({', '.join(q(name) for name in IDENTITY_TYPES)})",
        f"({arn} IS NULL OR regexp_full_match({arn}, {q(lines.ASCII)}))",
        f"({kind} <> 'AssumedRole' OR regexp_full_match({arn}, {q(ASSUMED_ROLE_ARN)}))",
        f"(v.eventTime IS NULL OR (regexp_full_match(v.eventTime, {q(EVENT_TIME)}) "
        "AND TRY_CAST(v.eventTime AS TIMESTAMPTZ) IS NOT NULL))",
        f"({source} IS NULL OR {is_ip} OR {source} = 'AWS Internal' "
        f"OR regexp_full_match({source}, {q(AWS_SERVICE)}))",
        f"({login} IS NULL OR regexp_full_match({login}, {q(lines.ASCII)}))",
        lines.flag_plain("v.sessionCredentialFromConsole"),
        lines.flag_plain("v.additionalEventData.MFAUsed"),
        lines.flag_plain(f"{identity}.sessionContext.attributes.mfaAuthenticated"),
    ]
    columns = {
        "ts": "TRY_CAST(v.eventTime AS TIMESTAMPTZ)",
        "source_format": q(FORMAT),
        "service": "nullif(v.eventSource, '')",
        "event": "coalesce(nullif(v.eventName, ''), nullif(v.eventType, ''))",
        "result": f"CASE WHEN {failed} THEN 'failure' ELSE 'success' END",
        "reason": f"CASE WHEN {failed} THEN coalesce({code}, {message}, 'Failure') END",
        "request_id": "nullif(v.requestID, '')",
        "event_id": "nullif(v.eventID, '')",
        "user_agent": "nullif(v.userAgent, '')",
        "tenant_id": f"coalesce({recipient}, {account})",
        "target_account": recipient,
        "auth_method": auth_method,
        "mfa": mfa,
        "request_parameters": "v.requestParameters",
        "response_elements": "v.responseElements",
        "actor_id": actor_id,
        "actor_type": kind,
        "actor_account": account,
        "actor_role": role,
        "roles": f"CASE WHEN {role} <> '' THEN [{role}] END",
        "client_ip": f"CASE WHEN {is_ip} THEN {source} END",
        "source_host": f"CASE WHEN NOT {is_ip} THEN {source} END",
        "source_kind": source_kind,
    }
    json_texts = ["v.requestParameters", "v.responseElements"]
    checks.append(lines.CASE_FOLDING)
    return lines.build_sql(SPEC, FIELDS, OBJECTS, json_texts, SECRET_HINT, checks, columns)


SQL = build_sql()


def read_cloudtrail_fast(path: Path) -> ReaderOutput:
    """Yield audit_events for a CloudTrail file, mapping clean JSON lines inside DuckDB."""
    if not lines.reads_as_json_lines(path, CONTAINERS):
        yield from read_cloudtrail(path)
        return
    yield from lines.read_lines_fast(path, SQL, line_items, read_cloudtrail)


def line_items(index: int, number: int, line: bytes) -> tuple[list[Row | Rejected], int]:
    """Map one line the way `read_cloudtrail` does; return the items and the record count."""
    records = lines.json_line_records(index, number, line, CONTAINERS)
    items = [item for record in records if (item := map_json_record(record)) is not None]
    return items, len(records)
