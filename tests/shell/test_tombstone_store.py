"""The tombstone store (proxy.shell.tombstone_store) on its two real backends: the embedded
SQLite file (in tmp_path) and a real PostgreSQL started by the test tier
(tests/support/postgres.py), each test on a database of its own."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from proxy.shell import tombstone_store
from proxy.shell.tombstone_store import SchemaTooNew, TombstoneStore
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2016, 5, 22, 6, 4, 20, tzinfo=timezone.utc)


def v1_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def tombstone(image_id: str, deleted: datetime = T0, **fields) -> dict:
    """A v1 detail record as proxy.v1.tombstones makes it (its 18 keys)."""
    record = {"id": image_id, "name": f"image {image_id}", "size": 13, "disk_format": "qcow2",
              "container_format": "bare", "checksum": None, "status": "deleted",
              "is_public": False, "owner": "project-a", "protected": False, "min_ram": 0,
              "min_disk": 0, "created_at": "2016-01-01T00:00:00.000000",
              "updated_at": v1_time(deleted), "deleted_at": v1_time(deleted),
              "deleted": True, "location": None, "properties": {"os_distro": "cirros"}}
    record.update(fields)
    return record


# ------------------------------------------------------------------ the backends

class Backend:
    """Where one test's stores live: a SQLite file, or a fresh PostgreSQL database."""

    def __init__(self, name: str, database_url: str, sqlite_path: Path):
        self.name, self.database_url, self.sqlite_path = name, database_url, sqlite_path
        self.stores: list[TombstoneStore] = []

    def store(self) -> TombstoneStore:
        made = TombstoneStore(self.database_url, str(self.sqlite_path))
        self.stores.append(made)
        return made

    async def started(self) -> TombstoneStore:
        made = self.store()
        await made.start()
        return made

    async def scalar(self, sql: str):
        """One value, read beside the store (its own engine)."""
        url = self.database_url or f"sqlite+aiosqlite:///{self.sqlite_path}"
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(sql))).scalar()
        finally:
            await engine.dispose()


def fresh_database(server: PostgresServer) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.psql(f'CREATE DATABASE "{name}" OWNER "{server.user}"')
    return server.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request, tmp_path):
    if request.param == "sqlite":
        made = Backend("sqlite", "", tmp_path / "not" / "yet" / "tombstones.sqlite")
    else:
        server = request.getfixturevalue("postgres")
        made = Backend("postgresql", fresh_database(server), tmp_path / "unused" / "x.sqlite")
    yield made
    for store in made.stores:
        await store.close()


# ------------------------------------------------------------------ the schema

