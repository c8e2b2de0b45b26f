"""The kit's own helpers (kit/), against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from kit.serving import wait_until_answers

SLOW_ANSWER_SECONDS = 2.5  # longer than the helper's first tries, well within its budget


@contextmanager
def slow_server(delay: float | None) -> Iterator[str]:
    """A server on 127.0.0.1 that accepts at once and answers each request after ``delay`` s (None: never)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            if stop.wait(delay):
                return
            with suppress(OSError):  # the client gave up on this try and closed its end
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/healthz"
    finally:
        stop.set()
        acceptor.join()
        listener.close()


def test_wait_until_answers_retries_a_server_that_answers_slowly() -> None:
    with slow_server(SLOW_ANSWER_SECONDS) as url:
        started = time.monotonic()
        wait_until_answers(url, timeout=30)

    assert time.monotonic() - started >= SLOW_ANSWER_SECONDS


def test_wait_until_answers_gives_up_on_a_silent_server_within_its_budget() -> None:
    with slow_server(None) as url:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="did not answer within 3 s"):
            wait_until_answers(url, timeout=3)

    assert time.monotonic() - started < 3 + 1.5  # the last try is cut to what is left of the budget
