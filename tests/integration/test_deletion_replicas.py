"""Deleted images seen by proxies as operators run them: several replicas sharing one
PostgreSQL and one queue, a replica that was down, a replica killed mid-message (issue 15).

Every part is real and started here: Glance 33 with its notifications on to a RabbitMQ,
a PostgreSQL, and the proxies as ``python -m proxy`` processes of their own, so that they
can be stopped, started again and SIGKILLed. Each test has its own queue, database and
project; each image it deletes is created before its queue exists, so that the queue
carries nothing but that image's ``image.delete``. What is asserted is what a v1 caller
sees through a proxy: the deleted image in a ``changes-since`` listing, as v1 listed it
(the same record tests/contract/test_deletions.py asserts). Every wait is a poll under
one generous deadline (PATIENCE): a slow machine makes these tests longer, never weaker.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from tests.support.catalogue import V2Api, token
from tests.support.glance import NotifyingGlance, ensure_glance_venv, free_port
from tests.support.held_upstream import PATIENCE, wait_for
from tests.support.rabbitmq import RabbitServer
from tests.support.v1_deletions import just_before, v1_deleted, without_times

ROOT = Path(__file__).resolve().parents[2]
TAKEN = 'image_v1_proxy_notifications_total{outcome="taken"}'
STORED = "image_v1_proxy_tombstones_stored_total"
CONNECTED = "image_v1_proxy_bus_connected"


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


# ------------------------------------------------------------------ the parts

@dataclass
class Cloud:
    glance: NotifyingGlance
    rabbit: RabbitServer
    postgres: object  # tests.support.postgres.PostgresServer
    keystone_url: str

    def database(self) -> tuple[str, str]:
        """A new database of the PostgreSQL: (SQLAlchemy URL for the proxy, asyncpg DSN)."""
        name = f"tombstones_{uuid.uuid4().hex[:8]}"
        pg = self.postgres
        self.postgres.psql(f'CREATE DATABASE "{name}" OWNER "{pg.user}"')
        where = f"{pg.user}:{pg.password}@127.0.0.1:{pg.port}/{name}"
        return f"postgresql+asyncpg://{where}", f"postgresql://{where}"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, lab_keystone, postgres):
    """Glance 33 notifying a RabbitMQ, and the PostgreSQL the replicas share; once."""
    rabbit = RabbitServer(tmp_path_factory.mktemp("rabbit"))
    rabbit.start()
    try:
        glance = NotifyingGlance(ensure_glance_venv(),
                                 transport_url=rabbit.url.replace("amqp://", "rabbit://"))
        glance.start(tmp_path_factory.mktemp("glance"), free_port())
        try:
            yield Cloud(glance, rabbit, postgres, lab_keystone.url)
        finally:
            glance.stop()
    finally:
        rabbit.stop()


def _die_with_the_tests() -> None:  # in the child, before exec: SIGKILL when we die
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Proxy:
    """``python -m proxy`` in front of the cloud's Glance, consuming ``queue`` into the
    database ``database_url``; its output in a file."""

    def __init__(self, cloud: Cloud, queue: str, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGE_V1_PROXY_")}
        env.update({
            "IMAGE_V1_PROXY_UPSTREAM_URL": cloud.glance.url,
            "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1",
            "IMAGE_V1_PROXY_LISTEN_PORT": str(self.port),
            "IMAGE_V1_PROXY_IDENTITY_KEYSTONE_URL": cloud.keystone_url,
            "IMAGE_V1_PROXY_TOMBSTONES_DATABASE_URL": database_url,
            "IMAGE_V1_PROXY_NOTIFICATIONS_URL": cloud.rabbit.url,
            "IMAGE_V1_PROXY_NOTIFICATIONS_QUEUE": queue,
            "IMAGE_V1_PROXY_SHUTDOWN_GRACE": "0",
            "IMAGE_V1_PROXY_SHUTDOWN_DEADLINE": "5",
        })
        self._output = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proxy"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=self._output, stderr=subprocess.STDOUT, preexec_fn=_die_with_the_tests)

    def output(self) -> str:
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def get(self, path: str, tok: str | None = None) -> tuple[int, bytes] | None:
        """(status, body); None while nothing listens yet."""
        request = urllib.request.Request(self.url + path,
                                         headers={"X-Auth-Token": tok} if tok else {})
        try:
            with urllib.request.urlopen(request, timeout=PATIENCE) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, ConnectionError):
            if self.process.poll() is not None:
                raise AssertionError(f"the proxy exited with {self.process.returncode}\n"
                                     f"{self.output()}") from None
            return None

    def metrics(self) -> dict[str, float]:
        status, body = self.get("/metrics")
        assert status == 200, body
        return samples(body.decode())

    def wait_connected(self, tok: str, since: str) -> None:
        """Ready (its upstream answering), its consumer on the bus (the queue declared and
        bound, consuming) and its store started: a shared database is connected (and its
        schema made, under its lock) in the background, and until then a changes-since
        listing is 503."""
        wait_for(lambda: self.get("/readyz"), lambda got: got and got[0] == 200,
                 "the proxy ready", self.output)
        wait_for(lambda: self.metrics().get(CONNECTED), lambda got: got == 1.0,
                 "the proxy connected to the bus", self.output)
        wait_for(lambda: self.listing(tok, since), lambda got: got and got[0] == 200,
                 "a changes-since listing (the store started)", self.output)

    def listing(self, tok: str, since: str) -> tuple[int, bytes] | None:
        return self.get(f"/v1/images/detail?changes-since={since}", tok)

    def deleted(self, tok: str, since: str, image_id: str) -> list[dict]:
        """``image_id`` in the caller's ``changes-since`` listing (an empty list: not in it)."""
        status, body = self.listing(tok, since)
        assert status == 200, body
        return [image for image in json.loads(body)["images"] if image["id"] == image_id]

    def wait_listed(self, tok: str, since: str, image_id: str) -> list[dict]:
        return wait_for(lambda: self.deleted(tok, since, image_id), bool,
                        f"image {image_id} in the changes-since listing of {self.url}",
                        self.output)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=PATIENCE)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=PATIENCE)

    def close(self) -> None:
        self.kill()
        self._output.close()


