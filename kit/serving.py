"""Serving and HTTP: a server started in its own process group and waited for, a generated service under
``make serve``, real requests (plain, chunked, slow), an OTLP receiver, and the counts a service's /metrics gives."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kit.answers import BakedService
from kit.processes import clean_environment, process_group

# Request body limit of served services; small, so a refused body fits in socket buffers and the 413 is read.
MAX_CONTENT_LENGTH = 4096


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answers(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    """Wait until ``url`` gets any HTTP answer; raise RuntimeError if the server (when given) exits or stays silent.

    A server may accept connections before it can answer (a reloader, a loading app, a busy machine), so a try
    that times out is retried like a refused one, each try waiting twice as long as the last, within the budget.
    """
    deadline = time.monotonic() + timeout
    per_try = 1.0
    while (remaining := deadline - time.monotonic()) > 0:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=min(per_try, remaining)):
                return
        except urllib.error.HTTPError:
            return  # an error status is still an answer
        except OSError as error:  # refused, reset, timed out; urllib wraps some of these in a URLError
            if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError):
                per_try *= 2
            else:
                time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def running(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], log_path: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in a process group of its own, its output in ``log_path``, once it answers on
    ``http://127.0.0.1:port/healthz`` (a server without that route answers 404, which counts); stopped by its id
    when the block ends. RuntimeError if it exits or stays silent first."""
    with log_path.open("wb") as log, process_group(command, cwd, env, log) as process:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", process)
        yield process


@contextmanager
def serving(
    service: BakedService, command: list[str] | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``make serve`` (gunicorn) on a free 127.0.0.1 port, its database migrated first; yield the base URL; stop
    what was started.

    ``settings``: more of the service's variables, without their prefix (``{"ACCESS_LOG": "true"}``).
    The server's output is in ``serve.log`` in the service's directory.
    """
    with served(service, command, settings) as server:
        yield server.url


@dataclass
class Served:
    """A service ``served`` runs: its base URL, and the process its command started, in a group of its own."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def served(
    service: BakedService,
    command: list[str] | None = None,
    settings: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Iterator[Served]:
    """``serving``, on ``port`` when given (a service started again where its clients expect it), yielding the
    process too: a test may stop and continue its group (the server's output is in ``serve.log``, written anew at
    each start)."""
    port = port or free_port()
    prefix = service.env_prefix
    if service.answers.get("database", "none") != "none":
        service.make("migrate")
    env = clean_environment(
        {
            **service.environment,
            f"{prefix}_HOST": "127.0.0.1",
            f"{prefix}_PORT": str(port),
            f"{prefix}_WORKERS": "2",
            f"{prefix}_MAX_CONTENT_LENGTH": str(MAX_CONTENT_LENGTH),
            **{f"{prefix}_{name}": value for name, value in (settings or {}).items()},
        }
    )
    with running(command or ["make", "serve"], service.path, env, service.path / "serve.log", port) as process:
        yield Served(f"http://127.0.0.1:{port}", process)


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    body: bytes | list[bytes] | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> HttpResponse:
    """One real HTTP request, with ``headers`` besides the content type; 4xx and 5xx come back as responses, not
    exceptions. A body given as a list of parts is sent chunked (``Transfer-Encoding: chunked``, no
    ``Content-Length``)."""
    sent = {**(headers or {}), **({"Content-Type": content_type} if content_type else {})}
    if isinstance(body, list):
        return send_chunked(method, url, body, sent)
    request = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read())


