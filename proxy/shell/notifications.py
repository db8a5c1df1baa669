"""Glance's notification bus -> the tombstone store: the consumer of ``image.delete`` events.

Glance publishes each notification (``[oslo_messaging_notifications] driver = messagingv2``) to
oslo.messaging's topic exchange (``control_exchange``, "glance") with the routing key
``<topic>.<priority>`` ("notifications.info" for ``image.delete``). The consumer binds a durable
queue of its own to that key, so deletions made while every proxy is down wait for it; replicas
name the same queue and share its messages (competing consumers: each message is taken once).

Each message is handled to the end before the next: ``record_of`` turns its body into a
tombstone (None: an event that is not a deletion), ``store.put`` commits it, and only then is
the message acknowledged, so a proxy that dies between receiving and committing loses nothing:
the broker delivers the message again (``put`` is idempotent). A message that cannot be read is
logged (one line, the reason, never the body) and acknowledged: it is dropped, and never blocks
the queue. A store that fails gets the message back (nack, requeue) after a pause that grows
while it keeps failing.

The bus is never needed to serve: ``run`` is started in the background and keeps connecting,
with exponential backoff and jitter. Every connection declares everything again -- the exchange
exactly as oslo.messaging declares it (topic, ``exchange_durable``, not auto-deleted; another
declaration is refused with 406 PRECONDITION_FAILED), the queue and its binding -- because
Glance's exchange is not durable by default and is gone, bindings and all, after a broker
restart. (aio-pika's robust connection restores its own declarations too, but retries at a
fixed interval and raises when its first connect fails; one loop of our own does both.)

``on_event(kind, **fields)`` tells metrics and logs what happens: ``connected`` (url, queue),
``disconnected`` (reason), ``taken`` (lag: seconds since the deletion, or None; stored: True for
a new tombstone, False for one already stored, None for an event that is not a deletion;
image_id), ``dropped`` (reason), ``store_failed`` (reason, retry_in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from yarl import URL

from proxy.ops.logs import reason_of

log = logging.getLogger(__name__)

_LAG_WARNING_EVERY = 60.0  # seconds between two "behind" log lines


class TombstoneSink(Protocol):
    async def put(self, record: dict) -> bool: ...


class NotificationConsumer:
    def __init__(self, url: str, *, exchange: str = "glance", topic: str = "notifications",
                 queue: str = "image-v1-proxy-tombstones", exchange_durable: bool = False,
                 store: TombstoneSink, record_of: Callable[[bytes], dict | None],
                 on_event: Callable[..., Any] | None = None,
                 prefetch: int = 4, connect_timeout: float = 10.0,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 store_retry_initial: float = 1.0, store_retry_max: float = 30.0,
                 lag_warning: float = 300.0) -> None:
        self.url = url
        self.exchange = exchange
        self.routing_key = f"{topic}.info"  # image.delete is an INFO notification
        self.queue = queue
        self.exchange_durable = exchange_durable
        self.store = store
        self.record_of = record_of
        self.on_event = on_event
        self.prefetch = prefetch
        self.connect_timeout = connect_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.store_retry_initial, self.store_retry_max = store_retry_initial, store_retry_max
        self.lag_warning = lag_warning
        self.where = _safe_url(url)  # for logs: never the password
        self.connected = False
        self.lag: float | None = None  # seconds: the deletion to its tombstone, last message
        self._down_reason: str | None = None  # the last reason logged while disconnected
        self._down_since: float | None = None  # monotonic time of the loss (or first failure)
        self._store_failures = 0
        self._lag_warned_at = float("-inf")
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()  # set while no message is being handled
        self._idle.set()

    # ------------------------------------------------------------------ lifetime

    async def run(self) -> None:
        """Consume until cancelled (or ``close``): connect, declare, take messages; on any
        loss, wait (backoff with jitter) and connect again."""
        self._task = asyncio.current_task()
        _quiet_client_logs()
        failures = 0
        try:
            while True:
                lost: list[str] = []  # why the connection went, as it went
                try:
                    await self._session(lost)
                    reason = "connection closed by the broker"
                except asyncio.CancelledError:
                    raise
                except Exception as failure:  # noqa: BLE001 -- whatever it is, retry
                    reason = reason_of(failure)
                if lost:  # it was up: start the backoff again
                    failures = 0
                    reason = lost[0]
                delay = self._backoff(failures)
                failures += 1
                self._went_down(reason, delay)
                await asyncio.sleep(delay)
        finally:
            if self.connected:
                self.connected = False
                self._event("disconnected", reason="closed")
            if self._task is asyncio.current_task():
                self._task = None

    async def close(self, grace: float = 5.0) -> None:
        """Stop ``run``: the message being handled gets up to ``grace`` seconds to be
        committed and acknowledged; cut short, it is delivered again later."""
        task = self._task
        if task is None or task.done():
            return
        if not self._idle.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        task.cancel()
        await asyncio.wait([task])

    # ---------------------------------------------------------------- one connection

    async def _session(self, lost: list[str]) -> None:
        """One connection, from connect to its loss (returns or raises then). A loss once
        consuming is reported at once, even while a message is being handled (a put that
        hangs), and its reason is put in ``lost``."""
        connection = await aio_pika.connect(
            self.url, timeout=self.connect_timeout,
            client_properties={"connection_name": f"image-v1-proxy {self.queue}"})
        gone = asyncio.Event()
        closing = False  # our own close, at the end: not a loss

        def on_close(_sender, failure: BaseException | None = None, *_args) -> None:
            if gone.is_set() or closing:
                return
            gone.set()
            if self.connected:
                reason = reason_of(failure) if failure is not None else "closed by the broker"
                lost.append(reason)
                self._went_down(reason, None)

        connection.close_callbacks.add(on_close)
        try:
            channel = await connection.channel(publisher_confirms=False)
            channel.close_callbacks.add(on_close)
            await channel.set_qos(prefetch_count=self.prefetch)
            exchange = await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC,
                durable=self.exchange_durable, auto_delete=False)
            queue = await channel.declare_queue(self.queue, durable=True, auto_delete=False)
            await queue.bind(exchange, routing_key=self.routing_key)
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

            async def deliver(message: AbstractIncomingMessage) -> None:
                inbox.put_nowait(message)

            await queue.consume(deliver, no_ack=False)
            self._came_up()
            losing = asyncio.ensure_future(gone.wait())
            taking = None
            try:
                while True:
                    taking = asyncio.ensure_future(inbox.get())
                    await asyncio.wait({taking, losing}, return_when=asyncio.FIRST_COMPLETED)
                    if not taking.done():
                        return  # what is left in the inbox is delivered again
                    self._idle.clear()
                    try:
                        await self._handle(taking.result())
                    finally:
                        self._idle.set()
            finally:
                # neither waiter outlives the session (cancelled, or the connection gone)
                losing.cancel()
                if taking is not None:
                    taking.cancel()
        finally:
            closing = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5.0)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            record = self.record_of(message.body)
        except Exception as unreadable:  # noqa: BLE001 -- any body that cannot be read
            reason = reason_of(unreadable)
            level = logging.WARNING if isinstance(unreadable, ValueError) else logging.ERROR
            log.log(level, "notification dropped: %s (message_id=%s, routing_key=%s)",
                    reason, message.message_id, message.routing_key)
            self._event("dropped", reason=reason)
            await message.ack()
            return
        stored: bool | None = None
        if record is not None:
            try:
                stored = await self.store.put(record)
            except asyncio.CancelledError:
                raise
            except Exception as failure:  # noqa: BLE001 -- the store is down or refuses
                await self._store_failed(message, reason_of(failure))
                return
            self._store_failures = 0
        lag = _lag(message, record)
        await message.ack()
        if lag is not None:
            self.lag = lag
            if lag > self.lag_warning and time.monotonic() - self._lag_warned_at > _LAG_WARNING_EVERY:
                self._lag_warned_at = time.monotonic()
                log.warning("notification consumer is %.0f s behind the deletions", lag)
        image_id = record.get("id") if record is not None else None
        log.debug("notification taken: image %s, stored %s, lag %s", image_id, stored, lag)
        self._event("taken", lag=lag, stored=stored, image_id=image_id)

    async def _store_failed(self, message: AbstractIncomingMessage, reason: str) -> None:
        pause = min(self.store_retry_max,
                    self.store_retry_initial * 2 ** min(self._store_failures, 30))
        pause *= random.uniform(0.8, 1.0)
        self._store_failures += 1
        log.warning("tombstone not stored, the message goes back to the queue in %.1f s: %s",
                    pause, reason)
        self._event("store_failed", reason=reason, retry_in=pause)
        await asyncio.sleep(pause)
        await message.nack(requeue=True)

    # ------------------------------------------------------------ state and events

    def _came_up(self) -> None:
        self.connected = True
        self._down_reason = None
        down = ("" if self._down_since is None
                else f" after {time.monotonic() - self._down_since:.1f} s disconnected")
        self._down_since = None
        log.info("notification bus connected%s: %s, queue %r bound to exchange %r with %r",
                 down, self.where, self.queue, self.exchange, self.routing_key)
        self._event("connected", url=self.where, queue=self.queue)

    def _went_down(self, reason: str, retry_in: float | None) -> None:
        """Reported (event, warning) when the bus was up or at the first failure; later
        failures are logged when their reason changes. ``retry_in`` None: the loss was
        just seen (the retry is logged when it is planned)."""
        was_up, self.connected = self.connected, False
        if self._down_since is None:
            self._down_since = time.monotonic()
        if was_up or self._down_reason is None:
            hint = ""
            if "PRECONDITION_FAILED" in reason:
                hint = " (does notifications.exchange_durable match Glance's amqp_durable_queues?)"
            retry = "" if retry_in is None else f"; retrying in {retry_in:.1f} s"
            log.warning("notification bus disconnected (%s): %s%s%s",
                        self.where, reason, hint, retry)
            self._event("disconnected", reason=reason)
        elif retry_in is None:
            pass
        elif reason != self._down_reason:
            log.warning("notification bus still disconnected (%s): %s; retrying in %.1f s",
                        self.where, reason, retry_in)
        else:
            log.debug("notification bus still disconnected: %s", reason)
        self._down_reason = reason

    def _backoff(self, failures: int) -> float:
        """Exponential, with jitter, so that replicas do not all knock at once."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** min(failures, 30))
        return random.uniform(ceiling / 2, ceiling)

    def _event(self, kind: str, **fields) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, **fields)
        except Exception:  # a failing hook must not stop the consumer
            log.exception("notification consumer: on_event(%r) failed", kind)


