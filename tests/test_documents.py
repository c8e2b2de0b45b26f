"""Documents read as hand-written: the rendered READMEs lint clean and have the intended structure, every rendered
text file is tidy, and the template README's generate commands work exactly as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.environment import StrictEnvironment
from jinja2 import FileSystemLoader
from markdown.extensions.toc import slugify
from markdown_it import MarkdownIt

from kit.answers import BakedService
from kit.processes import clean_environment
from kit.template import MANAGERS, TEMPLATE_DIR, TOOLS_BIN

MONOREPO_PATH = "../../libs/discount_calculator"
PRIVATE_INDEX = "https://pypi.example.com/simple/"
SHARED_PACKAGE_SOURCES = {
    "none": {},
    "path": {"use_discount_calculator": True, "discount_calculator_path": MONOREPO_PATH},
    "index": {"use_discount_calculator": True, "package_index_url": PRIVATE_INDEX},
}
# Each manager with each way of taking the shared package, the optional files on in some and off in others, and
# the longest names the hook accepts, where a careless template overflows its lines.
DOCUMENT_CASES = {
    f"manager={manager},shared={source}": {
        "dependency_manager": manager,
        **answers,
        "include_kubernetes": source != "none",
        "include_ci_workflow": source != "index",
    }
    for manager in MANAGERS
    for source, answers in SHARED_PACKAGE_SOURCES.items()
} | {
    "traces-on": {"use_opentelemetry": True, "include_ci_workflow": True},
    "database=postgresql": {
        "database": "postgresql",
        **SHARED_PACKAGE_SOURCES["path"],
        "use_opentelemetry": True,
        "include_kubernetes": True,
        "include_ci_workflow": True,
    },
    "database=sqlite": {
        "database": "sqlite",
        "dependency_manager": "pip",
        "upstream_services": "user_manager",
        "authentication": "jwt",
        "include_kubernetes": True,
    },
    **{
        f"longest-names,database={database}": {
            "service_name": "inventory_" + "x" * 53,
            "resource_name": "reservation_" + "y" * 51,
            "database": database,
            **SHARED_PACKAGE_SOURCES["path"],
            "include_kubernetes": True,
            "include_ci_workflow": True,
        }
        for database in ("none", "postgresql")
    },
}
# Text running into a heading marker, as a swallowed blank line leaves it: "...use.## Configuration".
GLUED_HEADING = re.compile(r"[\w.,:;!?)`]#{1,6} [A-Z]")
GENERATE_SOURCE = "gh:<org>/flask-microservice-template"


@pytest.fixture(params=DOCUMENT_CASES.values(), ids=DOCUMENT_CASES.keys())
def service(request: pytest.FixtureRequest, baked: Any) -> BakedService:
    return baked(**request.param)


def intended_headings(answers: dict[str, Any]) -> list[str]:
    """The level-2 headings of the service README, in order, for these answers."""
    shared = ["The shared discount-calculator package"] if answers["use_discount_calculator"] else []
    database = ["Database"] if answers.get("database", "none") != "none" else []
    calling = ["Calling other services"] if answers.get("upstream_services") else []
    authentication = ["Authentication"] if answers.get("authentication") == "jwt" else []
    sections = ["Requirements", "Commands", "Layout", "Adding an endpoint", "Adding a dependency", *shared]
    sections += [*calling, *authentication, *database]
    return [*sections, "Configuration", "Observability", "Deployment", "Keeping up with the template"]


def headings(markdown: str, level: int) -> list[str]:
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    return [
        tokens[index + 1].content
        for index, token in enumerate(tokens)
        if token.type == "heading_open" and token.tag == f"h{level}"
    ]


def markdown_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """pymarkdown with the template repository's configuration ([tool.pymarkdown] in pyproject.toml)."""
    return subprocess.run(
        [str(TOOLS_BIN / "pymarkdown"), "scan", *map(str, paths)],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.promise(
    "The READMEs and docs pass the Markdown linter; the site builds; the generate command works as written",
    layer="offline",
)
def test_the_service_readme_passes_the_markdown_linter(service: BakedService) -> None:
    result = markdown_lint(service.path / "README.md")
    assert result.returncode == 0, result.stdout + result.stderr


# The template repository's own documents: its README, its maintainers' guide and every page of the site.
DOCS_DIR = TEMPLATE_DIR / "docs"
REPOSITORY_DOCUMENTS = [
    "README.md",
    "CONTRIBUTING.md",
    *(str(p.relative_to(TEMPLATE_DIR)) for p in sorted(DOCS_DIR.rglob("*.md"))),
]


@pytest.mark.promise(
    "The READMEs and docs pass the Markdown linter; the site builds; the generate command works as written",
    layer="offline",
)
@pytest.mark.parametrize("document", REPOSITORY_DOCUMENTS)
def test_the_template_documents_pass_the_markdown_linter(document: str) -> None:
    result = markdown_lint(TEMPLATE_DIR / document)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.promise(
    "The READMEs and docs pass the Markdown linter; the site builds; the generate command works as written",
    layer="offline",
)
def test_the_documentation_site_builds_without_a_warning(tmp_path: Path) -> None:
    """`make docs` as the offline layer runs it: strict, so every broken link, anchor or page left out of the
    navigation fails the build; no plugin, so nothing is fetched."""
    site = tmp_path / "site"
    result = subprocess.run(
        [str(TOOLS_BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=TEMPLATE_DIR,
        # Material's banner about MkDocs 2 goes to stderr on every build; it is news, not a problem of the site.
        env=clean_environment({"NO_MKDOCS_2_WARNING": "1"}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    for page in DOCS_DIR.rglob("*.md"):
        built = site / page.relative_to(DOCS_DIR).with_suffix("")
        assert (site / "index.html" if page == DOCS_DIR / "index.md" else built / "index.html").is_file(), page


def test_the_service_readme_has_the_intended_sections(service: BakedService) -> None:
    readme = (service.path / "README.md").read_text()

    assert headings(readme, 1) == [service.name]
    assert headings(readme, 2) == intended_headings(service.answers)


def test_the_service_readme_names_the_resource_without_a_wrong_article(service: BakedService) -> None:
    readme = (service.path / "README.md").read_text()
    label = service.answers["resource_name"].replace("_", " ")
    stored = service.answers.get("database", "none") != "none"

    assert (f"stores a new {label} in" if stored else f"creates a new {label}.") in readme
    assert not re.search(r"\ba [aeiou]", readme), "an article that does not fit the word after it"


def test_the_description_is_not_followed_by_a_sentence_that_repeats_it(service: BakedService) -> None:
    paragraphs = (service.path / "README.md").read_text().split("\n\n")
    assert paragraphs[1] == service.answers["description"]
    assert not paragraphs[2].startswith("A Flask microservice")


# What a newcomer reads first; the rest is on the documentation site, which the README links to.
SERVICE_README_MOST_LINES = 150
# A page of the site as the service README names it when the template is not on GitHub: `docs/page.md#section`.
NAMED_PAGE = re.compile(r"`docs/([\w/-]+)\.md(?:#([\w-]+))?`")


@pytest.mark.promise(
    "The service README is short and links, or names, a page of the site for each detail", layer="offline"
)
def test_the_service_readme_is_short(service: BakedService) -> None:
    lines = (service.path / "README.md").read_text().splitlines()
    assert len(lines) <= SERVICE_README_MOST_LINES, f"{len(lines)} lines: move the detail to a page and link to it"


def section_anchors(page: Path) -> set[str]:
    """The anchors the site gives the page's headings (Python-Markdown's toc slugs, as MkDocs renders them)."""
    text = page.read_text()
    return {slugify(title, "-") for level in range(1, 7) for title in headings(text, level)}


@pytest.mark.promise(
    "The service README is short and links, or names, a page of the site for each detail", layer="offline"
)
def test_every_page_the_service_readme_names_is_on_the_site(service: BakedService) -> None:
    named = NAMED_PAGE.findall((service.path / "README.md").read_text())

    assert named, "the README names no page of the documentation"
    for page, section in named:
        path = DOCS_DIR / f"{page}.md"
        assert path.is_file(), f"the README names docs/{page}.md, which does not exist"
        assert not section or section in section_anchors(path), f"docs/{page}.md has no section #{section}"


def readme_link(template: str) -> str:
    """What the service README's link partial writes for the database page's migrations, for a template taken
    from ``template`` (cookiecutter's ``_template``: as typed, or as ``.cruft.json`` records it for updates)."""
    context = {"cookiecutter": {"_template": template}}
    environment = StrictEnvironment(context=context, loader=FileSystemLoader(TEMPLATE_DIR / "templates"))
    links = environment.get_template("readme/links.jinja").make_module(context)
    return str(links.doc("database", "database", "migrations"))


@pytest.mark.promise(
    "The service README is short and links, or names, a page of the site for each detail", layer="offline"
)
@pytest.mark.parametrize(
    "template",
    [
        "gh:Acme/flask-microservice-template",
        "https://github.com/Acme/flask-microservice-template.git",
        "https://github.com/Acme/flask-microservice-template/",
        "git@github.com:Acme/flask-microservice-template.git",
    ],
)
def test_the_service_readme_links_the_site_of_a_template_on_github(template: str) -> None:
    assert (
        readme_link(template) == "[database](https://acme.github.io/flask-microservice-template/database/#migrations)"
    )


@pytest.mark.promise(
    "The service README is short and links, or names, a page of the site for each detail", layer="offline"
)
@pytest.mark.parametrize(
    "template",
    ["../flask-microservice-template", "https://git.example.com/acme/flask-microservice-template.git", "gl:acme/t"],
)
def test_the_service_readme_names_the_page_of_a_template_elsewhere(template: str) -> None:
    assert readme_link(template) == "database (`docs/database.md#migrations` in the template)"


def test_every_rendered_text_file_is_tidy(service: BakedService) -> None:
    for path in service.files():
        relative = path.relative_to(service.path)
        text = path.read_text()
        if not text:
            continue  # a marker file such as py.typed
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{relative}: not exactly one final newline"
        assert "\n\n\n\n" not in text, f"{relative}: a run of 3 or more blank lines"
        for number, line in enumerate(text.splitlines(), start=1):
            assert line == line.rstrip(), f"{relative}:{number}: trailing whitespace"
            assert not GLUED_HEADING.search(line), f"{relative}:{number}: text runs into a heading: {line}"


# The template README's own commands, as a user copies them.


def readme_tokens() -> list[Any]:
    return MarkdownIt("commonmark").parse((TEMPLATE_DIR / "README.md").read_text())


def readme_section(title: str) -> list[Any]:
    """The tokens of the README's level-2 section ``title``, up to the next heading."""
    tokens = readme_tokens()
    start = next(i for i, t in enumerate(tokens) if t.type == "inline" and t.content == title)
    end = next((i for i, t in enumerate(tokens) if i > start and t.type == "heading_open"), len(tokens))
    return tokens[start:end]


def generate_commands() -> dict[str, list[str]]:
    """The generate commands of "Generate a service": the first sh block, the pipx line, the venv block."""
    section = readme_section("Generate a service")
    blocks = [t.content.strip().splitlines() for t in section if t.type == "fence" and t.info == "sh"]
    inline = [child for token in section if token.type == "inline" for child in token.children or ()]
    inline_code = [child.content for child in inline if child.type == "code_inline"]
    return {"uvx": blocks[0], "pipx": [next(c for c in inline_code if c.startswith("pipx run "))], "venv": blocks[1]}


def non_interactive(line: str, output: Path) -> str:
    """The README's line with this checkout as the source, no prompts, output into ``output`` and no lock."""
    words = shlex.split(line)
    if GENERATE_SOURCE not in words:
        return line
    words[words.index(GENERATE_SOURCE)] = str(TEMPLATE_DIR)
    return shlex.join([*words, "--no-input", "--output-dir", str(output), "_lock_dependencies=no"])


@pytest.mark.promise(
    "The READMEs and docs pass the Markdown linter; the site builds; the generate command works as written",
    layer="offline",
)
def test_the_readme_generate_commands_use_the_pinned_cookiecutter() -> None:
    pins = tomllib.loads((TEMPLATE_DIR / "pyproject.toml").read_text())["dependency-groups"]["test"]
    version = next(pin.split("==")[1] for pin in pins if pin.startswith("cookiecutter=="))
    commands = generate_commands()

    assert commands["uvx"] == [f"uvx cookiecutter@{version} {GENERATE_SOURCE}"]
    assert f"--spec cookiecutter=={version} " in commands["pipx"][0]
    assert f"install cookiecutter=={version}" in commands["venv"][0]


@pytest.mark.promise(
    "The READMEs and docs pass the Markdown linter; the site builds; the generate command works as written",
    layer="offline",
)
@pytest.mark.network
@pytest.mark.parametrize("way", ["uvx", "pipx", "venv"])
def test_the_readme_generate_command_works_as_written(tmp_path: Path, way: str) -> None:
    output = tmp_path / "out"
    # pipx keeps its environments in PIPX_HOME: a fresh one, as on a machine that never ran it.
    env = clean_environment({"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")})
    for line in generate_commands()[way]:
        result = subprocess.run(
            ["bash", "-c", non_interactive(line, output)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"

    assert (output / "order_manager" / "src" / "order_manager" / "app.py").is_file()


@pytest.mark.promise(
    "The READMEs and docs pass the Markdown linter; the site builds; the generate command works as written",
    layer="offline",
)
def test_ci_runs_the_test_command_the_readme_gives() -> None:
    """`.ci/run` prepares the machine, then ends with the README's test command: what CI proves is what a
    maintainer runs."""
    (command,) = [t.content.strip() for t in readme_section("Test this repository") if t.type == "fence"]
    ci_lines = [line.strip() for line in (TEMPLATE_DIR / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in ci_lines if line and not line.startswith("#")]

    assert command == "make test"
    assert commands[-1] == command
