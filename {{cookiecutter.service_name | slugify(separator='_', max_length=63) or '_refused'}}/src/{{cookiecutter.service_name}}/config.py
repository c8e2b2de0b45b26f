"""Settings from environment variables prefixed with ``{{ cookiecutter.__env_prefix }}_``.

One place reads the environment; the app factory and gunicorn.conf.py both take a ``Settings``.
"""

from __future__ import annotations

import ipaddress
import os
import re
{%- if cookiecutter.database == "postgresql" %}
import urllib.parse
{%- endif %}
from collections.abc import Mapping
from dataclasses import dataclass
{%- if cookiecutter.database == "postgresql" %}
from pathlib import Path
{%- endif %}

ENV_PREFIX = "{{ cookiecutter.__env_prefix }}_"


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _integer(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
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
{%- if cookiecutter.database == "postgresql" %}


_DATABASE_URL_FORM = "postgresql://user:password@host:5432/database"


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***``: what a message or a log line may show of it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _secret(env: Mapping[str, str], name: str) -> tuple[str, str]:
    """A secret setting, and the variable that gave it: ``<name>`` itself, or the file ``<name>_FILE`` names (a
    mounted Kubernetes or Docker secret, which leaves no copy in the process environment)."""
    path = env.get(ENV_PREFIX + name + "_FILE", "").strip()
    if not path:
        return env.get(ENV_PREFIX + name, "").strip(), ENV_PREFIX + name
    try:
        return Path(path).read_text(encoding="utf-8").strip(), ENV_PREFIX + name + "_FILE"
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(
            f"{ENV_PREFIX}{name}_FILE={path!r} cannot be read ({reason}); use the path of a file holding the value"
        ) from None


def _database_url(env: Mapping[str, str]) -> str:
    """The PostgreSQL URL as tools and managed databases hand it out, in the form SQLAlchemy and psycopg take."""
    raw, name = _secret(env, "DATABASE_URL")
    if raw == "":
        raise ConfigError(f"{name} is not set; use {_DATABASE_URL_FORM}")
    try:
        parts = urllib.parse.urlsplit(raw)
        port = parts.port
    except ValueError:
        parts, port = None, None
    scheme = parts.scheme if parts else ""
    if (
        parts is None
        or scheme not in ("postgresql", "postgres", "postgresql+psycopg")
        or not parts.hostname
        or not parts.path.strip("/")
        or (port is not None and not 0 < port < 65536)
    ):
        raise ConfigError(f"{name}={masked(raw)!r} is not a PostgreSQL URL; use {_DATABASE_URL_FORM}")
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql+psycopg"))
{%- elif cookiecutter.database == "sqlite" %}


_DATABASE_URL_FORM = "sqlite:////absolute/path/to/{{ cookiecutter.service_name }}.sqlite3"


def masked(url: str) -> str:
    """What a message or a log line may show of the URL: a SQLite URL holds no password."""
    return url


def _database_url(env: Mapping[str, str]) -> str:
    """A SQLite file, named by its path: the directory it is in is where the service keeps its data."""
    name = ENV_PREFIX + "DATABASE_URL"
    raw = env.get(name, "").strip()
    if raw == "":
        raise ConfigError(f"{name} is not set; use {_DATABASE_URL_FORM}")
    path = raw.removeprefix("sqlite:///")
    if not raw.startswith("sqlite:///") or path in ("", ":memory:") or path.endswith("/"):
        raise ConfigError(f"{name}={raw!r} is not a SQLite file URL; use {_DATABASE_URL_FORM}")
    return raw
{%- endif %}


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
{%- if cookiecutter.database != "none" %}
    # The database, and each worker's connections to it: at most pool_size, a request waits pool_timeout seconds
    # for one and a new connection connect_timeout seconds for the server; then it is answered 503.
    database_url: str = ""
    database_pool_size: int = 10
    database_pool_timeout: int = 5
    database_connect_timeout: int = 3
{%- endif %}

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
            port=_integer(env, "PORT", cls.port, 1, 65535),
            workers=_integer(env, "WORKERS", cls.workers, 1, 64),
            connections=_integer(env, "CONNECTIONS", cls.connections, 1, 100_000),
            timeout=_integer(env, "TIMEOUT", cls.timeout, 1, 3600),
            graceful_timeout=_integer(env, "GRACEFUL_TIMEOUT", cls.graceful_timeout, 1, 3600),
            keepalive=_integer(env, "KEEPALIVE", cls.keepalive, 1, 3600),
            body_timeout=_integer(env, "BODY_TIMEOUT", cls.body_timeout, 1, 3600),
            max_content_length=_integer(env, "MAX_CONTENT_LENGTH", cls.max_content_length, 1, 2**31),
            log_level=log_level,
            access_log=_boolean(env, "ACCESS_LOG", cls.access_log),
            metrics=_boolean(env, "METRICS", cls.metrics),
            metrics_dir=env.get(ENV_PREFIX + "METRICS_DIR", cls.metrics_dir).strip(),
{%- if cookiecutter.database != "none" %}
            database_url=_database_url(env),
            database_pool_size=_integer(env, "DATABASE_POOL_SIZE", cls.database_pool_size, 1, 1000),
            database_pool_timeout=_integer(env, "DATABASE_POOL_TIMEOUT", cls.database_pool_timeout, 1, 600),
            database_connect_timeout=_integer(env, "DATABASE_CONNECT_TIMEOUT", cls.database_connect_timeout, 2, 600),
{%- endif %}
        )
