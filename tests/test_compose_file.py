"""The example system's compose file (examples/docker-compose.yml), offline: valid against the Compose
specification's JSON schema, and what it describes matches the monorepo the README lays out. The docker layer
runs it under docker-compose (tests/test_docker.py)."""

from __future__ import annotations

import yaml

from support import TEMPLATE_DIR, schema_errors

COMPOSE_FILE = TEMPLATE_DIR / "examples" / "docker-compose.yml"
SERVICES = ("order_manager", "user_manager")


def test_the_compose_file_matches_the_compose_spec_schema() -> None:
    assert schema_errors("compose-spec", COMPOSE_FILE) == []


def test_the_compose_file_builds_each_service_from_its_own_directory_read_only() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]

    assert sorted(services) == sorted(SERVICES)
    for name, service in services.items():
        prefix = name.upper()
        assert service["build"] == {"context": f"services/{name}", "network": "host"}
        assert service["image"] == f"{name.replace('_', '-')}:0.1.0"  # what the service's `make docker-build` tags
        assert service["network_mode"] == "host"
        assert service["read_only"] is True
        assert {f"{prefix}_HOST", f"{prefix}_PORT"} <= set(service["environment"])
        assert all(name.startswith(prefix + "_") for name in service["environment"]), "another service's setting"
