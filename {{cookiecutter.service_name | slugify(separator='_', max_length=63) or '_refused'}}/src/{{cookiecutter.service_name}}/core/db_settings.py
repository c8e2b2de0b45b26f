{%- import "database/" ~ cookiecutter.database ~ ".jinja" as kind with context -%}
"""The database's settings: ``{{ cookiecutter.__env_prefix }}_DATABASE_URL`` and each worker's connections to it.

Read from the environment and refused as the service's other settings are (config.py): a ``ConfigError`` that names
the variable and says what would be valid.
"""

from __future__ import annotations

import os
{{- kind.settings_imports() }}
from collections.abc import Mapping
from dataclasses import dataclass

from {{ cookiecutter.service_name }}.core.config import ENV_PREFIX, ConfigError, read_integer
{{ kind.database_url() }}


# Idempotency keys are kept for at most 30 days: a client retries within minutes, and the table holds each answer.
MAX_KEY_TTL = 30 * 24 * 60 * 60


@dataclass(frozen=True)
class DatabaseSettings:
    """The database, and each worker's connections to it: at most pool_size, a request waits pool_timeout seconds
    for one and a new connection connect_timeout seconds for the server; then it is answered 503."""

    url: str
    pool_size: int = 10
    pool_timeout: int = 5
    connect_timeout: int = 3
    # How long the answer to a create sent with an Idempotency-Key is kept for a repeat (core/idempotency.py).
    idempotency_key_ttl: int = 24 * 60 * 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabaseSettings:
        """Read the settings from ``env`` (default: the process environment); the URL has no default."""
        env = os.environ if env is None else env
        return cls(
            url=_database_url(env),
            pool_size=read_integer(env, "DATABASE_POOL_SIZE", cls.pool_size, 1, 1000),
            pool_timeout=read_integer(env, "DATABASE_POOL_TIMEOUT", cls.pool_timeout, 1, 600),
            connect_timeout=read_integer(env, "DATABASE_CONNECT_TIMEOUT", cls.connect_timeout, 2, 600),
            idempotency_key_ttl=read_integer(env, "IDEMPOTENCY_KEY_TTL", cls.idempotency_key_ttl, 60, MAX_KEY_TTL),
        )
