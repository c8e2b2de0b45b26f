"""Check every answer before cookiecutter writes anything; refuse a bad one with one clear line.

Runs in the user's cookiecutter environment, so it uses the standard library only. Answers arrive as JSON
(rendered through ``tojson``), so quotes, backslashes or non-ASCII text in an answer are data, never code.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from urllib.parse import urlsplit

ANSWERS = json.loads(
    r"""{{ {
        "service_name": cookiecutter.service_name,
        "resource_name": cookiecutter.resource_name,
        "description": cookiecutter.description,
        "author_name": cookiecutter.author_name,
        "author_email": cookiecutter.author_email,
        "license": cookiecutter.license,
        "dependency_manager": cookiecutter.dependency_manager,
        "python_version": cookiecutter.python_version,
        "port": cookiecutter.port,
        "upstream_services": cookiecutter.upstream_services,
        "authentication": cookiecutter.authentication,
        "use_discount_calculator": cookiecutter.use_discount_calculator,
        "discount_calculator_path": cookiecutter.discount_calculator_path,
        "package_index_url": cookiecutter.package_index_url,
        "use_opentelemetry": cookiecutter.use_opentelemetry,
        "include_kubernetes": cookiecutter.include_kubernetes,
        "include_ci_workflow": cookiecutter.include_ci_workflow,
    } | tojson }}"""
)
# Names cookiecutter.json derives from the answers (private variables), as the templates receive them.
DERIVED = json.loads(
    r"""{{ {
        "__dist_name": cookiecutter.__dist_name,
        "__env_prefix": cookiecutter.__env_prefix,
        "__resource_label": cookiecutter.__resource_label,
        "__upstreams": cookiecutter.__upstreams,
        "__has_upstreams": cookiecutter.__has_upstreams,
    } | tojson }}"""
)

# The choices (license, dependency_manager, python_version, database, authentication) are not checked here:
# cookiecutter refuses a value outside cookiecutter.json's list, from the prompt, the command line and extra_context
# alike, before any hook (a replay file holds answers cookiecutter has already checked).
BOOLEAN_ANSWERS = ("use_discount_calculator", "use_opentelemetry", "include_kubernetes", "include_ci_workflow")
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
PORT = re.compile(r"[1-9][0-9]{3,4}")
RELATIVE_PATH = re.compile(r"(?:[A-Za-z0-9._-]+/)*[A-Za-z0-9._-]+/?")
# Characters that a Makefile, a shell or a TOML string would read as syntax; a real index URL needs none of them.
URL_UNSAFE = frozenset("$#`'\"\\")
# Kubernetes object names are DNS labels (RFC 1123): at most 63 characters.
MAX_NAME_LENGTH = 63
# Import names the generated service already uses; a service or resource of the same name would shadow them.
# fmt: off
RESERVED_NAMES = frozenset({
    "annotated_types", "api", "app", "blinker", "click", "config", "conftest", "core", "discount_calculator",
    "errors", "flask", "flask_openapi3", "flit_core", "gunicorn", "health", "itsdangerous", "jinja2",
    "logging_config", "markupsafe", "metrics", "mypy", "openapi", "packaging", "pip", "prometheus_client",
    "pydantic", "pydantic_core", "pytest", "request_body", "request_tracking", "ruff", "src", "test", "tests",
    "typing_inspection", "werkzeug", "wsgi",
    # With use_opentelemetry: the SDK, the exporter and what they bring.
    "certifi", "charset_normalizer", "google", "idna", "importlib_metadata", "opentelemetry", "requests",
    "tracing", "typing_extensions", "urllib3", "wrapt", "zipp",
})
# fmt: on
EXAMPLE_NAME = {"service_name": "order_manager", "resource_name": "order"}
UPSTREAMS_EXAMPLE = "user_manager, billing"
# An upstream's settings are <PREFIX>_<UPSTREAM>_URL, _CONNECT_TIMEOUT...; these would be the service's own.
UPSTREAM_NAMES_TAKEN = {"database": "the database's"}
# Text answers end up in one-line fields (TOML strings, package metadata, YAML labels).
FREE_TEXT_ANSWERS = ("description", "author_name", "author_email", "discount_calculator_path")


class InvalidAnswer(Exception):
    """An answer the template cannot use; the message is the whole line shown to the user."""


def stdlib_module_names() -> frozenset[str]:
    names = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    return frozenset(names) if names else frozenset({"json", "logging", "os", "re", "sys", "typing"})


def check_snake_case(key: str, value: object) -> None:
    example = EXAMPLE_NAME[key]
    if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
        raise InvalidAnswer(
            f"{key} is {len(value)} characters long; use at most {MAX_NAME_LENGTH} "
            f"(Kubernetes names derived from it are DNS labels)"
        )
    if not isinstance(value, str) or not SNAKE_CASE.fullmatch(value):
        raise InvalidAnswer(
            f"{key} {value!r} is not an ASCII snake_case name; use lower-case letters, digits and single "
            f"underscores, starting with a letter, such as {example}"
        )


def check_import_name(value: str) -> None:
    """service_name is also the import package: it must not be, or shadow, a name Python already gives."""
    example = EXAMPLE_NAME["service_name"]
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise InvalidAnswer(f"service_name {value!r} is a Python keyword; use a snake_case name such as {example}")
    if value in stdlib_module_names():
        raise InvalidAnswer(
            f"service_name {value!r} clashes with the Python standard library module of that name; "
            f"use a more specific name such as {example}"
        )
    if value in RESERVED_NAMES:
        raise InvalidAnswer(
            f"service_name {value!r} clashes with a module or dependency of the generated service; "
            f"use a more specific name such as {example}"
        )


def upstream_names(value: object) -> list[str]:
    """The services ``upstream_services`` names, in order; blank names none."""
    text = value if isinstance(value, str) else ""
    return [name.strip() for name in text.split(",")] if text.strip() else []


def check_upstream_services(value: object, service_name: str) -> None:
    """Each upstream becomes a module-level name in clients.py and a ``<PREFIX>_<UPSTREAM>_URL`` variable."""
    valid = f"use comma-separated snake_case service names such as {UPSTREAMS_EXAMPLE}, or leave it blank for none"
    if not isinstance(value, str):
        raise InvalidAnswer(f"upstream_services {value!r} is not text; {valid}")
    names = upstream_names(value)
    for name in names:
        if not name:
            raise InvalidAnswer(f"upstream_services {value!r} has an empty name between commas; {valid}")
        if not SNAKE_CASE.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            raise InvalidAnswer(f"upstream_services names {name!r}, which is not a snake_case service name; {valid}")
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            raise InvalidAnswer(f"upstream_services names {name!r}, which is a Python keyword; {valid}")
        if name in UPSTREAM_NAMES_TAKEN:
            raise InvalidAnswer(
                f"upstream_services names {name!r}, whose settings would be the service's own "
                f"({UPSTREAM_NAMES_TAKEN[name]}); {valid}"
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidAnswer(f"upstream_services names {duplicates[0]!r} twice; {valid}, each once")
    if service_name in names:
        raise InvalidAnswer(
            f"upstream_services names {service_name!r}, the service itself; {valid}, other than {service_name}"
        )


def check_boolean(key: str, value: object) -> None:
    # Cookiecutter turns a text answer into a boolean or refuses it, but passes any other type through unchanged:
    # cookiecutter(..., extra_context={"include_kubernetes": 1}) from Python reaches this check.
    if not isinstance(value, bool):
        raise InvalidAnswer(f"{key} {value!r} is not a yes/no answer; use yes or no")


def check_single_line(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise InvalidAnswer(f"{key} {value!r} is not text; use a single line of text")
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value):
        raise InvalidAnswer(f"{key} contains a control character such as a line break; use a single line of text")
    if any(0xD800 <= ord(char) <= 0xDFFF for char in value):  # bytes that were not UTF-8, as Python decodes them
        raise InvalidAnswer(f"{key} contains bytes that are not UTF-8 text; use a single line of UTF-8 text")


def check_port(value: object) -> None:
    # The answer is rendered as typed (config.py, Dockerfile, manifests): only plain digits, no padding.
    text = str(value)
    if not PORT.fullmatch(text) or not 1024 <= int(text) <= 65535:
        raise InvalidAnswer(
            f"port {value!r} is not a valid port; use a number from 1024 to 65535 "
            "(the container runs as a non-root user, which cannot bind lower ports)"
        )


def check_index_url(value: object) -> None:
    text = str(value)
    if text == "":
        return
    try:
        parts = urlsplit(text)
    except ValueError:  # "http://[" (unclosed IPv6 bracket), a netloc that NFKC-normalizes to "/", "?", "#", "@"...
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() or not c.isprintable() or c in URL_UNSAFE for c in text)
    ):
        raise InvalidAnswer(
            f"package_index_url {value!r} is not an http(s) URL; use a simple-API index such as "
            "https://pypi.example.com/simple/, or leave it blank for PyPI"
        )


def check_discount_calculator_path(value: str) -> None:
    # Written into the Makefile and pyproject.toml: plain path characters only, so make and shells take it as is.
    if value and not RELATIVE_PATH.fullmatch(value):
        raise InvalidAnswer(
            f"discount_calculator_path {value!r} is not a relative POSIX path of letters, digits, '.', '_' and "
            "'-'; use a path from the service directory such as ../../libs/discount_calculator, or leave it blank "
            "to install from the package index"
        )


def check_shared_package_source(answers: dict[str, object]) -> None:
    # The shared package is internal: it is not on PyPI, and resolving its name there would install whatever
    # anyone publishes under that name (dependency confusion).
    if (
        answers["use_discount_calculator"]
        and not answers["discount_calculator_path"]
        and not answers["package_index_url"]
    ):
        raise InvalidAnswer(
            "discount_calculator_path is blank and package_index_url is PyPI, which does not host the internal "
            "discount-calculator package; use the package's path in the monorepo, such as "
            "../../libs/discount_calculator, or set package_index_url to the private index that hosts it"
        )


def check_derived_names(answers: dict[str, object], derived: dict[str, object]) -> None:
    # Private variables are not prompted for, yet extra_context (`cookiecutter ... __dist_name=x`) can set them;
    # a name that no longer follows from the answers would split the service's names in two.
    service, resource = str(answers["service_name"]), str(answers["resource_name"])
    expected = {
        "__dist_name": ("service_name", service.replace("_", "-")),
        "__env_prefix": ("service_name", service.upper()),
        "__resource_label": ("resource_name", resource.replace("_", " ")),
        "__upstreams": ("upstream_services", ",".join(upstream_names(answers["upstream_services"]))),
        "__has_upstreams": ("upstream_services", "yes" if upstream_names(answers["upstream_services"]) else ""),
    }
    for key, (source, value) in expected.items():
        if derived[key] != value:
            raise InvalidAnswer(
                f"{key} {derived[key]!r} is derived from {source} and cannot be set; use {source} to change it, "
                f"or leave {key} out (it would be {value!r})"
            )


def check_answers(answers: dict[str, object], derived: dict[str, object]) -> None:
    check_snake_case("service_name", answers["service_name"])
    check_import_name(str(answers["service_name"]))
    check_snake_case("resource_name", answers["resource_name"])
    for key in FREE_TEXT_ANSWERS:
        check_single_line(key, answers[key])
    check_port(answers["port"])
    check_upstream_services(answers["upstream_services"], str(answers["service_name"]))
    for key in BOOLEAN_ANSWERS:
        check_boolean(key, answers[key])
    check_discount_calculator_path(str(answers["discount_calculator_path"]))
    check_index_url(answers["package_index_url"])
    check_shared_package_source(answers)
    check_derived_names(answers, derived)


def main() -> int:
    try:
        check_answers(ANSWERS, DERIVED)
    except InvalidAnswer as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
