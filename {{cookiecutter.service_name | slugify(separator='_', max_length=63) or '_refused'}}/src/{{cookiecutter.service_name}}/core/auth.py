"""Who may call: OAuth 2.0 access tokens (JWTs, RFC 9068) from the organisation's identity provider, verified here
against the keys the provider publishes (its JWKS), and scopes per operation.

A view asks for a scope with ``@require_scope("{{ cookiecutter.resource_name }}:write")``, or a blueprint for all of its
views with ``blueprint.before_request(scope_per_method("{{ cookiecutter.resource_name }}"))`` (GET and HEAD need
``{{ cookiecutter.resource_name }}:read``, the other methods ``{{ cookiecutter.resource_name }}:write``). The probes
and /metrics ask for none. A missing or bad token is answered 401, a valid one without the scope 403, each with
``WWW-Authenticate: Bearer`` (RFC 6750); when the provider's keys cannot be fetched and none cached fits, 503.

PyJWT checks the signature and the claims; what it is given decides what is safe: only the asymmetric algorithms
of ``{{ cookiecutter.__env_prefix }}_JWT_ALGORITHMS`` (never ``none``, never HMAC, so a public key cannot serve as an
HMAC secret), and ``exp``, ``iss`` and ``aud`` required. The key set is cached per process; a token naming a key id
the cache lacks refetches it, at most once per ``{{ cookiecutter.__env_prefix }}_JWT_JWKS_REFETCH_INTERVAL`` seconds,
so made-up key ids cannot make the service hammer the provider, while a key the provider adds is taken without a
restart.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import jwt
from flask import Blueprint, Flask, current_app, g, request
from flask_openapi3.types import SecuritySchemesDict
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from {{ cookiecutter.service_name }}.core.config import ENV_PREFIX, ServiceSettings
from {{ cookiecutter.service_name }}.core.logging_config import add_request_fields

# RFC 7518's asymmetric signature algorithms (and EdDSA): a token is verified with the provider's public key.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# A provider that does not answer within this is treated as down: the request gets 503 rather than waiting on.
JWKS_TIMEOUT_SECONDS = 3.0
REALM = "{{ cookiecutter.service_name }}"
_EXTENSION = "{{ cookiecutter.service_name }}.core.auth"
_PROTECTED = "{{ cookiecutter.service_name }}.core.auth.protected"
# The OpenAPI security scheme of the tokens, by the name operations refer to it.
BEARER = "bearer"
SECURITY_SCHEMES: SecuritySchemesDict = {BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class JwtSettings(ServiceSettings):
    """What a token must say to be accepted, from ``{{ cookiecutter.__env_prefix }}_JWT_<SETTING>``; the issuer and
    the audience have no default: the service does not start without them."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "JWT_", frozen=True)

    issuer: str = ""
    audience: str = ""
    # Comma-separated; the provider signs with one of them (RS256 for most).
    algorithms: str = "RS256,PS256,ES256"
    # Seconds of clock difference forgiven when checking exp, nbf and iat.
    leeway: Annotated[int, Field(ge=0, le=300)] = 30
    jwks_refetch_interval: Annotated[int, Field(ge=1, le=3600)] = 60

    @field_validator("issuer")
    @classmethod
    def _an_issuer(cls, value: str) -> str:
        if value == "":
            raise ValueError("is not set; use the provider's issuer (iss), such as https://idp.example.com/realms/shop")
        return value

    @field_validator("audience")
    @classmethod
    def _an_audience(cls, value: str) -> str:
        if value == "":
            raise ValueError("is not set; use the audience (aud) the provider puts in tokens for this service")
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        refused = [name for name in names if name not in ASYMMETRIC_ALGORITHMS]
        if refused or not names:
            raise ValueError(
                f"names {', '.join(refused) or 'no algorithm'}, not an asymmetric signature algorithm; "
                f"use some of {', '.join(ASYMMETRIC_ALGORITHMS)}, comma-separated"
            )
        return ",".join(names)


class JwksSettings(ServiceSettings):
    """Where the provider publishes its keys: ``{{ cookiecutter.__env_prefix }}_JWKS_URL``, no default."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "JWKS_", frozen=True)

    url: str = ""

    @field_validator("url")
    @classmethod
    def _an_http_url(cls, url: str) -> str:
        if url == "":
            raise ValueError("is not set; use the provider's key set URL, such as https://idp.example.com/jwks")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("is not an http(s) URL; use the provider's key set, such as https://idp.example.com/jwks")
        return url


@dataclass(frozen=True)
class Caller:
    """Who called, as the verified token says: on ``flask.g.caller`` while the request is served."""

    subject: str
    client_id: str | None
    scopes: frozenset[str]
    claims: dict[str, Any]


class _BearerRefusal(HTTPException):
    """A refusal with its ``WWW-Authenticate: Bearer`` challenge, answered in the service's JSON error shape."""

    def __init__(self, description: str, challenge: str) -> None:
        super().__init__(description)
        self.challenge = challenge

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", self.challenge)]


class InvalidToken(_BearerRefusal):
    code = 401

    def __init__(self, reason: str, *, token_given: bool = True) -> None:
        # RFC 6750, 3.1: a request without a token gets the challenge alone, without an error code.
        challenge = f'Bearer realm="{REALM}"'
        if token_given:
            challenge += ', error="invalid_token"'
        super().__init__(reason, challenge)


class InsufficientScope(_BearerRefusal):
    code = 403

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"the token does not grant the scope {scope}",
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"',
        )


