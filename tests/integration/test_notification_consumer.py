"""NotificationConsumer (proxy/shell/notifications.py) against a REAL RabbitMQ.

The broker is tests/support/rabbitmq.py's private node. Messages are published the way
Glance's oslo.messaging publishes them (tests/integration/test_bus_and_store_servers.py
pins that down on a real Glance): a non-durable topic exchange, routing key
``notifications.info``, body ``{"oslo.version": "2.0", "oslo.message": "<json string>"}``.
The store is a small in-memory fake with the TombstoneStore's ``put``; ``record_of`` is a
small stand-in for the pure core's deleted_image_of + tombstone_of. Every wait has a
deadline; nothing sleeps a fixed time to let something happen.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone

import aio_pika
import pytest

from proxy.shell.notifications import NotificationConsumer
from tests.support.glance import free_port
from tests.support.rabbitmq import RabbitServer

DEADLINE = 30.0
FAST = {"backoff_initial": 0.05, "backoff_max": 0.5,
        "store_retry_initial": 0.05, "store_retry_max": 0.2}


# ------------------------------------------------------------------ the parts

@pytest.fixture(scope="module")
def rabbit(tmp_path_factory, report):
    server = RabbitServer(tmp_path_factory.mktemp("rabbit-consumer"))
    server.start()
    report(f"notification consumer tests: RabbitMQ start to AMQP-ready "
           f"{server.start_seconds:.1f} s")
    try:
        yield server
    finally:
        server.stop()


def record_of(body: bytes) -> dict | None:
    """Stand-in for deleted_image_of + tombstone_of: image.delete -> a record."""
    try:
        envelope = json.loads(body)
        inner = (json.loads(envelope["oslo.message"]) if "oslo.version" in envelope
                 else envelope)
        event_type = inner.get("event_type")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an oslo.messaging notification ({type(error).__name__})") from None
    if event_type != "image.delete":
        return None
    payload = inner.get("payload")
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("image.delete without a payload id")
    return {"id": payload["id"], "status": "deleted", "deleted": True,
            "deleted_at": payload.get("deleted_at"), "updated_at": payload.get("deleted_at")}


def notification(event_type: str = "image.delete", image_id: str | None = None,
                 deleted_ago: float = 0.0, payload: dict | None = None) -> bytes:
    deleted_at = (datetime.now(timezone.utc) - timedelta(seconds=deleted_ago)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")
    if payload is None:
        payload = {"id": image_id or str(uuid.uuid4()), "name": "doomed", "status": "deleted",
                   "deleted": True, "deleted_at": deleted_at, "properties": {}}
    inner = {"message_id": str(uuid.uuid4()), "publisher_id": "image.localhost",
             "event_type": event_type, "priority": "INFO", "payload": payload,
             "timestamp": deleted_at.replace("T", " ")}
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)}).encode()


class FakeStore:
    """TombstoneStore's put: idempotent, True for a new id. ``gate`` (an Event) holds
    every put until it is set; ``fail_next`` puts raise, as a database that is down."""

    def __init__(self, gate: asyncio.Event | None = None, delay: float = 0.0) -> None:
        self.records: dict[str, dict] = {}
        self.puts: list[str] = []  # every call, in order
        self.entered = asyncio.Event()
        self.gate = gate
        self.delay = delay
        self.fail_next = 0

    async def put(self, record: dict) -> bool:
        self.puts.append(record["id"])
        self.entered.set()
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("database is down")
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if record["id"] in self.records:
            return False
        self.records[record["id"]] = record
        return True


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict]] = []

    def __call__(self, kind: str, **fields) -> None:
        self.seen.append((kind, fields))

    def of(self, kind: str) -> list[dict]:
        return [fields for k, fields in self.seen if k == kind]


async def until(check, what: str, timeout: float = DEADLINE):
    """Polls ``check`` (sync or async) until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.02)


async def queue_counts(rabbit: RabbitServer, name: str) -> tuple[int, int] | None:
    """(ready, unacknowledged) as the broker counts them, None when there is no such queue."""
    out = await asyncio.to_thread(rabbit.ctl, "list_queues", "--no-table-headers",
                                  "name", "messages_ready", "messages_unacknowledged")
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] == name:
            return int(fields[1]), int(fields[2])
    return None


async def counts_become(rabbit, name, expected, timeout: float = DEADLINE):
    seen = []

    async def check():
        seen.append(await queue_counts(rabbit, name))
        return seen[-1] == expected

    try:
        await until(check, f"queue {name} at (ready, unacked) {expected}", timeout)
    except AssertionError as failed:
        raise AssertionError(f"{failed}; last seen {seen[-1:]}") from None


