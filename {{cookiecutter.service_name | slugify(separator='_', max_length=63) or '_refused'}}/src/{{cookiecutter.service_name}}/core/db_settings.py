{%- import "database/" ~ cookiecutter.database ~ ".jinja" as kind with context -%}
"""The database's settings: ``{{ cookiecutter.__env_prefix }}_DATABASE_URL`` and each worker's connections to it.

Read and refused as the service's other settings are (config.py): a ``ConfigError`` that names the variable and says
what would be valid, with the URL's password masked.
"""

from __future__ import annotations
{{ kind.settings_imports() }}
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from {{ cookiecutter.service_name }}.core.config import ENV_PREFIX, ServiceSettings
{{ kind.database_url() }}


class DatabaseSettings(ServiceSettings):
    """The database, and each worker's connections to it: at most pool_size, a request waits pool_timeout seconds
    for one and a new connection connect_timeout seconds for the server; then it is answered 503."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "DATABASE_")

    url: str = ""
    pool_size: Annotated[int, Field(ge=1, le=1000)] = 10
    pool_timeout: Annotated[int, Field(ge=1, le=600)] = 5
    connect_timeout: Annotated[int, Field(ge=2, le=600)] = 3

    @field_validator("url")
    @classmethod
    def _a_database_url(cls, url: str) -> str:
        return database_url(url)

    @classmethod
    def shown(cls, name: str, value: str) -> str:
        return masked(value) if name == "url" else super().shown(name, value)


# Idempotency keys are kept for at most 30 days: a client retries within minutes, and the table holds each answer.
MAX_KEY_TTL = 30 * 24 * 60 * 60


class IdempotencySettings(ServiceSettings):
    """How long the answer to a create sent with an Idempotency-Key is kept for a repeat (core/idempotency.py)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "IDEMPOTENCY_")

    key_ttl: Annotated[int, Field(ge=60, le=MAX_KEY_TTL)] = 24 * 60 * 60
