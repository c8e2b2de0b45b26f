"""Who may call (the answer authentication): a service with jwt passes its own tests of token verification (keys
the tests make, a key set served on 127.0.0.1, every classic attack) and its lint with uv and pip, with and without
upstreams and a database; none, the default, changes nothing. A value outside the choices is cookiecutter's to
refuse."""

from __future__ import annotations

import pytest

from kit.answers import BakedService, Baker
from kit.example import EXAMPLE_PYTHON
from kit.workers import one_group_per_case

AUTH_FILES = ("src/{name}/core/auth.py", "tests/test_auth.py", "scripts/dev_auth.py")
# uv with upstreams (the token forwarded) and no database; pip with SQLite (the app fixture on a database).
CASES = [("uv", "none", "user_manager"), ("pip", "sqlite", "")]


@pytest.fixture(
    scope="module",
    params=one_group_per_case(
        CASES, lambda case: f"authentication=jwt,dependency_manager={case[0]},database={case[1]},upstreams={case[2]}"
    ),
)
def with_jwt(request: pytest.FixtureRequest, baked: Baker) -> BakedService:
    manager, database, upstreams = request.param
    service: BakedService = baked(
        dependency_manager=manager,
        python_version=EXAMPLE_PYTHON,
        database=database,
        upstream_services=upstreams,
        authentication="jwt",
        _lock_dependencies=True,
    )
    service.install()
    return service


@pytest.mark.promise(
    "A service with authentication=jwt verifies tokens against a served key set and refuses every classic attack",
    layer="install",
)
@pytest.mark.install
@pytest.mark.network
def test_a_service_with_jwt_passes_its_own_tests_and_lint(with_jwt: BakedService) -> None:
    output = with_jwt.make("test")
    assert "tests/test_auth.py" in output, output[-2000:]
    with_jwt.make("lint")


@pytest.mark.promise(
    "A service with authentication=jwt mints a development token that its own verifier accepts", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_the_development_token_is_signed_by_the_development_key_set(with_jwt: BakedService) -> None:
    token = with_jwt.make("-s", "dev-token", SCOPE="thing:read").strip()
    check = (
        "import json, sys, jwt\n"
        "from scripts.dev_auth import key_set\n"
        "key = jwt.PyJWK.from_dict(key_set()['keys'][0])\n"
        "print(json.dumps(jwt.decode(sys.argv[1], key.key, algorithms=['ES256'], audience=sys.argv[2])))\n"
    )
    claims = with_jwt.run(".venv/bin/python", "-c", check, token, with_jwt.name)

    assert '"scope": "thing:read"' in claims
    assert '"iss": "http://127.0.0.1:8399/"' in claims


@pytest.mark.promise("authentication=none, the default, adds no file, no dependency and no line", layer="offline")
def test_none_changes_nothing(baked: Baker) -> None:
    plain: BakedService = baked(upstream_services="billing")
    none: BakedService = baked(upstream_services="billing", authentication="none")
    jwt: BakedService = baked(upstream_services="billing", authentication="jwt")

    def contents(service: BakedService) -> dict[str, bytes]:
        return {
            str(path.relative_to(service.path)): path.read_bytes()
            for path in service.files()
            if path.name != ".cruft.json"  # records the answers as given
        }

    assert contents(none) == contents(plain)
    for pattern in AUTH_FILES:
        name = pattern.format(name=plain.name)
        assert not (plain.path / name).exists()
        assert (jwt.path / name).exists()
    for text in ("pyjwt", "JWT", "Authorization", "dev-token"):
        assert not any(text in content.decode(errors="replace") for content in contents(plain).values()), text
    assert "pyjwt[crypto]" in (jwt.path / "pyproject.toml").read_text()
