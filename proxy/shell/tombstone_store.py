"""Tombstones: the last v1 record of each deleted image, kept in a SQL database.

v1 listed deleted images under ``changes-since`` and showed them to admins on HEAD; v2
forgets them. The proxy records each deletion here (its own v1 DELETE, Glance's
``image.delete`` notifications) and reads them back for those answers (issue 15).

One table, ``tombstones``: the image id (the key), ``owner`` and ``is_public`` (who may
see it), ``updated_at`` (= ``deleted_at`` for a tombstone, indexed: ``changes-since`` reads
by it), ``deleted_at`` (what ``purge`` reads) and ``record``, the v1 detail record as JSON.
Times are stored as naive UTC (v1's own form). A second table, ``schema_version``, holds
one row: the version of that schema.

Where it lives:

* ``database_url`` empty: the embedded SQLite file at ``sqlite_path`` (created at start,
  its directory too), through aiosqlite, in WAL mode, so that readers never wait for the
  writer. Writes of one process take turns (an asyncio lock); those of several processes
  on the same file (``--workers``) take SQLite's write lock with ``BEGIN IMMEDIATE`` and
  wait up to ``SQLITE_BUSY_TIMEOUT`` seconds for it.
* else a SQLAlchemy async URL shared by the replicas: ``postgresql+asyncpg://...`` or
  ``mysql+aiomysql://...`` (a bare ``postgresql://`` or ``mysql://`` gets those drivers).

``put`` is idempotent, for every backend and between processes: a second put of an id
(a message delivered again, a deletion seen by the proxy and on the bus, two replicas at
once) changes nothing and returns False. The database settles races itself: PostgreSQL's
and SQLite's ``INSERT ... ON CONFLICT DO NOTHING``, MySQL's ``INSERT IGNORE``. When ``put``
returns, the row is committed, so the bus consumer may acknowledge the message then.

``start`` creates what is missing and migrates: under a lock that holds between
processes (PostgreSQL's advisory lock, MySQL's ``GET_LOCK``, SQLite's write lock), so
replicas starting together do it once. A table added by a later version is created by
``create_all`` (checkfirst); a change to a table that exists is a step in ``_STEPS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import orjson
from sqlalchemy import (Boolean, Column, Connection, DateTime, Index, Integer, MetaData,
                        String, Table, Text, delete, event, insert, inspect, select, text,
                        update)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SQLITE_BUSY_TIMEOUT = 30.0  # seconds another process may hold the file's write lock
ID_MAX = 64
OWNER_MAX = 255

# the lock start() takes between processes (PostgreSQL's advisory locks take a bigint)
_PG_LOCK_KEY = 0x696D6731_746F6D62  # "img1tomb"
_MYSQL_LOCK_NAME = "image_v1_proxy_tombstones_schema"
_MYSQL_LOCK_WAIT = 60

# microseconds on MySQL (DATETIME is whole seconds there); MEDIUMTEXT: TEXT is 64 KB there
_TIME = DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_JSON_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
_MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

metadata = MetaData()

tombstones = Table(
    "tombstones", metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("owner", String(OWNER_MAX), nullable=True),
    Column("is_public", Boolean, nullable=False),
    Column("updated_at", _TIME, nullable=False),
    Column("deleted_at", _TIME, nullable=False),
    Column("record", _JSON_TEXT, nullable=False),
    Index("ix_tombstones_updated_at", "updated_at"),
    **_MYSQL_TABLE,
)

schema_version = Table(
    "schema_version", metadata,
    # the key, for MySQL servers that require one (sql_require_primary_key); one row
    Column("version", Integer, primary_key=True, autoincrement=False),
    **_MYSQL_TABLE,
)

# version -> the step that brings a database at version - 1 to it, run on start()'s
# connection, inside its lock (and its transaction, but on MySQL DDL commits at once).
# Tables new in that version need no step (create_all made them before the steps run).
# For version 2, say:
#     def _to_2(conn: Connection) -> None:
#         conn.execute(text("ALTER TABLE tombstones ADD COLUMN ..."))
#     _STEPS[2] = _to_2 ; SCHEMA_VERSION = 2
_STEPS: dict[int, Callable[[Connection], None]] = {}
assert set(_STEPS) == set(range(2, SCHEMA_VERSION + 1)), "one step per version after 1"


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer proxy than this one."""


_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
                  "mysql": "mysql+aiomysql", "mariadb": "mariadb+aiomysql",
                  "sqlite": "sqlite+aiosqlite"}


