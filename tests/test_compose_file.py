"""The example system's compose file (examples/docker-compose.yml), offline: valid against the Compose
specification's JSON schema, and what it describes matches the monorepo the README lays out. The docker layer
runs it under docker-compose (tests/test_docker.py)."""

from __future__ import annotations

import pytest
import yaml

from kit.checks import schema_errors
from kit.template import TEMPLATE_DIR

COMPOSE_FILE = TEMPLATE_DIR / "examples" / "docker-compose.yml"
SERVICES = ("order_manager", "user_manager")


@pytest.mark.promise(
    "The example's compose file matches the compose specification and builds each service read-only", layer="offline"
)
def test_the_compose_file_matches_the_compose_spec_schema() -> None:
    assert schema_errors("compose-spec", COMPOSE_FILE) == []


@pytest.mark.promise(
    "The example's compose file matches the compose specification and builds each service read-only", layer="offline"
)
def test_the_compose_file_builds_each_service_from_its_own_directory_read_only() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]

    assert sorted(services) == sorted(["postgres", *SERVICES, *(f"{name}_migrate" for name in SERVICES)])
    for name in SERVICES:
        service, prefix = services[name], name.upper()
        assert service["build"] == {"context": f"services/{name}", "network": "host"}
        assert service["image"] == f"{name.replace('_', '-')}:0.1.0"  # what the service's `make docker-build` tags
        assert {f"{prefix}_HOST", f"{prefix}_PORT", f"{prefix}_DATABASE_URL"} <= set(service["environment"])
        assert all(name.startswith(prefix + "_") for name in service["environment"]), "another service's setting"
    assert all(service["network_mode"] == "host" and service["read_only"] is True for service in services.values())


def test_each_service_starts_once_its_migrations_ran_on_its_own_database() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]

    databases = set()
    for name in SERVICES:
        migrate, service, variable = services[f"{name}_migrate"], services[name], f"{name.upper()}_DATABASE_URL"
        assert migrate["image"] == service["image"]
        assert migrate["command"] == ["python", "-m", f"{name}.core.migrate"]
        assert migrate["environment"][variable] == service["environment"][variable]
        assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert service["depends_on"][f"{name}_migrate"] == {"condition": "service_completed_successfully"}
        databases.add(service["environment"][variable].rsplit("/", 1)[1])
    assert len(databases) == len(SERVICES)


@pytest.mark.promise("The example's compose file has order_manager call user_manager where it listens", layer="offline")
def test_order_manager_calls_user_manager_where_it_listens_once_it_is_healthy() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    order, user = services["order_manager"], services["user_manager"]

    port = user["environment"]["USER_MANAGER_PORT"]  # ${USER_MANAGER_PORT:-8002}, the same expression
    assert order["environment"]["ORDER_MANAGER_USER_MANAGER_URL"] == f"http://127.0.0.1:{port}"
    assert order["depends_on"]["user_manager"] == {"condition": "service_healthy"}
    assert "user_manager" not in user.get("depends_on", {}), "user_manager calls no one"
