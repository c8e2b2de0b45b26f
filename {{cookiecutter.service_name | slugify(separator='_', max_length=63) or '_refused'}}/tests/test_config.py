"""The service's settings: each integer's range, the host and log level checks, a setting read from a mounted file,
and a refusal in one line that names the variable. Reading the variables is pydantic-settings' part."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field, SecretStr

from {{ cookiecutter.service_name }}.core.config import ConfigError, ServiceSettings, Settings

PREFIX = "{{ cookiecutter.__env_prefix }}_"
Read = Callable[..., Settings]

# Every integer setting: variable, attribute, lowest and highest value accepted.
INTEGER_RANGES = [
    ("PORT", "port", 1, 65535),
    ("WORKERS", "workers", 1, 64),
    ("CONNECTIONS", "connections", 1, 100_000),
    ("TIMEOUT", "timeout", 1, 3600),
    ("GRACEFUL_TIMEOUT", "graceful_timeout", 1, 3600),
    ("KEEPALIVE", "keepalive", 1, 3600),
    ("BODY_TIMEOUT", "body_timeout", 1, 3600),
    ("MAX_CONTENT_LENGTH", "max_content_length", 1, 2**31),
]
INTEGER_IDS = [name for name, *_ in INTEGER_RANGES]


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> Read:
    """``read(NAME=value, ...)``: the settings with only these of the service's variables set (named without the
    prefix), whatever the shell running the tests has set."""
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        monkeypatch.delenv(name)

    def read(**variables: str) -> Settings:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in variables.items():
                patch.setenv(PREFIX + name, value)
            return Settings()

    return read


def refused(start: str) -> AbstractContextManager[pytest.ExceptionInfo[ConfigError]]:
    """A refusal in one line that starts with the prefixed variable and goes on as ``start`` does."""
    return pytest.raises(ConfigError, match="^" + re.escape(PREFIX + start) + r"[^\n]*\Z")


def test_defaults_apply_when_nothing_is_set(read: Read) -> None:
    settings = read()

    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", {{ cookiecutter.port }}, 2)
    assert (settings.log_level, settings.access_log, settings.metrics) == ("INFO", False, True)


def test_prefixed_variables_override_the_defaults_and_others_are_ignored(
    read: Read, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "9001")

    settings = read(HOST="127.0.0.1", WORKERS="3", ACCESS_LOG="yes", METRICS="off")

    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", {{ cookiecutter.port }}, 3)
    assert (settings.access_log, settings.metrics) == (True, False)


def test_a_blank_variable_takes_the_default(read: Read) -> None:
    assert read(HOST=" ", PORT="", WORKERS="  ", LOG_LEVEL="", ACCESS_LOG=" ", METRICS="") == read()


@pytest.mark.parametrize(("name", "attribute", "lowest", "highest"), INTEGER_RANGES, ids=INTEGER_IDS)
def test_each_integer_takes_its_range_and_refuses_the_values_just_outside(
    read: Read, name: str, attribute: str, lowest: int, highest: int
) -> None:
    assert getattr(read(**{name: str(lowest)}), attribute) == lowest
    assert getattr(read(**{name: str(highest)}), attribute) == highest
    for value in (lowest - 1, highest + 1):
        with refused(f"{name}={value} is out of range; use {lowest} to {highest}"):
            read(**{name: str(value)})


@pytest.mark.parametrize("value", ["eighty", "1.5", "0x10"])
def test_an_integer_refuses_what_is_not_one(read: Read, value: str) -> None:
    with refused(f"TIMEOUT={value!r} is not an integer"):
        read(TIMEOUT=value)


@pytest.mark.parametrize("value", ["sometimes", "2"])
def test_a_yes_no_setting_refuses_anything_else(read: Read, value: str) -> None:
    with refused(f"ACCESS_LOG={value!r} is not a yes/no value; use true or false"):
        read(ACCESS_LOG=value)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_every_log_level_is_accepted_in_any_case(read: Read, level: str) -> None:
    assert read(LOG_LEVEL=level.lower()).log_level == level


@pytest.mark.parametrize("value", ["verbose", "warn", "5"])
def test_an_unknown_log_level_is_refused(read: Read, value: str) -> None:
    with refused(f"LOG_LEVEL={value!r} is not a log level; use DEBUG, INFO, WARNING, ERROR or CRITICAL"):
        read(LOG_LEVEL=value)


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::", "::1", "fd00::1", "localhost", "orders.internal"])
def test_the_host_is_an_ip_address_or_a_host_name(read: Read, host: str) -> None:
    assert read(HOST=host).host == host


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "[::1]", "http://localhost", "256.0.0.1", "two words", "-leading-hyphen", "a..b"]
)
def test_a_host_that_is_neither_is_refused(read: Read, host: str) -> None:
    with refused(f"HOST={host!r} is not an IP address or host name; use an address such as 0.0.0.0"):
        read(HOST=host)


def test_any_setting_can_come_from_a_mounted_file_which_wins_over_the_variable(read: Read, tmp_path: Path) -> None:
    secret = tmp_path / "port"
    secret.write_text("9001\n")

    assert read(PORT="9002", PORT_FILE=str(secret)).port == 9001
    secret.write_text("70000\n")
    with refused("PORT_FILE=70000 is out of range; use 1 to 65535"):
        read(PORT_FILE=str(secret))


def test_a_file_that_cannot_be_read_is_refused_saying_what_is_wrong(read: Read, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")

    with refused(f"PORT_FILE={missing!r} cannot be read (No such file or directory); use the path of a file"):
        read(PORT_FILE=missing)


class WithASecret(ServiceSettings):
    token: Annotated[SecretStr, Field(min_length=12)] = SecretStr("a long enough token")


def test_a_secret_setting_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFIX + "TOKEN", "s3cr3t")

    with refused("TOKEN='***' is not valid") as refusal:
        WithASecret()
    assert "s3cr3t" not in str(refusal.value)
