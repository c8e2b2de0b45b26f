"""The example monorepo per manager, and the timings taken on it with the service's own ``make`` verbs.

What is measured is data: ``MEASUREMENTS`` names each figure (its row in the report), ``STEPS`` lists the
functions that take them. A new figure is one ``Measurement`` and one step that returns ``{key: value}``; the
report, the chart (by the measurement's group and unit) and results.json follow. ``make update`` per tool, say::

    Measurement("update", "update to the template's last commit (`make update`)", "update", "s", "local")

    def measure_update(service: Service, this: Run) -> dict[str, float]:
        seconds, _ = make(service, "update", PYTHON=this.python)
        return {"update": seconds}

and ``Step(measure_update)`` in ``STEPS``. The image's growth is the ``image_size_mb`` row, run to run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.system import TEMPLATE_DIR, progress, run, timed
from kit.answers import bake
from kit.example import EXAMPLE_PACKAGE_PATH, EXAMPLE_PYTHON, build_example_monorepo, copy_shared_package
from kit.postgres import PostgresGetter, database_environment
from kit.template import LOCK_FILES
from kit.template import TEMPLATE_DIR as EXPORTED_TEMPLATE

PYTHON_VERSION = EXAMPLE_PYTHON
BASE_IMAGE = f"python:{PYTHON_VERSION}-slim"
SERVICE = "order_manager"  # the example system's service with the shared package, by path
CODE_FILE = Path("src") / SERVICE / "api.py"

# Every cache the three tools use; all point into one directory per measurement.
CACHE_VARIABLES = {"POETRY_CACHE_DIR": "poetry", "UV_CACHE_DIR": "uv", "PIP_CACHE_DIR": "pip"}


@dataclass(frozen=True)
class Measurement:
    """One figure taken per manager and run: its key in results.json and its row in the report."""

    key: str
    label: str
    chart_label: str
    unit: str  # "s" or "MB"
    group: str  # the chart panel: "local" (lock, install) or "image"
    digits: int = 2
    # (manager, most seconds): a median over it fails the run, as a throughput ratio under its target does.
    targets: tuple[tuple[str, float], ...] = ()


MEASUREMENTS = (
    Measurement("lock_cold", "lock from scratch (`make lock`), empty cache", "lock\nempty cache", "s", "local"),
    Measurement("lock_warm", "lock from scratch, warm cache", "lock\nwarm cache", "s", "local"),
    Measurement("install_cold", "install (`make install`), empty cache", "install\nempty cache", "s", "local"),
    Measurement("install_warm", "install, warm cache", "install\nwarm cache", "s", "local"),
    Measurement("build", "image build from scratch (`--no-cache`)", "build\nfrom scratch", "s", "image", 1),
    Measurement("rebuild", "image rebuild after a code-only change", "rebuild after\ncode change", "s", "image", 1),
    Measurement("image_size_mb", f"runtime image over `{BASE_IMAGE}`", "image size", "MB", "image", 1),
    Measurement(
        "update",
        "`make update` to the next release, warm cache",
        "update\nwarm cache",
        "s",
        "local",
        targets=(("poetry", 120.0), ("pip", 120.0), ("uv", 60.0)),
    ),
    Measurement(
        "green",
        "`cookiecutter` to green `make test`, warm cache",
        "to green\nwarm cache",
        "s",
        "local",
        targets=(("pip", 20.0),),
    ),
)
LABELS = {m.key: m.label for m in MEASUREMENTS}


@dataclass
class Service:
    """A generated order_manager in its own monorepo, with the database it stores its orders in."""

    manager: str
    root: Path
    environment: dict[str, str] = field(default_factory=dict)  # its database URLs

    @property
    def path(self) -> Path:
        return self.root / "services" / SERVICE

    @property
    def venv_bin(self) -> Path:
        return self.path / ".venv" / "bin"

    def image(self, tag: str) -> str:
        return f"bench-{SERVICE.replace('_', '-')}-{self.manager}:{tag}"


def generate(manager: str, root: Path, postgres: PostgresGetter) -> Service:
    """The example monorepo for ``manager``, built as the suite builds it, not locked: `make lock` is measured."""
    order = build_example_monorepo(root, manager, postgres, lock=False)["order"]
    return Service(manager=manager, root=root, environment=order.environment)


def generate_variant(
    manager: str, root: Path, python: str, answers: Mapping[str, Any], postgres: PostgresGetter
) -> Service:
    """order_manager of the example with other ``answers`` (traces on, say), locked and installed: it is served or
    its image measured, not timed."""
    copy_shared_package(root)
    answers = {"database": "postgresql", **answers}
    baked = bake(
        root / "services",
        service_name=SERVICE,
        use_discount_calculator=True,
        discount_calculator_path=EXAMPLE_PACKAGE_PATH,
        dependency_manager=manager,
        python_version=PYTHON_VERSION,
        _lock_dependencies=False,
        **answers,
    )
    service = Service(manager=manager, root=root, environment=database_environment(baked.answers, postgres, root))
    make(service, "lock", PYTHON=python)
    make(service, "install", PYTHON=python)
    return service


def make(service: Service, *targets: str, env: Mapping[str, str] | None = None, **variables: str) -> tuple[float, str]:
    command = ["make", *targets, *(f"{key}={value}" for key, value in variables.items())]
    return timed(command, service.path, {**service.environment, **(env or {})})


# ---------------------------------------------------------------------------------------------- images


class Images:
    """The images this benchmark built: removed by tag and by the layer IDs the builds printed."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.tags: set[str] = set()
        self.ids: list[str] = []

    def record(self, image: str, build_output: str) -> None:
        self.tags.add(image)
        self.ids.extend(created_image_ids(build_output))

    def remove_all(self) -> None:
        for name in [*sorted(self.tags), *reversed(self.ids)]:
            # Without --force: an image another build depends on, or one already pruned, stays as it is.
            subprocess.run(["docker", "rmi", name], capture_output=True, check=False)
        self.tags.clear()
        self.ids.clear()


