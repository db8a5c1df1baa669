"""The real parts behind deleted-image tombstones, started by the tests themselves.

RabbitMQ (Debian's rabbitmq-server) and PostgreSQL (Debian's postgresql) run
from tests/support/rabbitmq.py and tests/support/postgres.py, each in its own
directory and on its own loopback port; a real Glance 33 with notifications on
publishes ``image.delete`` to that RabbitMQ.  These tests pin down what the
tombstone feature relies on: aio-pika against the broker (durable queue,
manual ack, redelivery, a broker killed and restarted), SQLAlchemy 2's asyncio
engine against PostgreSQL (asyncpg) and SQLite (aiosqlite), and the exact
exchange, routing key and envelope of Glance's notifications.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import aio_pika
import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import rabbitmq as rabbit_support
from tests.support.glance import NotifyingGlance, PortInUseError, free_port
from tests.support.rabbitmq import RabbitServer

# Glance's notifications with oslo.messaging's defaults: control_exchange is
# set to "glance" by glance.notifier.set_defaults(); topic "notifications"
# plus the priority ("info" for image.delete) is the routing key.  The
# exchange is a topic exchange, durable only with amqp_durable_queues=true.
GLANCE_EXCHANGE = "glance"
GLANCE_ROUTING_KEY = "notifications.info"


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory, report):
    server = RabbitServer(tmp_path_factory.mktemp("rabbit"))
    server.start()
    if rabbit_support.INSTALL_SECONDS is not None:
        report(f"rabbitmq-server apt install: {rabbit_support.INSTALL_SECONDS:.1f} s")
    report(f"RabbitMQ node start to AMQP-ready: {server.start_seconds:.1f} s")
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------ RabbitMQ

async def test_rabbit_durable_queue_manual_ack(rabbit):
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(rabbit.url) as conn:
        ch = await conn.channel()
        queue = await ch.declare_queue(name, durable=True)
        await ch.default_exchange.publish(
            aio_pika.Message(b'{"hello": 1}', delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=name)

        # taken but not acknowledged: back on the queue when the channel goes
        msg = await queue.get(no_ack=False, timeout=5)
        assert msg.body == b'{"hello": 1}' and not msg.redelivered
        await ch.close()

        ch = await conn.channel()
        queue = await ch.declare_queue(name, durable=True)
        async with queue.iterator(no_ack=False) as it:
            async for msg in it:
                assert msg.body == b'{"hello": 1}' and msg.redelivered
                await msg.ack()
                break
        assert (await queue.declare()).message_count == 0
        await queue.delete()


async def test_rabbit_killed_keeps_persistent_messages(rabbit):
    name = f"durable-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(rabbit.url) as conn:
        ch = await conn.channel(publisher_confirms=True)
        await ch.declare_queue(name, durable=True)
        await ch.default_exchange.publish(
            aio_pika.Message(b"survives", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=name)

    rabbit.kill()  # kill -9: no clean shutdown
    with pytest.raises((ConnectionError, OSError, aio_pika.exceptions.AMQPError)):
        await aio_pika.connect(rabbit.url, timeout=2)
    await asyncio.to_thread(rabbit.restart)

    async with await aio_pika.connect(rabbit.url) as conn:
        ch = await conn.channel()
        queue = await ch.declare_queue(name, durable=True)
        msg = await queue.get(no_ack=False, fail=False)
        assert msg is not None, (
            f"message lost: declare-ok said {queue.declaration_result.message_count}; "
            f"broker says:\n{rabbit.ctl('list_queues', 'name', 'messages', 'state')}\n"
            f"{rabbit.log_tail()}")
        assert msg.body == b"survives"
        await msg.ack()
        await queue.delete()
    assert name not in rabbit.ctl("list_queues", "name")


# ---------------------------------------------------------------- PostgreSQL

async def test_postgres_select_1_through_sqlalchemy_asyncpg(postgres):
    engine = create_async_engine(postgres.url, pool_pre_ping=True)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
            version = (await conn.execute(text("show server_version"))).scalar_one()
            assert int(version.split(".")[0]) >= 13
            who = (await conn.execute(text("select current_user, current_database()"))).one()
            assert tuple(who) == (postgres.user, postgres.database)
        async with engine.begin() as conn:
            await conn.execute(text("create table if not exists t (id text primary key)"))
            await conn.execute(text("insert into t values ('a') on conflict do nothing"))

        # "database down" and back: the pool's pre-ping replaces dead connections
        await asyncio.to_thread(postgres.kill)
        await asyncio.to_thread(postgres.restart)
        async with engine.connect() as conn:
            assert (await conn.execute(text("select id from t"))).scalar_one() == "a"
    finally:
        await engine.dispose()


async def test_postgres_wants_the_password(postgres):
    bad = postgres.url.replace(f":{postgres.password}@", ":wrong@")
    engine = create_async_engine(bad)
    try:
        with pytest.raises(Exception, match="password authentication failed"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


async def test_sqlite_select_1_through_sqlalchemy_aiosqlite(tmp_path: Path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'tombstones.sqlite'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


# --------------------------------------------------- Glance's notifications

async def _next_event(queue, event_type: str, timeout: float = 30) -> tuple[dict, dict]:
    """(AMQP properties and routing info, raw body as JSON) of the first
    message whose envelope carries ``event_type``; others are acknowledged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = await queue.get(no_ack=False, fail=False)
        if msg is None:
            await asyncio.sleep(0.2)
            continue
        body = json.loads(msg.body)
        inner = json.loads(body["oslo.message"])
        await msg.ack()
        if inner["event_type"] == event_type:
            meta = {"exchange": msg.exchange, "routing_key": msg.routing_key,
                    "content_type": msg.content_type,
                    "content_encoding": msg.content_encoding,
                    "delivery_mode": int(msg.delivery_mode or 0)}
            return meta, body
    raise AssertionError(f"no {event_type} notification within {timeout} s")


