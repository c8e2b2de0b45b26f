"""The reference for the benchmark: the least a Flask app can do for the generated service's route.

``POST /api/order`` parses the JSON body and answers 201 with a body of the generated service's shape and
size. No blueprint, no settings, no error handlers, no shared package.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/order")
def create_order() -> tuple[dict[str, Any], int]:
    request.get_json()
    return {"message": "Order created, discount is 0.", "discount": 0}, 201
