"""gunicorn.conf.py, read the way gunicorn reads it: every name it defines that is a gunicorn setting is applied."""

from __future__ import annotations

import logging
import os
import runpy
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config  # type: ignore[import-untyped]
from gunicorn.util import parse_address  # type: ignore[import-untyped]
from gunicorn.workers.ggevent import GeventWorker  # type: ignore[import-untyped]

PREFIX = "{{ cookiecutter.__env_prefix }}_"
GUNICORN_CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
LoadConfig = Callable[..., Config]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def load_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LoadConfig]:
    """``load_config(NAME=value, ...)``: gunicorn's Config from gunicorn.conf.py with only those variables set."""
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    # gunicorn.conf.py prepares the metrics directory and names it in the environment for prometheus_client: here a
    # directory of the test's own, and the variable is taken back afterwards.
    monkeypatch.setenv(PREFIX + "METRICS_DIR", str(tmp_path / "metrics"))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    # Loading the logger applies the service's logging configuration; give the test run its own back afterwards.
    loggers = [logging.getLogger(name) for name in ("", "gunicorn.error", "gunicorn.access")]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]

    def load(**variables: str) -> Config:
        for name, value in variables.items():
            monkeypatch.setenv(PREFIX + name, value)
        config = Config()
        for name, value in runpy.run_path(str(GUNICORN_CONF)).items():
            if name in config.settings:
                config.set(name, value)
        return config

    yield load
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_an_ipv4_host_binds_as_host_and_port(load_config: LoadConfig) -> None:
    config = load_config(HOST="127.0.0.1", PORT="9001")

    assert config.bind == ["127.0.0.1:9001"]
    assert parse_address(config.bind[0]) == ("127.0.0.1", 9001)


@pytest.mark.parametrize("host", ["::1", "::"])
def test_an_ipv6_host_binds_in_brackets(load_config: LoadConfig, host: str) -> None:
    config = load_config(HOST=host, PORT="9001")

    assert config.bind == [f"[{host}]:9001"]
    assert parse_address(config.bind[0]) == (host, 9001)


def test_the_default_bind_is_every_interface_on_the_services_port(load_config: LoadConfig) -> None:
    assert load_config().bind == ["0.0.0.0:{{ cookiecutter.port }}"]


def test_the_worker_settings_come_from_the_environment(load_config: LoadConfig) -> None:
    config = load_config(
        WORKERS="3", CONNECTIONS="40", TIMEOUT="60", GRACEFUL_TIMEOUT="20", KEEPALIVE="7", LOG_LEVEL="warning"
    )

    assert (config.workers, config.worker_connections, config.timeout) == (3, 40, 60)
    assert (config.graceful_timeout, config.keepalive, config.loglevel) == (20, 7, "warning")


def test_each_connection_is_a_greenlet_of_a_gevent_worker(load_config: LoadConfig) -> None:
    assert issubclass(load_config().worker_class, GeventWorker)


@pytest.mark.parametrize(("switch", "lines"), [(None, 0), ("false", 0), ("true", 1)])
def test_gunicorn_writes_an_access_line_only_when_the_switch_is_on(
    load_config: LoadConfig, switch: str | None, lines: int
) -> None:
    config = load_config(**({"ACCESS_LOG": switch} if switch else {}))
    logger = config.logger_class(config)
    capture = Capture()
    logging.getLogger("gunicorn.access").addHandler(capture)

    # What gunicorn passes after a request: the response, the request headers, the WSGI environ, the duration.
    response = SimpleNamespace(status="201 CREATED", headers=[("Content-Type", "application/json")], sent=38)
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/api/x", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "::1"}
    logger.access(response, [("Host", "localhost")], environ, timedelta(milliseconds=3))

    assert len(capture.records) == lines
    if lines:
        assert "/api/x" in capture.records[0].getMessage()