class TombstoneStore:
    """The tombstones, in the embedded SQLite file or a shared database. Not started when
    made: ``await start()`` connects and creates or migrates the schema."""

    def __init__(self, database_url: str, sqlite_path: str) -> None:
        if database_url:
            url = make_url(database_url)
            if url.drivername in _ASYNC_DRIVERS:
                url = url.set(drivername=_ASYNC_DRIVERS[url.drivername])
            self.sqlite_file: Path | None = (Path(url.database).resolve()
                                             if url.get_backend_name() == "sqlite"
                                             and url.database and url.database != ":memory:"
                                             else None)
        else:
            self.sqlite_file = Path(sqlite_path).expanduser().resolve()
            url = make_url("sqlite+aiosqlite://").set(database=str(self.sqlite_file))
        self.url = url
        self.schema_version: int | None = None  # as found or made by start()
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None  # the engine, its transactions writing
        self._sqlite_writes: asyncio.Lock | None = None

    @classmethod
    def create(cls, settings) -> "TombstoneStore":
        """From the ``tombstones`` settings (``database_url``, ``sqlite_path``)."""
        return cls(settings.database_url, settings.sqlite_path)

    @property
    def started(self) -> bool:
        return self._engine is not None

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql``, ``mysql``..."""
        return self.url.get_backend_name()

    def describe(self) -> str:
        """For the logs: the URL without its password."""
        return self.url.render_as_string(hide_password=True)

    # -- lifecycle

    async def start(self) -> None:
        if self._engine is not None:
            return
        if self.dialect == "sqlite":
            if self.sqlite_file is not None:
                self.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(self.url,
                                         connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
            _sqlite_transactions(engine)
            self._sqlite_writes = asyncio.Lock()
        else:
            # a connection that died with its server (a restart, a failover) is replaced
            # at checkout rather than failing the caller's query
            engine = create_async_engine(self.url, pool_pre_ping=True)
        writer = engine.execution_options(tombstones_write=True)
        try:  # usable once its schema is there, not before
            async with writer.begin() as conn:
                await self._lock_schema(conn)
                try:
                    self.schema_version = await conn.run_sync(_migrate)
                finally:
                    await self._unlock_schema(conn)
        except BaseException:
            await engine.dispose()
            raise
        self._engine, self._writer = engine, writer
        log.info("tombstone store %s, schema version %d", self.describe(),
                 self.schema_version)

    async def close(self) -> None:
        engine, self._engine, self._writer = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    # -- what the proxy asks

    async def put(self, record: dict) -> bool:
        """Stores the tombstone ``record`` (a v1 detail record: ``id``, ``owner``,
        ``is_public``, ``updated_at``, ``deleted_at``, in v1's form, UTC). False, and
        nothing changed, when its id is stored already. Committed when it returns."""
        row = _row_of(record)
        statement = self._insert_ignoring_conflicts()
        try:
            async with self._writing() as conn:
                result = await conn.execute(statement, row)
        except IntegrityError:
            if self.dialect in ("sqlite", "postgresql", "mysql", "mariadb"):
                raise  # not the key: those dialects skip a duplicate key themselves
            return False
        return result.rowcount == 1

    async def since(self, moment: datetime) -> list[dict]:
        """The records whose ``updated_at`` is strictly after ``moment`` (aware; a naive
        one is read as UTC), oldest first."""
        query = (select(tombstones.c.record)
                 .where(tombstones.c.updated_at > _naive_utc(moment))
                 .order_by(tombstones.c.updated_at, tombstones.c.id))
        async with self._reading() as conn:
            rows = (await conn.execute(query)).scalars().all()
        return [orjson.loads(record) for record in rows]

    async def get(self, image_id: str) -> dict | None:
        if len(image_id) > ID_MAX:
            return None
        query = select(tombstones.c.record).where(tombstones.c.id == image_id)
        async with self._reading() as conn:
            record = (await conn.execute(query)).scalar_one_or_none()
        return None if record is None else orjson.loads(record)

    async def purge(self, older_than: datetime) -> int:
        """Deletes the tombstones of images deleted before ``older_than``; how many."""
        statement = delete(tombstones).where(tombstones.c.deleted_at < _naive_utc(older_than))
        async with self._writing() as conn:
            result = await conn.execute(statement)
        return result.rowcount

    # -- inside

    def _insert_ignoring_conflicts(self):
        dialect = self.dialect
        if dialect == "postgresql":
            # here: its module is 2 MiB that the embedded SQLite store need not hold
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(tombstones).on_conflict_do_nothing(index_elements=["id"])
        if dialect == "sqlite":
            return sqlite.insert(tombstones).on_conflict_do_nothing(index_elements=["id"])
        if dialect in ("mysql", "mariadb"):
            # IGNORE also turns a too long value into a warning: _row_of checks lengths
            return insert(tombstones).prefix_with("IGNORE")
        return insert(tombstones)  # anything else: the IntegrityError of the key

    @contextlib.asynccontextmanager
    async def _writing(self):
        """A transaction that writes, committed on leaving. SQLite: one writer of this
        process at a time, holding the file's write lock from its BEGIN."""
        writer = self._writer
        if writer is None:
            raise RuntimeError("the tombstone store is not started")
        if self._sqlite_writes is None:
            async with writer.begin() as conn:
                yield conn
            return
        async with self._sqlite_writes:
            async with writer.begin() as conn:
                yield conn

    def _reading(self):
        if self._engine is None:
            raise RuntimeError("the tombstone store is not started")
        return self._engine.connect()

    async def _lock_schema(self, conn: AsyncConnection) -> None:
        """Held until start()'s transaction ends (PostgreSQL) or _unlock_schema (MySQL);
        SQLite's BEGIN IMMEDIATE holds the file's write lock already."""
        if self.dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _PG_LOCK_KEY})
        elif self.dialect in ("mysql", "mariadb"):
            got = (await conn.execute(text("SELECT GET_LOCK(:name, :wait)"),
                                      {"name": _MYSQL_LOCK_NAME,
                                       "wait": _MYSQL_LOCK_WAIT})).scalar()
            if got != 1:
                raise RuntimeError(f"the schema lock {_MYSQL_LOCK_NAME!r} was not free "
                                   f"after {_MYSQL_LOCK_WAIT} s")

    async def _unlock_schema(self, conn: AsyncConnection) -> None:
        if self.dialect in ("mysql", "mariadb"):
            await conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _MYSQL_LOCK_NAME})


