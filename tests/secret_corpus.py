"""Obviously fake secrets, built at run time, one or more per detection pattern.

Nothing here is a real credential: AWS values are the examples from AWS documentation, the
JWT is signed here with a test key, and every other token is a repeated filler string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt() -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": "u-test-001", "iat": 1700000000}).encode())
    signature = hmac.new(b"test-only-key", f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64url(signature.digest())}"


AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
JWT = make_jwt()
GITHUB_TOKEN = "ghp_" + "Fake0" * 8
GITHUB_PAT = "github_pat_" + "11FAKE0000" + "_" + "fake" * 6
SLACK_TOKEN = "xoxb-" + "0000000000-" + "fakefakefake"
SLACK_WEBHOOK_PATH = "T00000000/B00000000/" + "FAKE" * 6
GCP_KEY = "AIza" + "Sy" + "Fake" * 8 + "0"
AZURE_KEY = base64.b64encode(b"\x00fake-azure-key" * 4 + b"\x00" * 4).decode()
AZURE_SIG = "fAkE" * 6 + "%2B" + "0000"
URL_PASSWORD = "pw-" + "fake" * 3
BEARER = "opaque." + "fake" * 5
BASIC = base64.b64encode(b"alice:" + b"fake" * 3).decode()
COOKIE = "sid=" + "f4ke" * 6 + "; csrftoken=" + "fake" * 4
PASSWORD = "correct horse " + "fake" * 3
PASSWD = "p4ss-" + "fake" * 2
PWD = "pwd-" + "fake" * 3
CLIENT_SECRET = "cs-" + "fake" * 6
API_KEY = "ak-" + "fake" * 6
ACCESS_TOKEN = "at-" + "fake" * 6
APP_SECRET = "sec-" + "fake" * 5
PEM_BODY = base64.b64encode(b"fake private key body " * 3).decode()
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + PEM_BODY + "\n-----END RSA " + "PRIVATE KEY-----"
PEM_TRUNCATED = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\n" + PEM_BODY

assert len(AZURE_KEY) == 88 and AZURE_KEY.endswith("==")
assert len(GCP_KEY) == 39

# (kind, text, the secret within the text). The text shows the context the pattern needs.
TEXT_CASES: list[tuple[str, str, str]] = [
    ("private_key", json.dumps({"key": PEM}), json.dumps(PEM)[1:-1]),
    ("private_key", "key follows " + PEM_TRUNCATED, PEM_TRUNCATED),
    ("jwt", f"id_token_hint {JWT} seen", JWT),
    ("aws_access_key_id", f"aws_access_key_id={AWS_KEY_ID}", AWS_KEY_ID),
    ("github_token", f"git clone https://x-access:{GITHUB_TOKEN}@github.invalid/r", GITHUB_TOKEN),
    ("github_token", f"GITHUB_TOKEN: {GITHUB_PAT}", GITHUB_PAT),
    ("slack_token", f"slack {SLACK_TOKEN} posted", SLACK_TOKEN),
    (
        "slack_webhook",
        f"POST https://hooks.slack.com/services/{SLACK_WEBHOOK_PATH}",
        SLACK_WEBHOOK_PATH,
    ),
    ("gcp_api_key", f"https://maps.example.org/api?key={GCP_KEY}&q=x", GCP_KEY),
    (
        "azure_storage_key",
        f"DefaultEndpointsProtocol=https;AccountName=fake;AccountKey={AZURE_KEY};",
        AZURE_KEY,
    ),
    ("azure_sas_signature", f"GET /c/b?sv=2022-11-02&sp=r&sig={AZURE_SIG}", AZURE_SIG),
    ("url_credentials", f"dsn=postgres://admin:{URL_PASSWORD}@db.example.org/app", URL_PASSWORD),
    ("bearer_token", f"upstream sent Bearer {BEARER}", BEARER),
    ("authorization", f"Authorization: Basic {BASIC}", BASIC),
    (
        "authorization",
        json.dumps({"authorization": "s3cr3t-" + "fake" * 3}),
        "s3cr3t-" + "fake" * 3,
    ),
    ("cookie", f"Cookie: {COOKIE}", COOKIE),
    ("cookie", json.dumps({"set-cookie": COOKIE}), COOKIE),
    ("client_secret", f"client_id=app&client_secret={CLIENT_SECRET}&grant=x", CLIENT_SECRET),
    ("aws_secret_access_key", json.dumps({"SecretAccessKey": AWS_SECRET}), AWS_SECRET),
    ("password", json.dumps({"db_password": PASSWORD}), PASSWORD),
    ("password", f"login user=bob passwd={PASSWD} ok", PASSWD),
    ("password", f"mysql -u root pwd: {PWD}", PWD),
    ("api_key", f"GET /v1/items?api_key={API_KEY}", API_KEY),
    ("api_key", json.dumps({"X-Api-Key": API_KEY}), API_KEY),
    ("private_key", json.dumps({"private_key": "MIIfake" + "A" * 20}), "MIIfake" + "A" * 20),
    ("token", f"GET /callback?code=1&access_token={ACCESS_TOKEN}", ACCESS_TOKEN),
    ("secret", f"app_secret = '{APP_SECRET}'", APP_SECRET),
]

EVERY_SECRET = sorted({case[2] for case in TEXT_CASES} | {AWS_SECRET, JWT, PEM_BODY})
