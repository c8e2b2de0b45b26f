"""Deployment files of generated services pass their validators offline: hadolint and checkov on every
Dockerfile variant, kubernetes-validate and checkov on the manifests, the workflow schema on the CI workflow."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import TOOLS_BIN, BakedService
from support import MANAGERS

CHECKOV = "checkov==3.3.30"
MONOREPO_PATH = "../../libs/discount_calculator"


def run_tool(*command: str, cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


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


@pytest.fixture(scope="module")
def kubernetes_service(baked: Any) -> BakedService:
    return baked(include_kubernetes=True)


def test_every_dockerfile_passes_hadolint_without_ignores(dockerfile_service: BakedService) -> None:
    dockerfile = (dockerfile_service.path / "Dockerfile").read_text()
    assert "hadolint ignore" not in dockerfile
    run_tool(str(TOOLS_BIN / "hadolint"), "--no-color", "Dockerfile", cwd=dockerfile_service.path)


def test_every_dockerfile_passes_checkov(dockerfile_service: BakedService) -> None:
    output = checkov(dockerfile_service, "--framework", "dockerfile", "--file", "Dockerfile")
    assert "Failed checks: 0" in output


def test_kubernetes_manifests_match_the_api_schemas(kubernetes_service: BakedService) -> None:
    k8s = kubernetes_service.path / "deploy" / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert sorted(resources) == sorted(p.name for p in k8s.glob("*.yaml") if p.name != "kustomization.yaml")
    run_tool(str(TOOLS_BIN / "kubernetes-validate"), "--strict", *resources, cwd=k8s)


def test_kubernetes_manifests_pass_checkov_with_each_skip_justified(kubernetes_service: BakedService) -> None:
    output = checkov(kubernetes_service, "--framework", "kubernetes", "--directory", "deploy/k8s")
    assert "Failed checks: 0" in output
    for path in (kubernetes_service.path / "deploy" / "k8s").glob("*.yaml"):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if "checkov.io/skip" in line:
                assert "=" in line.split(":", 1)[1], f"{path.name}: a skip without its reason"
                assert lines[number - 1].strip().startswith("#"), f"{path.name}: a skip without a comment"


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


@pytest.mark.parametrize("manager", MANAGERS)
def test_the_ci_workflow_matches_the_github_workflow_schema(baked: Any, manager: str) -> None:
    service = baked(dependency_manager=manager, include_ci_workflow=True)
    run_tool(
        str(TOOLS_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", ".github/workflows/ci.yml",
        cwd=service.path,
    )  # fmt: skip
    steps = yaml.safe_load((service.path / ".github/workflows/ci.yml").read_text())["jobs"]["test"]["steps"]
    commands = [step.get("run", "") for step in steps]
    assert any("make lint" in c for c in commands) and any("make test" in c for c in commands)
