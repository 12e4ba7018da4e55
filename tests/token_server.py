"""A registry token server on 127.0.0.1 for Debian's docker-registry configured with ``auth: token``.

What the registry checks, from distribution (v2.8) ``registry/auth/token/``:

- ``accesscontroller.go`` (``newAccessController``, ``Authorized``): the challenge it sends,
  ``Bearer realm="…",service="…",scope="repository:NAME:ACTIONS"``, and that the token's ``access``
  claim grants every action the request needs;
- ``token.go`` (``Token.Verify``, ``VerifySigningKey``, ``parseAndVerifyCertChain``): a JWT whose
  ``iss`` is the configured issuer, whose ``aud`` holds the configured service, with ``exp`` and
  ``nbf`` around now; its header names the key by an ``x5c`` certificate chain (base64 DER) that
  verifies against ``rootcertbundle``; the signature is RS256 here.

The answers follow Docker's token specification (distribution ``docs/spec/auth/token.md``: ``GET`` with
``service`` and ``scope`` and optional Basic credentials, answered ``{"token", "access_token",
"expires_in", "issued_at"}``) and its OAuth2 variant (``docs/spec/auth/oauth.md``: ``POST`` a form with
``grant_type=refresh_token``, ``refresh_token``, ``client_id``, ``service``, ``scope``).

The policy is the suite's (constructed): anyone may pull repositories under ``public/``; the user with the
password, or a client holding ``refresh_token``, may pull and push anything. Wrong credentials are a 401.
Every request is kept in ``requests`` (method, grant, user, scopes) for the tests to read.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.http_body import ServedInThread, read_body, send_json

ISSUER = "suite-token-issuer"
SERVICE = "suite-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenPolicy:
    user: str
    password: str
    refresh_token: str
    requests: list[dict] = field(default_factory=list)


class TokenServer(ServedInThread):
    """``with TokenServer(policy, folder) as server:``; ``server.realm``, ``server.cert_bundle``."""

    def __init__(self, policy: TokenPolicy, folder: Path):
        self.policy = policy
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
                     .not_valid_after(now + dt.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_bundle = folder / "token-cert.pem"
        self.cert_bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.owner = self  # type: ignore[attr-defined]
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def token(self, subject: str, access: list[dict]) -> str:
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        now = int(dt.datetime.now(dt.timezone.utc).timestamp())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def grant(self, scopes: list[str], subject: str) -> list[dict]:
        """The access the policy grants ``subject`` ("" for anonymous) for ``repository:NAME:ACTIONS`` scopes."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            asked = [a for a in actions.split(",") if a]
            allowed = asked if subject else (["pull"] if "pull" in asked and name.startswith("public/") else [])
            if allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, *args) -> None:
        pass


    def _issue(self, subject: str, scopes: list[str], grant: str) -> None:
        owner: TokenServer = self.server.owner  # type: ignore[attr-defined]
        owner.policy.requests.append({"method": self.command, "grant": grant, "user": subject, "scopes": scopes})
        token = owner.token(subject, owner.grant(scopes, subject))
        send_json(self, 200, {"token": token, "access_token": token, "expires_in": 300,
                              "issued_at": dt.datetime.now(dt.timezone.utc).isoformat()})

    def do_GET(self) -> None:  # noqa: N802
        owner: TokenServer = self.server.owner  # type: ignore[attr-defined]
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/token" or query.get("service") != [SERVICE]:
            return send_json(self, 400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
        subject = ""
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode("utf-8", "replace").partition(":")
            if (user, password) != (owner.policy.user, owner.policy.password):
                owner.policy.requests.append({"method": "GET", "grant": "password", "user": user, "refused": True})
                return send_json(self, 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            subject = user
        self._issue(subject, query.get("scope", []), "password" if subject else "anonymous")

    def do_POST(self) -> None:  # noqa: N802
        owner: TokenServer = self.server.owner  # type: ignore[attr-defined]
        form = urllib.parse.parse_qs(read_body(self, 1 << 16).decode())
        if form.get("grant_type") != ["refresh_token"] or form.get("service") != [SERVICE]:
            return send_json(self, 400, {"error": "unsupported_grant_type"})
        if form.get("refresh_token") != [owner.policy.refresh_token]:
            owner.policy.requests.append({"method": "POST", "grant": "refresh_token", "user": "", "refused": True})
            return send_json(self, 401, {"error": "invalid_grant"})
        self._issue(owner.policy.user, form.get("scope", []), "refresh_token")
