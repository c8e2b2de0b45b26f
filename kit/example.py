"""The example system: the monorepo of order_manager and user_manager with the shared package, and what the
private index mirrors."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from kit.answers import BakedService, bake
from kit.postgres import PostgresServer, database_environment
from kit.processes import clean_environment
from kit.template import PYTHONS, SHARED_PACKAGE_DIR, TEMPLATE_CONTEXT, TEMPLATE_DIR, TOOLS_BIN

# What the ``example_monorepo`` fixture (conftest.py) gives a test.
ExampleMonorepo = Callable[[str], dict[str, "BakedService"]]


# Where the example monorepo's services find the shared package, relative to each service.
EXAMPLE_PACKAGE_PATH = "../../libs/discount_calculator"


# The page that shows the example's team change to order_manager, and the commands that apply it.
EXAMPLE_PAGE = TEMPLATE_DIR / "docs" / "example.md"

# Where order_manager's calls to user_manager go until a test serves user_manager: a port nothing listens on (the
# setting is required at start; the generated code never calls it, only the team change does).
NOWHERE = "http://127.0.0.1:9"


# The Python version the example system, the private-index tests and the benchmark use: one every machine of this
# project has an interpreter of (the default, 3.15, may only exist in containers: test_pythons.py).
EXAMPLE_PYTHON = "3.12"
INDEX_PYTHON = EXAMPLE_PYTHON


# What the private index mirrors: a service's runtime and development dependencies (pip's included: a pip service's
# .venv gets its pip from the lock) and the build backends of the three tools, as cookiecutter.json lists them.
MIRRORED_REQUIREMENTS = [
    *TEMPLATE_CONTEXT["__requirements"]["runtime"],
    *TEMPLATE_CONTEXT["__requirements"]["dev"],
    *TEMPLATE_CONTEXT["__requirements"]["pip_dev"],
    *TEMPLATE_CONTEXT["__requirements"]["build_backend"].values(),
    # Needed on other platforms only (click and pytest use colorama on Windows, gevent cffi), yet lockers resolve for
    # every platform.
    "colorama",
    "cffi",
]


def copy_shared_package(root: Path) -> Path:
    """Put a copy of the shared package at ``root``/libs/discount_calculator, as a monorepo holds it."""
    target = root / "libs" / "discount_calculator"
    shutil.copytree(
        SHARED_PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info")
    )
    return target


def build_example_monorepo(
    root: Path, manager: str, postgres: Callable[[], PostgresServer] | None = None, *, lock: bool = True
) -> dict[str, BakedService]:
    """The example system for one dependency manager, generated (and locked) in ``root``, each service storing its
    records in PostgreSQL: a database of its own on ``postgres()`` (for its data and its tests) when given.

    ``root``/libs/discount_calculator (a copy of the shared package), ``root``/services/order_manager (with the
    package, by path, and a client of user_manager) and ``root``/services/user_manager (without either), both as
    generated: ``with_team_change`` makes order_manager's copy that checks its users.
    Returns {"order": ..., "user": ...}.
    """
    copy_shared_package(root)
    common = {
        "dependency_manager": manager,
        "python_version": EXAMPLE_PYTHON,
        "database": "postgresql",
        "_lock_dependencies": lock,
    }
    services = {
        "order": bake(
            root / "services",
            service_name="order_manager",
            use_discount_calculator=True,
            discount_calculator_path=EXAMPLE_PACKAGE_PATH,
            upstream_services="user_manager",
            **common,
        ),
        "user": bake(root / "services", service_name="user_manager", **common),
    }
    if postgres is not None:
        for service in services.values():
            service.environment = database_environment(service, postgres)
    services["order"].environment["ORDER_MANAGER_USER_MANAGER_URL"] = NOWHERE
    return services


def team_change() -> tuple[str, str]:
    """The example's team change to order_manager as docs/example.md shows it: the patch (its ``diff`` blocks, in
    order) and the message of the migration it needs."""
    page = EXAMPLE_PAGE.read_text()
    patch = "".join(re.findall(r"^```diff\n(.*?)^```$", page, flags=re.MULTILINE | re.DOTALL))
    message = re.search(r'^make migration MESSAGE="([^"]+)"$', page, flags=re.MULTILINE)
    assert patch and message, f"{EXAMPLE_PAGE.name} shows no team change"
    return patch, message.group(1)


def with_team_change(order: BakedService, root: Path, postgres: Callable[[], PostgresServer]) -> BakedService:
    """A copy of the example's generated ``order`` in ``root``/services with the team change applied as
    docs/example.md says (``git apply``, then ``make migration``), installed, on databases of its own.

    A copy, so that the generated service stays as generated for the tests that measure the template's own code on
    it (under load, in images, in the benchmark)."""
    copy_shared_package(root)
    target = root / "services" / order.path.name
    skipped = (".venv", "serve.log", "var", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
    shutil.copytree(order.path, target, ignore=shutil.ignore_patterns(*skipped))
    changed = BakedService(target, dict(order.answers), environment=dict(order.environment))
    changed.environment.update(database_environment(changed, postgres))
    patch, message = team_change()
    (target / "orders-name-their-user.diff").write_text(patch)
    changed.run("git", "apply", "orders-name-their-user.diff")
    changed.install()
    changed.make("migration", MESSAGE=message)
    return changed


def mirror_index_packages(packages: Path) -> None:
    """Download wheels of ``MIRRORED_REQUIREMENTS`` for every Python version the template offers into ``packages``,
    as a company mirror holds them (pip downloads for the Python it runs on; uv and Poetry resolve for every
    version the service allows)."""
    for version in PYTHONS:
        subprocess.run(
            [
                str(TOOLS_BIN / "python"), "-m", "pip", "download", "--quiet", "--dest", str(packages),
                "--only-binary", ":all:", "--python-version", version, *MIRRORED_REQUIREMENTS,
            ],
            check=True,
            env=clean_environment(),
            timeout=600,
        )  # fmt: skip
