"""The example system: the monorepo of order_manager and user_manager with the shared package, and what the
private index mirrors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from kit.answers import BakedService, bake
from kit.postgres import PostgresServer, database_environment
from kit.processes import clean_environment
from kit.template import PYTHONS, SHARED_PACKAGE_DIR, TEMPLATE_CONTEXT, TOOLS_BIN

# What the ``example_monorepo`` fixture (conftest.py) gives a test.
ExampleMonorepo = Callable[[str], dict[str, "BakedService"]]


# Where the example monorepo's services find the shared package, relative to each service.
EXAMPLE_PACKAGE_PATH = "../../libs/discount_calculator"


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
    package, by path) and ``root``/services/user_manager (without it). Returns {"order": ..., "user": ...}.
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
            **common,
        ),
        "user": bake(root / "services", service_name="user_manager", **common),
    }
    if postgres is not None:
        for service in services.values():
            service.environment = database_environment(service, postgres)
    return services


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
