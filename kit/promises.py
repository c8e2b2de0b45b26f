"""What the suite proves: each test that proves a promise carries it as a mark, and this module renders the marks into
the documentation's page of promises (``docs/promises.md``), so the page cannot drift from the tests.

    @pytest.mark.promise("A bad answer is refused before anything is written", layer="offline")
    def test_a_bad_answer_is_refused(): ...

The same text on several tests makes them one promise; a module-level ``pytestmark`` gives every test of its module
the promise. The marks are read from the source with ``ast``, not by importing the tests: rendering needs neither
pytest nor the tests' imports, and takes a fraction of a second. So a promise's text and layer are string literals.

``python -m kit.promises`` writes the page (``make docs`` runs it); tests/test_promises.py fails while the committed
page is not what the marks render.
"""

from __future__ import annotations

import argparse
import ast
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY_DIR = Path(__file__).resolve().parent.parent
PAGE = Path("docs") / "promises.md"

# The layers, cheapest first, and what each needs: the page's sections, in this order.
LAYERS = {
    "offline": (
        "Offline",
        "No network and no Docker: the answers, the rendering, the deployment files, the documents, the updater's "
        "parts, the kit and the benchmark's report.",
    ),
    "install": (
        "Installed and served",
        "A generated service installed with its own tool and served by gunicorn on 127.0.0.1 (marker `install`).",
    ),
    "example": (
        "The example system",
        "The monorepo of [the example system](example.md), its services installed from a private index "
        "(marker `example`).",
    ),
    "docker": ("Docker", "Images built and run on a real Docker engine (marker `docker`)."),
    "update": (
        "Updates",
        "Services generated from a git copy of this template, which then moves on by a commit or a release "
        "(marker `update`).",
    ),
}

INTRODUCTION = """\
# What the suite proves

<!-- Written by `make docs` (python -m kit.promises) from the tests' promise marks: edit the marks, not this page. -->

Every promise the template makes is a mark on the tests that fail when it breaks:
`@pytest.mark.promise("...", layer="offline")` on each of them, the same text on all. This page lists the promises
by layer, cheapest first, each followed by its tests. A new promise is a mark on its tests, in the same commit;
`make docs` writes this page again, and `tests/test_promises.py` fails while the committed page is not current.
"""


class PromiseError(ValueError):
    """A promise mark that cannot be read without running the test module."""


@dataclass(frozen=True)
class Mark:
    """One promise on one test function (or, from ``pytestmark``, on each test of a module)."""

    text: str
    layer: str
    test: str  # `tests/test_x.py::test_name`
    where: str  # `tests/test_x.py:12`, for messages


@dataclass
class Suite:
    tests: list[str] = field(default_factory=list)  # every test function, `tests/test_x.py::test_name`
    marks: list[Mark] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)  # promise marks on what pytest does not collect as a test


def test_modules(root: Path) -> list[Path]:
    """The suite's test modules, in the order of pytest's ``testpaths``."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return [path for directory in config["testpaths"] for path in sorted((root / directory).rglob("test_*.py"))]


def is_promise(node: ast.expr) -> bool:
    """``pytest.mark.promise(...)``."""
    match node:
        case ast.Call(func=ast.Attribute(attr="promise", value=ast.Attribute(attr="mark", value=ast.Name("pytest")))):
            return True
    return False


def promise_calls(node: ast.expr) -> Iterator[ast.Call]:
    """The promise marks in a decorator or in a ``pytestmark`` value (one mark, or a list or tuple of marks)."""
    for element in node.elts if isinstance(node, ast.List | ast.Tuple) else [node]:
        if is_promise(element):
            assert isinstance(element, ast.Call)
            yield element


def literal(node: ast.expr | None, what: str, where: str) -> str:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        raise PromiseError(f"{where}: a promise's {what} must be a string literal, so it is read without running tests")
    return node.value


def read_mark(call: ast.Call, test: str, where: str) -> Mark:
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    if len(call.args) != 1 or set(keywords) != {"layer"}:
        raise PromiseError(f'{where}: write a promise as pytest.mark.promise("what it proves", layer="offline")')
    return Mark(literal(call.args[0], "text", where), literal(keywords["layer"], "layer", where), test, where)


def read_module(path: Path, root: Path, suite: Suite) -> None:
    relative = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(), filename=relative)
    module_marks = [
        (call, f"{relative}:{call.lineno}")
        for node in tree.body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        for call in promise_calls(node.value)
    ]
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    tests = [function for function in functions if function.name.startswith("test")]
    placed = [call for call, _ in module_marks]
    for function in functions:
        calls = [(call, f"{relative}:{call.lineno}") for d in function.decorator_list for call in promise_calls(d)]
        placed += [call for call, _ in calls]
        if function not in tests:
            suite.stray += [f"{where}: a promise on {function.name}, which is not a test" for _, where in calls]
            continue
        test = f"{relative}::{function.name}"
        suite.tests.append(test)
        suite.marks += [read_mark(call, test, where) for call, where in [*module_marks, *calls]]
    if module_marks and not tests:
        suite.stray += [f"{where}: a module-wide promise in a module without tests" for _, where in module_marks]
    # A mark this reader cannot place (bound to a name, given to pytest.param, imported as `mark`) is refused, not
    # left off the page unseen.
    placed_ids = {id(call.func) for call in placed}
    suite.stray += [
        f"{relative}:{node.lineno}: a promise mark goes on a test function's decorators or in pytestmark"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "promise" and id(node) not in placed_ids
    ]


def read_suite(root: Path = REPOSITORY_DIR) -> Suite:
    suite = Suite()
    for path in test_modules(root):
        read_module(path, root, suite)
    return suite


def promises(suite: Suite) -> dict[str, list[Mark]]:
    """Each promise's text and its marks, in the order the tests come in."""
    grouped: dict[str, list[Mark]] = {}
    for mark in suite.marks:
        grouped.setdefault(mark.text, []).append(mark)
    return grouped


def problems(suite: Suite) -> list[str]:
    """What keeps the marks from making a page: unknown layers, a promise in two layers, marks on no test."""
    found = list(suite.stray)
    for text, marks in promises(suite).items():
        layers = sorted({mark.layer for mark in marks})
        for mark in marks:
            if mark.layer not in LAYERS:
                found.append(f"{mark.where}: layer {mark.layer!r} is not one of {', '.join(LAYERS)}")
        if len(layers) > 1:
            found.append(f"the promise {text!r} is in more than one layer: {', '.join(layers)}")
    return found


def render(suite: Suite) -> str:
    """The page: a section per layer, each a table of its promises, every promise followed by its tests."""
    if found := problems(suite):
        raise PromiseError("\n".join(found))
    by_layer: dict[str, list[str]] = {layer: [] for layer in LAYERS}
    grouped = promises(suite)
    for text, marks in grouped.items():
        by_layer[marks[0].layer].append(text)
    sections = [INTRODUCTION]
    for layer, texts in by_layer.items():
        if not texts:
            continue
        title, description = LAYERS[layer]
        rows = ["| promise, then the tests that prove it |", "| --- |"]
        for text in texts:
            rows += [f"| **{text}** |", *(f"| `{mark.test}` |" for mark in grouped[text])]
        paragraph = textwrap.fill(description, width=120, break_long_words=False, break_on_hyphens=False)
        sections.append(f"## {title}\n\n{paragraph}\n\n" + "\n".join(rows) + "\n")
    return "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m kit.promises", description=f"Write {PAGE} from the tests' marks."
    ).parse_args(argv)
    try:
        page = render(read_suite())
    except (PromiseError, SyntaxError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    (REPOSITORY_DIR / PAGE).write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