def _switch_to_wal(cursor) -> None:
    """``PRAGMA journal_mode=WAL``, waiting as a write would: changing the journal mode
    does not go through SQLite's busy handler, so two processes opening a new file at once
    may get "database is locked" at once (seen on CI); it is asked again until the busy
    timeout has passed."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_transactions(engine: AsyncEngine) -> None:
    """SQLAlchemy, not the sqlite3 module, begins SQLite's transactions (so DDL is inside
    them: docs of sqlalchemy.dialects.sqlite, "Transactions with SQLite"): BEGIN IMMEDIATE
    for writers, so a writer takes the file's write lock first or waits for it, and never
    fails on upgrading a read lock; plain BEGIN for readers. WAL: readers and the writer do
    not wait for each other. synchronous FULL: a commit survives a power loss."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("tombstones_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _migrate(conn: Connection) -> int:
    """Creates what is missing, then brings the schema to SCHEMA_VERSION; its version."""
    existed = inspect(conn).has_table(tombstones.name)
    metadata.create_all(conn, checkfirst=True)
    found = conn.execute(select(schema_version.c.version)).scalars().all()
    if not found:
        # a fresh database is made at this version; tombstones without a version row
        # (MySQL: its DDL is not transactional) are taken as the first version
        version = 1 if existed else SCHEMA_VERSION
        conn.execute(insert(schema_version).values(version=version))
    else:
        version = max(found)
        if len(found) > 1:
            conn.execute(delete(schema_version).where(schema_version.c.version != version))
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(f"the tombstone schema is at version {version}, newer than "
                           f"this proxy's {SCHEMA_VERSION}: upgrade the proxy")
    for step in range(version + 1, SCHEMA_VERSION + 1):
        log.info("tombstone schema: migrating from version %d to %d", step - 1, step)
        _STEPS[step](conn)
        conn.execute(update(schema_version).values(version=step))
    return SCHEMA_VERSION


def _row_of(record: dict) -> dict:
    image_id = record.get("id")
    if not isinstance(image_id, str) or not image_id or len(image_id) > ID_MAX:
        raise ValueError(f"a tombstone needs an id of 1 to {ID_MAX} characters: {image_id!r}")
    owner = record.get("owner")
    if owner is not None and (not isinstance(owner, str) or len(owner) > OWNER_MAX):
        raise ValueError(f"a tombstone's owner is at most {OWNER_MAX} characters: {owner!r}")
    deleted_at = record.get("deleted_at") or record.get("updated_at")
    updated_at = record.get("updated_at") or deleted_at
    if not deleted_at:
        raise ValueError(f"the tombstone of {image_id} has neither deleted_at nor updated_at")
    return {"id": image_id, "owner": owner, "is_public": bool(record.get("is_public")),
            "updated_at": _moment(updated_at), "deleted_at": _moment(deleted_at),
            "record": orjson.dumps(record).decode()}


def _moment(value: str) -> datetime:
    """v1's ``2016-05-22T06:04:20.000000`` (UTC), or any ISO 8601 time -> naive UTC."""
    try:
        return _naive_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (AttributeError, ValueError):
        raise ValueError(f"not a time: {value!r}") from None


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
