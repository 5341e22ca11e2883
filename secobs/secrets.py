"""Find credentials in telemetry, mask them for display and redact them before ingest writes.

All detection patterns live in `PATTERNS`, one row per kind of secret. Each regex is written
in the syntax that Python's `re` (compiled with re.ASCII) and RE2 read the same way, so the
ingest path can select candidate rows with `pyarrow.compute.match_substring_regex` (RE2) and
run Python only on those rows. The capture groups of a row are the alternative spellings of
the secret itself; everything else in the regex is context that stays visible.

Redaction replaces each secret with `[REDACTED:kind:hmac16]`, where hmac16 is the first 16
hex characters of HMAC-SHA256 under a per-case key. The same secret gives the same marker in
every record, so it still correlates, but the marker cannot be reversed without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets as random_source
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from secobs.ingest.records import ArrowBatch, Rejected, Row

log = logging.getLogger("secobs")

KEY_FILE = "redaction.key"
KEY_BYTES = 32
MARKER = re.compile(r"\[REDACTED:[a-z0-9_]+:[0-9a-f]{16}\]")


@dataclass(frozen=True)
class SecretPattern:
    """A kind of secret: how to find it in text, and which field names hold it."""

    kind: str
    regex: str
    description: str
    # Leading characters that name the credential's format (AKIA, ghp_, eyJ) and are shown
    # when a secret is masked; they are not secret.
    public: str = ""
    # A regex that a field name (JSON key, CSV column) ends with when its value is this kind.
    key: str | None = None


# Pieces of the key-value patterns. SEP is the separator between a key and its value in JSON
# ("key": "v"), in JSON that was escaped again (\"key\":\"v\"), in logs (key=v, key: v) and in
# query strings. Each value alternative has one group: a double-quoted JSON string, a
# single-quoted string, a bare word (stops at &,; and spaces) or the rest of a header line.
SEP = r"""\\?["']?[ \t]*[:=][ \t]*"""
VALUE_JSON = r"""\\?"((?:[^"\\\r\n]|\\[^"\r\n])+)"""
VALUE_SINGLE = r"'([^'\r\n]+)"
VALUE_WORD = r"""([^ \t\r\n"'&,;}<>\[\]\\]+)"""
VALUE_LINE = r"""([^ \t\r\n"'\\{\[][^"'\r\n\\]*)"""
SCHEME = r"(?:(?i:bearer|basic|token|digest|negotiate|ntlm|apikey|aws4-hmac-sha256)[ \t]+)?"


def _key_value(key: str, tail: str = VALUE_WORD) -> str:
    return f"(?i:{key}){SEP}(?:{VALUE_JSON}|{VALUE_SINGLE}|{tail})"


def _header(key: str, scheme: str) -> str:
    return (
        f"(?i:{key}){SEP}"
        rf'''(?:\\?"{scheme}((?:[^"\\\r\n]|\\[^"\r\n])+)|'{scheme}([^'\r\n]+)|{scheme}{VALUE_LINE})'''
    )


AUTHORIZATION_KEY = r"(?:proxy-)?authorization"
COOKIE_KEY = r"(?:set-)?cookie"

# Specific formats come first: when two rows find the same span, the earlier row names it.
PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        "private_key",
        r"(-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[A-Za-z0-9+/=:,. \t\r\n\\-]*?-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"|[A-Za-z0-9+/= \t\r\n\\]*))",
        "PEM private key block (RSA, EC, OpenSSH, PKCS #8, PGP), whole or cut off",
        public="-----BEGIN",
    ),
    SecretPattern(
        "jwt",
        r"(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)",
        "JSON Web Token: base64url header and payload that both start with {",
        public="eyJ",
    ),
    SecretPattern(
        "aws_access_key_id",
        r"((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b",
        "AWS access key id (long-term AKIA, temporary ASIA)",
        public="AKIA|ASIA|ABIA|ACCA",
    ),
    SecretPattern(
        "github_token",
        r"((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})",
        "GitHub personal, OAuth, app and fine-grained tokens",
        public="gh[pousr]_|github_pat_",
    ),
    SecretPattern(
        "slack_token",
        r"(xox[abposre]-[A-Za-z0-9-]{10,250})",
        "Slack bot, user and app tokens",
        public="xox[a-z]-",
    ),
    SecretPattern(
        "slack_webhook",
        r"hooks\.slack\.com/services/(T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]{16,})",
        "Slack incoming webhook URL path",
    ),
    SecretPattern(
        "gcp_api_key",
        r"(AIza[0-9A-Za-z_-]{35})",
        "Google Cloud API key",
        public="AIza",
    ),
    SecretPattern(
        "azure_storage_key",
        r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)",
        "Azure storage account key in a connection string",
    ),
    SecretPattern(
        "azure_sas_signature",
        r"[?&](?i:sig)=([A-Za-z0-9%+/=]{20,})",
        "Azure shared access signature in a URL query string",
    ),
    SecretPattern(
        "url_credentials",
        r"[A-Za-z][A-Za-z0-9+.-]*://[^/ \t\r\n:@\"'\\]+:([^/ \t\r\n@\"'\\]+)@",
        "password in the user info of a URL (scheme://user:password@host)",
    ),
    SecretPattern(
        "bearer_token",
        r"(?i:bearer)[ \t]+([A-Za-z0-9._~+/-]{8,}=*)",
        "bearer token after the Bearer scheme, in any header or text",
    ),
    SecretPattern(
        "authorization",
        _header(AUTHORIZATION_KEY, SCHEME),
        "Authorization and Proxy-Authorization header values (the scheme stays visible)",
        key=AUTHORIZATION_KEY,
    ),
    SecretPattern(
        "cookie",
        _header(COOKIE_KEY, ""),
        "Cookie and Set-Cookie header values",
        key=COOKIE_KEY,
    ),
    SecretPattern(
        "client_secret",
        _key_value(r"client[_-]?secret"),
        "OAuth client secret field",
        key=r"client[_-]?secret",
    ),
    SecretPattern(
        "aws_secret_access_key",
        _key_value(r"secret[_-]?access[_-]?key"),
        "AWS secret access key field (aws_secret_access_key, SecretAccessKey)",
        key=r"secret[_-]?access[_-]?key",
    ),
    SecretPattern(
        "password",
        _key_value(r"pass(?:word|wd|phrase)|pwd"),
        "password, passwd, passphrase and pwd fields, with any prefix (db_password)",
        key=r"pass(?:word|wd|phrase)|pwd",
    ),
    SecretPattern(
        "api_key",
        _key_value(r"api[_-]?key"),
        "api_key, apikey and X-Api-Key fields",
        key=r"api[_-]?key",
    ),
    SecretPattern(
        "private_key",
        _key_value(r"private[_-]?key"),
        "private_key fields (as in a cloud service account file)",
        key=r"private[_-]?key",
    ),
    SecretPattern(
        "token",
        _key_value(r"token"),
        "fields whose name ends in token (access_token, refresh_token, X-Auth-Token)",
        key=r"token",
    ),
    SecretPattern(
        "secret",
        _key_value(r"secret"),
        "fields whose name ends in secret",
        key=r"secret",
    ),
)

