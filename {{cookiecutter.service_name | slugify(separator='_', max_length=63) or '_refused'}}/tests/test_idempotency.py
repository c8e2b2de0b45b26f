{%- set cc = cookiecutter -%}
"""Creates sent with an ``Idempotency-Key`` happen once (core/idempotency.py): a repeat gets the first answer, the
same key with another body 422, a repeat while the first runs 409; of concurrent repeats one creates; a failed first
attempt, or one whose worker died, leaves the key free; expired keys are removed as creates go."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.test import TestResponse

from {{ cc.service_name }} import models
from {{ cc.service_name }}.core import db
from {{ cc.service_name }}.core.config import ConfigError
from {{ cc.service_name }}.core.db_settings import IdempotencySettings
from {{ cc.service_name }}.core.idempotency import IN_FLIGHT_LEASE, IdempotencyKey, idempotent, remove_expired

ENDPOINT = "/api/{{ cc.resource_name }}"
KEY = "9b2f6c1e-4d7a-4c3b-8e52-1f0a6d9c7b34"
GATED = "/test/gated"
FAILING = "/test/failing"
CONCURRENT_REPEATS = 8


def post(client: FlaskClient, name: str, key: str = KEY, path: str = ENDPOINT) -> TestResponse:
    return client.post(path, json={"name": name}, headers={"Idempotency-Key": key})


def stored_names(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session().scalars(select(models.{{ cc.__model_name }}.name).order_by(models.{{ cc.__model_name }}.id)))


def held_keys(app: Flask) -> dict[str, int | None]:
    """Each key the service holds, with the status of its stored answer (None while in flight)."""
    with app.app_context():
        rows = db.session().execute(select(IdempotencyKey.key, IdempotencyKey.status))
        return {key: status for key, status in rows}


def add_record(name: str) -> int:
    """What a create view does: add the record to the request's session and flush, for its id."""
{%- if cc.use_discount_calculator %}
    row = models.{{ cc.__model_name }}(name=name, discount=0)
{%- else %}
    row = models.{{ cc.__model_name }}(name=name)
{%- endif %}
    session = db.session()
    session.add(row)
    session.flush()
    return row.id


@dataclass
class Gate:
    """A create route whose first call waits at the gate before it writes: a first request still in flight."""

    opened: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def view(self) -> ResponseReturnValue:
        self.calls += 1
        if self.calls == 1:
            self.reached.set()
            assert self.opened.wait(10), "the gate was never opened"
        return {"id": add_record(request.get_json()["name"])}, 201


@pytest.fixture
def gate(app: Flask) -> Gate:
    gate = Gate()
    app.add_url_rule(GATED, "gated", idempotent(gate.view), methods=["POST"])
    return gate


