{%- set names = cookiecutter.__upstreams.split(",") -%}
"""The services this one calls, a client each. In a view:

    from {{ cookiecutter.service_name }}.clients import {{ names[0] }}

    answer = {{ names[0] }}.get("/api/...")  # or .post("/api/...", json=..., headers={"Idempotency-Key": ...})

Each call answers an ``httpx.Response``. A call that gets no usable answer raises ``UpstreamUnavailable`` (the
inbound request is then answered 503) or ``UpstreamTimeout`` (504); catch them to answer otherwise. The base URL of
each upstream is ``{{ cookiecutter.__env_prefix }}_<UPSTREAM>_URL``; core/upstream.py has its other settings and
what every call does.
"""

from {{ cookiecutter.service_name }}.core.upstream import (
    Upstream,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = [
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
{%- for name in names | sort %}
    "{{ name }}",
{%- endfor %}
]
{% for name in names %}
{{ name }} = Upstream("{{ name }}")
{%- endfor %}
