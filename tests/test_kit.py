"""The kit's own helpers (kit/): waiting for a server, against real sockets on 127.0.0.1, the worker groups, in a
real pytest-xdist session, and what a bake leaves behind."""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from kit.answers import Baker, bake_with_cookies, read_bake
from kit.processes import clean_environment
from kit.serving import wait_until_answers
from kit.template import REPOSITORY_DIR, TOOLS_BIN
from kit.workers import SHARED_FIXTURES

SLOW_ANSWER_SECONDS = 2.5  # longer than the helper's first tries, well within its budget


@contextmanager
def slow_server(delay: float | None) -> Iterator[str]:
    """A server on 127.0.0.1 that accepts at once and answers each request after ``delay`` s (None: never)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            if stop.wait(delay):
                return
            with suppress(OSError):  # the client gave up on this try and closed its end
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/healthz"
    finally:
        stop.set()
        acceptor.join()
        listener.close()


@pytest.mark.promise("The suite waits for a server that answers slowly, within its budget", layer="offline")
def test_wait_until_answers_retries_a_server_that_answers_slowly() -> None:
    with slow_server(SLOW_ANSWER_SECONDS) as url:
        started = time.monotonic()
        wait_until_answers(url, timeout=30)

    assert time.monotonic() - started >= SLOW_ANSWER_SECONDS


@pytest.mark.promise("The suite waits for a server that answers slowly, within its budget", layer="offline")
def test_wait_until_answers_gives_up_on_a_silent_server_within_its_budget() -> None:
    with slow_server(None) as url:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="did not answer within 3 s"):
            wait_until_answers(url, timeout=3)

    assert time.monotonic() - started < 3 + 1.5  # the last try is cut to what is left of the budget


# A project whose tests, run over two workers, write down the worker each ran in: two cases of a module-wide fixture,
# and a fixture of SHARED_FIXTURES under its name there. Each group has more tests than a worker is handed at once,
# so a group that is not honoured lands on both workers.
GROUPED_TESTS = """\
import json
import os

import pytest

from kit.workers import one_group_per_case


def record(request, group):
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps([group, os.environ["PYTEST_XDIST_WORKER"], request.node.nodeid]) + "\\n")


@pytest.fixture(scope="module", params=one_group_per_case(["a", "b"], ids=lambda case: f"service={{case}}"))
def service(request):
    return request.param


@pytest.fixture(scope="session")
def {shared}():
    return "made once"


@pytest.mark.parametrize("part", range(6))
def test_a_case(request, service, part):
    record(request, f"service={{service}}")


@pytest.mark.parametrize("part", range(6))
def test_sharing_the_costly_fixture(request, {shared}, part):
    record(request, "shared")


@pytest.mark.parametrize("part", range(6))
def test_free(request, part):
    record(request, None)
"""


def test_the_tests_of_a_group_share_one_worker_and_the_groups_spread_over_two(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED_TESTS.format(shared=next(iter(SHARED_FIXTURES))))
    record = tmp_path / "record.jsonl"

    result = subprocess.run(
        [str(TOOLS_BIN / "pytest"), "-p", "kit.workers", "--numprocesses", "2", "--dist", "loadgroup",
         "-p", "no:cacheprovider", "-q", "test_grouped.py"],
        cwd=tmp_path,
        env=clean_environment({"PYTHONPATH": str(REPOSITORY_DIR), "RECORD": str(record)}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    workers_of: dict[str, set[str]] = {}
    for group, worker, _ in map(json.loads, record.read_text().splitlines()):
        if group is not None:
            workers_of.setdefault(group, set()).add(worker)
    assert sorted(workers_of) == ["service=a", "service=b", "shared"]
    split = {group: sorted(workers) for group, workers in workers_of.items() if len(workers) > 1}
    assert split == {}, f"groups ran in more than one worker (pytest-xdist did not keep them together): {split}"
    assert set().union(*workers_of.values()) == {"gw0", "gw1"}, "the groups all ran in one worker"


def test_a_bake_leaves_nothing_in_the_temporary_directory_refused_or_not(
    cookies: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cookiecutter copies the template for its pre_prompt hook and leaves the copy when a hook refuses, its parent
    # directory always, and the hook scripts it renders: without the kit's scratch directory, all of it lands here.
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    service = bake_with_cookies(cookies, service_name="kept_tidy", _lock_dependencies=False)
    assert (service.path / "pyproject.toml").is_file()
    with pytest.raises(FailedHookException):
        bake_with_cookies(cookies, service_name="refused_one", port="not-a-port", _lock_dependencies=False)
    assert sorted(path.name for path in temporary.iterdir()) == []


def test_a_bakes_answers_and_derived_names_are_the_ones_its_files_were_rendered_with(baked: Baker) -> None:
    service = baked(service_name="user_manager", database="sqlite")
    package = service.path / "src" / service.name

    # resource_name and port are cookiecutter's defaults, as the bake's .cruft.json records them.
    assert (service.answers["resource_name"], service.answers["port"]) == ("user", "8000")
    assert read_bake(service.path).answers == service.answers
    names = (service.dist_name, service.env_prefix, service.image_name, service.model_name, service.table_name)
    assert names == ("user-manager", "USER_MANAGER", "user-manager:0.1.0", "User", "users")
    assert tomllib.loads((service.path / "pyproject.toml").read_text())["project"]["name"] == service.dist_name
    assert f'ENV_PREFIX = "{service.env_prefix}_"' in (package / "core" / "config.py").read_text()
    assert f"IMAGE ?= {service.image_name}\n" in (service.path / "Makefile").read_text()
    models = (package / "models.py").read_text()
    assert f"class {service.model_name}(Base):" in models and f'__tablename__ = "{service.table_name}"' in models