@pytest.fixture
def proxies(cloud):
    """start(queue, database_url) -> a running Proxy; all are killed at the end."""
    started: list[Proxy] = []

    def start(queue: str, database_url: str) -> Proxy:
        started.append(Proxy(cloud, queue, database_url))
        return started[-1]

    yield start
    for proxy in started:
        proxy.close()


@pytest.fixture
def queue(cloud):
    """A queue name of the test's own; the queue is deleted afterwards (else it would
    gather the later tests' notifications)."""
    name = f"tombstones-{uuid.uuid4().hex[:8]}"
    yield name
    _on_bus(cloud.rabbit.url, lambda channel: channel.queue_delete(name))


def _on_bus(url: str, action):
    async def run():
        async with await aio_pika.connect(url) as connection:
            return await action(await connection.channel())
    return asyncio.run(run())


def ready_messages(cloud: Cloud, queue: str) -> int | None:
    """The messages waiting in ``queue`` (ready: not delivered to a consumer); None when
    there is no such queue."""
    async def count(channel):
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return None
        return declared.declaration_result.message_count
    return _on_bus(cloud.rabbit.url, count)


def doomed_image(cloud: Cloud, owner: str, name: str) -> dict:
    """A private image of ``owner`` on Glance, made through v2 (before the test's queue
    exists: its image.create notification goes to no queue of the test's)."""
    return V2Api(cloud.glance.url).create(token(owner), name=name, disk_format="raw",
                                          container_format="bare", visibility="private")


def scene(cloud: Cloud, owner: str, name: str) -> tuple[str, str, str, dict]:
    """A test's own database (its URL for the proxy, its DSN), the moment just before it
    began, and its doomed image."""
    database_url, dsn = cloud.database()
    since = just_before()
    return database_url, dsn, since, doomed_image(cloud, owner, name)


def delete_through_v2(cloud: Cloud, owner: str, image: dict) -> None:
    V2Api(cloud.glance.url).ok("DELETE", f"/v2/images/{image['id']}", token(owner))


def inserts_tombstone(activity) -> bool:
    """A row of pg_stat_activity running the store's put (an INSERT into tombstones)."""
    return activity["query"].lstrip().upper().startswith("INSERT INTO TOMBSTONES")


def lists_the_deletion_it_took(proxy, owner: str, since: str, image: dict, name: str) -> None:
    """``proxy``, just started, takes the image's deletion from the queue, stores it, and
    lists it as v1 did."""
    proxy.wait_connected(token(owner), since)
    listed = proxy.wait_listed(token(owner), since, image["id"])
    assert [without_times(i) for i in listed] == [v1_deleted(image["id"], name, owner, 0)]
    metrics = wait_for(proxy.metrics, lambda got: got[TAKEN] == 1, "the message counted",
                       proxy.output)
    assert metrics[STORED] == 1


