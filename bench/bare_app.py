"""The reference for the benchmark: the least a Flask app can do for the generated service's route, on its database.

``POST /api/order`` parses the JSON body, inserts the row the generated service inserts into the same table of the
same PostgreSQL (SQLAlchemy Core, an engine per process with the service's pool settings), and answers 201 with a
body of the generated service's shape. No blueprint, no validation model, no settings, no error handlers, no shared
package.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request
from sqlalchemy import Engine, column, create_engine, insert, table

URL = os.environ["ORDER_MANAGER_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
ORDERS = table("orders", column("id"), column("name"), column("discount"), column("created_at"))
_engines: dict[int, Engine] = {}

app = Flask(__name__)


def engine() -> Engine:
    """This process's engine: gunicorn forks its workers from the master, and connections must not cross a fork."""
    if os.getpid() not in _engines:
        _engines[os.getpid()] = create_engine(URL, pool_size=10, max_overflow=0, pool_pre_ping=True)
    return _engines[os.getpid()]


@app.post("/api/order")
def create_order() -> tuple[dict[str, Any], int]:
    name = request.get_json()["name"]
    statement = insert(ORDERS).values(name=name, discount=0).returning(ORDERS.c.id, ORDERS.c.created_at)
    with engine().begin() as connection:
        row = connection.execute(statement).one()
    created = row.created_at.isoformat()
    return {
        "id": row.id,
        "name": name,
        "discount": 0,
        "created_at": created,
        "message": "Order created, discount is 0.",
    }, 201
