"""``Idempotency-Key`` on creates (draft-ietf-httpapi-idempotency-key-header): a client that sends the header with a
POST may send the request again, after a timeout or a dropped connection, and nothing is created twice.

A create view takes it in one line, ``@idempotent`` under its route, and flushes rather than commits: the decorator
commits, and with a key it stores the answer (status, body, ``Location``) with the key in that same transaction, so
a record is never stored without the answer that a repeat gets. For each key, the first request claims it in a short
transaction of its own, then:

- a repeat with the same method, path and body, byte for byte, gets the stored answer again, with
  ``Idempotent-Replayed: true``, and creates nothing;
- the same key with another request is refused with 422, and a repeat while the first is still running with 409
  and ``Retry-After``;
- a first request that fails (refused, rolled back, 500, 503) gives the key back, for the retry to use; a claim whose
  worker died is taken over after ``IN_FLIGHT_LEASE``;
- keys expire after ``<PREFIX>_IDEMPOTENCY_KEY_TTL`` seconds (a day unless set). Creates that carry a key remove
  expired ones now and then, a bounded batch at a time, so no scheduled job is needed.

Only a success (2xx) is remembered: a refused request changed nothing, and sending it again as it was gets the same
refusal.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Index, Integer, String, Text, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.exceptions import BadRequest, Conflict, UnprocessableEntity
from werkzeug.wrappers import Response

from {{ cookiecutter.service_name }}.core import db
from {{ cookiecutter.service_name }}.core.errors import json_error
from {{ cookiecutter.service_name }}.models import Base

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# 1 to MAX_KEY_LENGTH printable ASCII characters, without a space at either end (a server strips those).
_VALID_KEY = re.compile(r"[!-~](?:[ -~]{0,253}[!-~])?")
# The header in the OpenAPI document of a view that takes it: ``@api.post(..., openapi_extensions=DOCUMENTED)``, with
# 409 among its answers (and 400, 422, which its models give it already).
DOCUMENTED = {
    "parameters": [
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": "Sent again with the same body, the request gets the first answer and creates nothing.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_KEY_LENGTH,
                "pattern": f"^{_VALID_KEY.pattern}$",
            },
        }
    ]
}
# A first request still unanswered after this long is taken for one whose worker died, and its key is taken over. A
# create takes milliseconds; the lease is well past the longest wait for the database (pool, then connection).
IN_FLIGHT_LEASE = timedelta(seconds=30)
RETRY_AFTER_SECONDS = 1
# Expired keys are removed at most once a minute per process, at most this many at a time; again at once while
# batches come back full.
CLEANUP_INTERVAL_SECONDS = 60
CLEANUP_BATCH = 1000
_CLEANUP_DUE = "idempotency_cleanup_due"
# A claim taken over or removed under a request is claimed again, a few times at most.
_CLAIM_ATTEMPTS = 3


class IdempotencyKey(Base):
    """A key a client sent with a create: who holds it (``claim``) and, once the create succeeded, its answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index(None, "expires_at"),)

    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    # SHA-256 of the method, path and body of the request that first used the key.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The holder's token: a request that took the key over replaces it, so the holder it replaced stores nothing.
    claim: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(db.UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(db.UtcDateTime())
    # The answer, once the create is committed; all None while it runs.
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    location: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)


def idempotent(view: Callable[..., ResponseReturnValue]) -> Callable[..., Response]:
    """Make a create view safe to repeat with an ``Idempotency-Key``. The view adds to ``db.session()`` and flushes;
    this commits when its answer is a success, with the key's answer when a key was sent. A request without the
    header is served as the view alone would serve it, committed."""

    @functools.wraps(view)
    def create(*args: Any, **kwargs: Any) -> Response:
        key = _key_sent()
        if key is None:
            response = current_app.make_response(view(*args, **kwargs))
            if _success(response):
                db.session().commit()
            return response
        return _create_once(key, functools.partial(view, *args, **kwargs))

    return create


def remove_expired(session: Session, limit: int = CLEANUP_BATCH) -> int:
    """Remove at most ``limit`` expired keys, committed; how many were removed."""
    expired = select(IdempotencyKey.key).where(IdempotencyKey.expires_at <= db.utc_now()).limit(limit)
    removed = session.execute(delete(IdempotencyKey).where(IdempotencyKey.key.in_(expired)))
    session.commit()
    return _rowcount(removed)


def _key_sent() -> str | None:
    sent = request.headers.get(HEADER)
    if sent is not None and not _VALID_KEY.fullmatch(sent):
        raise BadRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, such as a UUID.")
    return sent


def _success(response: Response) -> bool:
    return 200 <= response.status_code < 300


