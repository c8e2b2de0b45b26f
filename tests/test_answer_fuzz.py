"""Fuzzing the free-text answers: any text either bakes a service that parses and carries it intact, or is
refused in one ``ERROR: <answer> ...`` line with nothing written. Never a half-written directory.

How the bakes run, and why:

- In-process through cookiecutter's Python API (about 0.1 s a bake, 0.03 s a refusal), with
  ``_lock_dependencies=False`` so the post-gen hook skips ``make lock``, and a cookiecutter config file of our
  own so the replay file lands in a temporary directory, not in ``~/.cookiecutter_replay``.
- Cookiecutter runs the hooks as subprocesses writing straight to file descriptors 1 and 2, so the hook's
  ERROR line is read with ``capfd``. A hook that exits non-zero surfaces as ``FailedHookException``.
- With ``no_input=True`` cookiecutter renders every answer as Jinja before the hooks see it: ``{{ 7 * 6 }}``
  arrives as ``42``, ``\\r`` as ``\\n``, and ``{{ nope }}`` or ``{% if %}`` raise cookiecutter's own
  ``UndefinedVariableInTemplate`` or Jinja's ``TemplateError`` before anything is written. That is cookiecutter's
  behaviour, not the template's, so: (1) what a bake must carry intact is the answer *as cookiecutter renders
  it*, computed with cookiecutter's own Jinja environment; (2) an answer whose rendering fails may be refused by
  cookiecutter instead of our hook (its message, not ours), and must still leave nothing behind and not fail in
  the template's code.
- Choices and booleans are not fuzzed. They stay at their defaults (so the Poetry layout is what is checked),
  except where an answer is only rendered with an option on: ``discount_calculator_path`` is fuzzed with
  ``use_discount_calculator`` on, and the combined case turns the optional files on, fixed, so the Kubernetes
  and workflow YAML is parsed too.
- ``service_name`` names the directory cookiecutter creates *before* the pre-gen hook runs, and cookiecutter
  removes that directory again when the hook refuses. A name like ``x/../..`` points that removal at a parent
  of the output directory, so every bake happens in a sandbox (``<tmp>/answerN/out``) and an answer whose
  directory would fall outside the sandbox is never baked (``reject()``): the fuzzing must not delete this
  machine's files.
"""

from __future__ import annotations

import ast
import json
import keyword
import operator
import os
import re
import shutil
import sys
import tomllib
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException, UndefinedVariableInTemplate
from cookiecutter.main import cookiecutter
from cookiecutter.utils import create_env_with_context
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, given, reject, settings
from hypothesis import strategies as st

from kit.answers import cookiecutter_scratch
from kit.template import TEMPLATE_DIR

FREE_TEXT_ANSWERS = (
    "service_name",
    "resource_name",
    "description",
    "author_name",
    "author_email",
    "port",
    "package_index_url",
    "discount_calculator_path",
    "upstream_services",
)
# Options an answer needs to be rendered at all (otherwise fuzzing it would test nothing but the hook).
# A blank path needs a private index for the package (the hook refuses PyPI for it), so one is given.
OPTIONS_FOR = {
    "discount_calculator_path": {
        "use_discount_calculator": True,
        "package_index_url": "https://pypi.example.com/simple/",
    }
}
# The combined case: every free-text answer at once, every optional file on.
ALL_OPTIONS_ON = {"use_discount_calculator": True, "include_kubernetes": True, "include_ci_workflow": True}
TEMPLATE_CODE = (TEMPLATE_DIR / "hooks", TEMPLATE_DIR / "templates")

