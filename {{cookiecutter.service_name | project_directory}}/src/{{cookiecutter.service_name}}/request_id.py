"""``X-Request-ID``: taken from the request when it is sane, created when absent or not, returned on every response
(errors included), and logged as ``request_id`` on every line written while the request is served."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request
from werkzeug.wrappers import Response

from {{ cookiecutter.service_name }}.logging_config import ENVIRON_KEY, bind_request_fields, unbind_request_fields

HEADER = "X-Request-ID"
# Ids that proxies and other services send (UUIDs, hex, base64) fit; anything longer, or with characters that could
# forge a log field or a header, is replaced.
_SANE_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")


def _take_or_create() -> None:
    incoming = request.headers.get(HEADER, "")
    request_id = incoming if _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
    fields = {"request_id": request_id}
    request.environ[ENVIRON_KEY] = fields
    g.request_id = request_id
    g.log_fields_token = bind_request_fields(fields)


def _return(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is not None:
        response.headers[HEADER] = request_id
    return response


def _forget(_error: BaseException | None) -> None:
    token = g.pop("log_fields_token", None)
    if token is not None:
        unbind_request_fields(token)


def register_request_ids(app: Flask) -> None:
    app.before_request(_take_or_create)
    app.after_request(_return)
    app.teardown_request(_forget)
