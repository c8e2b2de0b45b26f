"""gunicorn settings, read from the same ``{{ cookiecutter.__env_prefix }}_*`` variables as the app.

Run: ``gunicorn --config gunicorn.conf.py {{ cookiecutter.service_name }}.core.wsgi:app`` (``make serve``).
"""

import os
import shutil
import tempfile
from pathlib import Path

import gevent
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker
from gunicorn.workers.ggevent import GeventWorker

# Nothing imported here may import prometheus_client: it reads PROMETHEUS_MULTIPROC_DIR, set below, when imported.
from {{ cookiecutter.service_name }}.core.config import ConfigError, Settings
from {{ cookiecutter.service_name }}.core.logging_config import (
    ENVIRON_KEY,
    bind_request_fields,
    logging_dict,
    unbind_request_fields,
)

try:
    _settings = Settings()
except ConfigError as error:  # one line that names the variable, not a traceback
    raise SystemExit(f"ERROR: {error}") from None


class _Logger(Logger):
    """gunicorn builds and writes every access-log line once logconfig_dict is set, even with accesslog off.

    The line is written after the request context has ended: the request's fields (request_id...) come from the
    WSGI environ, where the request hooks left them.
    """

    def access(self, resp: object, req: object, environ: dict[str, object], request_time: object) -> None:
        if self.cfg.accesslog:
            fields = environ.get(ENVIRON_KEY)
            token = bind_request_fields(fields) if isinstance(fields, dict) else None
            try:
                super().access(resp, req, environ, request_time)
            finally:
                if token is not None:
                    unbind_request_fields(token)


class _TakingTurnsWorker(GeventWorker):
    """gevent's worker: each connection is a greenlet, so a client that sends its request slowly holds a greenlet,
    not the worker. After each request the connection yields to the others: gevent does not switch while a socket
    has data ready, so a client that pipelines its requests would otherwise have them all served before a new
    client is even accepted."""

    def handle_request(self, listener_name: object, req: object, sock: object, addr: object) -> None:
        try:
            super().handle_request(listener_name, req, sock, addr)
        finally:
            gevent.sleep(0)


def _prepare_metrics_directory(configured: str) -> str:
    """prometheus_client's multiprocess directory, existing and empty: samples of an earlier run must not count."""
    if not configured:
        # A new private directory per start, in memory where the system has it; on_exit removes it.
        memory = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - a private mkdtemp, not a fixed path
        return tempfile.mkdtemp(prefix="{{ cookiecutter.service_name }}-metrics-", dir=memory)
    directory = Path(configured)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return str(directory)


if _settings.metrics:
    # Read by prometheus_client when it is imported, so before the app is loaded (preload_app below).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _prepare_metrics_directory(_settings.metrics_dir)


def child_exit(server: Arbiter, worker: Worker) -> None:
    """A worker has exited (or was killed): its counts stay in its files; only its live gauges are dropped."""
    if _settings.metrics:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Arbiter) -> None:
    if _settings.metrics and not _settings.metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
{%- if cookiecutter.use_opentelemetry %}


def post_worker_init(worker: Worker) -> None:
    """OpenTelemetry starts in each worker once gevent has patched it: its exporter thread would not survive the fork
    from the master, and one started before the patch would block the worker's event loop."""
    from {{ cookiecutter.service_name }}.core.tracing import start_tracing

    start_tracing()
{%- endif %}


logger_class = _Logger

bind = f"[{_settings.host}]:{_settings.port}" if ":" in _settings.host else f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = _TakingTurnsWorker
worker_connections = _settings.connections
# A worker whose event loop has not turned for this many seconds (a request holding the CPU) is killed and replaced.
timeout = _settings.timeout
# On SIGTERM, workers finish the requests in flight for up to this many seconds before they are killed.
graceful_timeout = _settings.graceful_timeout
# Also bounds the wait for a request's header section: a head that has not arrived by then closes the connection.
keepalive = _settings.keepalive
loglevel = _settings.log_level.lower()
logconfig_dict = logging_dict(_settings.log_level)
accesslog = "-" if _settings.access_log else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Container file systems may be read-only; worker heartbeat files go to memory where the system has it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - memory, not a shared temp dir
# Load the app once in the master so a broken app fails at start, not in every worker.
preload_app = True
# No control socket (gunicornc): by default every gunicorn of a user shares one path in the home directory, and a
# container's is read-only.
control_socket_disable = True