# derandomize: the same examples on every run (seeded from the test), so CI does not flake. database=None: no
# example database to replay from. report_multiple_bugs=False: shrink the first failure only (each shrink step is a
# bake; shrinking several distinct failures takes minutes). capfd is function-scoped and shared by all examples of
# a test: harmless, because every bake reads (and so resets) the capture before and after itself.
FUZZ = settings(
    max_examples=settings().max_examples,  # the profile's (conftest.py): 30, or 6 in the edit-test loop
    derandomize=True,
    database=None,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------------------------------------------
# Strategies: realistic answers, near misses, and nasty text (quotes, escapes, braces, controls, Jinja, huge).

PIECES = [
    '"', "'", '"""', "'''", "\\", '\\"', "\\u0000", "\\n", "{", "}", "{}", "[", "]", "#", "%", "$", "${HOME}",
    "$(id)", "`id`", ";", "&", "|", "<b>", "&amp;", "=", ":", ": ", "- ", "? ", "!!python/object", "---", "~",
    "null", "true", "0x1F", "\t", "\n", "\r", "\r\n", "\x00", "\x1b[31m", "\x7f", "\x85", "\xa0", "\u2028",
    "\u2029", "\u200b", "\u202e", "\ufeff", "\ufffd", "\ufffe", "\uffff", "é", "ß", "日本語", "🚀",
    "👨\u200d👩\u200d👧", "\U0010ffff", " ", "/", "..", "../", "@", "%40", "?",
]  # fmt: skip
JINJA_PIECES = [
    "{{", "}}", "{%", "%}", "{#", "#}", "{{ 7 * 6 }}", "{{ cookiecutter.service_name }}", "{# note #}",
    "{% raw %}{{ x }}{% endraw %}", "{{ nope }}", "{{ cookiecutter.nope }}", "{% if %}", "{{ '\"' }}",
]  # fmt: skip
nasty_text = st.lists(
    st.one_of(st.sampled_from(PIECES + JINJA_PIECES), st.text(max_size=6)), min_size=1, max_size=8
).map("".join)
huge_text = st.builds(operator.mul, st.sampled_from(["x", "é", "🚀", '"\\', "a b ", "{"]), st.integers(300, 5000))
any_text = st.one_of(st.text(), nasty_text, huge_text)

WORDS = ("order", "user", "invoice", "billing", "catalog", "shipment", "payment", "inventory", "customer")
snake_names = st.builds(
    lambda first, rest: "_".join([first, *rest]),
    st.sampled_from(WORDS),
    st.lists(st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True), min_size=0, max_size=3),
)
NEAR_MISS_NAMES = [
    "OrderManager", "order-manager", "order__manager", "_order", "order_", "2order", "ordér_manager", "\uff4frder",
    "class", "match", "type", "json", "flask", "tests", "api_gateway", "email_sender", "a" * 63, "a" * 64,
    " order_manager", "order_manager\n", "order manager",
]  # fmt: skip
# Names that are paths, empty, too long for the file system or unusable in one: cookiecutter creates the project
# directory from service_name before the pre-gen hook can refuse it.
PATH_LIKE_NAMES = ["", ".", "..", "a/b", "x/..", "x/../..", "../evil", "order\x00manager", "a" * 300]
names = st.one_of(
    snake_names,
    st.from_regex(r"[a-z][a-z0-9_]{0,70}", fullmatch=True),
    st.sampled_from(NEAR_MISS_NAMES),
    st.sampled_from(PATH_LIKE_NAMES),
    st.sampled_from(sorted(sys.stdlib_module_names)),
    any_text,
)
ports = st.one_of(
    st.sampled_from(["8000", "1024", "65535", "8080"]),
    st.integers(-10, 100_000).map(str),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["", " ", "0", "00", "\t", "\n", "\u3000", "\x1c", "+"]),
        st.integers(1024, 65535),
        st.sampled_from(["", " ", "\n", ".0", "\u3000", "_0"]),
    ),
    st.sampled_from(["\uff18\uff10\uff10\uff10", "٨٠٠٠", "8000²", "8e3", "0x1f40", "8_000"]),
    any_text,
)
index_urls = st.one_of(
    st.just(""),
    st.builds(
        "{}://{}{}{}".format,
        st.sampled_from(["http", "https"]),
        st.sampled_from(
            ["pypi.example.com", "127.0.0.1", "[::1]", "user:p%40ss@mirror.example.com", "xn--bcher-kva.example"]
        ),
        st.sampled_from(["", ":8080", ":3141"]),
        st.sampled_from(["/simple/", "/simple", "/", "", "/pypi/simple/?x=1#frag"]),
    ),
    st.sampled_from(["http://[", "http://[::1", "http://ex\u2100.com/simple/", "http://", "ftp://x/simple/"]),
    st.builds(operator.add, st.sampled_from(["http://", "https://", "https://pypi.example.com/"]), any_text),
    any_text,
)
# Upstream names from other words than service names': a realistic list never names the service itself.
UPSTREAM_WORDS = ("accounts", "pricing", "ledger", "search", "notifications")
upstream_names = st.builds(
    lambda first, rest: "_".join([first, *rest]),
    st.sampled_from(UPSTREAM_WORDS),
    st.lists(st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True), max_size=2),
)
upstream_lists = st.one_of(
    st.just(""),
    st.lists(upstream_names, min_size=1, max_size=3).map(", ".join),
    st.lists(st.one_of(names, upstream_names), min_size=1, max_size=3).map(",".join),
    st.sampled_from(["database", "ledger, ledger", "ledger,,search", ",", " , ", "order_manager", "class"]),
    any_text,
)
emails = st.one_of(st.emails(), st.builds(operator.add, any_text, st.just("@example.com")), any_text)
LIB_PARTS = ["..", ".", "libs", "discount_calculator", "dc-1.0", "my libs", "bücher", "", "~"]
paths = st.one_of(
    st.just(""),
    st.lists(st.sampled_from(LIB_PARTS), min_size=1, max_size=5).map("/".join),
    st.sampled_from(["/abs/libs/dc", "..\\libs\\dc", "C:\\libs", "../libs/dc/", "../it's"]),
    any_text,
)
descriptions = st.one_of(st.sampled_from(["A Flask microservice.", 'Zoë\'s "orders" \\ service 🚀']), any_text)
printable_text = st.text(st.characters(exclude_categories=("Cc", "Cs")))  # what "any single line of text" means
# Answers the hook should accept: the combined case starts from these, then makes one or two of them nasty.
REALISTIC: dict[str, st.SearchStrategy[str]] = {
    "service_name": snake_names,
    "resource_name": snake_names,
    "description": st.one_of(
        st.sampled_from(["A Flask microservice.", 'Zoë\'s "orders" \\ service 🚀']), printable_text
    ),
    "author_name": st.one_of(st.sampled_from(["Your Team", 'O\'Brien "Bob" Ñúñez']), printable_text),
    "author_email": st.emails(),
    "port": st.integers(1024, 65535).map(str),
    # Never blank here: the combined case turns the shared package on, which needs a path or a private index.
    "package_index_url": st.sampled_from(["https://pypi.example.com/simple/", "http://127.0.0.1:3141/root/pypi/"]),
    "discount_calculator_path": st.lists(st.sampled_from(["..", "libs", "discount_calculator"]), max_size=4).map(
        "/".join
    ),
    "upstream_services": st.lists(upstream_names, max_size=3, unique=True).map(", ".join),
}
ANSWER_STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    "service_name": names,
    "resource_name": names,
    "description": descriptions,
    "author_name": descriptions,
    "author_email": emails,
    "port": ports,
    "package_index_url": index_urls,
    "discount_calculator_path": paths,
    "upstream_services": upstream_lists,
}