@dataclass
class BuildStep:
    instruction: str
    cached: bool = False
    image_id: str | None = None


def build_steps(output: str) -> list[BuildStep]:
    """The steps of a classic-builder ``docker build`` output: instruction, cache hit, resulting image ID."""
    steps: list[BuildStep] = []
    for line in output.splitlines():
        if match := re.match(r"Step \d+/\d+ : (\S+)", line):
            steps.append(BuildStep(instruction=match.group(1).upper()))
        elif steps and line.strip() == "---> Using cache":
            steps[-1].cached = True
        elif steps and (match := re.fullmatch(r" ---> ([0-9a-f]{12})", line)):
            steps[-1].image_id = match.group(1)
    return steps


def created_image_ids(output: str) -> list[str]:
    """IDs a build created: never a base image (a FROM step) nor a layer it took from the cache."""
    return [
        step.image_id
        for step in build_steps(output)
        if step.image_id and not step.cached and step.instruction != "FROM"
    ]


def image_size(image: str) -> int:
    output = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, check=True
    ).stdout
    return int(output.strip())


# ---------------------------------------------------------------------------------------------- steps


@dataclass
class Run:
    """What a step needs besides the service: the interpreter, the run's number, the images, the notes."""

    python: str
    index: int
    images: Images | None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"run {self.index + 1}"

    def fresh_cache(self, service: Service, name: str) -> Path:
        cache = service.root / "caches" / f"{name}-{self.index}"
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        return cache


def cache_environment(cache_dir: Path) -> dict[str, str]:
    return {variable: str(cache_dir / name) for variable, name in CACHE_VARIABLES.items()}


def measure_lock(service: Service, this: Run) -> dict[str, float]:
    """Resolve from scratch twice, as in a fresh checkout: with an empty cache, then with the cache the first left."""
    cache = this.fresh_cache(service, "lock")
    figures = {}
    for key in ("lock_cold", "lock_warm"):
        # Without its lock file a tool resolves everything; with one, uv only checks it and Poetry keeps its pins.
        for name in LOCK_FILES[service.manager]:
            (service.path / name).unlink(missing_ok=True)
        # Without uv on PATH, pip's `make lock` would first install it into .venv: the same work in every run.
        shutil.rmtree(service.path / ".venv", ignore_errors=True)
        figures[key], _ = make(service, "lock", env=cache_environment(cache), PYTHON=this.python)
    shutil.rmtree(cache)
    return figures


def measure_install(service: Service, this: Run) -> dict[str, float]:
    """Install into a new .venv with an empty cache, then again with the cache the first install filled."""
    cache = this.fresh_cache(service, "install")
    figures = {}
    for key in ("install_cold", "install_warm"):
        shutil.rmtree(service.path / ".venv", ignore_errors=True)
        figures[key], _ = make(service, "install", env=cache_environment(cache), PYTHON=this.python)
    shutil.rmtree(cache)
    return figures


def variant_image_size(service: Service, python: str, images: Images) -> float:
    """MB a variant's runtime image adds to its base: built once, for the report's notes."""
    image = service.image(f"{images.tag}-variant")
    _, output = make(service, "docker-build", PYTHON=python, IMAGE=image, DOCKER_BUILD_FLAGS="--network host")
    images.record(image, output)
    return (image_size(image) - image_size(BASE_IMAGE)) / 1e6


