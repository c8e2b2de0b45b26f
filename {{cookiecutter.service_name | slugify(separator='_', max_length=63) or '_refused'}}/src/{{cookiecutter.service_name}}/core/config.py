"""Settings from environment variables prefixed with ``{{ cookiecutter.__env_prefix }}_``.

The app factory and gunicorn.conf.py both take a ``Settings``. A part of the service with settings of its own (the
database, when there is one) reads them with the helpers here, and refuses a value with the same ``ConfigError``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "{{ cookiecutter.__env_prefix }}_"


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def read_integer(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    """The integer setting ``<prefix><name>``: ``default`` when unset or blank, refused outside minimum to maximum."""
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{ENV_PREFIX}{name}={value} is out of range; use {minimum} to {maximum}")
    return value


# A DNS name (RFC 1123 labels); its last label is not all digits, so a mistyped IPv4 address is not taken for one.
_HOST_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def _host(env: Mapping[str, str], default: str) -> str:
    raw = env.get(ENV_PREFIX + "HOST", "").strip()
    if raw == "":
        return default
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    if len(raw) > 253 or not _HOST_NAME.fullmatch(raw):
        raise ConfigError(
            f"{ENV_PREFIX}HOST={raw!r} is not an IP address or host name; use an address such as 0.0.0.0, "
            "127.0.0.1 or :: (no port, no brackets), or a name such as localhost"
        )
    return raw


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(ENV_PREFIX + name, "").strip().lower()
    if raw == "":
        return default
    if raw not in _TRUE + _FALSE:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a yes/no value; use true or false")
    return raw in _TRUE


@dataclass(frozen=True)
class Settings:
    """Everything the service can be configured with, and its defaults."""

    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on all interfaces
    port: int = {{ cookiecutter.port }}
    workers: int = 2
    # Connections each worker serves at once: each is a greenlet, so a slow client holds one of these, not a worker.
    connections: int = 1000
    timeout: int = 30
    graceful_timeout: int = 30
    # Also the time a request's header section has to arrive, and body_timeout the time its body has.
    keepalive: int = 5
    body_timeout: int = 30
    max_content_length: int = 1024 * 1024
    log_level: str = "INFO"
    # Off by default: proxies and load balancers usually log requests already, and a line per request is not free.
    access_log: bool = False
    # Request metrics at GET /metrics. Under gunicorn they are kept in files in metrics_dir (default: a new private
    # directory in /dev/shm, removed at exit), which gunicorn.conf.py empties at start.
    metrics: bool = True
    metrics_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        log_level = env.get(ENV_PREFIX + "LOG_LEVEL", cls.log_level).upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(
                f"{ENV_PREFIX}LOG_LEVEL={log_level!r} is not a log level; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        return cls(
            host=_host(env, cls.host),
            port=read_integer(env, "PORT", cls.port, 1, 65535),
            workers=read_integer(env, "WORKERS", cls.workers, 1, 64),
            connections=read_integer(env, "CONNECTIONS", cls.connections, 1, 100_000),
            timeout=read_integer(env, "TIMEOUT", cls.timeout, 1, 3600),
            graceful_timeout=read_integer(env, "GRACEFUL_TIMEOUT", cls.graceful_timeout, 1, 3600),
            keepalive=read_integer(env, "KEEPALIVE", cls.keepalive, 1, 3600),
            body_timeout=read_integer(env, "BODY_TIMEOUT", cls.body_timeout, 1, 3600),
            max_content_length=read_integer(env, "MAX_CONTENT_LENGTH", cls.max_content_length, 1, 2**31),
            log_level=log_level,
            access_log=_boolean(env, "ACCESS_LOG", cls.access_log),
            metrics=_boolean(env, "METRICS", cls.metrics),
            metrics_dir=env.get(ENV_PREFIX + "METRICS_DIR", cls.metrics_dir).strip(),
        )
