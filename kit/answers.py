"""Answers and baking: the answers the suite bakes with (all pairs, refusals, the install matrix), and the services it
bakes through pytest-cookies, cookiecutter's API or its command (``BakedService``, which runs a service's own
commands)."""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from kit.processes import CommandFailed, clean_environment, find_python, python_executable, run
from kit.template import DEFAULT_PYTHON, MANAGERS, PYTHONS, TEMPLATE_CONTEXT, TEMPLATE_DIR, TOOLS_BIN

# Text answers change the output too: each takes its default and this other value in the pairwise set. The path
# and the index are the two ways to the shared package; the others change names, routes and metadata.
OTHER_TEXT_ANSWERS: dict[str, str] = {
    "service_name": "user_manager",
    "resource_name": "line_item",
    "description": 'Keeps "orders" & returns',
    "author_name": "Zoë O'Brien",
    "author_email": "shop-team@example.org",
    "port": "9090",
    "discount_calculator_path": "../../libs/discount_calculator",
    "package_index_url": "http://127.0.0.1:8080/simple/",
    "upstream_services": "billing, shipping_quotes",
}


def answer_values() -> dict[str, list[Any]]:
    """Every prompted answer with the values the combinations take: each choice, both booleans, and for text
    its default and one other value. Read from cookiecutter.json, so a new choice is covered without an edit."""
    values: dict[str, list[Any]] = {}
    for key, default in TEMPLATE_CONTEXT.items():
        if key.startswith("_"):
            continue
        if isinstance(default, list):
            values[key] = list(default)
        elif isinstance(default, bool):
            values[key] = [default, not default]
        else:
            values[key] = [default, OTHER_TEXT_ANSWERS[key]]
    return values


# The answers refusal() reads.
REFUSAL_READS = ("use_discount_calculator", "discount_calculator_path", "package_index_url")


def refusal(answers: Mapping[str, Any]) -> str | None:
    """The start of the ERROR line the pre-gen hook answers these (otherwise valid) answers with, or None.

    The one combination of valid answers the template cannot render: the shared package with neither a path in
    the monorepo nor a private index (PyPI does not host it).
    """
    use, path, index = (answers[key] for key in REFUSAL_READS)
    if use and not path and not index:
        return "ERROR: discount_calculator_path is blank and package_index_url is PyPI"
    return None