# A few answers that are plainly fine: the hook must accept them (a hook that refuses everything would otherwise
# satisfy "baked or refused"). Checked on the answer as rendered, which is what the hook sees.
PLAINLY_VALID = {
    "service_name": re.compile(rf"(?:{'|'.join(WORDS)})(?:_[a-z][a-z0-9]{{0,9}}){{0,3}}"),
    "resource_name": re.compile(rf"(?:{'|'.join(WORDS)})(?:_[a-z][a-z0-9]{{0,9}}){{0,3}}"),
    "port": re.compile(r"[1-9][0-9]{3,4}"),
    "package_index_url": re.compile(r"(?:https?://(?:[a-z0-9.-]+|\[::1\])(?::[0-9]{1,5})?(?:/[a-z0-9._-]*)*)?"),
    "discount_calculator_path": re.compile(r"(?:(?:\.\./)*[a-z0-9_.-]+(?:/[a-z0-9_.-]+)*)?"),
    "upstream_services": re.compile(rf"(?:{'|'.join(UPSTREAM_WORDS)})(?:_[a-z][a-z0-9]{{0,9}}){{0,2}}"),
}


def plainly_valid(key: str, value: str) -> bool:
    if key in ("description", "author_name", "author_email"):  # README: any single line of text
        return not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)
    if key == "upstream_services":  # each name plainly valid, once
        parts = [part.strip() for part in value.split(",")] if value.strip() else []
        return len(set(parts)) == len(parts) and all(PLAINLY_VALID[key].fullmatch(part) for part in parts)
    if key == "port":
        return bool(PLAINLY_VALID[key].fullmatch(value)) and 1024 <= int(value) <= 65535
    return bool(PLAINLY_VALID[key].fullmatch(value))


