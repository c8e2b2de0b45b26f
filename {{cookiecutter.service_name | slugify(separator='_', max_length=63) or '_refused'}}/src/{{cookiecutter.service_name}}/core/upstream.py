"""Calls to the services this one depends on: the machinery behind the clients of ``clients.py``.

Every call has a deadline that covers its retries; it is retried (idempotent methods, or a request with an
``Idempotency-Key``) on connection errors and 502/503/504, with capped exponential backoff and full jitter, while
the process's retry budget allows; a circuit breaker per upstream fails calls at once while the upstream keeps
failing. A call that cannot be answered raises ``UpstreamUnavailable`` (the inbound request gets 503) or
``UpstreamTimeout`` (504). Each upstream's settings (``UpstreamSettings``) are read from variables such as
``{{ cookiecutter.__env_prefix }}_<UPSTREAM>_URL``, the one without a default.

State is per process: gunicorn loads the app in its master and forks the workers, so the connection pool, the
breaker and the budget are made on first use in each worker.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import {{ "Iterator, " if cookiecutter.use_opentelemetry }}Mapping
from contextlib import AbstractContextManager, {{ "contextmanager, " if cookiecutter.use_opentelemetry }}nullcontext
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from flask import Flask, current_app, has_request_context
{%- if cookiecutter.authentication == "jwt" %}
from flask import request as inbound
{%- endif %}
{%- if cookiecutter.use_opentelemetry %}
from opentelemetry import propagate, trace
{%- endif %}
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict
from werkzeug.exceptions import GatewayTimeout, ServiceUnavailable
from werkzeug.wrappers import Response

from {{ cookiecutter.service_name }}.core.config import ENV_PREFIX, ServiceSettings
from {{ cookiecutter.service_name }}.core.errors import json_error
from {{ cookiecutter.service_name }}.core.metrics import app_registry
from {{ cookiecutter.service_name }}.core.request_tracking import HEADER as REQUEST_ID_HEADER
from {{ cookiecutter.service_name }}.core.request_tracking import current_request_id

# The services this one calls (the answer upstream_services); clients.py has a client for each.
{%- set names = cookiecutter.__upstreams.split(",") %}
UPSTREAMS = ({{ names | map("tojson") | join(", ") }}{{ "," if names | length == 1 }})
# Methods whose repetition has the effect of one call (RFC 9110, 9.2.2); any other needs an Idempotency-Key.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
IDEMPOTENCY_KEY = "Idempotency-Key"
# The answers of a proxy or an overloaded server that another attempt may well not get.
RETRY_STATUSES = frozenset({502, 503, 504})
# Backoff before retry n (1, 2...): a random wait of up to min(cap, base * 2 ** (n - 1)) ("full jitter"), so the
# retries of many callers spread out instead of arriving together.
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
# The retry budget counts calls and retries over this many recent seconds.
BUDGET_WINDOW_SECONDS = 10
_EXTENSION = "{{ cookiecutter.service_name }}.core.upstream"


class UpstreamSettings(ServiceSettings):
    """One upstream's settings, each from ``<PREFIX>_<UPSTREAM>_<SETTING>`` (``<PREFIX>_<UPSTREAM>_DEADLINE``...);
    the URL has no default. ``read_upstream_settings`` reads them for one upstream."""

    url: str = ""
    # The whole call, retries and waits included; the connect and read timeouts apply to each attempt within it.
    deadline: Annotated[float, Field(gt=0, le=300)] = 5.0
    connect_timeout: Annotated[float, Field(gt=0, le=300)] = 1.0
    read_timeout: Annotated[float, Field(gt=0, le=300)] = 3.0
    max_attempts: Annotated[int, Field(ge=1, le=5)] = 3
    # Retries allowed over the last BUDGET_WINDOW_SECONDS: this share of the calls, plus the floor.
    retry_budget_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    retry_budget_floor: Annotated[int, Field(ge=0, le=10_000)] = 10
    # Consecutive failures that open the breaker, and the seconds it stays open before a trial call.
    breaker_failures: Annotated[int, Field(ge=1, le=10_000)] = 5
    breaker_cooldown: Annotated[float, Field(gt=0, le=3600)] = 5.0

    @field_validator("url")
    @classmethod
    def _http_url_with_host(cls, value: str) -> str:
        if value == "":
            raise ValueError("is not set; use the upstream's base URL, such as http://billing:8000")
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("is not an http(s) URL with a host; use a base URL such as http://billing:8000")
        return value


def read_upstream_settings(name: str) -> UpstreamSettings:
    """The settings of upstream ``name``, from the variables ``<PREFIX>_<NAME>_*``; a value refused stops the service
    with a ``ConfigError`` that names its variable."""

    # A class per upstream: the prefix of its variables is the class's, which is what names them in a refusal.
    class Settings(UpstreamSettings):
        model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}{name.upper()}_")

    return Settings()


class UpstreamError(Exception):
    """A call to an upstream that got no usable answer."""

    def __init__(
        self,
        upstream: str,
        reason: str,
        retry_after: float | None = None,
        *,
        outcome: str = "timeout",
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
        # Seconds the upstream (its Retry-After) or its breaker asks callers to wait, when known.
        self.retry_after = retry_after
        # The metrics' outcome label: timeout, unreachable, failing or breaker_open.
        self.outcome = outcome
        # The upstream's last answer, when it answered 502, 503 or 504.
        self.response = response


class UpstreamUnavailable(UpstreamError):
    """The upstream cannot answer: unreachable, its breaker open, or still failing after the retries allowed.
    Unless caught, the inbound request is answered 503 with ``Retry-After``."""


class UpstreamTimeout(UpstreamError):
    """The call's deadline passed (or a read timed out) before the upstream answered. Unless caught, the inbound
    request is answered 504."""


class _DeadlinePassed(Exception):
    """Raised inside an attempt when the call's deadline passes (gevent.Timeout, or between chunks of a body)."""


