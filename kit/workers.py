"""Which tests share a worker when the suite runs over the machine's cores (pytest-xdist, ``--dist loadgroup``).

A pytest plugin, loaded by tests/conftest.py; the one module of the kit that imports pytest (the benchmark never
imports it). A test costs little on its own; what costs is what it shares with other tests and the first of them
makes: a service baked and installed for one set of answers, one manager's example system, the services that
`make update` moves on. Tests that share such a thing run in one worker, which makes it once. The group of a test:

1. its ``xdist_group`` mark, where the test, its module or its parameter has one (``one_group_per_case`` marks the
   cases of a module-wide fixture that bakes: each case is a group);
2. else the group of a costly fixture it uses (``SHARED_FIXTURES``);
3. else, for a parametrized test, its parameters' id: one set of answers, one bake.

Tests of none of these spread freely. pytest-xdist hands the largest groups out first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

# Fixtures that several tests with different parameters (or none) share, which take minutes to make.
SHARED_FIXTURES = {
    "team_services": "update: services the template moves on",  # also behind `updates` and `pr_services`
    "released_template": "update: releases",
    "fleet_run": "update: a monorepo's fleet",
    "private_index": "the private package index",
}


def one_group_per_case(
    cases: Iterable[Any], ids: Callable[[Any], str], group: Callable[[Any], str] | None = None
) -> list[Any]:
    """The parameters of a module-wide fixture that makes a costly thing per case (a bake, an install): each case
    in a group of its own, named by ``group(case)`` (by default its id), which the tests of that case, whatever
    their other parameters, run in."""
    name = group or ids
    return [pytest.param(case, id=ids(case), marks=pytest.mark.xdist_group(name(case))) for case in cases]


def worker_group(item: pytest.Item) -> str | None:
    """The group ``item`` runs in (the module's docstring says how it is chosen), or None to spread freely."""
    marked = item.get_closest_marker("xdist_group")
    if marked is not None:
        return str(marked.args[0] if marked.args else marked.kwargs.get("name", "default"))
    fixtures = getattr(item, "fixturenames", ())
    shared = next((group for fixture, group in SHARED_FIXTURES.items() if fixture in fixtures), None)
    if shared is not None:
        return shared
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = worker_group(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))


def example_system_group(manager: str) -> str:
    """The group of the tests that use one manager's example system (the ``example_monorepo`` fixture)."""
    return f"the example system, {manager}"