# ---------------------------------------------------------------------------------------------------------------
# Mechanics: where bakes go, what cookiecutter hands the hooks, one bake.


@pytest.fixture(scope="module")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter config of our own, its replays in tmp. (Cookiecutter's temporary files go to the kit's
    scratch directory, one per bake: ``bake`` below.)"""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"cookiecutters_dir: {home / 'cookiecutters'}\nreplay_dir: {home / 'replay'}\n")
    return config


def rendered_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers as cookiecutter hands them to hooks and files: each rendered as Jinja, in cookiecutter.json's
    order, by cookiecutter's own environment. Raises what cookiecutter's prompting would raise."""
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(), object_pairs_hook=dict)
    env = create_env_with_context({"cookiecutter": context})
    rendered: dict[str, Any] = {}
    for key, default in context.items():
        if key.startswith("_"):
            continue
        value = answers.get(key, default)
        if isinstance(value, list):  # a choice left at its default
            rendered[key] = value[0]
        elif isinstance(value, bool):
            rendered[key] = value
        else:
            rendered[key] = env.from_string(value).render(cookiecutter=rendered)
    return rendered


@dataclass
class Bake:
    project: Path | None
    error: Exception | None
    stdout: str
    stderr: str


def bake(answers: Mapping[str, Any], output_dir: Path, config: Path, capfd: pytest.CaptureFixture[str]) -> Bake:
    capfd.readouterr()  # drop anything printed before this bake
    project: Path | None = None
    error: Exception | None = None
    try:
        with cookiecutter_scratch():
            project = Path(
                cookiecutter(
                    str(TEMPLATE_DIR),
                    no_input=True,
                    extra_context={**answers, "_lock_dependencies": False},
                    output_dir=str(output_dir),
                    config_file=str(config),
                )
            )
    except Exception as exc:  # every failure is classified by the caller
        error = exc
    captured = capfd.readouterr()
    return Bake(project, error, captured.out, captured.err)


# ---------------------------------------------------------------------------------------------------------------
# The promise, checked on one set of answers.


