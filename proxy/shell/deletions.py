"""v1's deleted images on v2: tombstones recorded, kept, and shown as v1 showed them.

v2 forgets a deleted image; v1 listed it under ``changes-since`` and showed admins its
headers. The proxy keeps each deleted image's last v1 record (proxy.shell.tombstone_store)
from two sources: its own v1 DELETE (``record``) and Glance's ``image.delete``
notifications on a bus (``NotificationConsumer``, started by ``lifetime`` when
``notifications.url`` is set). Listings with ``changes-since`` merge them in
(``changes_listing``); HEAD finds them for admins (``for_admin``). Nothing here runs for a
listing without ``changes-since``.

The store is never needed to serve other answers. The embedded SQLite file is started with
the proxy: a file that cannot be made is a setting to fix, and start-up stops with one
line. A shared database is connected in the background, with backoff, so that listings
work while it is down; until it answers (and whenever it fails), a ``changes-since``
listing is v1's 503 (an answer without the deletions would tell a sync job that nothing
was deleted), an admin's HEAD of an image v2 does not know is the 404 v2 knows, the
consumer leaves messages in the queue, and a delete through the proxy happens with its
tombstone lost (logged, counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from datetime import datetime, timedelta, timezone

from aiohttp import web

from proxy.ops.logs import reason_of
from proxy.ops.serving import StartError
from proxy.shell.appkeys import LISTING_MEMO, METRICS, SETTINGS, TOMBSTONES
from proxy.shell.requests import Caller
from proxy.shell.tombstone_store import SchemaTooNew, TombstoneStore
from proxy.v1.errors import V1Error
from proxy.v1.images import to_v1_image
from proxy.v1.query import ListQuery
from proxy.v1.tombstones import merge_changes, tombstone_of, visible_to
from proxy.v2.notifications import deleted_image_of
from proxy.v2.plan import ListPaging, plan_list

log = logging.getLogger(__name__)

PURGE_EVERY = 3600.0  # seconds between purges of tombstones past tombstones.retention_days
CONNECT_BACKOFF = (1.0, 60.0)  # seconds: first and longest wait between tries of a database


def record_of(body: bytes) -> dict | None:
    """A bus message -> the tombstone it records; None for an event that is no deletion;
    ValueError for a message that cannot be read (the consumer drops it)."""
    image = deleted_image_of(body)
    return None if image is None else tombstone_of(image)


async def record(app: web.Application, image: dict) -> None:
    """The proxy's own DELETE of ``image`` (its v2 body, read before the delete): stored at
    once. A store that fails is logged: the image is gone all the same."""
    store = app[TOMBSTONES]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    try:
        if await store.put(tombstone_of(image, deleted_at=now)):
            app[METRICS].tombstone_stored()
    except Exception as exc:  # the delete happened; only its record is lost
        app[METRICS].tombstone_lost()
        log.error("deleted image %s could not be recorded as a tombstone: %s", image.get("id"),
                  exc)


async def for_admin(app: web.Application, who: Caller, image_id: str) -> dict | None:
    """The tombstone of ``image_id`` when the caller is an admin (v1 showed admins deleted
    images), else None."""
    if who.admin_project is None:
        return None
    try:
        return await app[TOMBSTONES].get(image_id)
    except Exception as exc:  # the store is down: what v2 knows, a 404
        log.warning("tombstone of %s not looked up: %s", image_id, exc)
        return None


async def changes_listing(app: web.Application, who: Caller, query: ListQuery,
                          page_through) -> list[dict]:
    """The v1 detail records of a ``changes-since`` page: every image v2 lists that changed
    since (all pages: a deleted image may sort anywhere), merged with the tombstones the
    caller may see, in v1's order, then v1's marker and limit."""
    plan = dataclasses.replace(plan_list(dataclasses.replace(query, marker=None),
                                         admin_project=who.admin_project),
                               limit=None, marker=None)
    paging = ListPaging(plan)
    await page_through(paging, who, app[LISTING_MEMO])
    live = [to_v1_image(image.v2) for image in paging.images]
    admin = who.admin_project is not None
    try:
        stored = await app[TOMBSTONES].since(query.changes_since)
    except Exception as exc:  # no answer rather than one without the deletions
        log.warning("changes-since listing refused: tombstones not readable: %s", exc)
        raise V1Error(503) from None
    tombstones = [r for r in stored if visible_to(r, who.project, admin)]
    return merge_changes(live, tombstones, query)


async def lifetime(app: web.Application):
    """The store for the app's life; the bus consumer and the purge in the background."""
    settings = app[SETTINGS]
    store = app[TOMBSTONES]
    if not settings.tombstones.database_url:  # the embedded file
        try:
            await store.start()
        except Exception as exc:
            raise StartError(f"cannot keep tombstones in {store.sqlite_file}: "
                             f"{reason_of(exc)}") from None
    tasks = [asyncio.create_task(_keeping(store, settings.tombstones.retention_days))]
    consumer = None
    bus = settings.notifications
    if bus.url:
        # here: aio-pika and its AMQP stack are 3 MiB a process without a bus need not hold
        from proxy.shell.notifications import NotificationConsumer

        consumer = NotificationConsumer(
            bus.url, exchange=bus.exchange, topic=bus.topic, queue=bus.queue,
            exchange_durable=bus.exchange_durable, store=store, record_of=record_of,
            on_event=app[METRICS].bus_event)
        tasks.append(asyncio.create_task(consumer.run()))
    yield
    if consumer is not None:
        await consumer.close()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await store.close()


async def _keeping(store: TombstoneStore, retention_days: float) -> None:
    """A shared database connected (the embedded file is already), then purged."""
    if await _connected(store):
        await _purging(store, retention_days)


async def _connected(store: TombstoneStore) -> bool:
    """A shared database, tried until it answers: one line when it does not (and when
    its reason changes). False when it never will (its schema is newer)."""
    wait, said = CONNECT_BACKOFF[0], None
    while not store.started:
        try:
            await store.start()
        except SchemaTooNew as exc:
            log.error("tombstones not kept: %s", exc)
            return False
        except Exception as exc:
            reason = reason_of(exc)
            if reason != said:
                log.warning("tombstone database %s not answering (%s); changes-since "
                            "listings are 503 until it does; retrying", store.describe(),
                            reason)
                said = reason
            await asyncio.sleep(wait * random.uniform(0.8, 1.0))
            wait = min(CONNECT_BACKOFF[1], 2 * wait)
    return True  # (start says so in the log)


async def _purging(store: TombstoneStore, retention_days: float) -> None:
    """v1's ``glance-manage db purge``: tombstones older than the retention go."""
    while True:
        try:
            gone = await store.purge(datetime.now(timezone.utc) - timedelta(days=retention_days))
            if gone:
                log.info("purged %d tombstones older than %s days", gone, retention_days)
        except Exception as exc:
            log.warning("purging tombstones failed: %s", exc)
        await asyncio.sleep(PURGE_EVERY)
