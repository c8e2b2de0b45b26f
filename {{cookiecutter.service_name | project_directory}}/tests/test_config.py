from __future__ import annotations

import pytest

from {{ cookiecutter.service_name }}.config import ConfigError, Settings

PREFIX = "{{ cookiecutter.__env_prefix }}_"


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = Settings.from_env({})

    assert settings.host == "0.0.0.0"
    assert settings.port == {{ cookiecutter.port }}


def test_prefixed_variables_override_the_defaults() -> None:
    settings = Settings.from_env({PREFIX + "HOST": "127.0.0.1", PREFIX + "PORT": "9001", PREFIX + "WORKERS": "3"})

    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 9001, 3)


@pytest.mark.parametrize(("name", "value"), [("PORT", "eighty"), ("PORT", "70000"), ("WORKERS", "0")])
def test_a_bad_value_is_refused_with_the_variable_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=PREFIX + name):
        Settings.from_env({PREFIX + name: value})


@pytest.mark.parametrize(("value", "expected"), [("", False), ("true", True), ("YES", True), ("0", False)])
def test_the_access_log_is_off_unless_switched_on(value: str, expected: bool) -> None:
    assert Settings.from_env({PREFIX + "ACCESS_LOG": value}).access_log is expected


def test_a_bad_access_log_value_is_refused() -> None:
    with pytest.raises(ConfigError, match=PREFIX + "ACCESS_LOG"):
        Settings.from_env({PREFIX + "ACCESS_LOG": "sometimes"})
