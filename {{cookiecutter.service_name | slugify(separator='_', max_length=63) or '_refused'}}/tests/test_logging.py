from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask

LogLines = Callable[[], list[dict[str, Any]]]


def test_each_record_is_one_line_of_json_with_time_level_logger_and_message(log_lines: LogLines) -> None:
    logger = logging.getLogger("{{ cookiecutter.service_name }}.test")
    logger.info("first line\nsecond line", extra={"order_id": 7})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")

    first, second = log_lines()
    assert first["message"] == "first line\nsecond line"
    assert first["order_id"] == 7
    assert (first["level"], first["logger"]) == ("INFO", "{{ cookiecutter.service_name }}.test")
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["exception"]


def test_lines_logged_while_a_request_is_served_carry_its_request_id(app: Flask, log_lines: LogLines) -> None:
    def noisy() -> str:
        logging.getLogger("{{ cookiecutter.service_name }}.view").warning("inside the request")
        return "ok"

    app.add_url_rule("/noisy", view_func=noisy)
    app.test_client().get("/noisy", headers={"X-Request-ID": "req-42"})
    logging.getLogger("{{ cookiecutter.service_name }}.test").warning("after the request")

    inside, after = log_lines()
    assert inside["request_id"] == "req-42"
    assert "request_id" not in after


def test_the_500_handler_logs_the_traceback_with_the_request_id(app: Flask, log_lines: LogLines) -> None:
    def explode() -> str:
        raise RuntimeError("secret detail")

    app.add_url_rule("/explode", view_func=explode)
    response = app.test_client().get("/explode", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    [line] = log_lines()
    assert (line["level"], line["request_id"]) == ("ERROR", "req-500")
    assert "RuntimeError: secret detail" in line["exception"]
