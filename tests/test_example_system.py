"""The example system, generated from the template and used for real.

A monorepo holds the shared package (libs/discount_calculator) and two services generated into services/:
order_manager depends on the package by path, user_manager does not; each stores its records in a PostgreSQL
database of its own. For each dependency manager, both are installed with `make install`, pass their own tests,
and are served by gunicorn on 127.0.0.1. Then order_manager is generated against a private index (a real
pypiserver) that serves the package as a release.
"""

from __future__ import annotations

import json
import re
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.answers import BakedService, bake
from kit.checks import bom_packages, locked_runtime_packages
from kit.example import INDEX_PYTHON, ExampleMonorepo
from kit.serving import http, serving, stored_records
from kit.template import LOCK_FILES, MANAGERS, SHARED_PACKAGE_DIR
from kit.workers import example_system_group, one_group_per_case

pytestmark = [pytest.mark.install, pytest.mark.example, pytest.mark.network]
SHARED_PACKAGE_VERSION = tomllib.loads((SHARED_PACKAGE_DIR / "pyproject.toml").read_text())["project"]["version"]

ORDERS = 400  # chance that one of the 21 discounts never shows up: under 21 * (20/21)**400, below one in ten million
ORDER_MESSAGE = re.compile(r"Order created, discount is (\d+)\.")


def place_order(base_url: str) -> int:
    response = http("POST", base_url + "/api/order", b'{"name": "book"}', "application/json")
    assert response.status == 201
    body = response.json()
    match = ORDER_MESSAGE.fullmatch(body["message"])
    assert match, body
    assert int(match.group(1)) == body["discount"]
    return int(body["discount"])


def indexes_in_lock(lock: Path) -> set[str]:
    """The package indexes a lock file says it resolved from (every locked package's, for Poetry and uv)."""
    if lock.suffix == ".txt":  # uv pip compile writes the index it was given as an option line (--emit-index-url)
        lines = lock.read_text().splitlines()
        return {line.split()[1].rstrip("/") for line in lines if line.startswith("--index-url ")}
    packages = tomllib.loads(lock.read_text())["package"]
    if lock.name == "poetry.lock":  # a package without a source came from PyPI, Poetry's implicit default
        return {package.get("source", {}).get("url", "https://pypi.org/simple").rstrip("/") for package in packages}
    # uv.lock: the service itself is a local source; every other package names its registry.
    sources = [package["source"] for package in packages if package["name"] != "order-manager"]
    return {source.get("registry", repr(source)).rstrip("/") for source in sources}


@pytest.fixture(
    scope="module",
    params=one_group_per_case(MANAGERS, lambda manager: f"dependency_manager={manager}", example_system_group),
)
def monorepo(request: pytest.FixtureRequest, example_monorepo: ExampleMonorepo) -> dict[str, BakedService]:
    """The example system for one dependency manager, both services installed with `make install`."""
    services: dict[str, BakedService] = example_monorepo(request.param)
    for service in services.values():
        service.install()
    return services


@pytest.fixture(scope="module")
def order_url(monorepo: dict[str, BakedService]) -> Iterator[str]:
    with serving(monorepo["order"]) as url:
        yield url


@pytest.fixture(scope="module")
def user_url(monorepo: dict[str, BakedService]) -> Iterator[str]:
    with serving(monorepo["user"]) as url:
        yield url


@pytest.mark.promise(
    "The shared package builds a typed wheel and an sdist; user_manager creates users", layer="example"
)
def test_the_shared_package_builds_a_typed_wheel_and_an_sdist(shared_package_dists: dict[str, Path]) -> None:
    assert shared_package_dists["wheel"].name == f"discount_calculator-{SHARED_PACKAGE_VERSION}-py3-none-any.whl"
    assert shared_package_dists["sdist"].name == f"discount_calculator-{SHARED_PACKAGE_VERSION}.tar.gz"
    names = zipfile.ZipFile(shared_package_dists["wheel"]).namelist()
    assert "discount_calculator/py.typed" in names
    assert "discount_calculator/calculator.py" in names