class Publisher:
    """Publishes as oslo.messaging does: declares the topic exchange non-durable itself."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url, self.exchange_name = url, exchange
        self.connection = None
        self.exchange = None

    async def __aenter__(self) -> "Publisher":
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        self.exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=False)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.connection.close()

    async def publish(self, body: bytes, routing_key: str = "notifications.info") -> None:
        await self.exchange.publish(
            aio_pika.Message(body, content_type="application/json", content_encoding="utf-8",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key)


async def delete_queue(url: str, name: str) -> None:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


@pytest.fixture
async def names(rabbit):
    """A queue and an exchange of this test's own; the queue is deleted afterwards (the
    exchange, not durable, is left to the broker)."""
    suffix = uuid.uuid4().hex[:8]
    made = {"queue": f"tombstones-{suffix}", "exchange": f"glance-{suffix}"}
    yield made
    await delete_queue(rabbit.url, made["queue"])


@pytest.fixture
async def running():
    """start(consumer) runs it in the background; every one is closed at the end."""
    started: list[tuple[NotificationConsumer, asyncio.Task]] = []

    def start(consumer: NotificationConsumer) -> asyncio.Task:
        task = asyncio.create_task(consumer.run())
        started.append((consumer, task))
        return task

    yield start
    for consumer, task in started:
        await consumer.close(grace=0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def consumer_for(url: str, names: dict, store, events=None, **kwargs) -> NotificationConsumer:
    return NotificationConsumer(url, exchange=names["exchange"], queue=names["queue"],
                                store=store, record_of=record_of, on_event=events,
                                **{**FAST, **kwargs})


# ------------------------------------------------------------------ the tests

async def test_a_deletion_is_acknowledged_only_after_put_returned(rabbit, running, report):
    """Glance's own names (exchange "glance", topic "notifications") and the default queue."""
    gate = asyncio.Event()
    store, events = FakeStore(gate=gate), Events()
    queue = "image-v1-proxy-tombstones"
    consumer = NotificationConsumer(rabbit.url, store=store, record_of=record_of,
                                    on_event=events, **FAST)
    try:
        async with Publisher(rabbit.url, "glance") as glance:  # Glance declared it first
            running(consumer)
            await until(lambda: events.of("connected"), "connected")
            image_id = str(uuid.uuid4())
            sent = time.monotonic()
            await glance.publish(notification(image_id=image_id, deleted_ago=3.0))
            await asyncio.wait_for(store.entered.wait(), DEADLINE)
            report(f"notification consumer: published to put() {time.monotonic() - sent:.3f} s")
            assert store.puts == [image_id] and not store.records
            # put() has not returned: the message is taken, not acknowledged
            await counts_become(rabbit, queue, (0, 1))
            gate.set()
            await until(lambda: events.of("taken"), "taken")
            await counts_become(rabbit, queue, (0, 0))
        assert list(store.records) == [image_id]
        taken = events.of("taken")[0]
        assert taken["stored"] is True and taken["image_id"] == image_id
        assert 3.0 <= taken["lag"] < 3.0 + DEADLINE
        assert consumer.lag == taken["lag"]

        # declared as oslo.messaging declares: topic, not durable, not auto-deleted; the
        # queue durable (its binding, "<topic>.info", carried the message)
        exchanges = rabbit.ctl("list_exchanges", "--no-table-headers", "name", "type",
                               "durable", "auto_delete")
        assert "glance\ttopic\tfalse\tfalse" in exchanges.splitlines()
        queues = rabbit.ctl("list_queues", "--no-table-headers", "name", "durable",
                            "auto_delete")
        assert f"{queue}\ttrue\tfalse" in queues.splitlines()
    finally:
        await consumer.close(grace=0)
        await delete_queue(rabbit.url, queue)


async def test_two_consumers_on_one_queue_take_each_message_once(rabbit, names, running):
    stores = [FakeStore(delay=0.01), FakeStore(delay=0.01)]
    events = [Events(), Events()]
    for store, seen in zip(stores, events):
        running(consumer_for(rabbit.url, names, store, seen, prefetch=2))
    await until(lambda: all(e.of("connected") for e in events), "both connected")
    ids = [str(uuid.uuid4()) for _ in range(40)]
    async with Publisher(rabbit.url, names["exchange"]) as glance:
        for image_id in ids:
            await glance.publish(notification(image_id=image_id))
    await until(lambda: sum(len(s.records) for s in stores) == len(ids), "all 40 stored")
    await counts_become(rabbit, names["queue"], (0, 0))
    puts = stores[0].puts + stores[1].puts
    assert sorted(puts) == sorted(ids)  # each message taken exactly once
    assert stores[0].puts and stores[1].puts  # and the two did share them