def _quiet_client_logs() -> None:
    """aiormq logs every failed connect and every lost connection as an error, with a
    traceback: once per retry. The consumer says the same once, in one line (``_went_down``);
    a level set on purpose (in the logging configuration) is left alone."""
    client = logging.getLogger("aiormq.connection")
    if client.level == logging.NOTSET:
        client.setLevel(logging.CRITICAL)


def _safe_url(url: str) -> str:
    try:
        parsed = URL(url)
        return f"{parsed.scheme}://{parsed.host}:{parsed.port}{parsed.path or '/'}"
    except (TypeError, ValueError):
        return "<unreadable url>"


def _lag(message: AbstractIncomingMessage, record: dict | None) -> float | None:
    """Seconds from the event to now: from the message's AMQP timestamp when the publisher
    set one (oslo.messaging does not), else from the tombstone's ``deleted_at`` (v1 form,
    UTC without a zone)."""
    moment = message.timestamp
    if moment is None and record is not None:
        deleted_at = record.get("deleted_at")
        if isinstance(deleted_at, str):
            with contextlib.suppress(ValueError):
                moment = datetime.fromisoformat(deleted_at.replace("Z", "+00:00"))
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (datetime.now(timezone.utc) - moment).total_seconds())


__all__ = ["NotificationConsumer", "TombstoneSink"]
