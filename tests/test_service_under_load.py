"""The generated service under load, fuzzing and shutdown, served by its own gunicorn on 127.0.0.1.

One service stands for all: order_manager with the shared package (uv), since the application code is the same
whatever the dependency manager.
"""

from __future__ import annotations

import http.client as httpclient
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import TOOLS_BIN, BakedService, clean_environment, free_port, http, serving, wait_until_answers

pytestmark = pytest.mark.install

SCHEMATHESIS = "schemathesis==4.32.5"
VALID_REQUESTS = 3000
CLIENTS = 8
BODY = b'{"item": "book", "quantity": 2}'


@pytest.fixture(scope="module")
def order_service(example_monorepo: Any) -> BakedService:
    service: BakedService = example_monorepo("uv")["order"]
    service.install()
    return service


@pytest.fixture(scope="module")
def base_url(order_service: BakedService) -> Iterator[str]:
    with serving(order_service) as url:
        yield url


def post_orders(host: str, port: int, count: int) -> Counter[int]:
    """``count`` POSTs over one keep-alive connection; the count of each status received."""
    statuses: Counter[int] = Counter()
    connection = httpclient.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(count):
            connection.request("POST", "/api/order", BODY, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
    finally:
        connection.close()
    return statuses


def test_the_openapi_document_is_served(base_url: str) -> None:
    document = http("GET", base_url + "/openapi.json").json()

    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/api/order", "/healthz", "/readyz", "/metrics"}


def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(base_url: str) -> None:
    # Every check: 5xx, status codes, content types, headers and bodies against the schema, negative data
    # rejected, positive data accepted, unsupported methods answered 405. A fixed seed keeps CI repeatable.
    result = subprocess.run(
        [str(TOOLS_BIN / "uv"), "tool", "run", "--quiet", "--from", SCHEMATHESIS, "st", "run",
         base_url + "/openapi.json", "--checks", "all", "--max-examples", "100", "--seed", "20261125"],
        capture_output=True, text=True, check=False, timeout=600, env=clean_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout


def test_thousands_of_valid_requests_all_succeed(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda _: post_orders(host, int(port), VALID_REQUESTS // CLIENTS), range(CLIENTS)))

    statuses = sum(results, Counter())
    assert statuses == Counter({201: VALID_REQUESTS})


def test_sigterm_under_load_lets_in_flight_requests_finish(order_service: BakedService) -> None:
    port = free_port()
    env = clean_environment({"ORDER_MANAGER_HOST": "127.0.0.1", "ORDER_MANAGER_PORT": str(port)})
    gunicorn = subprocess.Popen(
        [".venv/bin/gunicorn", "--config", "gunicorn.conf.py", "order_manager.wsgi:app"],
        cwd=order_service.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", gunicorn)
        # A request whose body is still arriving when SIGTERM comes: a worker is busy with it.
        in_flight = socket.create_connection(("127.0.0.1", port), timeout=15)
        head = (
            "POST /api/order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        )
        in_flight.sendall(head.encode() + BODY[:5])
        time.sleep(0.3)

        # Load from other clients while the signal arrives.
        outcomes: Counter[str] = Counter()
        stop = threading.Event()

        def keep_posting() -> None:
            while not stop.is_set():
                try:
                    statuses = post_orders("127.0.0.1", port, 20)
                    outcomes.update(str(status) for status in statuses.elements())
                except (ConnectionRefusedError, ConnectionResetError, httpclient.RemoteDisconnected):
                    outcomes["connection closed by shutdown"] += 1  # no listener any more: expected after SIGTERM
                    time.sleep(0.01)

        clients = [threading.Thread(target=keep_posting) for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(0.5)
        os.kill(gunicorn.pid, signal.SIGTERM)
        time.sleep(0.5)
        in_flight.sendall(BODY[5:])  # the rest of the body, after the signal
        reply = b""
        while chunk := in_flight.recv(65536):  # gunicorn closes the connection after answering, as it shuts down
            reply += chunk
        in_flight.close()
        stop.set()
        for client in clients:
            client.join()

        assert gunicorn.wait(timeout=60) == 0
    finally:
        if gunicorn.poll() is None:
            gunicorn.kill()
            gunicorn.wait()

    assert reply.startswith(b"HTTP/1.1 201"), reply
    assert b"Order created, discount is" in reply
    answered = {status: n for status, n in outcomes.items() if status.isdigit()}
    assert answered.get("201", 0) > 0
    assert set(answered) == {"201"}, f"responses other than 201 during shutdown: {outcomes}"
