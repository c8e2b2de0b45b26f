"""Checks on generated files: vendored JSON schemas, and a bill of materials held against the lock it describes."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any


def schema_errors(builtin_schema: str, document: Path) -> list[str]:
    """Where a YAML or JSON file breaks one of check-jsonschema's vendored schemas (``"github-workflows"``,
    ``"dependabot"``, ``"compose-spec"``): the schemas its ``--builtin-schema vendor.<name>`` checks against, applied
    in this process (its command takes 3 s to start, each time)."""
    import jsonschema
    from check_jsonschema.builtin_schemas import vendor
    from ruamel.yaml import YAML  # YAML 1.2, as check-jsonschema reads: `on:` stays a key, not True

    schema = json.loads(resources.files(vendor).joinpath(f"{builtin_schema}.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    instance = YAML(typ="safe", pure=True).load(document.read_text(encoding="utf-8"))
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(instance)]


def normalized(name: str) -> str:
    """A distribution name as package indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_runtime_packages(service: Path, manager: str, service_name: str) -> dict[str, tuple[str, set[str]]]:
    """{name: (version, sha256 hashes)} of what the lock pins for the runtime, read from the lock file itself."""
    if manager == "pip":
        text = (service / "requirements.txt").read_text().replace("\\\n", " ")
        # name==version, an environment marker perhaps ("; sys_platform == 'win32'"), then the hashes.
        pin = r"^([A-Za-z0-9._-]+)==([^\s;]+)(?:\s*;[^\n]*?(?=\s+--hash|$))?((?:\s+--hash=sha256:\w+)*)"
        pins = re.finditer(pin, text, flags=re.MULTILINE)
        return {normalized(m[1]): (m[2], set(re.findall(r"sha256:(\w+)", m[3]))) for m in pins}
    lock = tomllib.loads((service / f"{manager}.lock").read_text())
    packages = {normalized(package["name"]): package for package in lock["package"]}

    def hashes(package: dict[str, Any]) -> set[str]:
        files = package.get("files", []) + package.get("wheels", []) + [package.get("sdist", {})]
        return {file["hash"].removeprefix("sha256:") for file in files if "hash" in file}

    if manager == "poetry":
        runtime = {name for name, package in packages.items() if "main" in package["groups"]}
    else:  # uv.lock holds the dev tools too: walk the service's own dependencies, with the extras they ask for
        todo: list[dict[str, Any]] = list(packages[normalized(service_name)].get("dependencies", []))
        runtime, seen = set(), set()
        while todo:
            dependency = todo.pop()
            name = normalized(dependency["name"])
            runtime.add(name)
            package = packages[name]
            for extra in (None, *dependency.get("extra", [])):
                if (name, extra) not in seen:
                    seen.add((name, extra))
                    optional = package.get("optional-dependencies", {})
                    todo += package.get("dependencies", []) if extra is None else optional.get(extra, [])
    return {name: (packages[name]["version"], hashes(packages[name])) for name in runtime}


def bom_packages(bom: dict[str, Any]) -> dict[str, tuple[str, set[str]]]:
    """{name: (version, sha256 hashes)} of a CycloneDX JSON document's components."""

    def hashes(component: dict[str, Any]) -> set[str]:
        references = component.get("externalReferences", [])
        found = component.get("hashes", []) + [h for reference in references for h in reference.get("hashes", [])]
        return {h["content"] for h in found if h["alg"] == "SHA-256"}

    return {normalized(c["name"]): (c["version"], hashes(c)) for c in bom["components"]}