async def test_a_consumer_that_was_down_catches_up(rabbit, names, running):
    first = consumer_for(rabbit.url, names, FakeStore(), events := Events())
    running(first)
    await until(lambda: events.of("connected"), "connected")  # the queue exists from now on
    await first.close()
    ids = [str(uuid.uuid4()) for _ in range(5)]
    async with Publisher(rabbit.url, names["exchange"]) as glance:
        for image_id in ids:
            await glance.publish(notification(image_id=image_id))
    await counts_become(rabbit, names["queue"], (5, 0))  # waiting on the durable queue

    store = FakeStore()
    running(consumer_for(rabbit.url, names, store))
    await until(lambda: len(store.records) == 5, "the 5 deletions stored")
    assert store.puts == ids  # in order, each once
    await counts_become(rabbit, names["queue"], (0, 0))


async def test_a_consumer_cancelled_before_committing_loses_nothing(rabbit, names, running):
    gate = asyncio.Event()  # never set: put() never returns
    held = FakeStore(gate=gate)
    task = running(consumer_for(rabbit.url, names, held, events := Events()))
    await until(lambda: events.of("connected"), "connected")
    image_id = str(uuid.uuid4())
    async with Publisher(rabbit.url, names["exchange"]) as glance:
        await glance.publish(notification(image_id=image_id))
    await asyncio.wait_for(held.entered.wait(), DEADLINE)
    task.cancel()  # killed between receiving and committing
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled() and not held.records and not events.of("taken")
    await counts_become(rabbit, names["queue"], (1, 0))  # back on the queue

    store = FakeStore()
    running(consumer_for(rabbit.url, names, store))
    await until(lambda: store.records, "the message delivered again")
    assert list(store.records) == [image_id]
    await counts_become(rabbit, names["queue"], (0, 0))


async def test_a_connection_dropped_before_committing_loses_nothing(rabbit, names, running):
    """The broker closes the connection while put() runs: the consumer reconnects by
    itself, the message comes again, and the idempotent put makes it one tombstone."""
    gate = asyncio.Event()
    store, events = FakeStore(gate=gate), Events()
    running(consumer_for(rabbit.url, names, store, events))
    await until(lambda: events.of("connected"), "connected")
    image_id = str(uuid.uuid4())
    async with Publisher(rabbit.url, names["exchange"]) as glance:
        await glance.publish(notification(image_id=image_id))
    await asyncio.wait_for(store.entered.wait(), DEADLINE)
    await asyncio.to_thread(rabbit.ctl, "close_all_connections", "test: connection dropped")
    await until(lambda: events.of("disconnected"), "disconnected")  # at once, put or not
    assert not store.records
    gate.set()  # put() returns; its ack cannot reach the broker any more
    await until(lambda: len(events.of("connected")) >= 2, "connected again")
    await until(lambda: store.puts.count(image_id) >= 2, "the message delivered again")
    await until(lambda: events.of("taken"), "taken")
    await counts_become(rabbit, names["queue"], (0, 0))
    assert list(store.records) == [image_id]
    assert [t["stored"] for t in events.of("taken")] == [False]  # already committed


async def test_poison_messages_are_dropped_and_the_next_arrives(rabbit, names, running, caplog):
    caplog.set_level(logging.DEBUG, logger="proxy.shell.notifications")
    store, events = FakeStore(), Events()
    running(consumer_for(rabbit.url, names, store, events))
    await until(lambda: events.of("connected"), "connected")
    marker = "SECRET-BODY-" + uuid.uuid4().hex
    image_id = str(uuid.uuid4())
    async with Publisher(rabbit.url, names["exchange"]) as glance:
        await glance.publish(f"not json {marker}".encode())
        await glance.publish(notification(payload={"name": marker}))  # no id
        await glance.publish(json.dumps({"oslo.version": "2.0"}).encode())  # no message
        await glance.publish(notification(event_type="image.create"))  # not a deletion
        await glance.publish(notification(image_id=image_id))
    await until(lambda: store.records, "the good message stored")
    await counts_become(rabbit, names["queue"], (0, 0))
    assert list(store.records) == [image_id]
    dropped = events.of("dropped")
    assert len(dropped) == 3
    assert dropped[1]["reason"] == "ValueError: image.delete without a payload id"
    assert [t["stored"] for t in events.of("taken")] == [None, True]
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert marker not in caplog.text  # the reason, never the body


