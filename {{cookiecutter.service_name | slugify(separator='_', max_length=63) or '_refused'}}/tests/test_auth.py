"""Bearer tokens against a key set served by a real HTTP server on 127.0.0.1, signed with keys each test run makes:
what is accepted, each classic attack refused, the key set fetched no more than the refetch interval allows, and a
provider that is down answered 503. A team's own protected view is tested the same way: sign a token, send it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Blueprint, Flask, g
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from werkzeug.test import TestResponse

from {{ cookiecutter.service_name }}.core.auth import Caller, JwksSettings, JwtSettings, require_scope, scope_per_method
from {{ cookiecutter.service_name }}.core.config import ConfigError

PREFIX = "{{ cookiecutter.__env_prefix }}_"
ISSUER = "https://idp.test/realms/shop"
AUDIENCE = "{{ cookiecutter.service_name }}"
RESOURCE = "{{ cookiecutter.resource_name }}"
READ, WRITE = f"{RESOURCE}:read", f"{RESOURCE}:write"
REALM = 'Bearer realm="{{ cookiecutter.service_name }}"'
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())

logger = logging.getLogger(__name__)


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": "ES256"}


@dataclass
class Provider:
    """The identity provider's key set endpoint: serves ``keys``, counts the fetches."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=lambda: [public_jwk(RSA_KEY, "rsa-1")])
    fetches: int = 0
    stop: Callable[[], None] = lambda: None


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client that sends the token each test gives it, and none by default (conftest.py's client sends one)."""
    plain = app.test_client()
    plain.environ_base.pop("HTTP_AUTHORIZATION", None)
    return plain


@pytest.fixture
def refetch_interval() -> str:
    return "60"


@pytest.fixture
def provider(refetch_interval: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    served = Provider()

    class KeySetHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.fetches += 1
            body = json.dumps({"keys": served.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeySetHandler)
    # A short poll interval: shutdown() waits for it at the end of every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def stop() -> None:
        if thread.is_alive():
            server.shutdown()
            server.server_close()
            thread.join()

    served.url, served.stop = f"http://127.0.0.1:{server.server_address[1]}/jwks", stop
    for name, value in {
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWKS_URL": served.url,
        "JWT_JWKS_REFETCH_INTERVAL": refetch_interval,
    }.items():
        monkeypatch.setenv(PREFIX + name, value)
    yield served
    stop()


@pytest.fixture
def app(provider: Provider, app: Flask) -> Flask:
    """The service's app on the provider, with views a team would protect: one by a scope, a blueprint by method."""

    def whoami() -> dict[str, Any]:
        caller: Caller = g.caller
        logger.info("served a protected view")
        return {"sub": caller.subject, "client_id": caller.client_id, "scopes": sorted(caller.scopes)}

    app.add_url_rule("/protected", view_func=require_scope(WRITE)(whoami))
    things = Blueprint("things", __name__)
    things.before_request(scope_per_method(RESOURCE))
    things.add_url_rule("/things", view_func=whoami, methods=["GET", "POST"])
    app.register_blueprint(things)
    return app


def claims(**changes: Any) -> dict[str, Any]:
    """A token's claims as the provider issues them, with ``changes`` (a value of None removes that claim)."""
    now = int(time.time())
    issued = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-17",
        "client_id": "web-shop",
        "scope": f"openid {WRITE} {READ}",
        "iat": now,
        "exp": now + 300,
        **changes,
    }
    return {name: value for name, value in issued.items() if value is not None}


def sign(payload: dict[str, Any], key: Any = RSA_KEY, algorithm: str = "RS256", kid: str = "rsa-1") -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def call(client: FlaskClient, token: str | None, path: str = "/protected", method: str = "GET") -> TestResponse:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.open(path, method=method, headers=headers)


def refused(response: TestResponse) -> str:
    """The message of a 401 with RFC 6750's ``invalid_token``, in the service's JSON error shape."""
    assert response.status_code == 401, response.data
    assert response.headers["WWW-Authenticate"] == f'{REALM}, error="invalid_token"'
    return str(response.get_json()["error"]["message"])


def test_a_valid_token_is_accepted_and_its_caller_is_known(
    client: FlaskClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = call(client, sign(claims()))

    assert response.status_code == 200, response.data
    assert response.get_json() == {"sub": "user-17", "client_id": "web-shop", "scopes": ["openid", READ, WRITE]}
    [line] = [line for line in log_lines() if line["message"] == "served a protected view"]
    assert (line["sub"], line["client_id"]) == ("user-17", "web-shop")


def test_a_request_without_a_token_gets_401_with_a_bare_challenge(client: FlaskClient) -> None:
    response = call(client, None)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == REALM
    assert response.get_json()["error"] == {
        "code": 401,
        "name": "Unauthorized",
        "message": "the request has no bearer token",
    }


def test_the_probes_and_metrics_need_no_token(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"nbf": int(time.time()) + 120}, "not yet valid"),
        ({"aud": "another_service"}, "Audience"),
        ({"iss": "https://idp.test/realms/other"}, "issuer"),
        ({"exp": None}, 'the "exp" claim'),
        ({"aud": None}, 'the "aud" claim'),
    ],
    ids=["expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "no-exp", "no-aud"],
)
def test_a_token_with_a_claim_that_does_not_hold_is_refused(
    client: FlaskClient, changes: dict[str, Any], reason: str
) -> None:
    assert reason in refused(call(client, sign(claims(**changes))))


def test_the_clock_leeway_forgives_a_few_seconds(client: FlaskClient) -> None:
    assert call(client, sign(claims(exp=int(time.time()) - 10))).status_code == 200


def test_an_unsigned_token_is_refused(client: FlaskClient) -> None:
    header = segment(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    unsigned = f"{header}.{segment(json.dumps(claims()).encode())}."

    assert "algorithm" in refused(call(client, unsigned))


def test_an_hmac_token_keyed_with_the_public_key_is_refused(client: FlaskClient) -> None:
    """The classic confusion: a verifier that takes the token's word for the algorithm checks this HMAC with the
    public key, which everyone has."""
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signed = f"{segment(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'}).encode())}."
    signed += segment(json.dumps(claims()).encode())
    forged = f"{signed}.{segment(hmac.new(public_pem, signed.encode(), hashlib.sha256).digest())}"

    assert "algorithm" in refused(call(client, forged))


def test_a_token_signed_by_another_key_under_a_known_key_id_is_refused(client: FlaskClient) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert "Signature verification failed" in refused(call(client, sign(claims(), key=other)))


def test_a_tampered_payload_is_refused(client: FlaskClient) -> None:
    header, _, signature = sign(claims(scope=READ)).split(".")
    tampered = f"{header}.{segment(json.dumps(claims()).encode())}.{signature}"

    assert "Signature verification failed" in refused(call(client, tampered))


@pytest.mark.parametrize("garbage", ["not-a-token", "a.b.c", "", "eyJhbGciOiJSUzI1NiJ9..."])
def test_garbage_is_refused(client: FlaskClient, garbage: str) -> None:
    response = call(client, garbage)

    assert response.status_code == 401


def test_a_valid_token_without_the_scope_gets_403_naming_it(client: FlaskClient) -> None:
    response = call(client, sign(claims(scope=READ)))

    assert response.status_code == 403
    expected = f'{REALM}, error="insufficient_scope", scope="{WRITE}"'
    assert response.headers["WWW-Authenticate"] == expected
    assert response.get_json()["error"]["message"] == f"the token does not grant the scope {WRITE}"


def test_scopes_may_come_as_an_scp_list(client: FlaskClient) -> None:
    assert call(client, sign(claims(scope=None, scp=[WRITE]))).status_code == 200
    assert call(client, sign(claims(scope=None, scp=[READ]))).status_code == 403


def test_a_blueprint_needs_read_for_get_and_write_for_post(client: FlaskClient) -> None:
    reader = sign(claims(scope=READ))

    assert call(client, reader, "/things").status_code == 200
    assert call(client, reader, "/things", "POST").status_code == 403
    assert call(client, sign(claims(scope=WRITE)), "/things", "POST").status_code == 200


def test_the_services_api_needs_a_token_and_write_to_create(client: FlaskClient) -> None:
    endpoint = f"/api/{RESOURCE}"
    new = {"name": "guarded"}

    assert client.post(endpoint, json=new).status_code == 401
    reader = {"Authorization": f"Bearer {sign(claims(scope=READ))}"}
    assert client.post(endpoint, json=new, headers=reader).status_code == 403
    writer = {"Authorization": f"Bearer {sign(claims(scope=WRITE))}"}
    assert client.post(endpoint, json=new, headers=writer).status_code == 201
{%- if cookiecutter.database != "none" %}
    assert client.get(endpoint).status_code == 401
    assert client.get(endpoint, headers=reader).status_code == 200
    assert client.get(endpoint, headers=writer).status_code == 403
{%- endif %}


def test_an_es256_key_of_the_set_is_taken(client: FlaskClient, provider: Provider) -> None:
    provider.keys.append(public_jwk(EC_KEY, "ec-1"))

    assert call(client, sign(claims(), key=EC_KEY, algorithm="ES256", kid="ec-1")).status_code == 200


@pytest.mark.parametrize("refetch_interval", ["1"])
def test_a_key_the_provider_adds_is_taken_without_a_restart(client: FlaskClient, provider: Provider) -> None:
    assert call(client, sign(claims())).status_code == 200
    provider.keys.append(public_jwk(EC_KEY, "ec-2"))
    time.sleep(1.05)  # the refetch interval

    assert call(client, sign(claims(), key=EC_KEY, algorithm="ES256", kid="ec-2")).status_code == 200
    assert call(client, sign(claims())).status_code == 200
    assert provider.fetches == 2


def test_made_up_key_ids_cannot_make_the_service_hammer_the_provider(client: FlaskClient, provider: Provider) -> None:
    assert call(client, sign(claims())).status_code == 200

    for _ in range(50):
        assert "key id" in refused(call(client, sign(claims(), kid=uuid.uuid4().hex)))
    assert provider.fetches == 1


@pytest.mark.parametrize("refetch_interval", ["1"])
def test_keys_are_cached_and_a_known_key_works_while_the_provider_is_down(
    client: FlaskClient, provider: Provider
) -> None:
    assert call(client, sign(claims())).status_code == 200
    provider.stop()
    time.sleep(1.05)  # the refetch interval: the next unknown key id tries the provider again, and fails

    assert call(client, sign(claims(), kid="rsa-2")).status_code == 503
    assert [call(client, sign(claims())).status_code for _ in range(5)] == [200] * 5
    assert provider.fetches == 1


def test_a_provider_that_is_down_gives_503_not_401(client: FlaskClient, provider: Provider) -> None:
    provider.stop()

    response = call(client, sign(claims()))

    assert response.status_code == 503
    assert "identity provider" in response.get_json()["error"]["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``settings_env(NAME=value)``: the token settings, valid, with these (named without the prefix) changed."""

    def set_all(**changes: str) -> None:
        values = {"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWKS_URL": "https://idp.test/jwks", **changes}
        for name, value in values.items():
            monkeypatch.setenv(PREFIX + name, value)

    return set_all


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"JWT_ISSUER": ""}, "JWT_ISSUER is not set; use the provider's issuer"),
        ({"JWT_AUDIENCE": " "}, "JWT_AUDIENCE is not set; use the audience"),
        ({"JWT_ALGORITHMS": "RS256,HS256"}, "JWT_ALGORITHMS='RS256,HS256' names HS256, not an asymmetric"),
        ({"JWT_ALGORITHMS": "none"}, "JWT_ALGORITHMS='none' names none, not an asymmetric"),
        ({"JWT_LEEWAY": "3600"}, "JWT_LEEWAY=3600 is out of range; use 0 to 300"),
        ({"JWT_JWKS_REFETCH_INTERVAL": "0"}, "JWT_JWKS_REFETCH_INTERVAL=0 is out of range; use 1 to 3600"),
    ],
    ids=["no-issuer", "blank-audience", "hmac", "none", "leeway", "interval"],
)
def test_a_token_setting_the_service_cannot_use_is_refused_in_one_line(
    settings_env: Callable[..., None], changes: dict[str, str], line: str
) -> None:
    settings_env(**changes)

    with pytest.raises(ConfigError) as refusal:
        JwtSettings()
    assert str(refusal.value).startswith(PREFIX + line)
    assert "\n" not in str(refusal.value)


@pytest.mark.parametrize("url", ["", "file:///etc/jwks.json", "idp.test/jwks"])
def test_a_key_set_url_that_is_not_http_is_refused_in_one_line(settings_env: Callable[..., None], url: str) -> None:
    settings_env(JWKS_URL=url)

    with pytest.raises(ConfigError, match=f"^{PREFIX}JWKS_URL"):
        JwksSettings()


def test_the_defaults_are_asymmetric_algorithms_and_a_small_leeway(settings_env: Callable[..., None]) -> None:
    settings_env()
    settings = JwtSettings()

    assert settings.algorithms.split(",") == ["RS256", "PS256", "ES256"]
    assert (settings.leeway, settings.jwks_refetch_interval) == (30, 60)
