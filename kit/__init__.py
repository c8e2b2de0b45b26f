"""The test kit: what the suite (tests/) and the benchmark (bench/) share, in plain Python (no pytest but in
``kit.workers``, which the benchmark never imports), imported the same way by both (``from kit.serving import http``).

- ``kit.template``: the template to bake from and the facts of cookiecutter.json.
- ``kit.answers``: the answers baked, and baking (``bake_with_cookies``, ``bake``, ``BakedService``).
- ``kit.processes``: the user's environment, interpreters, ``run`` (a command that must succeed), process groups.
- ``kit.serving``: serving a service, HTTP requests, slow clients, an OTLP receiver, request counts.
- ``kit.postgres``: a throwaway PostgreSQL server.
- ``kit.example``: the example monorepo and the private index's packages.
- ``kit.checks``: schemas, and bills of materials against their locks.
- ``kit.workers``: which tests share a pytest-xdist worker (a pytest plugin; tests/conftest.py loads its hook).
- ``kit.promises``: the tests' promise marks, read from their source, and the page of promises they render.

A failing command raises ``CommandFailed`` (an AssertionError, so pytest reports it as a test failure).
"""