def in_a_thread(app: Flask, call: Callable[[FlaskClient], TestResponse]) -> Callable[[], TestResponse]:
    """Start ``call`` with a client of its own in a thread; the returned function waits for its answer."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(call, app.test_client())
    pool.shutdown(wait=False)
    return lambda: future.result(timeout=15)


def test_a_repeat_gets_the_first_answer_again_and_creates_nothing(app: Flask, client: FlaskClient) -> None:
    first = post(client, "once")
    again = post(client, "once")

    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert stored_names(app) == ["once"]


def test_without_the_header_each_post_creates_a_record(app: Flask, client: FlaskClient) -> None:
    for _ in range(2):
        assert client.post(ENDPOINT, json={"name": "twice"}).status_code == 201

    assert stored_names(app) == ["twice", "twice"]
    assert held_keys(app) == {}


def test_the_same_key_with_another_body_is_a_json_422_and_creates_nothing(app: Flask, client: FlaskClient) -> None:
    post(client, "first")
    other = post(client, "second")

    assert other.status_code == 422
    assert "Idempotency-Key was used with another request" in other.get_json()["error"]["message"]
    assert stored_names(app) == ["first"]


def test_a_repeat_while_the_first_is_in_flight_is_a_409_with_retry_after(app: Flask, gate: Gate) -> None:
    first = in_a_thread(app, lambda client: post(client, "slow", path=GATED))
    assert gate.reached.wait(10)
    while_in_flight = post(app.test_client(), "slow", path=GATED)
    gate.opened.set()
    answered = first()
    after = post(app.test_client(), "slow", path=GATED)

    assert while_in_flight.status_code == 409
    assert while_in_flight.headers["Retry-After"] == "1"
    assert while_in_flight.get_json()["error"]["code"] == 409
    assert answered.status_code == 201
    assert after.get_data() == answered.get_data()
    assert stored_names(app) == ["slow"]


def test_concurrent_repeats_create_exactly_one_record(app: Flask) -> None:
    start = threading.Barrier(CONCURRENT_REPEATS)

    def repeat(_: int) -> TestResponse:
        client = app.test_client()
        start.wait(10)
        return post(client, "at once")

    with ThreadPoolExecutor(CONCURRENT_REPEATS) as pool:
        answers = list(pool.map(repeat, range(CONCURRENT_REPEATS)))

    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {201, 409}, statuses
    assert statuses[201] >= 1, statuses
    assert len({answer.get_data() for answer in answers if answer.status_code == 201}) == 1
    assert stored_names(app) == ["at once"]


def test_a_refused_first_attempt_leaves_the_key_free(app: Flask, client: FlaskClient) -> None:
    refused = post(client, "")  # a name must not be empty: 422

    assert refused.status_code == 422
    assert held_keys(app) == {}
    assert post(client, "corrected").status_code == 201
    assert stored_names(app) == ["corrected"]


def test_a_first_attempt_that_fails_after_writing_leaves_nothing_and_the_key_free(
    app: Flask, client: FlaskClient
) -> None:
    def fails() -> ResponseReturnValue:
        add_record("rolled back")
        raise RuntimeError("a bug after the write")

    app.add_url_rule(FAILING, "failing", idempotent(fails), methods=["POST"])

    failed = post(client, "rolled back", path=FAILING)

    assert failed.status_code == 500
    assert held_keys(app) == {}
    assert stored_names(app) == []
    assert post(client, "retried").status_code == 201
    assert stored_names(app) == ["retried"]


def test_a_claim_whose_worker_died_is_taken_over_after_the_lease(app: Flask, client: FlaskClient) -> None:
    long_ago = db.utc_now() - IN_FLIGHT_LEASE - timedelta(seconds=1)
    with app.app_context():
        session = db.session()
        session.add(
            IdempotencyKey(
                key=KEY,
                fingerprint="0" * 64,
                claim="crashed",
                claimed_at=long_ago,
                expires_at=db.utc_now() + timedelta(days=1),
            )
        )
        session.commit()

    assert post(client, "after the crash").status_code == 201
    assert held_keys(app) == {KEY: 201}


def test_a_first_request_taken_over_under_it_stores_nothing(app: Flask, gate: Gate) -> None:
    first = in_a_thread(app, lambda client: post(client, "first", path=GATED))
    assert gate.reached.wait(10)
    with app.app_context():  # the first request now looks as one whose worker died
        held = db.session().get(IdempotencyKey, KEY)
        assert held is not None
        held.claimed_at -= IN_FLIGHT_LEASE + timedelta(seconds=1)
        db.session().commit()
    took_over = post(app.test_client(), "first", path=GATED)
    gate.opened.set()

    assert took_over.status_code == 201
    assert first().status_code == 409
    assert stored_names(app) == ["first"]


def test_expired_keys_are_removed_as_creates_go_a_batch_at_a_time(app: Flask, client: FlaskClient) -> None:
    now = db.utc_now()
    with app.app_context():
        session = db.session()
        for index, expires_in in enumerate([-2, -1, -1, 3600]):
            expires_at = now + timedelta(seconds=expires_in)
            answered = {"fingerprint": "0" * 64, "claim": str(index), "claimed_at": now, "status": 201}
            session.add(IdempotencyKey(key=f"key {index}", expires_at=expires_at, **answered))
        session.commit()
        assert remove_expired(session, limit=1) == 1
    assert len(held_keys(app)) == 3

    assert post(client, "a create with a key").status_code == 201
    assert set(held_keys(app)) == {"key 3", KEY}


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "clé", " padded", "tab\there"],
    ids=["empty", "256 characters", "not ASCII", "leading space", "control character"],
)
def test_a_key_that_is_not_valid_is_a_json_400_saying_what_is(app: Flask, client: FlaskClient, key: str) -> None:
    response = post(client, "never stored", key=key)

    assert response.status_code == 400
    assert "1 to 255 printable ASCII characters" in response.get_json()["error"]["message"]
    assert stored_names(app) == []


def test_a_key_of_255_printable_characters_is_taken(app: Flask, client: FlaskClient) -> None:
    key = "".join(chr(33 + index % 94) for index in range(255))

    assert post(client, "long key", key=key).status_code == 201
    assert held_keys(app) == {key: 201}


def test_keys_are_kept_a_day_unless_set_from_a_minute_to_30_days(monkeypatch: pytest.MonkeyPatch) -> None:
    variable = "{{ cc.__env_prefix }}_IDEMPOTENCY_KEY_TTL"
    monkeypatch.delenv(variable, raising=False)

    assert IdempotencySettings().key_ttl == 86400
    monkeypatch.setenv(variable, "60")
    assert IdempotencySettings().key_ttl == 60
    for value in ("59", "2592001"):
        monkeypatch.setenv(variable, value)
        with pytest.raises(ConfigError, match=f"^{variable}={value} is out of range; use 60 to 2592000$"):
            IdempotencySettings()