class KeysUnavailable(Exception):
    """The provider's key set cannot be fetched, and no cached key fits the token."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the identity provider's keys cannot be fetched")
        self.retry_after = retry_after


class KeySet:
    """The provider's signing keys by key id, fetched when a token names an id the cache lacks, at most once per
    ``refetch_interval``. PyJWKClient fetches and parses the set; its own refresh limit counts successful fetches
    only, so a provider that is down would be asked again for every token."""

    def __init__(self, url: str, refetch_interval: float) -> None:
        self.refetch_interval = refetch_interval
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=JWKS_TIMEOUT_SECONDS)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -math.inf
        self._reachable = True
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is None:
            with self._lock:  # one fetch at a time: the tokens that wait for it find its keys
                if kid not in self._keys and time.monotonic() - self._fetched_at >= self.refetch_interval:
                    self._fetch()
            key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._reachable:
            raise KeysUnavailable(self.refetch_interval - (time.monotonic() - self._fetched_at))
        raise InvalidToken("the token's key id is not one of the identity provider's keys")

    def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            keys = self._client.get_jwk_set().keys
        except (jwt.PyJWKClientError, jwt.PyJWKSetError) as error:
            self._reachable = False
            logger.warning("the identity provider's key set cannot be fetched: %s", error)
            return
        self._reachable = True
        self._keys = {key.key_id: key for key in keys if key.key_id and key.public_key_use in (None, "sig")}


class Verifier:
    """Checks a bearer token and answers its ``Caller``, or raises ``InvalidToken`` or ``KeysUnavailable``."""

    def __init__(self, settings: JwtSettings, keys: KeySet) -> None:
        self.settings = settings
        self.algorithms = settings.algorithms.split(",")
        self.keys = keys

    def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("the token is not a JWT") from None
        # Checked before a key is looked up, so an unsigned or HMAC token costs no fetch of the key set.
        if header.get("alg") not in self.algorithms:
            raise InvalidToken(f"the token's algorithm is not one of {', '.join(self.algorithms)}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key id (kid)")
        key = self.keys.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=self.algorithms,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"the token is not accepted: {error}") from None
        return Caller(
            subject=str(claims["sub"]),
            client_id=str(claims.get("client_id") or claims.get("azp") or "") or None,
            scopes=_scopes(claims),
            claims=claims,
        )


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    """RFC 9068's ``scope``, space-separated; some providers (Entra ID, Okta) send ``scp``, a list or a string."""
    granted = claims.get("scope", claims.get("scp", ""))
    if isinstance(granted, str):
        return frozenset(granted.split())
    if isinstance(granted, list):
        return frozenset(scope for scope in granted if isinstance(scope, str))
    return frozenset()


def authenticate() -> Caller:
    """The caller of the request being served, from its ``Authorization: Bearer`` token, verified once per request
    and kept on ``flask.g.caller``; its ``sub`` and ``client_id`` go into the request's log lines."""
    caller: Caller | None = g.get("caller")
    if caller is not None:
        return caller
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the request has no bearer token", token_given=False)
    verifier: Verifier = current_app.extensions[_EXTENSION]
    try:
        caller = verifier.verify(token.strip())
    except KeysUnavailable as error:
        raise ServiceUnavailable(str(error), retry_after=max(1, math.ceil(error.retry_after))) from None
    g.caller = caller
    add_request_fields(sub=caller.subject, **({"client_id": caller.client_id} if caller.client_id else {}))
    return caller


def authorize(scope: str) -> Caller:
    """The caller, if its token grants ``scope``; else the request is refused (401 or 403)."""
    caller = authenticate()
    if scope not in caller.scopes:
        raise InsufficientScope(scope)
    return caller


def require_scope(scope: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A view that only a caller granted ``scope`` may call: ``@require_scope("{{ cookiecutter.resource_name }}:write")``."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            authorize(scope)
            return view(*args, **kwargs)

        return guarded

    return decorate


def scope_for(resource: str, method: str) -> str | None:
    """The scope a request with ``method`` needs: reading (GET, HEAD) ``<resource>:read``, anything else
    ``<resource>:write``; none for a CORS preflight (OPTIONS), which carries no token."""
    if method == "OPTIONS":
        return None
    return f"{resource}:read" if method in ("GET", "HEAD") else f"{resource}:write"


def scope_per_method(resource: str) -> Callable[[], None]:
    """A ``before_request`` hook for a blueprint that asks of each request the scope ``scope_for`` names."""

    def check() -> None:
        scope = scope_for(resource, request.method)
        if scope is not None:
            authorize(scope)

    return check


def protect(blueprint: Blueprint, resource: str) -> None:
    """Every view of ``blueprint`` needs a token with the scope ``scope_for`` names, and its operations in the
    OpenAPI document say so (``document_security``): the check and the document come from the same rule."""
    blueprint.before_request(scope_per_method(resource))
    blueprint.record(lambda state: state.app.extensions.setdefault(_PROTECTED, []).append((state.url_prefix, resource)))


def document_security(app: Flask, document: dict[str, Any]) -> None:
    """Give each operation of a protected blueprint the bearer scheme with its scope, and its 401 and 403."""
    refusal = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for prefix, resource in app.extensions.get(_PROTECTED, []):
        for path, operations in document["paths"].items():
            if not path.startswith(f"{prefix}/"):
                continue
            for method, operation in operations.items():
                scope = scope_for(resource, method.upper())
                operation["security"] = [{BEARER: [scope] if scope else []}]
                operation["responses"].setdefault("401", {"description": "No valid token", **refusal})
                operation["responses"].setdefault("403", {"description": f"The token lacks {scope}", **refusal})


def register_authentication(app: Flask) -> None:
    """Read the settings now, so that a missing issuer, audience or key set URL stops the service as it starts."""
    settings = JwtSettings()
    app.extensions[_EXTENSION] = Verifier(settings, KeySet(JwksSettings().url, settings.jwks_refetch_interval))