def check_answers(
    answers: dict[str, Any],
    fuzzed: tuple[str, ...],
    tmp_path_factory: pytest.TempPathFactory,
    config: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Bake ``answers`` in a fresh sandbox; assert it baked clean with the text intact, or was refused clean."""
    try:
        expected: dict[str, Any] | None = rendered_answers(answers)
        render_error: Exception | None = None
    except Exception as exc:  # cookiecutter will fail the same way, in its prompting, before writing anything
        expected, render_error = None, exc
    sandbox = tmp_path_factory.mktemp("answer")
    output_dir = sandbox / "out"
    output_dir.mkdir()
    if expected is not None:
        target = Path(os.path.normpath(output_dir / expected["service_name"]))
        if not target.is_relative_to(sandbox):
            shutil.rmtree(sandbox)
            reject()  # would create, then remove, a directory outside the sandbox (see the module docstring)

    result = bake(answers, output_dir, config, capfd)
    short = {
        key: value if len(repr(value)) < 200 else f"{value[:80]!r}... ({len(value)} chars)"
        for key, value in answers.items()
    }
    shown = f"answers {short}\nstdout: {result.stdout[-2000:]!r}\nstderr: {result.stderr[-2000:]!r}"

    if currently_in_test_context():  # outcome counts, shown by --hypothesis-show-statistics
        event("baked" if result.error is None else f"refused: {type(result.error).__name__}")
    if result.error is None:
        assert render_error is None, f"cookiecutter rendered what its own Jinja refuses ({render_error!r})\n{shown}"
        assert expected is not None and result.project is not None
        check_baked(result.project, expected, sandbox, output_dir, shown)
    elif isinstance(result.error, FailedHookException):
        check_refused_by_our_hook(result, expected, fuzzed, sandbox, output_dir, shown)
    elif render_error is not None and failed_rendering_answers(result.error):
        # Cookiecutter's own refusal of an answer it cannot render as Jinja (UndefinedVariableInTemplate,
        # TemplateSyntaxError, even RecursionError for "{{{{..."): not our message, but still nothing written.
        assert_no_frame_in_template_code(result.error, shown)
        assert_nothing_written(sandbox, output_dir, shown)
    else:
        error = "".join(traceback.format_exception(result.error))
        pytest.fail(f"generation failed outside our hook's refusal:\n{error}\n{shown}")
    shutil.rmtree(sandbox, ignore_errors=True)


def check_baked(project: Path, expected: dict[str, Any], sandbox: Path, output_dir: Path, shown: str) -> None:
    """Everything parses; each answer is found, exactly, where it belongs."""
    assert project == output_dir / expected["service_name"], shown
    assert sorted(sandbox.iterdir()) == [output_dir] and sorted(output_dir.iterdir()) == [project], shown
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(project)
        try:
            if path.suffix == ".toml":
                tomllib.loads(text)
            elif path.suffix in (".yaml", ".yml"):
                list(yaml.safe_load_all(text))
            elif path.suffix == ".json":
                json.loads(text)
            elif path.suffix == ".py":
                compile(text, str(relative), "exec")
        except (SyntaxError, ValueError, yaml.YAMLError) as error:  # TOMLDecodeError is a ValueError
            pytest.fail(f"{relative} does not parse: {error!r}\n{shown}")

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    metadata = pyproject["project"]
    assert metadata["name"] == expected["service_name"].replace("_", "-"), shown
    assert metadata["description"] == expected["description"], shown
    assert metadata["authors"] == [{"name": expected["author_name"], "email": expected["author_email"]}], shown
    poetry = pyproject["tool"]["poetry"]  # the default dependency manager
    assert poetry["source"][0]["url"] == (expected["package_index_url"] or "https://pypi.org/simple/"), shown
    local = poetry.get("dependencies", {}).get("discount-calculator")
    if expected["use_discount_calculator"] and expected["discount_calculator_path"]:
        assert local == {"path": expected["discount_calculator_path"], "develop": True}, shown
    else:
        assert local is None, shown
    assert expected["description"] in (project / "README.md").read_text(encoding="utf-8"), shown
    assert expected["author_name"] in (project / "LICENSE").read_text(encoding="utf-8"), shown

    package = project / "src" / expected["service_name"]
    settings_port = [
        node.value.value
        for node in ast.walk(ast.parse((package / "core" / "config.py").read_text(encoding="utf-8")))
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "port"
        if isinstance(node.value, ast.Constant)
    ]
    assert settings_port == [int(expected["port"])], shown
    functions = {
        n.name for n in ast.walk(ast.parse((package / "api.py").read_text())) if isinstance(n, ast.FunctionDef)
    }
    assert f"create_{expected['resource_name']}" in functions, shown
    upstreams = [name.strip() for name in expected["upstream_services"].split(",") if name.strip()]
    clients = package / "clients.py"
    assert clients.exists() == bool(upstreams), shown
    if upstreams:
        assert all(f'{name} = Upstream("{name}")' in clients.read_text(encoding="utf-8") for name in upstreams), shown
    if expected["include_kubernetes"]:
        deployment = yaml.safe_load((project / "deploy" / "k8s" / "deployment.yaml").read_text(encoding="utf-8"))
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"][0]["containerPort"] == int(expected["port"]), shown


def check_refused_by_our_hook(
    result: Bake, expected: dict[str, Any] | None, fuzzed: tuple[str, ...], sandbox: Path, output_dir: Path, shown: str
) -> None:
    """One line, ``ERROR: <answer> ...``, naming an answer that was given; no traceback; nothing written."""
    assert "Traceback" not in result.stdout + result.stderr, f"the hook crashed\n{shown}"
    lines = result.stderr.splitlines()
    assert result.stdout == "" and len(lines) == 1, f"a refusal is one line on stderr\n{shown}"
    # resource_name defaults to service_name's first word, so a fuzzed service_name may be refused through it.
    named = set(fuzzed) | ({"resource_name"} if "service_name" in fuzzed else set())
    assert any(lines[0].startswith(f"ERROR: {key} ") for key in named), f"the line names none of {named}\n{shown}"
    assert_nothing_written(sandbox, output_dir, shown)
    if expected is not None and needs_a_source_for_the_shared_package(expected):
        # Each blank is valid alone; together, with the shared package on, they are refused (README: PyPI is not
        # a source for the internal package).
        assert lines[0].startswith("ERROR: discount_calculator_path is blank and package_index_url is PyPI"), shown
    elif expected is not None:
        valid = [key for key in fuzzed if plainly_valid(key, expected[key])]
        assert len(valid) < len(fuzzed), f"refused plainly valid answers {valid}\n{shown}"


def needs_a_source_for_the_shared_package(answers: dict[str, Any]) -> bool:
    return bool(answers["use_discount_calculator"]) and not (
        answers["discount_calculator_path"] or answers["package_index_url"]
    )


def assert_nothing_written(sandbox: Path, output_dir: Path, shown: str) -> None:
    assert output_dir.is_dir(), f"the output directory itself was removed\n{shown}"
    left = sorted(str(p.relative_to(sandbox)) for p in sandbox.rglob("*"))
    assert left == ["out"], f"a refusal left {left} behind\n{shown}"


def failed_rendering_answers(error: BaseException) -> bool:
    """Whether ``error`` came from cookiecutter rendering the answers as Jinja (its prompting step)."""
    frames = traceback.extract_tb(error.__traceback__)
    return isinstance(error, UndefinedVariableInTemplate) or any(
        Path(frame.filename).match("cookiecutter/prompt.py") for frame in frames
    )


def assert_no_frame_in_template_code(error: BaseException, shown: str) -> None:
    chain: BaseException | None = error
    while chain is not None:
        for frame in traceback.extract_tb(chain.__traceback__):
            path = Path(frame.filename).resolve()
            assert not any(path.is_relative_to(code) for code in TEMPLATE_CODE), f"failed in {path}\n{shown}"
        chain = chain.__cause__ or chain.__context__


# ---------------------------------------------------------------------------------------------------------------
# The tests.


@pytest.mark.promise(
    "Any free text bakes a service that parses and carries it intact, or is refused in one line", layer="offline"
)
@pytest.mark.parametrize("key", FREE_TEXT_ANSWERS)
@settings(FUZZ, max_examples=FUZZ.max_examples // 2)  # for each of nine answers; the combined test bakes all
@given(data=st.data())
def test_any_text_for_one_answer_bakes_a_parseable_service_or_is_refused_cleanly(
    key: str,
    data: st.DataObject,
    tmp_path_factory: pytest.TempPathFactory,
    cookiecutter_config: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """One answer at a time, the others at their defaults."""
    value = data.draw(ANSWER_STRATEGIES[key], label=key)
    check_answers({key: value, **OPTIONS_FOR.get(key, {})}, (key,), tmp_path_factory, cookiecutter_config, capfd)


# Not shrunk: shrinking nine answers at once takes minutes; the one-answer tests above give minimal reproducers.
@pytest.mark.promise(
    "Any free text bakes a service that parses and carries it intact, or is refused in one line", layer="offline"
)
@settings(FUZZ, phases=[Phase.explicit, Phase.generate])
@given(
    answers=st.fixed_dictionaries(REALISTIC),
    nasty=st.sets(st.sampled_from(FREE_TEXT_ANSWERS), max_size=2).flatmap(
        lambda keys: st.fixed_dictionaries({key: ANSWER_STRATEGIES[key] for key in keys})
    ),
)
def test_all_answers_at_once_with_every_option_on_bake_or_are_refused_cleanly(
    answers: dict[str, str],
    nasty: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    cookiecutter_config: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Every free-text answer together (realistic, one or two made nasty), every optional file on: YAML too."""
    check_answers(
        {**answers, **nasty, **ALL_OPTIONS_ON}, FREE_TEXT_ANSWERS, tmp_path_factory, cookiecutter_config, capfd
    )


KNOWN_NASTY = [
    ("description", "\"\"\"\\''' {} ${x} `id` \u2028 🚀 \ufffe"),
    ("author_name", 'O\'Brien "Bob" \\ Zoë'),
    ("description", "{{ 7 * 6 }}"),
    ("description", "{{ nope }}"),
    ("author_name", "{% if %}"),
    ("description", "x" * 20_000),
    ("port", " 8000"),
    ("port", "08000"),
    ("port", "\n8000"),
    ("port", "\u30008000"),
    ("package_index_url", "http://["),
    ("package_index_url", "http://ex\u2100.com/simple/"),
    ("package_index_url", "https://pypi.example.com/simple/\x00"),
    ("discount_calculator_path", "../../libs/discount_calculator"),
    ("service_name", "a/b"),
    ("service_name", "x/.."),
    ("service_name", "x/../.."),
    ("service_name", "order\x00manager"),
    ("service_name", "a" * 300),
    ("service_name", "."),
]


@pytest.mark.promise(
    "Any free text bakes a service that parses and carries it intact, or is refused in one line", layer="offline"
)
@pytest.mark.parametrize(("key", "value"), KNOWN_NASTY, ids=[f"{k}={v[:24]!r}" for k, v in KNOWN_NASTY])
def test_known_nasty_answers_bake_a_parseable_service_or_are_refused_cleanly(
    key: str,
    value: str,
    tmp_path_factory: pytest.TempPathFactory,
    cookiecutter_config: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The same promise on answers that found bugs or guard known traps, whatever the fuzzing draws."""
    check_answers({key: value, **OPTIONS_FOR.get(key, {})}, (key,), tmp_path_factory, cookiecutter_config, capfd)


def test_the_words_plainly_valid_names_start_with_are_no_keywords_or_standard_library_modules() -> None:
    """The oracle's names start with one of WORDS; none may clash, or it would call a refusable name valid."""
    assert not any(keyword.iskeyword(word) or word in sys.stdlib_module_names for word in WORDS)
