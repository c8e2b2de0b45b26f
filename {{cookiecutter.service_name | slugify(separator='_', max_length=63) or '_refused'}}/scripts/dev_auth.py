"""A stand-in identity provider for development, so the service can be tried without a real one.

``make dev-jwks`` serves the public half of a key pair kept in var/dev-auth/ as a key set on 127.0.0.1, and
``make dev-token SCOPE="..."`` prints an access token signed with its private half. The service verifies these
tokens like any other, and takes them only because its settings name this key set, which ``make run`` and
``make serve`` do when ``{{ cookiecutter.__env_prefix }}_JWKS_URL`` is not set. Nothing turns verification off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

KEY_FILE = Path("var/dev-auth/key.pem")
KEY_ID = "dev"
PREFIX = "{{ cookiecutter.__env_prefix }}_"
TOKEN_LIFETIME_SECONDS = 3600


def private_key() -> ec.EllipticCurvePrivateKey:
    """This machine's development key, made on first use; it never leaves var/, which git ignores."""
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        new = ec.generate_private_key(ec.SECP256R1())
        pem = new.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        KEY_FILE.touch(mode=0o600)
        KEY_FILE.write_bytes(pem)
    key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SystemExit(f"ERROR: {KEY_FILE} holds no EC key; remove it and run this again")
    return key


def key_set() -> dict[str, Any]:
    public: dict[str, Any] = ECAlgorithm.to_jwk(private_key().public_key(), as_dict=True)
    return {"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "ES256"}]}


def setting(name: str) -> str:
    value = os.environ.get(PREFIX + name, "").strip()
    if not value:
        raise SystemExit(f"ERROR: {PREFIX}{name} is not set; run this through make dev-token, which sets it")
    return value


def token(scope: str, subject: str) -> str:
    now = int(time.time())
    claims = {
        "iss": setting("JWT_ISSUER"),
        "aud": setting("JWT_AUDIENCE"),
        "sub": subject,
        "client_id": "dev-cli",
        "scope": scope,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, private_key(), algorithm="ES256", headers={"kid": KEY_ID})


def serve(port: int) -> None:
    body = json.dumps(key_set()).encode()

    class KeySetHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with ThreadingHTTPServer(("127.0.0.1", port), KeySetHandler) as server:
        print(f"serving the development key set at http://127.0.0.1:{port}/jwks (Ctrl-C stops it)", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="serve the development key set on 127.0.0.1")
    serving.add_argument("--port", type=int, required=True)
    minting = commands.add_parser("token", help="print an access token signed with the development key")
    minting.add_argument("--scope", required=True, help='space-separated, such as "{{ cookiecutter.resource_name }}:read {{ cookiecutter.resource_name }}:write"')
    minting.add_argument("--subject", default="developer")
    arguments = parser.parse_args()
    if arguments.command == "serve":
        serve(arguments.port)
    else:
        print(token(arguments.scope, arguments.subject))


if __name__ == "__main__":
    main()