_COMPILED = [(index, re.compile(item.regex, re.ASCII)) for index, item in enumerate(PATTERNS)]
_PUBLIC = {item.kind: re.compile(item.public) for item in PATTERNS if item.public}
_KEYS = [
    (index, item, re.compile(f"(?i:{item.key})$", re.ASCII))
    for index, item in enumerate(PATTERNS)
    if item.key
]
# Key-value rows match any value, so they skip placeholders that hold no secret: literals,
# masks, <...>, template variables (${VAR}, {{ var }}, $VAR) and markers.
_VALUE_ROWS = {index for index, item in enumerate(PATTERNS) if item.key}
_PLACEHOLDER = re.compile(
    r"(?i)(?:null|none|nil|true|false|undefined|redacted|filtered|hidden|masked|\*+|x+|\.+"
    r"|<[^>]*>|\$\{[^}]*\}?|\{\{[^}]*(?:\}\})?|\$[A-Za-z_][A-Za-z0-9_]*|%s|\[[^\]]*\])"
)
_SCHEME = re.compile(SCHEME + "$", re.ASCII)
_JSON_LITERAL_END = re.compile(r"[,}\] \t]")
_JSON_MEMBER = re.compile(r'"[ \t]*:[ \t]*\Z')

# One RE2 expression that matches a text whenever some row could. Ingest uses it to select
# candidate rows in Arrow before it runs the Python patterns on them.
PREFILTER = "|".join(f"(?:{item.regex})" for item in PATTERNS)


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """A secret found in a text: its kind and its span [start, end)."""

    kind: str
    start: int
    end: int
    # True when the secret is a bare JSON literal (a number after "key":), so a marker that
    # replaces it must be quoted to keep the JSON valid.
    bare_json: bool = False