# ------------------------------------------------------------------ the tests

def test_two_replicas_sharing_a_database_and_a_queue_both_list_a_v2_deletion_taken_once(
        cloud, queue, proxies):
    owner, name = "projR1", "gone-under-two-replicas"
    database_url, _, since, image = scene(cloud, owner, name)
    replicas = [proxies(queue, database_url), proxies(queue, database_url)]
    for replica in replicas:  # both started at once: the schema made once, under its lock
        replica.wait_connected(token(owner), since)

    delete_through_v2(cloud, owner, image)

    for replica in replicas:
        listed = replica.wait_listed(token(owner), since, image["id"])
        assert [without_times(i) for i in listed] == [v1_deleted(image["id"], name, owner, 0)]
        assert listed[0]["deleted_at"] == listed[0]["updated_at"] is not None
    # The message was taken once, by one replica (its counts move just after the commit
    # the listings show): one replica took it and stored the tombstone, the other
    # neither, and lists it from the database they share.
    counts = wait_for(lambda: [replica.metrics() for replica in replicas],
                      lambda got: sum(m[TAKEN] for m in got) >= 1,
                      "a replica counting the message taken",
                      lambda: "\n".join(r.output() for r in replicas))
    taken_and_stored = [(m[TAKEN], m[STORED]) for m in counts]
    assert sorted(taken_and_stored) == [(0, 0), (1, 1)], taken_and_stored
    assert ready_messages(cloud, queue) == 0


def test_a_proxy_that_was_down_catches_up_on_the_deletions_made_meanwhile(
        cloud, queue, proxies):
    owner, name = "projR2", "gone-while-down"
    database_url, _, since, image = scene(cloud, owner, name)
    first = proxies(queue, database_url)
    first.wait_connected(token(owner), since)  # its durable queue declared and bound
    assert first.terminate() == 0, first.output()

    delete_through_v2(cloud, owner, image)
    # the deletion waits in the queue while no proxy runs
    wait_for(lambda: ready_messages(cloud, queue), lambda count: count == 1,
             "the image.delete waiting in the queue", first.output)

    lists_the_deletion_it_took(proxies(queue, database_url), owner, since, image, name)
    assert ready_messages(cloud, queue) == 0


def test_a_proxy_killed_before_committing_a_deletion_loses_nothing(cloud, queue, proxies):
    owner, name = "projR3", "gone-while-locked"
    database_url, dsn, since, image = scene(cloud, owner, name)
    doomed = proxies(queue, database_url)
    doomed.wait_connected(token(owner), since)  # its schema made, its lock let go

    with asyncio.Runner() as runner:
        holder = runner.run(asyncpg.connect(dsn))
        watcher = runner.run(asyncpg.connect(dsn))
        try:
            # Every write to the table waits behind this lock (reads too: the proxy is
            # not asked anything while it is held).
            runner.run(holder.execute("BEGIN; LOCK TABLE tombstones IN ACCESS EXCLUSIVE MODE"))
            delete_through_v2(cloud, owner, image)
            # The proxy's INSERT of that tombstone waits on the lock: the message was
            # received, and is not committed.
            waiting = wait_for(
                lambda: runner.run(watcher.fetch(
                    "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> $1", holder.get_server_pid())),
                lambda rows: any(inserts_tombstone(row) for row in rows),
                "the proxy's INSERT waiting on the lock", doomed.output)
            inserting = [row for row in waiting if inserts_tombstone(row)]
            assert len(inserting) == 1, waiting
            doomed.kill()
            runner.run(holder.execute("ROLLBACK"))
            # its backend, left with a transaction never committed, goes (it finds its
            # client gone): nothing of it is committed, then or later
            wait_for(lambda: runner.run(watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", inserting[0]["pid"])),
                lambda count: count == 0, "the dead proxy's database session gone",
                doomed.output)
            assert runner.run(watcher.fetchval(
                "SELECT count(*) FROM tombstones WHERE id = $1", image["id"])) == 0
        finally:
            runner.run(holder.close())
            runner.run(watcher.close())

    # the broker has the message back, for the next proxy on the queue
    wait_for(lambda: ready_messages(cloud, queue), lambda count: count == 1,
             "the unacknowledged message back in the queue", doomed.output)
    lists_the_deletion_it_took(proxies(queue, database_url), owner, since, image, name)