def answer_combinations() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All-pairs combinations of ``answer_values()``: (those that render, those the hook must refuse).

    Every pair of values of any two answers appears in at least one combination that renders (allpairspy, with
    ``refusal()`` as its filter). The refused combinations are derived from ``refusal()`` too: for each setting of
    the answers it reads that it refuses, an all-pairs set of the other answers. Each combination holds the
    answers that differ from the defaults (the rest come from cookiecutter.json), so ``resource_name`` keeps its
    default as cookiecutter derives it.
    """
    from allpairspy import AllPairs  # imported here: the benchmark imports this module without it

    values = answer_values()
    keys = list(values)
    defaults = {key: options[0] for key, options in values.items()}
    decided_after = max(keys.index(key) for key in REFUSAL_READS)

    def renders(row: list[Any]) -> bool:
        # allpairspy grows each row one answer at a time; judge it once the answers refusal() reads are in.
        if len(row) <= decided_after:
            return True
        return refusal(dict(zip(keys, row, strict=False))) is None

    def given(answers: Mapping[str, Any]) -> dict[str, Any]:
        return {key: answers[key] for key in keys if answers[key] != defaults[key]}

    rendered = [
        given(dict(zip(keys, row, strict=True))) for row in AllPairs(list(values.values()), filter_func=renders)
    ]
    others = [key for key in keys if key not in REFUSAL_READS]
    refused = []
    for setting in itertools.product(*(values[key] for key in REFUSAL_READS)):
        fixed = dict(zip(REFUSAL_READS, setting, strict=True))
        if refusal(fixed) is not None:
            for row in AllPairs([values[key] for key in others]):
                refused.append(given({**dict(zip(others, row, strict=True)), **fixed}))
    return rendered, refused


def rendered_context(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Every variable of cookiecutter.json as cookiecutter renders it for a bake with ``answers``: each answer, the
    defaults of the others (``resource_name`` derived from ``service_name``), and the derived names, the private
    ``__`` variables (``__env_prefix``, ``__table_name``, ...). Cookiecutter's own rendering, as pytest-cookies
    renders the context it hands a test."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    context = generate_context(str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=dict(answers))
    return dict(prompt_for_config(context, no_input=True))


def case_id(answers: Mapping[str, Any]) -> str:
    """A test id that reads as the answers given: ``dependency_manager=pip,python_version=3.11``, or ``defaults``."""
    return ",".join(f"{key}={value}" for key, value in answers.items()) or "defaults"


def install_matrix() -> list[dict[str, str]]:
    """The services the install layer locks, installs and serves on this machine: the pairs of ``PYTHON_PROOFS``
    whose Python it has (every manager appears; test_pythons.py runs the other pairs in containers)."""
    return [{"dependency_manager": manager, "python_version": version} for manager, version in proofs_on_this_machine()]


@dataclass
class BakedService:
    """A service generated from the template, with helpers to run its own commands inside it."""

    path: Path
    # Every answer the service was baked with, defaults included (its .cruft.json: ``read_bake``).
    answers: dict[str, Any]
    installed: bool = field(default=False)
    # Variables every command of the service gets: for a service with a database, where its data and its tests go.
    environment: dict[str, str] = field(default_factory=dict)

    @cached_property
    def context(self) -> dict[str, Any]:
        """The answers and the names derived from them, as cookiecutter rendered them for this service."""
        return rendered_context(self.answers)

    @property
    def name(self) -> str:
        return str(self.answers["service_name"])

    @property
    def env_prefix(self) -> str:
        return str(self.context["__env_prefix"])

    @property
    def dist_name(self) -> str:
        return str(self.context["__dist_name"])

    @property
    def image_name(self) -> str:
        return str(self.context["__image_name"])

    @property
    def model_name(self) -> str:
        return str(self.context["__model_name"])

    @property
    def table_name(self) -> str:
        return str(self.context["__table_name"])

    def run(self, *command: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
        return run(command, self.path, clean_environment({**self.environment, **(env or {})}), timeout=timeout)

    def make(self, *targets: str, **variables: str) -> str:
        return self.run("make", *targets, *(f"{key}={value}" for key, value in variables.items()))

    def install(self) -> None:
        """``make install`` once per baked service, with the interpreter of its Python version."""
        if not self.installed:
            self.make("install", PYTHON=python_executable(str(self.answers["python_version"])))
            self.installed = True

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if ".venv" not in p.parts and p.is_file())


def read_bake(path: Path) -> BakedService:
    """The service baked at ``path``, with the answers its .cruft.json records: what the bake used, defaults and the
    Python the pre_prompt hook chose included."""
    record = json.loads((path / ".cruft.json").read_text(encoding="utf-8"))
    recorded = record["context"]["cookiecutter"]
    # The record's private keys (_template, _commit) say where the template is, not how the service was baked.
    return BakedService(path=path, answers={key: value for key, value in recorded.items() if not key.startswith("_")})


# What the ``baked`` fixture (conftest.py) gives a test.
Baker = Callable[..., "BakedService"]


def explicit_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """``answers`` with ``python_version`` given: the template's default depends on the machine's Pythons (its
    pre_prompt hook), so the suite names the version it bakes, the newest offered unless a test says otherwise."""
    return {"python_version": DEFAULT_PYTHON, **answers}


@contextmanager
def cookiecutter_scratch() -> Iterator[str]:
    """A directory for cookiecutter's temporary files of one bake in this process, removed after it: the copy of the
    template it makes for the pre_prompt hook, which a refused bake leaves behind (a few MB each, hundreds per run),
    its empty parent, which every bake leaves, and the rendered hook scripts, never removed. Python's
    ``tempfile.tempdir`` points there meanwhile, so it is for one bake at a time; a cookiecutter run as a command
    takes a directory of its own as ``TMPDIR`` instead (run_cookiecutter), and several may run at once."""
    previous = tempfile.tempdir
    with _scratch_directory() as scratch:
        tempfile.tempdir = scratch
        try:
            yield scratch
        finally:
            tempfile.tempdir = previous


# The system's temporary directory, as it was before any bake: scratch directories go there and never inside one
# another, whatever tempfile.tempdir says at the time.
SYSTEM_TEMPORARY_DIRECTORY = tempfile.gettempdir()


def _scratch_directory() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="template-bake-", dir=SYSTEM_TEMPORARY_DIRECTORY)


def bake(output_dir: Path, **answers: Any) -> BakedService:
    """Generate a service into ``output_dir`` with cookiecutter's Python API, as ``cookiecutter -o`` does (the
    example monorepo and the benchmark need the directory; the suite's other bakes go through pytest-cookies).
    The post-gen hook locks it unless ``_lock_dependencies=False``. The replay file goes to a temporary directory."""
    from cookiecutter.main import cookiecutter

    answers = explicit_answers(answers)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home, cookiecutter_scratch():
        config = Path(home) / "config.yaml"
        config.write_text(f"cookiecutters_dir: {home}/templates\nreplay_dir: {home}/replay\n")
        project = cookiecutter(
            str(TEMPLATE_DIR), no_input=True, extra_context=answers, output_dir=str(output_dir), config_file=str(config)
        )
    return read_bake(Path(project))


def bake_with_cookies(cookies: Any, **answers: Any) -> BakedService:
    """Generate a service with pytest-cookies (its ``cookies`` or ``cookies_session`` fixture), as a team testing
    the template does; a bake that failed raises what it failed with (FailedHookException for a refusal)."""
    answers = explicit_answers(answers)
    with cookiecutter_scratch():
        result = cookies.bake(extra_context=answers, template=str(TEMPLATE_DIR))
    if result.exception is not None:
        raise result.exception
    return read_bake(Path(result.project_path))


def run_cookiecutter(
    *arguments: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """``cookiecutter --no-input *arguments`` as a user types it in a shell in ``cwd``: a clean environment (its PWD,
    which the post-gen hook resolves a relative template path from, set to ``cwd``) with ``env`` over it, and
    cookiecutter's temporary files in a scratch directory that is removed after it.

    The output and the errors come in ``stdout``, as one stream in the order the user reads them; ``check`` raises
    CommandFailed, with the end of that stream, when cookiecutter fails.
    """
    command = [str(TOOLS_BIN / "cookiecutter"), "--no-input", *arguments]
    with _scratch_directory() as scratch:
        where = {"PWD": str(cwd)} if cwd is not None else {}
        result = subprocess.run(
            command,
            cwd=cwd,
            env=clean_environment({**where, "TMPDIR": scratch, **(env or {})}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    if check and result.returncode != 0:
        raise CommandFailed(f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stdout[-4000:]}")
    return result


# The Python versions the template offers (cookiecutter.json; the first is the default), and which dependency
# manager proves each: all of them on the default, one on every other version, in turn (uv first: the version
# after the default is the likeliest to lack an interpreter here, and uv is the quickest in a container).
# test_services.py runs a pair on this machine when it has that Python; test_pythons.py runs the others in a
# container of their python:X-slim image.
PYTHON_PROOFS: list[tuple[str, str]] = [(manager, PYTHONS[0]) for manager in MANAGERS] + [
    (MANAGERS[::-1][index % len(MANAGERS)], version) for index, version in enumerate(PYTHONS[1:])
]


def proofs_on_this_machine() -> list[tuple[str, str]]:
    """The (manager, Python) pairs of PYTHON_PROOFS whose Python this machine has: the install layer runs them here."""
    return [(manager, version) for manager, version in PYTHON_PROOFS if find_python(version)]