@contextmanager
def http_server_thread(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """``handler`` served on a free 127.0.0.1 port from a thread of this process; shut down on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def send_chunked(method: str, url: str, parts: list[bytes], headers: Mapping[str, str]) -> HttpResponse:
    """The parts as chunks, encoded here and written at once: a server that refuses the body before its end then
    closes a connection the client has finished writing to (urllib writes chunk by chunk, and would meet a reset)."""
    address = urllib.parse.urlsplit(url)
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    connection = HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(
            method, address.path, encoded, {**headers, "Transfer-Encoding": "chunked"}
        )  # sent as given: the headers name an encoding
        response = connection.getresponse()
        return HttpResponse(response.status, dict(response.headers), response.read())
    finally:
        connection.close()


@dataclass
class SlowClientCounts:
    """What the slow clients saw: connections opened, closed by the server, and open at most at once."""

    opened: int = 0
    closed_by_server: int = 0
    open_now: int = 0
    most_open: int = 0


@contextmanager
def slow_clients(base_url: str, count: int, part: str, every: float = 1.0) -> Iterator[SlowClientCounts]:
    """``count`` connections to ``base_url`` (127.0.0.1) for as long as the block runs, each sending a POST one byte
    every ``every`` seconds: its header section (``part="head"``), or after a complete head, its body
    (``part="body"``). A connection the server closes is opened again, as a slowloris attacker (or a phone on a bad
    network, retrying) does. The block gets the counts, updated as it runs."""
    address = urllib.parse.urlsplit(base_url)
    host, port = address.hostname or "", address.port or 80
    assert host in ("127.0.0.1", "::1", "localhost"), f"slow clients target loopback only, not {host}"
    body = b'{"name": "slow"}'
    head = (
        f"POST /api/order HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    counts = SlowClientCounts()
    stop = threading.Event()

    async def one_connection() -> None:
        trickled, sent_at_once = (head, b"") if part == "head" else (body, head)
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(every)
                continue
            counts.opened += 1
            counts.open_now += 1
            counts.most_open = max(counts.most_open, counts.open_now)
            try:
                writer.write(sent_at_once)
                for index in range(len(trickled)):
                    if stop.is_set():
                        break
                    writer.write(trickled[index : index + 1])
                    await writer.drain()
                    try:  # anything read (an answer, or the end of the stream) means the server is done with it
                        await asyncio.wait_for(reader.read(1), timeout=every)
                        counts.closed_by_server += 1
                        break
                    except TimeoutError:
                        pass
            except OSError:
                counts.closed_by_server += 1
            finally:
                counts.open_now -= 1
                writer.close()

    async def all_connections() -> None:
        tasks = [asyncio.create_task(one_connection()) for _ in range(count)]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=asyncio.run, args=(all_connections(),), daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join(timeout=every + 10)


def steady_client(base_url: str, seconds: float, every: float = 0.2, timeout: float = 5) -> list[float | None]:
    """A well-behaved client: a new connection and a POST every ``every`` seconds for ``seconds``; the seconds each
    answer under 500 took, None for a request that failed, timed out or got a 5xx."""
    took: list[float | None] = []
    deadline = time.monotonic() + seconds
    while (started := time.monotonic()) < deadline:
        try:
            response = http("POST", base_url + "/api/order", b'{"name": "steady"}', "application/json", timeout=timeout)
            took.append(time.monotonic() - started if response.status < 500 else None)
        except OSError:
            took.append(None)
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    return took


def request_counts(base_url: str) -> dict[tuple[str, str, str], float]:
    """A service's request counts by (method, route, status), read from its /metrics as Prometheus reads them."""
    from prometheus_client.parser import text_string_to_metric_families  # the test group's, not the benchmark's

    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_server_request_duration_seconds_count":
                labels = sample.labels
                key = (labels["http_request_method"], labels["http_route"], labels["http_response_status_code"])
                counts[key] = sample.value
    return counts


def stored_records(base_url: str, resource: str) -> list[dict[str, Any]]:
    """Every record a service with a database has stored, read back from ``GET /api/<resource>`` page by page."""
    records: list[dict[str, Any]] = []
    page: str | None = f"/api/{resource}?limit=100"
    while page is not None:
        body = http("GET", base_url + page).json()
        records += body["items"]
        page = body["next"]
    return records


@dataclass
class OtlpReceiver:
    """A real OTLP/HTTP receiver's findings: where it listens, how many exports it took, and their spans."""

    url: str = ""
    exports: int = 0
    spans: list[dict[str, str]] = field(default_factory=list)

    def wait_for_span(self, trace_id: str, timeout: float = 30) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for span in list(self.spans):
                if span["trace_id"] == trace_id:
                    return span
            time.sleep(0.1)
        raise AssertionError(f"no span of trace {trace_id} arrived within {timeout} s; got {self.spans}")


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver on 127.0.0.1, served from a thread of this process: it decodes each
    ExportTraceServiceRequest, keeps its spans with the path, content type and service they came with, and
    answers 200 with a valid ExportTraceServiceResponse."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # the test group's
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    receiver = OtlpReceiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            spans = [
                {
                    "path": self.path,
                    "content_type": self.headers["Content-Type"],
                    "service": attributes.get("service.name", ""),
                    "name": span.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                }
                for resource_spans in request.resource_spans
                for attributes in [{a.key: a.value.string_value for a in resource_spans.resource.attributes}]
                for scope_spans in resource_spans.scope_spans
                for span in scope_spans.spans
            ]
            with lock:
                receiver.exports += 1
                receiver.spans += spans
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # the signature of the method it replaces: no log
            pass

    with http_server_thread(Handler) as server:
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield receiver
