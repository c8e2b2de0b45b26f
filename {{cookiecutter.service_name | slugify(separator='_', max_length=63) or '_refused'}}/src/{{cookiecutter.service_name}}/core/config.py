"""Settings from environment variables prefixed with ``{{ cookiecutter.__env_prefix }}_``, read by pydantic-settings.

A setting is one annotated line in a ``ServiceSettings`` class, its range a ``Field(ge=..., le=...)``; a value the
service cannot use is refused with a ``ConfigError`` of one line. The app factory and gunicorn.conf.py take a
``Settings``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "{{ cookiecutter.__env_prefix }}_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


class SecretFiles(PydanticBaseSettingsSource):
    """``<variable>_FILE=/path``: the setting is what that file holds, such as a mounted Kubernetes or Docker secret,
    which leaves no copy in the process environment. pydantic-settings' own ``secrets_dir`` reads a directory of
    files named after the settings instead, which is not how secrets are handed to the service."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = self.config.get("env_prefix", "") + field_name.upper() + "_FILE"
        path = os.environ.get(name, "").strip()
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8"), field_name, False
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise ConfigError(
                f"{name}={path!r} cannot be read ({reason}); use the path of a file holding the value"
            ) from None

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[field_name] = value
        return values


class ServiceSettings(BaseSettings):
    """What every group of settings shares: where it is read from, and how a value it refuses is reported. A group of
    its own (such as the database's) subclasses this with ``model_config = SettingsConfigDict(env_prefix=...)``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:  # the one place a refusal becomes the service's one line
            raise ConfigError(type(self)._refusal(error.errors()[0])) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A file named by <variable>_FILE wins over the variable itself; a service reads no .env file.
        return init_settings, SecretFiles(settings_cls), env_settings

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: Any) -> Any:
        """A variable set to blanks (an empty line in a manifest) takes the default, as if it were not set."""
        if not isinstance(values, dict):
            return values
        stripped = {name: value.strip() if isinstance(value, str) else value for name, value in values.items()}
        return {name: value for name, value in stripped.items() if value != ""}

    @classmethod
    def _variable(cls, name: str) -> str:
        """The environment variable that sets ``name``, or the ``_FILE`` variable if that is where it came from."""
        variable = cls.model_config.get("env_prefix", "") + name.upper()
        return variable + "_FILE" if os.environ.get(variable + "_FILE", "").strip() else variable

    @classmethod
    def shown(cls, name: str, value: str) -> str:
        """What a message may show of a value: none of a ``SecretStr`` setting's. A class whose settings hold a secret
        in part (a URL's password) overrides this."""
        return "***" if cls.model_fields[name].annotation is SecretStr else value

    @classmethod
    def _range(cls, name: str) -> str:
        """The values the ``Field(ge=..., le=...)`` (or ``gt``, ``lt``) of ``name`` allows, in words."""
        rules = cls.model_fields[name].metadata
        bounds = {key: getattr(rule, key) for rule in rules for key in ("gt", "ge", "lt", "le") if hasattr(rule, key)}
        if "ge" in bounds and "le" in bounds:
            return f"{bounds['ge']} to {bounds['le']}"
        words = {"gt": "more than", "ge": "at least", "lt": "less than", "le": "at most"}
        return ", ".join(f"{words[key]} {bound}" for key, bound in bounds.items())

    @classmethod
    def _refusal(cls, error: ErrorDetails) -> str:
        """pydantic's error as the service's one line: ``NAME=value is ...; use ...``."""
        name = str(error["loc"][0])
        variable, value = cls._variable(name), error["input"]
        if error["type"] == "missing":  # a setting without a default; its input is every other value
            return f"{variable} is not set"
        if error["type"] == "value_error":  # the service's own validators say what would be valid
            reason = str(error.get("ctx", {}).get("error", error["msg"]))
        elif error["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            return f"{variable}={value} is out of range; use {cls._range(name)}"
        elif error["type"].startswith("int_"):
            reason = "is not an integer"
        elif error["type"].startswith("float_"):
            reason = "is not a number"
        elif error["type"].startswith("bool_"):
            reason = "is not a yes/no value; use true or false"
        else:
            reason = f"is not valid: {error['msg']}"
        if value == "":
            return f"{variable} {reason}"
        return f"{variable}={cls.shown(name, str(value))!r} {reason}"


# A DNS name (RFC 1123 labels); its last label is not all digits, so a mistyped IPv4 address is not taken for one.
_HOST_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


class Settings(ServiceSettings):
    """Everything the service can be configured with, and its defaults."""

    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on all interfaces
    port: Annotated[int, Field(ge=1, le=65535)] = {{ cookiecutter.port }}
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    # Connections each worker serves at once: each is a greenlet, so a slow client holds one of these, not a worker.
    connections: Annotated[int, Field(ge=1, le=100_000)] = 1000
    timeout: Annotated[int, Field(ge=1, le=3600)] = 30
    graceful_timeout: Annotated[int, Field(ge=1, le=3600)] = 30
    # Also the time a request's header section has to arrive, and body_timeout the time its body has.
    keepalive: Annotated[int, Field(ge=1, le=3600)] = 5
    body_timeout: Annotated[int, Field(ge=1, le=3600)] = 30
    max_content_length: Annotated[int, Field(ge=1, le=2**31)] = 1024 * 1024
    log_level: str = "INFO"
    # Off by default: proxies and load balancers usually log requests already, and a line per request is not free.
    access_log: bool = False
    # Request metrics at GET /metrics. Under gunicorn they are kept in files in metrics_dir (default: a new private
    # directory in /dev/shm, removed at exit), which gunicorn.conf.py empties at start.
    metrics: bool = True
    metrics_dir: str = ""

    @field_validator("host")
    @classmethod
    def _an_address_or_a_name(cls, host: str) -> str:
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        if len(host) > 253 or not _HOST_NAME.fullmatch(host):
            raise ValueError(
                "is not an IP address or host name; use an address such as 0.0.0.0, 127.0.0.1 or :: "
                "(no port, no brackets), or a name such as localhost"
            )
        return host

    @field_validator("log_level")
    @classmethod
    def _a_log_level(cls, level: str) -> str:
        if level.upper() not in LOG_LEVELS:
            raise ValueError(f"is not a log level; use {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
        return level.upper()