def _fingerprint() -> str:
    # Neither a method nor a path holds a newline: the three parts cannot run into one another.
    sent = b"\n".join([request.method.encode(), request.full_path.encode(), request.get_data(cache=True)])
    return hashlib.sha256(sent).hexdigest()


def _create_once(key: str, create: Callable[[], ResponseReturnValue]) -> Response:
    fingerprint = _fingerprint()
    session = db.session()
    _remove_expired_now_and_then(session)
    claim = _claim(session, key, fingerprint)
    if isinstance(claim, Response):
        return claim
    try:
        response = current_app.make_response(create())
    except BaseException:
        _give_back(session, key, claim)
        raise
    if not _success(response):
        _give_back(session, key, claim)
        return response
    answer = {
        "status": response.status_code,
        "content_type": response.content_type,
        "location": response.headers.get("Location"),
        "body": response.get_data(as_text=True),
    }
    held = IdempotencyKey.key == key, IdempotencyKey.claim == claim
    try:
        if _rowcount(session.execute(update(IdempotencyKey).where(*held).values(answer))) != 1:
            # Taken over after the lease by a repeat, which answers for the key: this request stores nothing.
            session.rollback()
            return _in_progress()
        session.commit()
    except BaseException:  # the commit failed (the database went away): neither the record nor the answer is stored
        _give_back(session, key, claim)
        raise
    return response


def _claim(session: Session, key: str, fingerprint: str) -> str | Response:
    """Claim ``key`` for this request: its claim token, committed; or the answer a request gets that cannot have it
    (the stored answer, 409 while another holds it, 422 for a key used with another request)."""
    for _ in range(_CLAIM_ATTEMPTS):
        now = db.utc_now()
        ttl = current_app.extensions["idempotency_settings"].key_ttl
        token = uuid.uuid4().hex
        claimed = {
            "fingerprint": fingerprint,
            "claim": token,
            "claimed_at": now,
            "expires_at": now + timedelta(seconds=ttl),
            "status": None,
            "content_type": None,
            "location": None,
            "body": None,
        }
        try:
            session.execute(insert(IdempotencyKey).values(key=key, **claimed))
            session.commit()
            return token
        except IntegrityError:  # held already
            session.rollback()
        held = session.scalars(
            select(IdempotencyKey).where(IdempotencyKey.key == key).execution_options(populate_existing=True)
        ).one_or_none()
        if held is None:  # given back or removed since: claim it again
            continue
        if held.expires_at <= now or (held.status is None and held.claimed_at <= now - IN_FLIGHT_LEASE):
            # Compare and set, on the token it had and on its being free still: of two requests taking the same key
            # over, one gets it, and none once a late holder has stored its answer.
            free = or_(
                IdempotencyKey.expires_at <= now,
                and_(IdempotencyKey.status.is_(None), IdempotencyKey.claimed_at <= now - IN_FLIGHT_LEASE),
            )
            taken = session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key, IdempotencyKey.claim == held.claim, free)
                .values(claimed)
            )
            session.commit()
            if _rowcount(taken) == 1:
                return token
            continue
        if held.fingerprint != fingerprint:
            return json_error(
                UnprocessableEntity(
                    f"This {HEADER} was used with another request (method, path or body); send a new key for a new "
                    "request, or this one as it was first sent."
                )
            )
        if held.status is None:
            return _in_progress()
        return _replay(held)
    return _in_progress()


def _give_back(session: Session, key: str, claim: str) -> None:
    """Undo what the request did and free its key for a retry; if the database cannot be reached now, the key is
    freed when the lease ends. The request's own error, not one of this, is what it is answered with."""
    with suppress(SQLAlchemyError):
        session.rollback()
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.key == key, IdempotencyKey.claim == claim))
        session.commit()


def _replay(held: IdempotencyKey) -> Response:
    response = current_app.response_class(held.body, status=held.status, content_type=held.content_type)
    if held.location is not None:
        response.headers["Location"] = held.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _in_progress() -> Response:
    response = json_error(
        Conflict(f"A request with this {HEADER} is still in progress; send it again in {RETRY_AFTER_SECONDS} s.")
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _remove_expired_now_and_then(session: Session) -> None:
    if time.monotonic() < current_app.extensions.get(_CLEANUP_DUE, 0.0):
        return
    removed = remove_expired(session)
    if removed:
        logger.info("removed %d expired idempotency keys", removed)
    # A full batch may have left more behind: the next create goes on with them.
    wait = 0 if removed == CLEANUP_BATCH else CLEANUP_INTERVAL_SECONDS
    current_app.extensions[_CLEANUP_DUE] = time.monotonic() + wait


def _rowcount(result: object) -> int:
    # An UPDATE's or DELETE's result (a CursorResult) has the count; execute() is typed with the general Result.
    return int(getattr(result, "rowcount", 0))