def find_secrets(text: str) -> list[SecretMatch]:
    """Find every secret in a text, merged so that spans do not overlap, in text order."""
    if not text:
        return []
    markers = [(m.start(), m.end()) for m in MARKER.finditer(text)]
    json_text = text.lstrip()[:1] in ("{", "[")
    found: list[tuple[int, int, int, bool]] = []
    for index, regex in _COMPILED:
        for match in regex.finditer(text):
            group = match.lastindex
            if group is None:
                continue
            start, end = match.span(group)
            start, end, bare = _trim(text, start, end, group, index, json_text)
            if end <= start:
                continue
            value = text[start:end]
            if index in _VALUE_ROWS and _PLACEHOLDER.fullmatch(value):
                continue
            if any(start < m_end and m_start < end for m_start, m_end in markers):
                continue
            found.append((start, end, index, bare))
    return _merge(found)


def _trim(
    text: str, start: int, end: int, group: int, index: int, json_text: bool
) -> tuple[int, int, bool]:
    """Cut trailing spaces and a dangling backslash, and bound bare JSON literals."""
    bare = False
    if index in _VALUE_ROWS and group == 3 and json_text and _JSON_MEMBER.search(text, 0, start):
        # After `"key":` an unquoted JSON value is a literal that ends at the next delimiter.
        cut = _JSON_LITERAL_END.search(text, start, end)
        if cut is not None:
            end = cut.start()
        bare = True
    while end > start and text[end - 1] in " \t":
        end -= 1
    # An odd run of trailing backslashes would leave half of an escape sequence behind.
    run = 0
    while end - run > start and text[end - run - 1] == "\\":
        run += 1
    if run % 2:
        end -= 1
    return start, end, bare


def _merge(found: list[tuple[int, int, int, bool]]) -> list[SecretMatch]:
    """Merge overlapping spans; the longest span names the kind, then the earliest row."""
    found.sort(key=lambda item: (item[0], -(item[1] - item[0]), item[2]))
    merged: list[list[Any]] = []
    for start, end, index, bare in found:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            if end > last[1]:
                if end - start > last[1] - last[0]:
                    last[2] = index
                last[1] = end
            continue
        merged.append([start, end, index, bare])
    return [SecretMatch(PATTERNS[i].kind, start, end, bare) for start, end, i, bare in merged]


def find_in_field(name: str | None, value: str) -> list[SecretMatch]:
    """Find secrets in one field value, using the field name (JSON key, CSV column) as context.

    A value under a name such as `password` or `authorization` is a secret as a whole (after
    an authorization scheme such as `Bearer `), unless it is a placeholder such as null or ***.
    """
    matches = find_secrets(value)
    if name is None or not value or MARKER.fullmatch(value):
        return matches
    for index, item, key in _KEYS:
        if not key.search(name):
            continue
        start = 0
        if item.kind == "authorization":
            scheme = _SCHEME_PREFIX.match(value)
            start = scheme.end() if scheme else 0
        secret = value[start:].rstrip()
        if not secret or _PLACEHOLDER.fullmatch(secret) or MARKER.fullmatch(secret):
            return matches
        found = [(start, start + len(secret), index, False)]
        found += [(m.start, m.end, _index_of(m.kind), False) for m in matches]
        return _merge(found)
    return matches