async def test_a_failing_store_gets_the_message_back(rabbit, names, running):
    store, events = FakeStore(), Events()
    store.fail_next = 3
    running(consumer_for(rabbit.url, names, store, events))
    await until(lambda: events.of("connected"), "connected")
    image_id = str(uuid.uuid4())
    async with Publisher(rabbit.url, names["exchange"]) as glance:
        await glance.publish(notification(image_id=image_id))
    await until(lambda: store.records, "stored once the store is back")
    assert store.puts == [image_id] * 4
    failed = events.of("store_failed")
    assert len(failed) == 3 and failed[0]["reason"] == "ConnectionError: database is down"
    await counts_become(rabbit, names["queue"], (0, 0))


async def test_an_exchange_declared_otherwise_is_refused_and_retried(rabbit, names, running):
    """Glance's exchange is not durable: a consumer told it is gets 406, says so, and
    keeps trying (the setting, not the consumer, is wrong)."""
    async with Publisher(rabbit.url, names["exchange"]):
        events = Events()
        running(consumer_for(rabbit.url, names, FakeStore(), events, exchange_durable=True))
        await until(lambda: events.of("disconnected"), "disconnected")
        assert "PRECONDITION_FAILED" in events.of("disconnected")[0]["reason"]
        # it keeps trying (the later failures are logged, not reported again)
        started = time.monotonic()
        await until(lambda: time.monotonic() - started > 1.0, "a while")
        assert not events.of("connected")


async def test_start_without_a_broker_then_broker_killed_and_restarted(tmp_path, running,
                                                                       report, caplog):
    """The consumer starts before its broker exists, connects when it comes, and after a
    kill -9 and restart (the non-durable exchange and its bindings gone) declares and
    binds again and takes new messages."""
    server = RabbitServer(tmp_path / "rabbit", port=free_port())
    store, events = FakeStore(), Events()
    names = {"queue": "image-v1-proxy-tombstones", "exchange": "glance"}
    consumer = consumer_for(server.url, names, store, events)
    try:
        running(consumer)
        await until(lambda: events.of("disconnected"), "disconnected without a broker")
        assert not consumer.connected
        await asyncio.to_thread(server.start)
        await until(lambda: events.of("connected"), "connected once the broker is up")

        first = str(uuid.uuid4())
        async with Publisher(server.url, "glance") as glance:
            await glance.publish(notification(image_id=first))
        await until(lambda: first in store.records, "taken before the kill")

        down = len(events.of("disconnected"))
        killed = time.monotonic()
        await asyncio.to_thread(server.kill)
        await until(lambda: len(events.of("disconnected")) > down, "disconnected")
        assert not consumer.connected
        report(f"notification consumer: broker kill -9 to 'disconnected' "
               f"{time.monotonic() - killed:.2f} s")
        await asyncio.to_thread(server.restart)
        restarted = time.monotonic()
        await until(lambda: len(events.of("connected")) >= 2, "connected again")
        report(f"notification consumer: broker AMQP-ready to connected again "
               f"{time.monotonic() - restarted:.2f} s")
        assert consumer.connected
        bindings = server.ctl("list_bindings", "--no-table-headers", "source_name",
                              "destination_name", "routing_key")
        assert f"glance\t{names['queue']}\tnotifications.info" in bindings.splitlines()

        second = str(uuid.uuid4())
        async with Publisher(server.url, "glance") as glance:
            await glance.publish(notification(image_id=second))
        await until(lambda: second in store.records, "taken after the restart")
        # an ack the killed broker had not written down yet brings ``first`` once more
        # (at least once: the idempotent put makes it one tombstone)
        assert list(store.records) == [first, second] and store.puts[-1] == second
        kinds = [k for k, _ in events.seen if k in ("connected", "disconnected")]
        assert kinds == ["disconnected", "connected", "disconnected", "connected"]
    finally:
        await consumer.close(grace=0)
        await asyncio.to_thread(server.stop)
    assert not consumer.connected and events.seen[-1] == ("disconnected", {"reason": "closed"})
    # each loss is one line of the consumer's, not an error with a traceback per retry
    assert not [r for r in caplog.records if r.name.startswith("aiormq")
                and r.levelno >= logging.WARNING]
    downs = [r for r in caplog.records if r.name == "proxy.shell.notifications"
             and "disconnected" in r.getMessage()]
    assert 2 <= len(downs) <= 6, [r.getMessage() for r in downs]
