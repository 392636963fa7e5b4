"""A small real OpenID Connect provider for tests: discovery, authorize, token, userinfo and JWKS over HTTP in a thread.

It signs RS256 ID tokens with a key generated for the test run, checks the client secret, the redirect URI and the
PKCE verifier like a real provider, and signs in whoever the test says (``provider.person``) without a login page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "ivig-tracker"
CLIENT_SECRET = "test-client-secret-0123456789"


@dataclass
class Person:
    """Who signs in at the provider next, and what it says about them."""

    sub: str
    preferred_username: str
    groups: list[str]
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    given_name: str = "Sam"
    family_name: str = "Sign-On"
    email: str = "sam@hospital.example"


@dataclass
class LocalOIDCProvider:
    person: Person | None = None
    audience: str = CLIENT_ID  # a test sets another to mint a token for another application
    key: Any = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    kid: str = field(default_factory=lambda: secrets.token_hex(4))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, Person] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the test output stays quiet
                pass

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                if parsed.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif parsed.path == "/jwks":
                    self._json(200, provider.jwks())
                elif parsed.path == "/authorize":
                    self._redirect(provider.authorize(query))
                elif parsed.path == "/userinfo":
                    person = provider.access_tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
                    if person is None:
                        self._json(401, {"error": "invalid_token"})
                    else:
                        self._json(200, provider.userinfo(person))
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = provider.token(form)
                self._json(status, body)

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def authorize(self, query: dict[str, str]) -> str:
        assert self.person is not None, "the test names who signs in (provider.person)"
        assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "person": self.person,
            "nonce": query.get("nonce"),
            "redirect_uri": query["redirect_uri"],
            "code_challenge": query.get("code_challenge"),
        }
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        person: Person = grant["person"]
        access_token = secrets.token_urlsafe(24)
        self.access_tokens[access_token] = person
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": person.sub,
            "aud": self.audience,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "amr": person.amr,
            # Entra ID style: the groups in the signed ID token.
            "groups": person.groups,
        }
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

    def userinfo(self, person: Person) -> dict[str, Any]:
        return {
            "sub": person.sub,
            "preferred_username": person.preferred_username,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "email": person.email,
        }