_SCHEME_PREFIX = re.compile(SCHEME, re.ASCII)


def secret_field_kind(name: str) -> str | None:
    """Return the kind of secret a field of this name stores (`db_password`: password), or None."""
    for _, item, key in _KEYS:
        if key.search(name):
            return item.kind
    return None


def _index_of(kind: str) -> int:
    return next(index for index, item in enumerate(PATTERNS) if item.kind == kind)


def mask_secret(kind: str, value: str) -> str:
    """Mask a secret for display: its public format prefix (if any) and its length, no more."""
    public = _PUBLIC.get(kind)
    prefix = ""
    if public is not None:
        match = public.match(value)
        prefix = match.group(0) if match else ""
    return f"{prefix}***({len(value)} chars)"


def mask_text(text: str) -> str:
    """Replace each secret in a text with its kind and masked form, for messages and reports."""
    matches = find_secrets(text)
    for match in reversed(matches):
        masked = mask_secret(match.kind, text[match.start : match.end])
        text = f"{text[: match.start]}[{match.kind}:{masked}]{text[match.end :]}"
    return text


# ---------------------------------------------------------------------------------------------
# Redaction at ingest


_REDACTION_ENABLED: ContextVar[bool] = ContextVar("secobs_redaction_enabled", default=True)


@contextmanager
def redaction(enabled: bool) -> Iterator[None]:
    """Turn ingest redaction on or off for the calls made inside the `with` block."""
    token = _REDACTION_ENABLED.set(enabled)
    try:
        yield
    finally:
        _REDACTION_ENABLED.reset(token)


def redaction_enabled() -> bool:
    """Tell whether ingest redacts secrets: on by default, off under `redaction(False)`."""
    return _REDACTION_ENABLED.get()


