"""The generated service under load, fuzzing and shutdown, served by its own gunicorn on 127.0.0.1.

One service stands for all: order_manager with the shared package (uv) on PostgreSQL, since the application code
is the same whatever the dependency manager.
"""

from __future__ import annotations

import http.client as httpclient
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kit.answers import BakedService
from kit.processes import clean_environment
from kit.serving import free_port, http, serving, slow_clients, steady_client, wait_until_answers
from kit.template import TOOLS_BIN
from kit.workers import example_system_group

pytestmark = [pytest.mark.install, pytest.mark.network, pytest.mark.xdist_group(example_system_group("uv"))]

SCHEMATHESIS = "schemathesis==4.32.5"
VALID_REQUESTS = 3000
CLIENTS = 8
BODY = b'{"name": "book"}'


@pytest.fixture(scope="module")
def order_service(example_monorepo: Any) -> BakedService:
    service: BakedService = example_monorepo("uv")["order"]
    service.install()
    service.make("migrate")
    return service


@pytest.fixture(scope="module")
def base_url(order_service: BakedService) -> Iterator[str]:
    with serving(order_service) as url:
        yield url


class StatusTally:
    """Statuses received by several client threads, each counted the moment its status line arrives."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self._lock = threading.Lock()

    def add(self, status: int) -> None:
        with self._lock:
            self.counts[status] += 1

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())


def post_orders(host: str, port: int, count: int, tally: StatusTally) -> None:
    """``count`` POSTs over one client connection (reopened when the server closes it), each status tallied.

    A status is tallied before its body is read: a response stays counted whatever the connection does next.
    """
    connection = httpclient.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(count):
            connection.request("POST", "/api/order", BODY, {"Content-Type": "application/json"})
            response = connection.getresponse()
            tally.add(response.status)
            response.read()
    finally:
        connection.close()


def test_the_openapi_document_is_served(base_url: str) -> None:
    document = http("GET", base_url + "/openapi.json").json()

    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/api/order", "/api/order/{record_id}", "/healthz", "/readyz", "/metrics"}


@pytest.mark.promise(
    "The served OpenAPI document is valid; schemathesis finds no 5xx and no answer outside it", layer="install"
)
def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(base_url: str, tmp_path: Path) -> None:
    # Every check: 5xx, status codes, content types, headers and bodies against the schema, negative data
    # rejected, positive data accepted, unsupported methods answered 405. A fixed seed keeps CI repeatable.
    # It runs in a directory of its own: schemathesis writes its cache (.schemathesis/) where it runs.
    # One exception, for the create only: schemathesis sends one Idempotency-Key value with several bodies, and a key
    # used with another body is refused with 422, as draft-ietf-httpapi-idempotency-key-header asks.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        '[[operations]]\ninclude-path = "/api/order"\ninclude-method = "POST"\n'
        "[operations.checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]\n'
    )
    result = subprocess.run(
        [str(TOOLS_BIN / "uv"), "tool", "run", "--quiet", "--from", SCHEMATHESIS, "st", "--config-file", str(config),
         "run", base_url + "/openapi.json", "--checks", "all", "--max-examples", "100", "--seed", "20261125"],
        capture_output=True, text=True, check=False, timeout=600, env=clean_environment(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout


@pytest.mark.promise("3,000 valid requests from 8 clients all get 201", layer="install")
def test_thousands_of_valid_requests_all_succeed(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    tally = StatusTally()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda _: post_orders(host, int(port), VALID_REQUESTS // CLIENTS, tally), range(CLIENTS)))

    assert tally.counts == Counter({201: VALID_REQUESTS})


# Slow clients: how many at once (two stopped the sync workers the service had before), and the longest a steady
# client's request may take meanwhile (about 5 ms when nothing else happens).
SLOW_CLIENTS = 300
STEADY_BOUND_SECONDS = 1.0


@pytest.mark.promise(
    "Hundreds of slow clients leave a steady client answered; a head or a body that never ends is cut off",
    layer="install",
)
@pytest.mark.parametrize("part", ["head", "body"])
def test_hundreds_of_slow_clients_keep_no_steady_client_waiting(base_url: str, part: str) -> None:
    with slow_clients(base_url, SLOW_CLIENTS, part) as slow:
        deadline = time.monotonic() + 30
        while slow.most_open < SLOW_CLIENTS and time.monotonic() < deadline:
            time.sleep(0.1)
        took = steady_client(base_url, seconds=6)
        still_open = slow.open_now

    assert slow.most_open == SLOW_CLIENTS, f"only {slow.most_open} slow connections were ever open at once"
    assert still_open >= SLOW_CLIENTS * 0.9, f"the slow connections were dropped, {still_open} left"
    assert None not in took, f"{took.count(None)} of {len(took)} steady requests failed or timed out"
    assert max(t for t in took if t is not None) < STEADY_BOUND_SECONDS, sorted(took)[-5:]


# Busy connections: each writes all its requests at once (HTTP/1.1 pipelining), so its next request is always in
# the socket, and its greenlet never has to wait. The requests fit in the socket buffers in one write, and /healthz
# asks no database: nothing but the worker's yield after each request lets another connection have a turn.
BUSY_CONNECTIONS = 2
PIPELINED = 1000
STATUS_LINE = b"HTTP/1.1 200 "
# The access log's lines of these requests, apart from the GET /healthz that waited for the server to answer.
HEALTHZ_SERVED = re.compile(r'"GET /healthz\?(busy|steady) HTTP/1\.1" 200 ')


def pipelined_healthz(port: int, count: int, first_answer: threading.Event) -> int:
    """``count`` GETs of /healthz?busy written at once on one connection; how many were answered 200.

    The answers are read as they come: a full socket buffer would make the server wait, and so let the others have
    their turn anyway.
    """
    request = f"GET /healthz?busy HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    answered, tail = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(request * count)
        while answered < count and (chunk := connection.recv(65536)):
            first_answer.set()
            window = tail + chunk  # a status line may be split between two reads
            answered += window.count(STATUS_LINE)
            tail = window[-(len(STATUS_LINE) - 1) :]
    return answered


@pytest.mark.promise(
    "Connections that pipeline their requests take turns: a new client waits for a few, not all of them",
    layer="install",
)
def test_busy_keep_alive_connections_let_a_new_client_have_its_turn(order_service: BakedService) -> None:
    # One worker: of two, the one not busy would answer the new client whether the busy one takes turns or not.
    with serving(order_service, settings={"WORKERS": "1", "ACCESS_LOG": "true"}) as url:
        port = int(url.rsplit(":", 1)[1])
        first_answer = threading.Event()
        with ThreadPoolExecutor(BUSY_CONNECTIONS) as pool:
            busy = [pool.submit(pipelined_healthz, port, PIPELINED, first_answer) for _ in range(BUSY_CONNECTIONS)]
            assert first_answer.wait(timeout=60), "no busy connection was answered"
            steady = http("GET", url + "/healthz?steady", timeout=60)
            answered = [future.result() for future in busy]
    # Read once the server has stopped: gunicorn writes an access-log line just after its response.
    log = (order_service.path / "serve.log").read_text(errors="replace")
    access = [json.loads(line)["message"] for line in log.splitlines() if '"logger": "gunicorn.access"' in line]
    # The worker's order of answers, which the speed of the machine does not change: True for the new client.
    order = [match.group(1) == "steady" for message in access if (match := HEALTHZ_SERVED.search(message))]

    assert steady.status == 200, steady
    assert answered == [PIPELINED] * BUSY_CONNECTIONS, answered
    assert order.count(True) == 1 and len(order) == BUSY_CONNECTIONS * PIPELINED + 1, log[-3000:]
    # Taking turns, it waits while gevent runs a round of other greenlets (about 50 requests here); without, for
    # every request of the connection being served (1000 or 2000 here).
    busy_before = order.index(True)
    assert busy_before < PIPELINED // 2, f"the new client was answered after {busy_before} busy requests"


def trickle(port: int, sent_at_once: bytes, then: bytes, every: float, limit: float) -> tuple[bytes, float]:
    """Send ``sent_at_once``, then ``then`` one byte every ``every`` seconds (or nothing more, ``then`` empty), until
    the server answers or closes (or ``limit`` seconds pass); what it sent back, and when."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as connection:
        connection.sendall(sent_at_once)
        if not then:
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
            return reply, time.monotonic() - started
        connection.settimeout(every)
        for byte in then:
            try:
                connection.sendall(bytes([byte]))
                if reply := connection.recv(65536):
                    connection.settimeout(5)
                    while chunk := connection.recv(65536):
                        reply += chunk
                return reply, time.monotonic() - started
            except TimeoutError:
                if time.monotonic() - started > limit:
                    break
            except OSError:  # reset by the server
                return b"", time.monotonic() - started
    return b"", time.monotonic() - started