async def test_start_creates_the_database_and_the_schema_at_version_1(backend):
    assert not backend.sqlite_path.parent.exists()
    store = await backend.started()
    assert store.schema_version == 1
    assert await backend.scalar("SELECT count(*) FROM schema_version") == 1
    assert await backend.scalar("SELECT version FROM schema_version") == 1
    assert await backend.scalar("SELECT count(*) FROM tombstones") == 0
    if backend.name == "sqlite":
        assert store.dialect == "sqlite" and backend.sqlite_path.is_file()
        with sqlite3.connect(backend.sqlite_path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            indexes = {row[1] for row in conn.execute("PRAGMA index_list(tombstones)")}
        assert "ix_tombstones_updated_at" in indexes
    else:
        assert store.dialect == "postgresql" and not backend.sqlite_path.parent.exists()
        assert await backend.scalar(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_tombstones_updated_at'") == 1
        assert "***" in store.describe()  # the password stays out of the logs

    again = await backend.started()  # the schema there: nothing made twice
    assert again.schema_version == 1
    assert await backend.scalar("SELECT count(*) FROM schema_version") == 1


async def test_a_database_of_a_newer_schema_is_refused(backend):
    await (await backend.started()).close()
    store = backend.store()
    engine = create_async_engine(store.url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE schema_version SET version = 7"))
    await engine.dispose()
    with pytest.raises(SchemaTooNew, match="version 7"):
        await store.start()
    with pytest.raises(RuntimeError, match="not started"):
        await store.get("a")


def test_the_schema_is_portable_to_mysql():
    """No MySQL server here: what the schema and put() say to one."""
    dialect = mysql.dialect()
    table = str(CreateTable(tombstone_store.tombstones).compile(dialect=dialect))
    assert "id VARCHAR(64) NOT NULL" in table and "owner VARCHAR(255)" in table
    assert "updated_at DATETIME(6) NOT NULL" in table  # microseconds, as v1 wrote them
    assert "record MEDIUMTEXT NOT NULL" in table and "ENGINE=InnoDB" in table
    index = next(iter(tombstone_store.tombstones.indexes))
    assert "CREATE INDEX ix_tombstones_updated_at" in str(CreateIndex(index).compile(
        dialect=dialect))
    store = TombstoneStore("mysql://u:secret@db.example/tombstones", "unused")
    assert store.url.drivername == "mysql+aiomysql" and "secret" not in store.describe()
    assert str(store._insert_ignoring_conflicts().compile(dialect=dialect)).startswith(
        "INSERT IGNORE INTO tombstones")


def test_bare_urls_get_the_async_drivers_and_the_default_is_the_sqlite_file(tmp_path):
    assert TombstoneStore("postgresql://u:p@h/d", "x").url.drivername == "postgresql+asyncpg"
    store = TombstoneStore("", str(tmp_path / "a.sqlite"))
    assert store.dialect == "sqlite" and store.sqlite_file == tmp_path / "a.sqlite"
    assert store.url.drivername == "sqlite+aiosqlite"


# ------------------------------------------------------------------ what the proxy asks

async def test_put_is_idempotent_and_get_gives_the_record_back(backend):
    store = await backend.started()
    first = tombstone("img-1", owner="p1", is_public=True)
    assert await store.put(first) is True
    assert await store.get("img-1") == first
    # delivered again, or seen from the other source with other details: nothing changes
    assert await store.put(first) is False
    assert await store.put(tombstone("img-1", T0 + timedelta(hours=1), name="other")) is False
    assert await store.get("img-1") == first
    assert await backend.scalar("SELECT count(*) FROM tombstones") == 1
    assert await store.get("img-2") is None
    assert await store.get("x" * 300) is None  # longer than any id stored


async def test_the_columns_hold_who_may_see_it_and_its_times_in_utc(backend):
    store = await backend.started()
    await store.put(tombstone("img-1", T0, owner=None, is_public=True))
    await store.put(tombstone("img-2", T0 + timedelta(microseconds=1), owner="p2"))
    owners = await backend.scalar(
        "SELECT count(*) FROM tombstones WHERE owner IS NULL AND is_public")
    assert owners == 1
    assert await backend.scalar(
        "SELECT count(*) FROM tombstones WHERE owner = 'p2' AND NOT is_public") == 1


async def test_records_it_cannot_key_are_refused(backend):
    store = await backend.started()
    for bad in ({"updated_at": v1_time(T0)}, tombstone("x" * 65), tombstone(""),
                tombstone("a", owner="o" * 256),
                tombstone("a", updated_at=None, deleted_at=None),
                tombstone("a", deleted_at="yesterday")):
        with pytest.raises(ValueError):
            await store.put(bad)
    assert await backend.scalar("SELECT count(*) FROM tombstones") == 0


async def test_since_gives_the_records_updated_strictly_after_the_moment_oldest_first(backend):
    store = await backend.started()
    times = [T0, T0 + timedelta(microseconds=1), T0 + timedelta(seconds=1),
             T0 + timedelta(days=1)]
    for n, moment in reversed(list(enumerate(times))):
        await store.put(tombstone(f"img-{n}", moment))
    ids = lambda records: [record["id"] for record in records]  # noqa: E731
    assert ids(await store.since(T0 - timedelta(microseconds=1))) == [
        "img-0", "img-1", "img-2", "img-3"]
    assert ids(await store.since(T0)) == ["img-1", "img-2", "img-3"]  # strictly after
    assert ids(await store.since(times[2])) == ["img-3"]
    assert await store.since(times[3]) == []
    # the same moment in another zone, and naive (read as UTC)
    east = timezone(timedelta(hours=2))
    assert ids(await store.since(T0.astimezone(east))) == ["img-1", "img-2", "img-3"]
    assert ids(await store.since(T0.replace(tzinfo=None))) == ["img-1", "img-2", "img-3"]
    assert (await store.since(times[2]))[0] == tombstone("img-3", times[3])


async def test_times_with_a_zone_are_stored_as_utc(backend):
    store = await backend.started()
    await store.put(tombstone("img-z", updated_at="2016-05-22T08:04:20+02:00",
                              deleted_at="2016-05-22T06:04:20Z"))
    assert [r["id"] for r in await store.since(T0 - timedelta(seconds=1))] == ["img-z"]
    assert await store.since(T0) == []


async def test_purge_deletes_the_tombstones_deleted_before_the_moment(backend):
    store = await backend.started()
    for days in range(5):
        await store.put(tombstone(f"img-{days}", T0 + timedelta(days=days)))
    assert await store.purge(T0 + timedelta(days=2)) == 2  # strictly before
    assert await store.get("img-1") is None and await store.get("img-2") is not None
    assert [r["id"] for r in await store.since(T0 - timedelta(days=1))] == [
        "img-2", "img-3", "img-4"]
    assert await store.purge(T0 + timedelta(days=2)) == 0
    assert await store.purge(datetime.now(timezone.utc)) == 3
    assert await backend.scalar("SELECT count(*) FROM tombstones") == 0


async def test_a_new_store_on_the_same_file_or_database_sees_the_records(backend):
    store = await backend.started()
    assert await store.put(tombstone("img-1")) is True
    await store.close()
    with pytest.raises(RuntimeError, match="not started"):
        await store.put(tombstone("img-2"))

    again = await backend.started()
    assert again.schema_version == 1
    assert await again.get("img-1") == tombstone("img-1")
    assert [r["id"] for r in await again.since(T0 - timedelta(seconds=1))] == ["img-1"]
    assert await again.put(tombstone("img-1")) is False


async def test_two_stores_on_one_database_each_see_what_the_other_put(backend):
    one, two = await backend.started(), await backend.started()
    assert await one.put(tombstone("from-one")) is True
    assert await two.get("from-one") == tombstone("from-one")
    assert await two.put(tombstone("from-two", T0 + timedelta(seconds=1))) is True
    assert [r["id"] for r in await one.since(T0)] == ["from-two"]
    assert await two.put(tombstone("from-one")) is False


async def test_concurrent_puts_of_one_id_store_it_once(backend):
    """Many puts of the same ids at once, from one store and from two (on PostgreSQL two
    engines: two sessions, as two replicas), reads going on between them."""
    one, two = await backend.started(), await backend.started()
    ids = [f"img-{n}" for n in range(10)]
    puts = [store.put(tombstone(image_id, name=f"by {k}"))
            for k in range(3) for store in (one, two) for image_id in ids]
    reads = [store.since(T0 - timedelta(seconds=1)) for store in (one, two) for _ in range(5)]
    results = await asyncio.gather(*puts, *reads)
    stored = results[:len(puts)]
    assert sum(stored) == len(ids)
    for n, image_id in enumerate(ids):
        assert sum(stored[n::len(ids)]) == 1, image_id
    assert await backend.scalar("SELECT count(*) FROM tombstones") == len(ids)
    assert sorted(r["id"] for r in await two.since(T0 - timedelta(seconds=1))) == sorted(ids)


_REPLICA = """
import asyncio, json, sys
from proxy.shell.tombstone_store import TombstoneStore

async def main(url, path, ids):
    print("up", flush=True)
    sys.stdin.readline()  # go: both processes start() at once
    store = TombstoneStore(url, path)
    await store.start()
    print("started", flush=True)
    sys.stdin.readline()  # go: both processes put() at once
    record = lambda i: {"id": i, "owner": "p", "is_public": False,
                        "updated_at": "2016-05-22T06:04:20.000000",
                        "deleted_at": "2016-05-22T06:04:20.000000"}
    stored = await asyncio.gather(*(store.put(record(i)) for i in ids))
    await store.close()
    print(json.dumps([i for i, s in zip(ids, stored) if s]), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
"""


async def test_two_processes_starting_and_putting_the_same_ids_at_once_store_each_once(
        backend, report):
    """Two replicas (processes) on one fresh database, released together: start() makes
    the schema once, and each id is stored by exactly one of them."""
    ids = [f"img-{n:03d}" for n in range(60)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", _REPLICA, backend.database_url, str(backend.sqlite_path),
            json.dumps(ids)]
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
             for _ in range(2)]
    try:
        took = []
        for step in ("up", "started"):
            for proc in procs:
                line = await asyncio.to_thread(proc.stdout.readline)
                assert line == f"{step}\n", (line, proc.stderr.read())
            took.append(time.monotonic())
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
        outs = await asyncio.gather(*(asyncio.to_thread(proc.communicate, timeout=60)
                                      for proc in procs))
        took.append(time.monotonic())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err
    stored = [json.loads(out) for out, _ in outs]
    assert sorted(stored[0] + stored[1]) == ids and not set(stored[0]) & set(stored[1])
    report(f"tombstone store, {backend.name}: 2 processes at once: start() "
           f"{took[1] - took[0]:.2f} s, put() of the same {len(ids)} ids "
           f"{took[2] - took[1]:.2f} s (stored {len(stored[0])} + {len(stored[1])})")
    assert await backend.scalar("SELECT count(*) FROM schema_version") == 1
    assert await backend.scalar("SELECT count(*) FROM tombstones") == len(ids)


async def test_a_put_that_returned_survives_the_database_killed_and_the_store_reconnects(
        postgres, tmp_path):
    """PostgreSQL killed (-9) after put() returned: the row is there when it is back, and
    the same store works again without a restart (its pool replaces dead connections)."""
    backend = Backend("postgresql", fresh_database(postgres), tmp_path / "unused.sqlite")
    store = await backend.started()
    try:
        assert await store.put(tombstone("img-1")) is True
        await asyncio.to_thread(postgres.kill)
        with pytest.raises((DBAPIError, OSError)):
            await store.put(tombstone("img-2"))
        await asyncio.to_thread(postgres.restart)
        assert await store.get("img-1") == tombstone("img-1")
        assert await store.put(tombstone("img-2")) is True
    finally:
        await store.close()
