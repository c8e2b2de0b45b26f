"""Services follow the template: every service records where it came from, and `make update` brings it forward.

The offline tests check the record (.cruft.json) and the hooks' update switch. The `install` tests move a clone
of this template forward by one commit and update services generated before it, with their teams' changes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import TEMPLATE_DIR, TOOLS_BIN, BakedService
from support import LOCK_FILES, clean_environment

pytestmark = pytest.mark.update


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def cruft_record(service: Path) -> dict[str, Any]:
    return json.loads((service / ".cruft.json").read_text())


def run_cookiecutter(cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [str(TOOLS_BIN / "cookiecutter"), "--no-input", *args],
        cwd=cwd,
        env=clean_environment({"PWD": str(cwd), **(env or {})}),
        capture_output=True,
        check=True,
    )


def test_plain_cookiecutter_records_the_template_commit_and_the_public_answers(baked: Any) -> None:
    service: BakedService = baked(dependency_manager="uv", port="8123")

    record = cruft_record(service.path)

    assert record["template"] == str(TEMPLATE_DIR)
    assert record["commit"] == git("rev-parse", "HEAD", cwd=TEMPLATE_DIR)
    answers = record["context"]["cookiecutter"]
    assert answers["dependency_manager"] == "uv"
    assert answers["port"] == "8123"
    assert answers["_commit"] == record["commit"]
    private = {key for key in answers if key.startswith("_")}
    assert private == {"_template", "_commit"}, "private answers must not reach the update renders"


def test_a_relative_template_path_is_recorded_relative_to_the_service(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    typed = os.path.relpath(TEMPLATE_DIR, workdir)

    run_cookiecutter(workdir, typed, "--output-dir", "services", "_lock_dependencies=no")

    service = workdir / "services" / "order_manager"
    template = cruft_record(service)["template"]
    assert not Path(template).is_absolute()
    assert (service / template).resolve() == TEMPLATE_DIR


def test_update_renders_neither_lock_nor_write_a_record(tmp_path: Path) -> None:
    # The renders cruft makes for `make update` run with TEMPLATE_UPDATE=1 exported by the Makefile. Locking is
    # on here (the template's default, which is what those renders get), so only the switch can stop it.
    run_cookiecutter(tmp_path, str(TEMPLATE_DIR), "dependency_manager=uv", env={"TEMPLATE_UPDATE": "1"})

    service = tmp_path / "order_manager"
    assert (service / "pyproject.toml").is_file()
    assert not (service / ".cruft.json").exists()
    assert not any((service / name).exists() for name in LOCK_FILES["uv"])


def test_cruft_create_generates_and_its_own_record_stands(tmp_path: Path) -> None:
    context = json.dumps({"dependency_manager": "pip", "_lock_dependencies": False})
    subprocess.run(
        [str(TOOLS_BIN / "cruft"), "create", "--no-input", "--extra-context", context, str(TEMPLATE_DIR)],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        check=True,
    )

    record = cruft_record(tmp_path / "order_manager")
    assert record["commit"] == git("rev-parse", "HEAD", cwd=TEMPLATE_DIR)
    # cruft's own record keeps the full context it rendered with, _extensions included; the hook's would not.
    assert "_extensions" in record["context"]["cookiecutter"]