@pytest.mark.promise(
    "Hundreds of slow clients leave a steady client answered; a head or a body that never ends is cut off",
    layer="install",
)
def test_a_head_or_a_body_that_never_ends_is_cut_off_when_its_time_is_up(order_service: BakedService) -> None:
    with serving(order_service, settings={"KEEPALIVE": "2", "BODY_TIMEOUT": "3"}) as url:
        port = int(url.rsplit(":", 1)[1])
        head = b"POST /api/order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        endless_header = b"X-Padding: " + b"a" * 400
        head_reply, head_seconds = trickle(port, head, endless_header, every=0.25, limit=20)
        body = b'{"name": "' + b"a" * 400 + b'"}'
        full_head = head + f"Content-Length: {len(body)}\r\n\r\n".encode()
        # The body stops after a few bytes: the 408 is read intact (more bytes, sent after the server stops reading,
        # could make it reset the connection and the answer be lost).
        body_reply, body_seconds = trickle(port, full_head + body[:5], b"", every=0.25, limit=20)

    assert head_reply == b"" and 1.5 <= head_seconds <= 6, (head_reply, head_seconds)  # closed after KEEPALIVE
    assert body_reply.startswith(b"HTTP/1.1 408"), body_reply  # answered after BODY_TIMEOUT
    assert b'"code": 408' in body_reply or b'"code":408' in body_reply, body_reply
    assert 2.5 <= body_seconds <= 8, body_seconds


