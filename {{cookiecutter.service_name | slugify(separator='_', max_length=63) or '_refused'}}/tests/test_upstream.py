{%- set upstream = cookiecutter.__upstreams.split(",")[0] -%}
"""The clients of clients.py against a fake upstream: a real HTTP server on 127.0.0.1, answering as each test says.

The service's own tests of what every call does; a team's code that calls an upstream is tested the same way: serve
a fake one, point ``{{ cookiecutter.__env_prefix }}_<UPSTREAM>_URL`` at it, call the view.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
{%- if cookiecutter.use_opentelemetry %}
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
{%- endif %}
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import TestResponse

from {{ cookiecutter.service_name }} import clients
from {{ cookiecutter.service_name }}.clients import UpstreamTimeout
from {{ cookiecutter.service_name }}.core.config import ConfigError
from {{ cookiecutter.service_name }}.core.upstream import read_upstream_settings

UPSTREAM = "{{ upstream }}"
VARIABLE_PREFIX = "{{ cookiecutter.__env_prefix }}_{{ upstream | upper }}_"


@dataclass
class Answer:
    """What the fake upstream answers one request with: after ``wait`` seconds, and its body a byte every ``drip``
    seconds when given."""

    status: int = 200
    body: bytes = b'{"id": 7}'
    headers: dict[str, str] = field(default_factory=dict)
    wait: float = 0.0
    drip: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeUpstream:
    url: str = ""
    answers: deque[Answer] = field(default_factory=deque)
    otherwise: Answer = field(default_factory=Answer)  # once the answers given are used up
    seen: list[Seen] = field(default_factory=list)
    stop: Callable[[], None] = lambda: None  # stops the server: connections are refused from then on

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)


class _Server(ThreadingHTTPServer):
    block_on_close = False  # a test ends without waiting for a request the fake is still hanging on


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # the head and the body go out at once, not 40 ms apart

        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake.seen.append(Seen(self.command, self.path, dict(self.headers)))
            answer = fake.answers.popleft() if fake.answers else fake.otherwise
            time.sleep(answer.wait)
            self.send_response(answer.status)
            for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            for byte in answer.body if answer.drip else [answer.body]:
                self.wfile.write(bytes([byte]) if isinstance(byte, int) else byte)
                self.wfile.flush()
                time.sleep(answer.drip)

        do_GET = do_POST = do_PUT = do_DELETE = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def upstream_settings() -> dict[str, str]:
    """The upstream's settings besides its URL, without the prefix; a test sets its own with parametrize."""
    return {}


