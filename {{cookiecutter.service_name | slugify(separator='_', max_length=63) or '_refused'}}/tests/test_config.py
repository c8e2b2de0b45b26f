from __future__ import annotations

import re
from contextlib import AbstractContextManager

import pytest

from {{ cookiecutter.service_name }}.core.config import ConfigError, Settings

PREFIX = "{{ cookiecutter.__env_prefix }}_"


DEFAULTS = Settings.from_env({})

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
BOOLEANS = [("ACCESS_LOG", "access_log"), ("METRICS", "metrics")]
BOOLEAN_IDS = [name for name, _ in BOOLEANS]


def refused(name: str, reason: str) -> AbstractContextManager[pytest.ExceptionInfo[ConfigError]]:
    """A refusal whose message names the variable (with its prefix) and says what is wrong."""
    return pytest.raises(ConfigError, match=re.escape(PREFIX + name) + ".*" + re.escape(reason))


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = Settings.from_env({})

    assert settings == Settings()
    assert settings.host == "0.0.0.0"
    assert settings.port == {{ cookiecutter.port }}
    assert (settings.log_level, settings.access_log) == ("INFO", False)


def test_prefixed_variables_override_the_defaults() -> None:
    settings = Settings.from_env({PREFIX + "HOST": "127.0.0.1", PREFIX + "PORT": "9001", PREFIX + "WORKERS": "3"})

    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 9001, 3)


def test_variables_without_the_prefix_are_ignored() -> None:
    assert Settings.from_env({"PORT": "9001", "WORKERS": "3"}) == DEFAULTS


@pytest.mark.parametrize(("name", "attribute", "lowest", "highest"), INTEGER_RANGES, ids=INTEGER_IDS)
def test_each_integer_accepts_both_ends_of_its_range(name: str, attribute: str, lowest: int, highest: int) -> None:
    assert getattr(Settings.from_env({PREFIX + name: str(lowest)}), attribute) == lowest
    assert getattr(Settings.from_env({PREFIX + name: str(highest)}), attribute) == highest


@pytest.mark.parametrize(("name", "attribute", "lowest", "highest"), INTEGER_RANGES, ids=INTEGER_IDS)
def test_each_integer_refuses_the_values_just_outside_its_range(
    name: str, attribute: str, lowest: int, highest: int
) -> None:
    for value in (lowest - 1, highest + 1):
        with refused(name, f"={value} is out of range; use {lowest} to {highest}"):
            Settings.from_env({PREFIX + name: str(value)})


@pytest.mark.parametrize(("name", "attribute", "lowest", "highest"), INTEGER_RANGES, ids=INTEGER_IDS)
def test_each_integer_refuses_what_is_not_an_integer_and_defaults_when_blank(
    name: str, attribute: str, lowest: int, highest: int
) -> None:
    for value in ("eighty", "1.5", "0x10"):
        with refused(name, "is not an integer"):
            Settings.from_env({PREFIX + name: value})
    assert getattr(Settings.from_env({PREFIX + name: " "}), attribute) == getattr(DEFAULTS, attribute)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_every_log_level_is_accepted_in_any_case(level: str) -> None:
    assert Settings.from_env({PREFIX + "LOG_LEVEL": level.lower()}).log_level == level


@pytest.mark.parametrize("value", ["verbose", "warn", "5"])
def test_an_unknown_log_level_is_refused(value: str) -> None:
    with refused("LOG_LEVEL", "is not a log level; use DEBUG, INFO, WARNING, ERROR or CRITICAL"):
        Settings.from_env({PREFIX + "LOG_LEVEL": value})


@pytest.mark.parametrize(("name", "attribute"), BOOLEANS, ids=BOOLEAN_IDS)
def test_each_boolean_reads_every_spelling_of_yes_and_no(name: str, attribute: str) -> None:
    for value in ("1", "true", "True", "YES", "on"):
        assert getattr(Settings.from_env({PREFIX + name: value}), attribute) is True, value
    for value in ("0", "false", "FALSE", "no", "Off"):
        assert getattr(Settings.from_env({PREFIX + name: value}), attribute) is False, value
    assert getattr(Settings.from_env({PREFIX + name: ""}), attribute) is getattr(DEFAULTS, attribute)


@pytest.mark.parametrize(("name", "attribute"), BOOLEANS, ids=BOOLEAN_IDS)
def test_each_boolean_refuses_anything_else(name: str, attribute: str) -> None:
    for value in ("sometimes", "2", "y"):
        with refused(name, "is not a yes/no value; use true or false"):
            Settings.from_env({PREFIX + name: value})


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::", "::1", "fd00::1", "localhost", "orders.internal"])
def test_the_host_is_an_ip_address_or_a_host_name(host: str) -> None:
    assert Settings.from_env({PREFIX + "HOST": host}).host == host


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "[::1]", "http://localhost", "256.0.0.1", "two words", "-leading-hyphen", "a..b"]
)
def test_a_host_that_is_neither_is_refused(host: str) -> None:
    with refused("HOST", "is not an IP address or host name; use"):
        Settings.from_env({PREFIX + "HOST": host})


def test_a_blank_host_takes_the_default() -> None:
    assert Settings.from_env({PREFIX + "HOST": ""}).host == DEFAULTS.host


@pytest.mark.parametrize(("value", "expected"), [("", True), ("false", False), ("1", True)])
def test_metrics_are_on_unless_switched_off(value: str, expected: bool) -> None:
    assert Settings.from_env({PREFIX + "METRICS": value}).metrics is expected


def test_the_metrics_directory_comes_from_the_environment() -> None:
    assert Settings.from_env({PREFIX + "METRICS_DIR": "/run/metrics"}).metrics_dir == "/run/metrics"
    assert Settings.from_env({}).metrics_dir == ""