class RetryBudget:
    """Retries allowed per process: at most ``ratio`` of the calls of the last seconds plus ``floor``, so a failing
    upstream sees its load grow by that share, not triple. Counted in one-second buckets."""

    def __init__(self, ratio: float, floor: int) -> None:
        self.ratio = ratio
        self.floor = floor
        self._buckets: deque[list[int]] = deque()  # [second, calls, retries]
        self._lock = threading.Lock()

    def _bucket(self) -> list[int]:
        second = int(time.monotonic())
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
            while self._buckets[0][0] <= second - BUDGET_WINDOW_SECONDS:
                self._buckets.popleft()
        return self._buckets[-1]

    def record_call(self) -> None:
        with self._lock:
            self._bucket()[1] += 1

    def spend_retry(self) -> bool:
        """Take one retry from the budget; False when it is spent."""
        with self._lock:
            bucket = self._bucket()
            calls = sum(counts[1] for counts in self._buckets)
            retries = sum(counts[2] for counts in self._buckets)
            if retries + 1 > self.ratio * calls + self.floor:
                return False
            bucket[2] += 1
            return True


BreakerState = Literal["closed", "open", "half_open"]
BREAKER_STATE_VALUES: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}


class CircuitBreaker:
    """Opens after ``failures`` consecutive failed attempts; while open, attempts are refused without reaching the
    upstream. After ``cooldown`` seconds one trial attempt goes through: its success closes the breaker, its failure
    opens it for another cool-down."""

    def __init__(self, failures: int, cooldown: float, gauge: Gauge) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._gauge = gauge
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()
        gauge.set(BREAKER_STATE_VALUES["closed"])

    def _set(self, state: BreakerState) -> None:
        self._gauge.set(BREAKER_STATE_VALUES[state])

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial or time.monotonic() - self._opened_at < self.cooldown:
                return False
            self._trial = True
            self._set("half_open")
            return True

    def succeeded(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                self._set("closed")
            self._consecutive, self._opened_at, self._trial = 0, None, False

    def failed(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._trial or (self._opened_at is None and self._consecutive >= self.failures):
                self._opened_at, self._trial = time.monotonic(), False
                self._set("open")

    def seconds_until_trial(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.cooldown - (time.monotonic() - self._opened_at))


@dataclass
class _Metrics:
    calls: Counter
    duration: Histogram
    retries: Counter
    breaker_state: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> _Metrics:
        return cls(
            calls=Counter(
                "upstream_calls", "Calls to upstream services, by outcome.", ["upstream", "outcome"], registry=registry
            ),
            duration=Histogram(
                "upstream_call_duration_seconds",
                "Duration of calls to upstream services, retries included.",
                ["upstream"],
                registry=registry,
            ),
            retries=Counter(
                "upstream_retries",
                "Retries of calls to upstream services: sent, or refused by the retry budget.",
                ["upstream", "decision"],
                registry=registry,
            ),
            breaker_state=Gauge(
                "upstream_breaker_state",
                "Circuit breaker of each upstream: 0 closed, 1 half-open, 2 open; the worst of the live workers.",
                ["upstream"],
                registry=registry,
                multiprocess_mode="livemax",
            ),
        )


@dataclass
class _Caller:
    """One upstream in one process: its settings, connection pool, breaker and budget."""

    name: str
    settings: UpstreamSettings
    metrics: _Metrics
    pid: int = field(default_factory=os.getpid)
    breaker: CircuitBreaker = field(init=False)
    budget: RetryBudget = field(init=False)
    _client: httpx.Client | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(
            self.settings.breaker_failures,
            self.settings.breaker_cooldown,
            self.metrics.breaker_state.labels(self.name),
        )
        self.budget = RetryBudget(self.settings.retry_budget_ratio, self.settings.retry_budget_floor)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            # httpx's own retries stay off: every retry is decided in _attempts. trust_env is off so that a proxy
            # variable meant for the outside world does not route calls between services.
            self._client = httpx.Client(base_url=self.settings.url, trust_env=False)
        return self._client

    def call(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        deadline = started + self.settings.deadline
        outcome = "ok"
        self.budget.record_call()
        try:
            return self._attempts(request, deadline)
        except UpstreamError as error:
            outcome = error.outcome
            raise
        finally:
            self.metrics.calls.labels(self.name, outcome).inc()
            self.metrics.duration.labels(self.name).observe(time.monotonic() - started)

    def _attempts(self, request: httpx.Request, deadline: float) -> httpx.Response:
        repeatable = request.method in IDEMPOTENT_METHODS or IDEMPOTENCY_KEY in request.headers
        attempt = 0
        while True:
            attempt += 1
            if not self.breaker.allow():
                raise UpstreamUnavailable(
                    self.name, "circuit breaker open", self.breaker.seconds_until_trial(), outcome="breaker_open"
                )
            try:
                response = self._attempt(request, deadline)
            except _DeadlinePassed:
                self.breaker.failed()
                raise UpstreamTimeout(
                    self.name, f"no answer within the deadline of {self.settings.deadline:g} s"
                ) from None
            except httpx.TransportError as error:
                self.breaker.failed()
                retry_after = None
                if isinstance(error, httpx.TimeoutException) and not isinstance(error, httpx.ConnectTimeout):
                    limit = "deadline" if time.monotonic() >= deadline else "read timeout"
                    failure: UpstreamError = UpstreamTimeout(self.name, f"no answer within the {limit}")
                else:
                    failure = UpstreamUnavailable(
                        self.name, f"unreachable: {type(error).__name__}", outcome="unreachable"
                    )
            else:
                if response.status_code not in RETRY_STATUSES:
                    self.breaker.succeeded()
                    return response
                self.breaker.failed()
                retry_after = _retry_after(response)
                failure = UpstreamUnavailable(
                    self.name, f"answered {response.status_code}", retry_after, outcome="failing", response=response
                )
            if not repeatable or attempt >= self.settings.max_attempts:
                raise failure
            wait = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))  # noqa: S311
            if retry_after is not None:
                wait = max(wait, retry_after)
            if time.monotonic() + wait >= deadline:
                raise failure
            if not self.budget.spend_retry():
                self.metrics.retries.labels(self.name, "over_budget").inc()
                raise failure
            self.metrics.retries.labels(self.name, "sent").inc()
            time.sleep(wait)

    def _attempt(self, request: httpx.Request, deadline: float) -> httpx.Response:
        """One attempt within the deadline. The per-read timeouts are cut to the time left; under gevent (gunicorn's
        worker) a gevent.Timeout also bounds a server that drips its answer, and elsewhere the body is read in chunks
        with the deadline checked between them."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlinePassed
        connect = min(self.settings.connect_timeout, remaining)
        read = min(self.settings.read_timeout, remaining)
        request.extensions["timeout"] = httpx.Timeout(read, connect=connect, pool=connect).as_dict()
        with _bounded(remaining):
            response = self.client.send(request, stream=True)
            try:
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if time.monotonic() > deadline:
                        raise _DeadlinePassed
            finally:
                response.close()
        # A response whose body is read, as client.send() without stream=True gives it (decoded on access).
        return httpx.Response(response.status_code, headers=response.headers, content=bytes(body), request=request)


def _inbound_request_id() -> str | None:
    """The id of the request being served, None outside one (or in a request context made without the middleware,
    such as ``app.test_request_context()``)."""
    if not has_request_context():
        return None
    try:
        return current_request_id()
    except KeyError:
        return None
{%- if cookiecutter.authentication == "jwt" %}


def _inbound_bearer() -> str | None:
    """The bearer ``Authorization`` of the request being served, forwarded so that the upstream checks the same
    caller; a call that passes an ``Authorization`` of its own (such as the service's client-credentials token)
    sends that instead."""
    if not has_request_context():
        return None
    authorization = inbound.headers.get("Authorization", "")
    return authorization if authorization[:7].lower() == "bearer " else None
{%- endif %}


def _bounded(seconds: float) -> AbstractContextManager[object]:
    """A hard bound on an attempt where gevent has patched the sockets (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        import gevent

        return gevent.Timeout(seconds, _DeadlinePassed)
    return nullcontext()


def _retry_after(response: httpx.Response) -> float | None:
    """The seconds ``Retry-After`` asks for (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except ValueError:  # neither a number nor a date
        return None
    return max(0.0, moment.timestamp() - time.time())

{%- if cookiecutter.use_opentelemetry %}


@contextmanager
def _traced(name: str, request: httpx.Request) -> Iterator[None]:
    """The call as a client span, a child of the request's span (the current one in this greenlet); its
    ``traceparent`` goes out with the request."""
    tracer = trace.get_tracer(__name__)
    attributes = {"http.request.method": request.method, "server.address": request.url.host, "upstream": name}
    with tracer.start_as_current_span(f"{request.method} {name}", kind=trace.SpanKind.CLIENT, attributes=attributes):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        request.headers.update(carrier)
        yield
{%- endif %}


class Upstream:
    """The client of one upstream service: ``get``, ``post``... answer an ``httpx.Response`` (``.status_code``,
    ``.json()``, ``.headers``) or raise ``UpstreamUnavailable`` / ``UpstreamTimeout``. Used while the app serves a
    request (or in an app context): the app holds each process's state, made by ``register_upstreams``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _caller(self) -> _Caller:
        callers: dict[str, _Caller] = current_app.extensions[_EXTENSION]
        caller = callers[self.name]
        if caller.pid != os.getpid():  # forked since: a pool, breaker and budget of this process's own
            caller = callers[self.name] = _Caller(self.name, caller.settings, caller.metrics)
        return caller

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        caller = self._caller()
        outgoing = httpx.Headers(headers)
        request_id = _inbound_request_id()
        if request_id is not None and REQUEST_ID_HEADER not in outgoing:
            outgoing[REQUEST_ID_HEADER] = request_id
{%- if cookiecutter.authentication == "jwt" %}
        bearer = _inbound_bearer()
        if bearer is not None and "Authorization" not in outgoing:
            outgoing["Authorization"] = bearer
{%- endif %}
        request = caller.client.build_request(
            method.upper(), path, params=params, json=json, content=content, headers=outgoing
        )
{%- if cookiecutter.use_opentelemetry %}
        with _traced(self.name, request):
            return caller.call(request)
{%- else %}
        return caller.call(request)
{%- endif %}

    def get(
        self, path: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.request("GET", path, params=params, headers=headers)

    def head(
        self, path: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.request("HEAD", path, params=params, headers=headers)

    def options(
        self, path: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.request("OPTIONS", path, params=params, headers=headers)

    def delete(
        self, path: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.request("DELETE", path, params=params, headers=headers)

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.request("POST", path, json=json, content=content, params=params, headers=headers)

    def put(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.request("PUT", path, json=json, content=content, params=params, headers=headers)

    def patch(
        self,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.request("PATCH", path, json=json, content=content, params=params, headers=headers)


def _unavailable(error: UpstreamUnavailable) -> Response:
    retry_after = max(1, math.ceil(error.retry_after or 0))
    return json_error(ServiceUnavailable(f"{error.upstream} is unavailable ({error.reason})", retry_after=retry_after))


def _timed_out(error: UpstreamTimeout) -> Response:
    return json_error(GatewayTimeout(f"{error.upstream} did not answer in time ({error.reason})"))


def register_upstreams(app: Flask) -> None:
    """Read every upstream's settings now, so that a missing or malformed one stops the service as it starts, and
    answer the inbound request 503 or 504 when a call cannot be answered."""
    metrics = _Metrics.create(app_registry(app))
    app.extensions[_EXTENSION] = {name: _Caller(name, read_upstream_settings(name), metrics) for name in UPSTREAMS}
    app.register_error_handler(UpstreamUnavailable, _unavailable)
    app.register_error_handler(UpstreamTimeout, _timed_out)
