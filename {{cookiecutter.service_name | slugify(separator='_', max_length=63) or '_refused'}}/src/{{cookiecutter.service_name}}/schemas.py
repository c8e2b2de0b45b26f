{%- set cc = cookiecutter -%}
{%- set model = cc.__model_name -%}
"""What the API takes and gives, as pydantic models: the views are typed with them and answer with them, and
flask-openapi3 derives the OpenAPI document's schemas from them, so the two cannot drift apart as fields are added."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from {{ cc.service_name }}.models import MAX_ID, NAME_LENGTH

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _utc_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


# A moment as the API answers it on every database: UTC, to the microsecond, six digits even when they are zeros
# (pydantic's own form leaves the fraction out then), so a client parses it with one format.
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(_utc_timestamp, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$",
        }
    ),
]


class {{ model }}In(BaseModel):
    """A new {{ cc.__resource_label }}, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    # Any text but the NUL character, which PostgreSQL cannot store.
    name: str = Field(min_length=1, max_length=NAME_LENGTH, pattern="^[^\x00]*$")


class {{ model }}Out(BaseModel):
    """A stored {{ cc.__resource_label }}."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
{%- if cc.use_discount_calculator %}
    discount: int = Field(ge=0, le=20)
{%- endif %}
    created_at: Timestamp


# The header the create answer carries besides its body, for the OpenAPI document.
_LOCATION = {"Location": {"description": "Where to read it back", "schema": {"type": "string"}}}


class {{ model }}Created({{ model }}Out):
    # flask-openapi3 reads an answer's headers from a key of the model's config that pydantic's type does not list.
    model_config = ConfigDict(openapi_extra={"headers": _LOCATION})  # type: ignore[typeddict-unknown-key]

    message: str


class {{ model }}Page(BaseModel):
    """One page of the list, oldest first; ``next`` is the path of the next page, null on the last one."""

    items: list[{{ model }}Out]
    next: str | None


class RecordPath(BaseModel):
    """The id in a {{ cc.__resource_label }}'s path."""

    record_id: int = Field(ge=0, le=MAX_ID)


class PageQuery(BaseModel):
    """The list's query string: at most ``limit`` items with an id greater than ``after``."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    after: int = Field(default=0, ge=0, le=MAX_ID)