@pytest.fixture
def fake_upstream(upstream_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    server = _Server(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(f"{VARIABLE_PREFIX}URL", fake.url)
    for name, value in upstream_settings.items():
        monkeypatch.setenv(f"{VARIABLE_PREFIX}{name}", value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        if thread.is_alive():
            server.shutdown()
            server.server_close()
            thread.join()

    fake.stop = stop
    yield fake
    stop()


@pytest.fixture
def app(fake_upstream: FakeUpstream, app: Flask) -> Flask:
    """The app on the fake upstream, with a view that relays a call: its method and Idempotency-Key as received."""

    def relay() -> tuple[Any, int]:
        key = request.headers.get("Idempotency-Key")
        answer = clients.{{ upstream }}.request(
            request.method, "/things/7", json={"name": "x"}, headers={"Idempotency-Key": key} if key else None
        )
        return answer.json(), answer.status_code

    app.add_url_rule("/relay", view_func=relay, methods=["GET", "POST", "PUT", "DELETE"])
    return app


def message(response: TestResponse) -> str:
    """The message of an error answered in the service's JSON shape."""
    body = response.get_json()
    assert isinstance(body, dict), response.data
    return str(body["error"]["message"])


def test_a_call_answers_like_an_http_response_and_passes_the_request_id_on(
    client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.answer(Answer(201, b'{"id": 8}', {"Location": "/things/8"}))

    response = client.get("/relay", headers={"X-Request-ID": "caller-1"})

    assert (response.status_code, response.json) == (201, {"id": 8})
    [seen] = fake_upstream.seen
    assert (seen.method, seen.path, seen.headers["X-Request-ID"]) == ("GET", "/things/7", "caller-1")
{%- if cookiecutter.authentication == "jwt" %}


def test_the_callers_bearer_token_goes_on_to_the_upstream(client: FlaskClient, fake_upstream: FakeUpstream) -> None:
    client.get("/relay", headers={"Authorization": "Bearer the-callers-token"})
    client.get("/relay", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert fake_upstream.seen[0].headers["Authorization"] == "Bearer the-callers-token"
    assert "Authorization" not in fake_upstream.seen[1].headers


def test_an_authorization_the_call_passes_wins_over_the_callers(app: Flask, fake_upstream: FakeUpstream) -> None:
    with app.test_request_context(headers={"Authorization": "Bearer the-callers-token"}):
        clients.{{ upstream }}.get("/things/7", headers={"Authorization": "Bearer the-services-own-token"})

    assert fake_upstream.seen[0].headers["Authorization"] == "Bearer the-services-own-token"
{%- endif %}


def test_the_client_is_usable_in_an_app_context(app: Flask, fake_upstream: FakeUpstream) -> None:
    with app.app_context():
        answer = clients.{{ upstream }}.get("/things/7", params={"fields": "id"})

    assert (answer.status_code, answer.json(), answer.headers["Content-Type"]) == (200, {"id": 7}, "application/json")
    assert fake_upstream.seen[0].path == "/things/7?fields=id"


def test_a_get_is_retried_on_502_503_and_504_until_it_is_answered(
    client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.answer(Answer(503), Answer(502))

    assert client.get("/relay").status_code == 200
    assert len(fake_upstream.seen) == 3


def test_after_three_attempts_the_caller_gets_503_naming_the_upstream(
    client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.otherwise = Answer(504)

    response = client.get("/relay")

    assert response.status_code == 503
    assert UPSTREAM in message(response)
    assert int(response.headers["Retry-After"]) >= 1
    assert len(fake_upstream.seen) == 3


@pytest.mark.parametrize(("method", "key", "attempts"), [("POST", None, 1), ("POST", "order-42", 2), ("PUT", None, 2)])
def test_only_idempotent_calls_and_calls_with_an_idempotency_key_are_retried(
    client: FlaskClient, fake_upstream: FakeUpstream, method: str, key: str | None, attempts: int
) -> None:
    fake_upstream.answer(Answer(503))

    response = client.open("/relay", method=method, headers={"Idempotency-Key": key} if key else {})

    assert len(fake_upstream.seen) == attempts
    assert response.status_code == (503 if attempts == 1 else 200)
    assert all(seen.headers.get("Idempotency-Key") == key for seen in fake_upstream.seen)


def test_retry_after_is_honoured_when_it_fits_in_the_deadline(client: FlaskClient, fake_upstream: FakeUpstream) -> None:
    fake_upstream.answer(Answer(503, headers={"Retry-After": "1"}))
    started = time.monotonic()

    assert client.get("/relay").status_code == 200
    assert time.monotonic() - started >= 1
    assert len(fake_upstream.seen) == 2


def test_a_retry_after_past_the_deadline_is_passed_on_instead_of_waited_for(
    client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.answer(Answer(503, headers={"Retry-After": "30"}))
    started = time.monotonic()

    response = client.get("/relay")

    assert time.monotonic() - started < 1
    assert (response.status_code, response.headers["Retry-After"], len(fake_upstream.seen)) == (503, "30", 1)


def test_an_unreachable_upstream_gives_503_at_once(client: FlaskClient, fake_upstream: FakeUpstream) -> None:
    fake_upstream.stop()
    started = time.monotonic()

    response = client.get("/relay")

    assert time.monotonic() - started < 1
    assert response.status_code == 503
    assert f"{UPSTREAM} is unavailable (unreachable" in message(response)


@pytest.mark.parametrize("upstream_settings", [{"DEADLINE": "1", "READ_TIMEOUT": "0.4"}])
@pytest.mark.parametrize("answer", [Answer(wait=5), Answer(body=b"x" * 100, drip=0.05)], ids=["hangs", "drips"])
def test_the_deadline_covers_the_whole_call_retries_included(
    client: FlaskClient, fake_upstream: FakeUpstream, answer: Answer
) -> None:
    fake_upstream.otherwise = answer
    started = time.monotonic()

    response = client.get("/relay")

    assert time.monotonic() - started < 1.2
    assert response.status_code == 504
    assert UPSTREAM in message(response)


@pytest.mark.parametrize("upstream_settings", [{"RETRY_BUDGET_FLOOR": "2", "BREAKER_FAILURES": "1000"}])
def test_retries_stay_within_the_budget(client: FlaskClient, fake_upstream: FakeUpstream) -> None:
    fake_upstream.otherwise = Answer(503)
    calls = 20

    for _ in range(calls):
        assert client.get("/relay").status_code == 503

    # Without the budget: 3 attempts each. With it: 20 % of the calls, plus the floor of 2.
    assert calls < len(fake_upstream.seen) <= calls + calls * 0.2 + 2


@pytest.mark.parametrize(
    "upstream_settings", [{"MAX_ATTEMPTS": "1", "BREAKER_FAILURES": "3", "BREAKER_COOLDOWN": "0.5"}]
)
def test_the_breaker_fails_fast_while_open_and_a_trial_call_closes_it(
    client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.otherwise = Answer(503)
    for _ in range(3):
        client.get("/relay")

    started = time.monotonic()
    response = client.get("/relay")
    assert time.monotonic() - started < 0.1
    assert (response.status_code, len(fake_upstream.seen)) == (503, 3), "an open breaker let a call through"
    assert "breaker" in message(response)

    time.sleep(0.6)
    fake_upstream.otherwise = Answer()
    assert [client.get("/relay").status_code for _ in range(2)] == [200, 200]
    assert len(fake_upstream.seen) == 5


def test_calls_are_counted_by_outcome_with_their_retries(client: FlaskClient, fake_upstream: FakeUpstream) -> None:
    fake_upstream.answer(Answer(503), Answer(200), Answer(503), Answer(503), Answer(503))
    client.get("/relay")
    client.get("/relay")

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
        for sample in family.samples
    }
    assert samples[("upstream_calls_total", (("outcome", "ok"), ("upstream", UPSTREAM)))] == 1
    assert samples[("upstream_calls_total", (("outcome", "failing"), ("upstream", UPSTREAM)))] == 1
    assert samples[("upstream_retries_total", (("decision", "sent"), ("upstream", UPSTREAM)))] == 3
    assert samples[("upstream_call_duration_seconds_count", (("upstream", UPSTREAM),))] == 2
    assert samples[("upstream_breaker_state", (("upstream", UPSTREAM),))] == 0


@pytest.mark.parametrize("upstream_settings", [{"DEADLINE": "0.5"}])
def test_team_code_may_catch_the_clients_errors(app: Flask, fake_upstream: FakeUpstream) -> None:
    fake_upstream.otherwise = Answer(wait=5)
    with app.app_context(), pytest.raises(UpstreamTimeout) as raised:
        clients.{{ upstream }}.get("/things/7")
    assert raised.value.upstream == UPSTREAM


@pytest.mark.parametrize(
    ("value", "refusal"), [(None, "URL is not set"), ("ftp://files.example.com", "not an http(s) URL with a host")]
)
def test_a_missing_or_malformed_url_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None, refusal: str
) -> None:
    if value is None:
        monkeypatch.delenv(f"{VARIABLE_PREFIX}URL")
    else:
        monkeypatch.setenv(f"{VARIABLE_PREFIX}URL", value)

    with pytest.raises(ConfigError, match=re.escape(refusal)) as raised:
        read_upstream_settings(UPSTREAM)
    assert str(raised.value).startswith(f"{VARIABLE_PREFIX}URL")


@pytest.mark.parametrize(
    ("value", "refusal"),
    [("0", "=0 is out of range; use more than 0, at most 300"), ("soon", "='soon' is not a number")],
)
def test_a_policy_setting_is_refused_in_one_line_with_what_is_valid(
    monkeypatch: pytest.MonkeyPatch, value: str, refusal: str
) -> None:
    monkeypatch.setenv(f"{VARIABLE_PREFIX}DEADLINE", value)

    with pytest.raises(ConfigError, match="^" + re.escape(f"{VARIABLE_PREFIX}DEADLINE{refusal}") + "$"):
        read_upstream_settings(UPSTREAM)
{%- if cookiecutter.use_opentelemetry %}


def test_a_call_is_a_child_span_of_the_request_and_carries_its_trace(
    client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    spans = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider is set once per process, maybe by another test
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(spans))

    client.get("/relay")

    [call] = [span for span in spans.get_finished_spans() if span.kind == trace.SpanKind.CLIENT]
    [inbound] = [span for span in spans.get_finished_spans() if span.kind == trace.SpanKind.SERVER]
    assert call.parent is not None
    assert call.parent.span_id == inbound.context.span_id
    trace_id, span_id = format(call.context.trace_id, "032x"), format(call.context.span_id, "016x")
    assert fake_upstream.seen[0].headers["traceparent"].split("-")[1:3] == [trace_id, span_id]
{%- endif %}
