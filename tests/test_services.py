"""The generated service works: installed with its own tool, its tests and linters pass, gunicorn serves it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from openapi_spec_validator import validate as validate_openapi

from kit.answers import BakedService, Baker, bake_with_cookies, case_id, install_matrix
from kit.checks import bom_packages, locked_runtime_packages
from kit.serving import MAX_CONTENT_LENGTH, http, serving
from kit.template import LOCK_FILES

pytestmark = [pytest.mark.install, pytest.mark.network]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Every manager and every Python version at least once (kit.answers.install_matrix, from cookiecutter.json).
MATRIX = install_matrix()
PIP = next(answers for answers in MATRIX if answers["dependency_manager"] == "pip")
UV = next(answers for answers in MATRIX if answers["dependency_manager"] == "uv")


@pytest.fixture(scope="module")
def base_url(installed: BakedService) -> Iterator[str]:
    with serving(installed) as url:
        yield url


@pytest.mark.promise(
    "With Poetry, pip and uv, a service is locked at generation and installs on its Python", layer="install"
)
def test_generation_wrote_the_lock(installed: BakedService) -> None:
    for name in LOCK_FILES[installed.answers["dependency_manager"]]:
        assert (installed.path / name).stat().st_size > 0


@pytest.mark.promise(
    "A pip lock pins every package with hashes, for the service's Python, and relocks to the same pins", layer="install"
)
@pytest.mark.xdist_group(case_id(PIP))  # the bake of the installed pip service
def test_pip_locks_pin_every_package_with_hashes(baked: Baker) -> None:
    service = baked(**PIP, _lock_dependencies=True)
    for name in LOCK_FILES["pip"]:
        entries = (service.path / name).read_text().replace("\\\n", " ").splitlines()
        requirements = [entry for entry in entries if "==" in entry]
        assert requirements, f"{name} pins nothing"
        assert all("--hash=sha256:" in line for line in requirements), f"{name} has a pin without a hash"


@pytest.mark.promise(
    "With Poetry, pip and uv, a service is locked at generation and installs on its Python", layer="install"
)
def test_install_uses_the_chosen_python(installed: BakedService) -> None:
    version = installed.run(".venv/bin/python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    assert version.strip() == installed.answers["python_version"]


@pytest.mark.promise("A generated service passes its own `make test` and `make lint`", layer="install")
@pytest.mark.promise(
    "Its own tests check every setting's validation and `gunicorn.conf.py` (IPv4/IPv6 bind, access log)",
    layer="install",
)
def test_the_services_own_tests_pass(installed: BakedService) -> None:
    output = installed.make("test")
    assert " passed" in output and "failed" not in output


@pytest.mark.promise("A generated service passes its own `make test` and `make lint`", layer="install")
def test_the_services_own_lint_and_type_checks_pass(installed: BakedService) -> None:
    installed.make("lint")


@pytest.mark.promise(
    "Under gunicorn: 201, JSON 400/404/405/413/415 (chunked bodies too), the probes; `make run` too", layer="install"
)
@pytest.mark.parametrize("body", [b'{"item": "book"}', [b'{"item": ', b'"book"}']], ids=["declared", "chunked"])
def test_gunicorn_creates_the_resource(base_url: str, body: bytes | list[bytes]) -> None:
    response = http("POST", base_url + "/api/order", body, "application/json")

    assert response.status == 201
    assert response.json() == {"message": "Order created"}


@pytest.mark.promise(
    "Under gunicorn: 201, JSON 400/404/405/413/415 (chunked bodies too), the probes; `make run` too", layer="install"
)
def test_gunicorn_answers_malformed_json_with_a_json_400(base_url: str) -> None:
    response = http("POST", base_url + "/api/order", b'{"item": ', "application/json")

    assert response.status == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == 400


@pytest.mark.promise(
    "Under gunicorn: 201, JSON 400/404/405/413/415 (chunked bodies too), the probes; `make run` too", layer="install"
)
def test_gunicorn_answers_health_and_readiness(base_url: str) -> None:
    assert http("GET", base_url + "/healthz").json() == {"status": "ok"}
    assert http("GET", base_url + "/readyz").status == 200


@pytest.mark.promise(
    "The served OpenAPI document is valid; schemathesis finds no 5xx and no answer outside it", layer="install"
)
def test_the_served_openapi_document_passes_openapi_spec_validator(base_url: str) -> None:
    document = http("GET", base_url + "/openapi.json").json()

    validate_openapi(document)  # raises, naming the first problem
    assert "/api/order" in document["paths"]


@pytest.mark.promise(
    "Under gunicorn: 201, JSON 400/404/405/413/415 (chunked bodies too), the probes; `make run` too", layer="install"
)
@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("GET", "/no/such/route", None, None, 404),
        ("DELETE", "/api/order", None, None, 405),
        ("POST", "/api/order", b"item=book", "application/x-www-form-urlencoded", 415),
        ("POST", "/api/order", b'{"pad": "' + b"x" * 2 * MAX_CONTENT_LENGTH + b'"}', "application/json", 413),
        ("POST", "/api/order", [b'{"pad": "', b"x" * 2 * MAX_CONTENT_LENGTH, b'"}'], "application/json", 413),
    ],
    ids=["unknown-route", "wrong-method", "wrong-content-type", "oversized-body", "oversized-chunked-body"],
)
def test_gunicorn_answers_every_error_with_json(
    base_url: str, method: str, path: str, body: bytes | list[bytes] | None, content_type: str | None, status: int
) -> None:
    response = http(method, base_url + path, body, content_type)

    assert response.status == status
    assert json.loads(response.body)["error"]["code"] == status


@pytest.mark.promise(
    "Under gunicorn: 201, JSON 400/404/405/413/415 (chunked bodies too), the probes; `make run` too", layer="install"
)
def test_make_run_serves_the_app_with_the_flask_development_server(installed: BakedService) -> None:
    with serving(installed, ["make", "run"]) as url:
        response = http("POST", url + "/api/order", b"{}", "application/json")

    assert response.status == 201


@pytest.mark.promise(
    "A pip lock pins every package with hashes, for the service's Python, and relocks to the same pins", layer="install"
)
def test_pip_relocks_from_its_own_environment_to_the_same_pins(baked: Baker) -> None:
    service = baked(**PIP, _lock_dependencies=True)
    service.install()
    before = {name: (service.path / name).read_text() for name in LOCK_FILES["pip"]}

    service.make("lock")

    assert all("uv pip compile --universal --python-version" in lock for lock in before.values())
    assert {name: (service.path / name).read_text() for name in LOCK_FILES["pip"]} == before


@pytest.mark.promise("`make sbom` lists exactly the lock's runtime packages, versions and hashes", layer="install")
def test_make_sbom_lists_the_locked_runtime_packages_with_their_hashes(installed: BakedService) -> None:
    installed.make("sbom")
    text = (installed.path / "sbom.cdx.json").read_text()

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = bom_packages(json.loads(text))
    locked = locked_runtime_packages(installed.path, installed.answers["dependency_manager"], installed.name)
    assert {"flask", "gunicorn", "werkzeug"} <= locked.keys()
    assert {name: version for name, (version, _) in bom.items()} == {n: v for n, (v, _) in locked.items()}
    for name, (_, hashes) in locked.items():
        assert hashes and bom[name][1] == hashes, f"{name}: the bill of materials lost the lock's hashes"


@pytest.mark.promise(
    "Every log line is a JSON object; an access line appears only with `<PREFIX>_ACCESS_LOG=true`", layer="install"
)
@pytest.mark.parametrize("access_log", ["false", "true"], ids=["access-log-off", "access-log-on"])
def test_the_served_log_is_json_lines_with_access_lines_only_when_switched_on(baked: Baker, access_log: str) -> None:
    service = baked(**UV, _lock_dependencies=True)
    service.install()
    # gunicorn as the image runs it (make would add its own line when stopped).
    gunicorn = [".venv/bin/gunicorn", "--config", "gunicorn.conf.py", f"{service.name}.core.wsgi:app"]
    with serving(service, gunicorn, {"ACCESS_LOG": access_log}) as url:
        assert http("POST", url + "/api/order", b"{}", "application/json").status == 201
    lines = (service.path / "serve.log").read_text().splitlines()

    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
    assert all(isinstance(entry, dict) for entry in entries), lines
    assert all(entry["level"] in LOG_LEVELS and isinstance(entry["message"], str) for entry in entries), lines
    assert any("Listening at: http://127.0.0.1:" in entry["message"] for entry in entries), lines  # gunicorn's own
    access = [entry["message"] for entry in entries if "POST /api/order" in entry["message"]]
    if access_log == "true":
        assert len(access) == 1 and " 201 " in access[0], lines
    else:
        assert access == [], lines


@pytest.mark.parametrize("answers", MATRIX, ids=case_id)
def test_generation_says_what_it_locks_and_leaves_no_virtual_environment(
    answers: dict[str, str], cookies: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    service = bake_with_cookies(cookies, **answers, _lock_dependencies=True)
    output = capfd.readouterr().out

    lock_files = " and ".join(LOCK_FILES[answers["dependency_manager"]])
    said = re.search(
        rf"^Locking with .+ for Python {re.escape(answers['python_version'])} \.\.\.\n"
        rf"Locked in \d+\.\d s: {re.escape(lock_files)}\.\n",
        output,
        re.MULTILINE,
    )
    assert said, output
    assert output.index("Locking with") < output.index(f"Created {service.name}/")
    assert not (service.path / ".venv").exists(), "the lock left a virtual environment behind"
