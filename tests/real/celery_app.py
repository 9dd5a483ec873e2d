"""A Celery 5 app over redis with at-least-once delivery: ``acks_late`` and a short visibility timeout.

``charge`` writes its row first and then calls a slow downstream service. A message not acknowledged
within the visibility timeout is put back on the queue by kombu's redis transport and delivered again,
while (or after) the first execution still runs: the order is charged twice by the same task id. Which
tasks are slow on their first attempt is given by the sender; attempts are counted in redis.
"""

from __future__ import annotations

import os
import time

import psycopg
import redis
from celery import Celery

from real.batch import libpq

VISIBILITY_TIMEOUT = 2
SLOW_SECONDS = 3.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id bigserial PRIMARY KEY,
    order_id integer NOT NULL,
    amount_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    host text,
    pid integer,
    task_id text
)
"""


def make_app(broker: str) -> Celery:
    app = Celery("real", broker=broker)
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # unacked_mutex_expire: the lock a sweep putting unacknowledged messages back holds for milliseconds;
        # kombu keeps a killed sweeper's lock 300 s, which stopped every redelivery for five minutes
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT, "unacked_restore_interval": 0.25,
                                  "unacked_restore_throttle": 1, "unacked_mutex_expire": 1},
        worker_log_format="[%(asctime)s: %(levelname)s/%(processName)s %(process)d] %(message)s",
        worker_task_log_format=("[%(asctime)s: %(levelname)s/%(processName)s %(process)d] "
                                "%(task_name)s[%(task_id)s]: %(message)s"),
    )
    return app


app = make_app(os.environ.get("SCENARIO_BROKER", "redis://127.0.0.1:6379/0"))
_connections: dict[str, psycopg.Connection] = {}


@app.task(bind=True, name="charge")
def charge(self, url: str, table: str, order_id: int, slow: bool) -> None:
    attempt = redis.Redis.from_url(app.conf.broker_url).incr(f"{table}:attempt:{order_id}")
    conn = _connections.get(url)
    if conn is None:
        conn = _connections[url] = psycopg.connect(libpq(url), autocommit=True)
    conn.execute(f"INSERT INTO {table} (order_id, amount_cents, host, pid, task_id) VALUES (%s, 100, %s, %s, %s)",
                 (order_id, self.request.hostname, os.getpid(), self.request.id))
    if slow and attempt == 1:
        time.sleep(SLOW_SECONDS)  # the payment provider is slow this time: longer than the visibility timeout


@app.task(bind=True, name="settle")
def settle(self, url: str, table: str, order_id: int, hold: float) -> None:
    """Write the order's row, then hold the message ``hold`` seconds (the rest of the settlement): a worker
    killed meanwhile leaves the row written and the message unacknowledged, and it is delivered again."""
    conn = _connections.get(url)
    if conn is None:
        conn = _connections[url] = psycopg.connect(libpq(url), autocommit=True)
    conn.execute(f"INSERT INTO {table} (order_id, amount_cents, host, pid, task_id) VALUES (%s, 100, %s, %s, %s)",
                 (order_id, self.request.hostname, os.getpid(), self.request.id))
    time.sleep(hold)