def load_or_create_key(path: Path) -> bytes:
    """Read the hex HMAC key at `path`, creating it with mode 0600 when it does not exist.

    The key is written to a temporary file and hard-linked into place, so two processes that
    create it at once both end up with the same key, and no reader sees a partial file.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(random_source.token_hex(KEY_BYTES) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temporary, path)
            log.info("created the redaction key %s", path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path} is not a hex key; delete it to create a new one") from None
    if len(key) < 16:
        raise ValueError(
            f"{path} contains a key shorter than 16 bytes; delete it to create a new one"
        )
    if path.stat().st_mode & 0o077:
        log.warning("the redaction key %s is readable by other users; run chmod 600 on it", path)
    return key


class Redactor:
    """Replace secrets with keyed markers and count them by kind."""

    def __init__(self, key: bytes):
        self._key = key
        self.counts: Counter[str] = Counter()

    @classmethod
    def for_case(cls, case_root: Path | str) -> Redactor:
        """Return a Redactor keyed by the case's `evidence/redaction.key` (created on first use)."""
        return cls(load_or_create_key(Path(case_root) / "evidence" / KEY_FILE))

    @property
    def redacted(self) -> int:
        """Number of secrets replaced so far."""
        return sum(self.counts.values())

    def fingerprint(self, value: str) -> str:
        """Return the first 16 hex characters of HMAC-SHA256(key, value)."""
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def marker(self, kind: str, value: str) -> str:
        return f"[REDACTED:{kind}:{self.fingerprint(value)}]"

    def redact_text(self, text: str) -> str:
        """Replace every secret in a text with its marker."""
        matches = find_secrets(text)
        if not matches:
            return text
        pieces: list[str] = []
        position = 0
        for match in matches:
            marker = self.marker(match.kind, text[match.start : match.end])
            if match.bare_json:
                marker = f'"{marker}"'
            pieces.append(text[position : match.start])
            pieces.append(marker)
            position = match.end
            self.counts[match.kind] += 1
        pieces.append(text[position:])
        return "".join(pieces)

    def redact_value(self, value: Any) -> Any:
        """Redact a string or a list of strings; return other values unchanged."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, list):
            return [self.redact_text(item) if isinstance(item, str) else item for item in value]
        return value

    def redact_item(self, item: Row | Rejected | ArrowBatch) -> Row | Rejected | ArrowBatch:
        """Redact one reader item: a Row's string values, a Rejected record, an Arrow batch."""
        if isinstance(item, ArrowBatch):
            return ArrowBatch(item.table, self.redact_table(item.data))
        if isinstance(item, Rejected):
            return replace(
                item, reason=self.redact_text(item.reason), raw=self.redact_text(item.raw)
            )
        values = {name: self.redact_value(value) for name, value in item.values.items()}
        return Row(item.table, item.record, values)

    def redact_stream(
        self, items: Iterable[Row | Rejected | ArrowBatch], batch: int = 4096
    ) -> Iterator[Row | Rejected | ArrowBatch]:
        """Redact a reader's items in order, selecting candidate rows in batches with RE2."""
        pending: list[Row | Rejected] = []
        for item in items:
            if isinstance(item, ArrowBatch):
                yield from self._redact_pending(pending)
                pending = []
                yield self.redact_item(item)
                continue
            pending.append(item)
            if len(pending) >= batch:
                yield from self._redact_pending(pending)
                pending = []
        yield from self._redact_pending(pending)

    def _redact_pending(self, items: list[Row | Rejected]) -> list[Row | Rejected]:
        texts: list[str] = []
        owners: list[int] = []
        for position, item in enumerate(items):
            for text in _item_texts(item):
                texts.append(text)
                owners.append(position)
        if not texts:
            return items
        hits = candidate_mask(pa.array(texts, type=pa.string()))
        suspects = {owners[i] for i in pc.indices_nonzero(hits).to_pylist()}
        return [
            self.redact_item(item) if position in suspects else item
            for position, item in enumerate(items)
        ]

    def redact_table(self, table: pa.Table) -> pa.Table:
        """Redact the string and list-of-string columns of an Arrow table.

        RE2 selects the candidate rows of each column; only those values go through Python.
        """
        for position, column_field in enumerate(table.schema):
            column = table.column(position)
            if pa.types.is_string(column_field.type) or pa.types.is_large_string(column_field.type):
                redacted = self._redact_strings(column.combine_chunks())
            elif pa.types.is_list(column_field.type) and pa.types.is_string(
                column_field.type.value_type
            ):
                redacted = self._redact_lists(column.combine_chunks())
            else:
                continue
            if redacted is not None:
                table = table.set_column(position, column_field, redacted)
        return table

    def _redact_strings(self, array: pa.Array) -> pa.Array | None:
        hits = candidate_mask(array)
        if not pc.any(hits).as_py():
            return None
        positions = pc.indices_nonzero(hits)
        values = [self.redact_text(text) for text in pc.take(array, positions).to_pylist()]
        return pc.replace_with_mask(array, hits, pa.array(values, type=array.type))

    def _redact_lists(self, array: pa.Array) -> pa.Array | None:
        flat = pc.list_flatten(array)
        if len(flat) == 0 or not pc.any(candidate_mask(flat)).as_py():
            return None
        return pa.array([self.redact_value(value) for value in array.to_pylist()], array.type)


def candidate_mask(array: pa.Array) -> pa.Array:
    """Return a boolean mask (nulls as false) of the strings that may hold a secret."""
    hits = pc.match_substring_regex(array, PREFILTER)
    return pc.fill_null(hits, False)


def _item_texts(item: Row | Rejected) -> Iterator[str]:
    if isinstance(item, Rejected):
        yield item.reason
        yield item.raw
        return
    for value in item.values.values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (text for text in value if isinstance(text, str))