@pytest.mark.promise(
    "In the monorepo both services pass their tests; only order_manager has the package, editable", layer="example"
)
def test_both_services_pass_their_own_tests(monorepo: dict[str, BakedService]) -> None:
    for service in monorepo.values():
        assert " passed" in service.make("test")


@pytest.mark.promise(
    "In the monorepo both services pass their tests; only order_manager has the package, editable", layer="example"
)
def test_order_manager_uses_the_shared_package_from_the_monorepo_editable(monorepo: dict[str, BakedService]) -> None:
    order = monorepo["order"]
    location = order.run(".venv/bin/python", "-c", "import discount_calculator; print(discount_calculator.__file__)")
    assert Path(location.strip()).is_relative_to(order.path.parent.parent / "libs" / "discount_calculator")


def test_the_bill_of_materials_names_the_shared_package_with_the_locked_runtime(
    monorepo: dict[str, BakedService],
) -> None:
    order = monorepo["order"]
    order.make("sbom")
    bom = bom_packages(json.loads((order.path / "sbom.cdx.json").read_text()))
    locked = locked_runtime_packages(order.path, order.answers["dependency_manager"], order.name)

    assert bom["discount-calculator"][0] == SHARED_PACKAGE_VERSION
    assert {name: version for name, (version, _) in bom.items()} == {n: v for n, (v, _) in locked.items()}


@pytest.mark.promise(
    "In the monorepo both services pass their tests; only order_manager has the package, editable", layer="example"
)
def test_user_manager_has_no_trace_of_the_shared_package(monorepo: dict[str, BakedService]) -> None:
    user = monorepo["user"]
    for path in user.files():
        if path.name not in ("serve.log", ".cruft.json"):  # .cruft.json records every answer
            assert "discount" not in path.read_text().lower(), path
    probe = "import importlib.util; print(importlib.util.find_spec('discount_calculator') is None)"
    assert user.run(".venv/bin/python", "-c", probe).strip() == "True"


@pytest.mark.promise("400 orders, read back from PostgreSQL, show every discount from 0 to 20", layer="example")
def test_orders_read_back_from_the_database_show_every_discount_from_0_to_20(order_url: str) -> None:
    before = len(stored_records(order_url, "order"))
    discounts = [place_order(order_url) for _ in range(ORDERS)]

    read_back = [item["discount"] for item in stored_records(order_url, "order")[before:]]
    assert read_back == discounts
    missing = sorted(set(range(21)) - set(read_back))
    assert not missing, f"discounts never given in {ORDERS} orders: {missing}"
    assert set(read_back) == set(range(21)), f"discounts outside 0 to 20: {sorted(set(read_back) - set(range(21)))}"


@pytest.mark.promise(
    "The shared package builds a typed wheel and an sdist; user_manager creates users", layer="example"
)
def test_user_manager_creates_users(user_url: str) -> None:
    response = http("POST", user_url + "/api/user", b'{"name": "Ada"}', "application/json")

    assert response.status == 201
    assert response.json()["message"] == "User created"
    assert http("GET", user_url + response.headers["Location"]).json()["name"] == "Ada"


@pytest.mark.promise(
    "A service locks, installs and runs from a private index alone; its lock names that index", layer="example"
)
@pytest.mark.parametrize("manager", MANAGERS, ids=lambda manager: f"dependency_manager={manager}")
def test_a_service_installs_and_runs_from_the_private_index_alone(
    manager: str, private_index: str, tmp_path: Path
) -> None:
    order = bake(
        tmp_path,
        service_name="order_manager",
        dependency_manager=manager,
        python_version=INDEX_PYTHON,
        use_discount_calculator=True,
        package_index_url=private_index,
        _lock_dependencies=True,
    )
    for name in LOCK_FILES[manager]:
        lock = order.path / name
        assert lock.is_file(), "generation did not lock against the private index"
        assert "pypi.org" not in lock.read_text(), f"{name} points at PyPI"
        assert indexes_in_lock(lock) == {private_index.rstrip("/")}, f"{name} does not point at the private index"

    order.install()
    assert " passed" in order.make("test")
    with serving(order) as url:
        assert 0 <= place_order(url) <= 20