async def test_glance_publishes_image_delete_to_rabbit(rabbit, tmp_path_factory, report):
    async with await aio_pika.connect(rabbit.url) as conn:
        ch = await conn.channel()
        # declared exactly as oslo.messaging declares it (else 406 PRECONDITION_FAILED)
        exchange = await ch.declare_exchange(GLANCE_EXCHANGE, aio_pika.ExchangeType.TOPIC,
                                             durable=False)
        queue = await ch.declare_queue("smoke-glance-notifications", durable=True)
        await queue.bind(exchange, routing_key=GLANCE_ROUTING_KEY)

        glance = NotifyingGlance(transport_url=f"rabbit://guest:guest@127.0.0.1:{rabbit.port}/")
        workdir = tmp_path_factory.mktemp("glance-notify")
        for attempt in range(3):
            try:
                await asyncio.to_thread(glance.start, workdir, free_port())
                break
            except PortInUseError:
                if attempt == 2:
                    raise
        try:
            async with aiohttp.ClientSession(glance.url) as http:
                async with http.post("/v2/images", json={
                        "name": "doomed", "disk_format": "raw",
                        "container_format": "bare", "visibility": "public",
                        "min_ram": 64, "custom_prop": "yes"}) as resp:
                    assert resp.status == 201, await resp.text()
                    image_id = (await resp.json())["id"]
                async with http.put(f"/v2/images/{image_id}/file", data=b"x" * 1024,
                                    headers={"Content-Type": "application/octet-stream"}
                                    ) as resp:
                    assert resp.status == 204, await resp.text()
                async with http.delete(f"/v2/images/{image_id}") as resp:
                    assert resp.status == 204, await resp.text()
            meta, body = await _next_event(queue, "image.delete")
        finally:
            await asyncio.to_thread(glance.stop)
        await queue.delete()

    assert meta["exchange"] == GLANCE_EXCHANGE
    assert meta["routing_key"] == GLANCE_ROUTING_KEY
    assert set(body) == {"oslo.version", "oslo.message"}
    assert body["oslo.version"] == "2.0"
    inner = json.loads(body["oslo.message"])
    assert inner["priority"] == "INFO"
    assert inner["publisher_id"].startswith("image.")
    payload = inner["payload"]
    assert payload["id"] == image_id
    assert payload["deleted"] is True and payload["deleted_at"]
    assert payload["status"] == "deleted"
    assert payload["is_public"] is True and payload["visibility"] == "public"
    assert payload["size"] == 1024 and payload["checksum"]
    assert payload["properties"].get("custom_prop") == "yes"

    out = Path(tmp_path_factory.getbasetemp()) / "glance-image-delete.json"
    out.write_text(json.dumps({"amqp": meta, "body": body, "message": inner}, indent=2))
    report(f"Glance image.delete: exchange={meta['exchange']!r} "
           f"routing_key={meta['routing_key']!r} (raw message: {out})")
