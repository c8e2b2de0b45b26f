"""The table of promises: every promise is followed by the tests that prove it, and each of them exists.

The table (CONTRIBUTING.md, "What the suite proves": it is for the template's maintainers) has a row per promise, its
text in bold with its layer, then a row per test that fails when the promise breaks: `tests/test_x.py::test_name`.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from kit.template import TEMPLATE_DIR

GUIDE = TEMPLATE_DIR / "CONTRIBUTING.md"
SECTION = "## What the suite proves"
LAYERS = ("offline", "install", "example", "docker", "update")
# `tests/test_x.py::test_name`, optionally with a parameter id: `tests/test_x.py::test_name[uv]`.
TEST_REFERENCE = re.compile(r"`((?:[\w.-]+/)*test_\w+\.py)::(test_\w+)(?:\[[^`\]]+\])?`")


def table() -> list[list[str]]:
    """The cells of each body row of the table in the guide's section on what the suite proves."""
    text = GUIDE.read_text()
    assert SECTION in text, f"CONTRIBUTING.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # after the header and separator
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


def promises() -> dict[str, list[str]]:
    """Each promise (its row's first cell) and the references of the test rows that follow it."""
    proved_by: dict[str, list[str]] = {}
    promise = None
    for first, *rest in table():
        if first.startswith("**"):
            promise = first
            assert rest and rest[0] in LAYERS, f"{promise}: its layer must be one of {LAYERS}, not {rest}"
            proved_by[promise] = []
        else:
            assert promise is not None, f"a test row before any promise: {first}"
            assert TEST_REFERENCE.fullmatch(first), f"not a `tests/test_x.py::test_name` reference: {first}"
            proved_by[promise].append(first)
    return proved_by


@cache
def defined_functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return frozenset(node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def test_the_guide_has_a_table_of_promises_and_every_promise_names_its_tests() -> None:
    proved_by = promises()

    assert proved_by, "the table of promises is empty"
    for promise, references in proved_by.items():
        assert references, f"a promise with no test that proves it: {promise}"


def test_every_test_the_table_names_exists() -> None:
    missing = []
    for promise, references in promises().items():
        for reference in references:
            match = TEST_REFERENCE.fullmatch(reference)
            assert match, reference
            file, name = match.groups()
            path = TEMPLATE_DIR / file
            if not path.is_file() or name not in defined_functions(path):
                missing.append(f"{reference}, named for {promise}")
    assert not missing, "tests named in CONTRIBUTING.md that do not exist:\n" + "\n".join(missing)