# gunicorn.conf.py as the service ships it, plus a probe: each worker writes to the log when it begins a request
# (its headers are read, its body not yet), with its process id.
PROBED_CONFIG = """
import os
from pathlib import Path

exec(compile(Path("gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"))
_service_pre_request = globals().get("pre_request")


def pre_request(worker, req):
    os.write(2, f"probe: worker {os.getpid()} began {req.method} {req.path}\\n".encode())
    if _service_pre_request is not None:
        _service_pre_request(worker, req)
"""
IN_FLIGHT_BEGAN = re.compile(r"probe: worker (\d+) began POST /api/order")
CLOSED_BY_SHUTDOWN = ConnectionError  # refused, reset, broken pipe, or closed before the status line


def wait_for_log(log: Path, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
    """Wait until a line of the server's log matches ``pattern``; fail showing the log if none does in time."""
    deadline = time.monotonic() + timeout
    while not (match := pattern.search(content := log.read_text(errors="replace"))):
        if time.monotonic() > deadline:
            pytest.fail(f"the server never logged {pattern.pattern!r}:\n{content[-5000:]}")
        time.sleep(0.05)
    return match


def sleeps_and_wakeups(pid: int) -> tuple[str, int] | None:
    """A process's scheduler state (S: asleep, waiting) and how often it went to sleep; None once it is gone.

    A worker blocked reading a request body sleeps; a signal wakes it (its handler runs, the read resumes, it sleeps
    again), which the kernel counts. gunicorn's sync worker acts on SIGTERM only once the read returns.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return fields["State"].split()[0], int(fields["voluntary_ctxt_switches"])


@pytest.mark.promise(
    "SIGTERM under load: the request in flight finishes (signal logged, worker woken before its body)", layer="install"
)
def test_sigterm_under_load_lets_in_flight_requests_finish(order_service: BakedService, tmp_path: Path) -> None:
    port = free_port()
    config, log = tmp_path / "gunicorn_probed.conf.py", tmp_path / "server.log"
    config.write_text(PROBED_CONFIG)
    env = clean_environment(
        {
            **order_service.environment,
            "ORDER_MANAGER_HOST": "127.0.0.1",
            "ORDER_MANAGER_PORT": str(port),
            "ORDER_MANAGER_WORKERS": "2",
        }
    )
    with log.open("wb") as output:
        gunicorn = subprocess.Popen(
            [".venv/bin/gunicorn", "--config", str(config), "order_manager.core.wsgi:app"],
            cwd=order_service.path, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    tally = StatusTally()
    closed_by_shutdown: Counter[str] = Counter()
    stop, signalled = threading.Event(), threading.Event()

    def keep_posting() -> None:
        """Load until told to stop; the connection closing after the signal is expected, any other error fails."""
        while not stop.is_set():
            try:
                post_orders("127.0.0.1", port, 20, tally)
            except CLOSED_BY_SHUTDOWN as error:
                if not signalled.is_set():
                    raise  # a connection lost while the server is up is a failure, not shutdown
                closed_by_shutdown[type(error).__name__] += 1
                time.sleep(0.01)

    pool = ThreadPoolExecutor(4)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", gunicorn)
        # A request whose body is still arriving when SIGTERM comes: a worker has begun it and waits for the rest.
        in_flight = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (
            "POST /api/order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        )
        in_flight.sendall(head.encode() + BODY[:5])
        busy_worker = int(wait_for_log(log, IN_FLIGHT_BEGAN).group(1))

        # Load from other clients while the signal arrives: wait until it is being served.
        clients = [pool.submit(keep_posting) for _ in range(4)]
        deadline = time.monotonic() + 60
        while tally.total() < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        answered_before_signal = tally.total()
        deadline = time.monotonic() + 60
        while (before := sleeps_and_wakeups(busy_worker)) is not None and before[0] != "S":
            if time.monotonic() > deadline:
                pytest.fail(f"worker {busy_worker} never waited for the rest of the body: {before}")
            time.sleep(0.01)  # until the busy worker is asleep, waiting for the rest of the body
        signalled.set()
        os.kill(gunicorn.pid, signal.SIGTERM)

        # The server's side, before the body is complete: gunicorn logs that it handles the signal, and the busy
        # worker is woken by it (or is gone: a server that kills its workers).
        wait_for_log(log, re.compile("Handling signal: term"))
        deadline = time.monotonic() + 60
        while (now := sleeps_and_wakeups(busy_worker)) is not None and before is not None and now[1] == before[1]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        worker_woken_before_body = before is not None and now is not None and now[1] > before[1]
        log_before_body = log.read_text(errors="replace")
        reply = b""
        try:
            in_flight.sendall(BODY[5:])
            while chunk := in_flight.recv(65536):  # gunicorn closes the connection after answering, as it stops
                reply += chunk
        except OSError as error:
            reply += f" [{error!r}]".encode()
        finally:
            in_flight.close()
        exit_code = gunicorn.wait(timeout=60)
    finally:
        stop.set()
        pool.shutdown(wait=True)
        if gunicorn.poll() is None:
            gunicorn.kill()
            gunicorn.wait()
    server_log = log.read_text(errors="replace")

    assert reply.startswith(b"HTTP/1.1 201"), f"the request in flight was dropped: {reply!r}\n{server_log[-5000:]}"
    assert b"Order created, discount is" in reply
    assert "Handling signal: term" in log_before_body
    assert worker_woken_before_body, f"worker {busy_worker} was not woken by the signal before the body was complete"
    assert f"Worker exiting (pid: {busy_worker})" in server_log, server_log[-5000:]  # exited itself, not killed
    assert exit_code == 0, server_log[-5000:]
    for client in clients:
        client.result()  # re-raises any error of a client thread other than the connection closing at shutdown
    assert answered_before_signal >= 50, f"too little load before the signal: {tally.counts}"
    assert set(tally.counts) == {201}, f"responses other than 201 during shutdown: {tally.counts}, {closed_by_shutdown}"