def measure_image(service: Service, this: Run) -> dict[str, float]:
    """Build from scratch, measure the image, change the code only, rebuild with the cache."""
    assert this.images is not None  # a step with needs_docker runs only with images
    image = service.image(this.images.tag)
    flags = "--network host --no-cache"
    build, output = make(service, "docker-build", PYTHON=this.python, IMAGE=image, DOCKER_BUILD_FLAGS=flags)
    this.images.record(image, output)
    size = (image_size(image) - image_size(BASE_IMAGE)) / 1e6

    with (service.path / CODE_FILE).open("a") as code:
        code.write(f"# bench: a code-only change ({this.label})\n")
    flags = "--network host"
    rebuild, output = make(service, "docker-build", PYTHON=this.python, IMAGE=image, DOCKER_BUILD_FLAGS=flags)
    this.images.record(image, output)
    rerun = sum(1 for step in build_steps(output) if step.instruction == "RUN" and not step.cached)
    if rerun:
        this.notes.append(f"{service.manager}, {this.label}: the code-only change re-ran {rerun} RUN step(s)")
    return {"build": build, "image_size_mb": size, "rebuild": rebuild}


# A template release that collides with nothing: a new file, and a new runtime dependency after gunicorn.
NEW_FILE = ("SECURITY.md", "# Security\n\nReport a vulnerability to the owning team.\n")
NEW_DEPENDENCY = ('"gunicorn[gevent]>=27,<28", ', '"gunicorn[gevent]>=27,<28", "cachetools>=5", ')
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}  # fmt: skip


def moved_template(service: Service) -> Path:
    """A clone of this template one commit ahead, which the service's .cruft.json then names; made once, with
    the monorepo's git repository (`make update` merges with git)."""
    clone = service.root / "template"
    if clone.exists():
        return clone
    run(["git", "clone", "--quiet", str(TEMPLATE_DIR), str(clone)], service.root)
    rendered = next(clone.glob("{{cookiecutter.service_name*"))
    (rendered / NEW_FILE[0]).write_text(NEW_FILE[1])
    context = clone / "cookiecutter.json"
    context.write_text(context.read_text().replace(*NEW_DEPENDENCY, 1))
    run(["git", "add", "--all"], clone)
    run(["git", "commit", "--quiet", "-m", "bench: the template moves on"], clone, GIT_IDENTITY)
    # Released, as teams take it: `make update` goes to the newest release tag.
    run(["git", "tag", "--annotate", "v999.0.0", "--message", "bench: the next release"], clone, GIT_IDENTITY)
    record = service.path / ".cruft.json"
    record.write_text(record.read_text().replace(f'"{TEMPLATE_DIR}"', f'"{clone}"'))
    (service.root / ".gitignore").write_text("caches/\ntemplate/\n")
    run(["git", "init", "--quiet"], service.root)
    return clone


def measure_update(service: Service, this: Run) -> dict[str, float]:
    """`make update` to the moved template, on the lock and .venv the earlier steps left; then back again."""
    moved_template(service)
    run(["git", "add", "--all"], service.root)
    run(["git", "commit", "--quiet", "--allow-empty", "-m", f"bench: {this.label}"], service.root, GIT_IDENTITY)
    seconds, _ = make(service, "update", PYTHON=this.python)
    run(["git", "reset", "--quiet", "--hard"], service.root)
    run(["git", "clean", "--quiet", "-fd"], service.root)
    return {"update": seconds}


def measure_green(service: Service, this: Run) -> dict[str, float]:
    """A new service of its own, as a team's first run makes it: the generate command with every default but the
    manager and the Python (the post-gen hook locks), `make install`, `make test`. Once to warm a cache, then timed."""
    cache = this.fresh_cache(service, "green")
    seconds = 0.0
    for attempt in ("warm-up", "timed"):
        output = service.root / f"green-{attempt}"
        shutil.rmtree(output, ignore_errors=True)
        answers = [f"dependency_manager={service.manager}", f"python_version={PYTHON_VERSION}", "service_name=first"]
        generate_command = ["cookiecutter", "--no-input", "--output-dir", str(output), str(EXPORTED_TEMPLATE), *answers]
        seconds, _ = timed(generate_command, service.root, cache_environment(cache))
        project = output / "first"
        for verb in ("install", "test"):
            taken, _ = timed(["make", verb, f"PYTHON={this.python}"], project, cache_environment(cache))
            seconds += taken
        shutil.rmtree(output)
    shutil.rmtree(cache)
    return {"green": seconds}


@dataclass(frozen=True)
class Step:
    measure: Callable[[Service, Run], dict[str, float]]
    needs_docker: bool = False


STEPS = (
    Step(measure_lock),
    Step(measure_install),
    Step(measure_green),
    Step(measure_update),
    Step(measure_image, needs_docker=True),
)


def measure_run(service: Service, this: Run, samples: dict[str, dict[str, list[float]]]) -> None:
    """One run of every step for one manager; each figure is kept in ``samples`` and printed."""
    for step in STEPS:
        if step.needs_docker and this.images is None:
            continue
        for key, value in step.measure(service, this).items():
            samples.setdefault(service.manager, {}).setdefault(key, []).append(value)
            figure = f"{value:.1f} MB" if key == "image_size_mb" else f"{value:.2f} s"
            progress(service.manager, this.label, LABELS[key], figure)


def measurements_table() -> list[dict[str, Any]]:
    """The measurements as results.json describes them, so the report needs nothing but that file."""
    return [asdict(m) for m in MEASUREMENTS]
