"""A REAL PostgreSQL server for the tests, from the system's packages.

Debian's ``postgresql`` package (installed with apt-get, under a file lock,
when missing) provides ``/usr/lib/postgresql/<ver>/bin``.  Each
``PostgresServer`` is a private cluster: ``initdb`` into a fresh directory
owned by the ``postgres`` system user (the server refuses to run as root),
the postmaster in the foreground as a child of the tests, in its own process
group, listening on 127.0.0.1:<own port> only (its unix socket in its own
directory), with PDEATHSIG=INT (fast shutdown) so it dies with the tests.
The system cluster (``pg_lsclusters``) is never touched.

TCP logins use scram-sha-256 with a password; the unix socket is trusted
(that is how the harness itself creates the database).

Public surface:
    ensure_postgres_installed() -> Path   .../bin of the newest installed version
    PostgresServer(user="proxy", password=..., database="tombstones", port=None)
        start() / stop() / url / dsn / port / pid / psql(sql)
        kill()      SIGKILL the postmaster's group ("database down")
        restart()   start again on the same data dir and port
        log_tail()
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.support.glance import _group_alive, _killpg, _tail, clean_env, free_port
from tests.support.rabbitmq import apt_install

PACKAGES = ["postgresql"]
OS_USER = "postgres"  # created by the package
READY_TIMEOUT = 60.0
STOP_GRACE = 10.0

INSTALL_SECONDS: float | None = None


def _bin_dir() -> Path | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if not found:
        return None
    newest = max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


def ensure_postgres_installed() -> Path:
    global INSTALL_SECONDS
    def ok() -> bool:
        return _bin_dir() is not None and _user_exists(OS_USER)

    bindir = _bin_dir()
    if not ok():
        INSTALL_SECONDS = apt_install(PACKAGES, "postgres-install.lock",
                                      "postgres-install.log", installed=ok)
        bindir = _bin_dir()
        if bindir is None:
            raise RuntimeError("postgresql installed but no /usr/lib/postgresql/*/bin/postgres")
    return bindir


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


_RUNNING: set["PostgresServer"] = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        server.stop(grace=2.0)


class PostgresServer:
    """One private PostgreSQL cluster with one database for the tests.

    The data dir is a new temp dir (``base`` or the system temp dir, which
    must be traversable by the ``postgres`` user: pytest's tmp_path is not),
    removed by stop() unless ``keep=True``."""

    def __init__(self, *, user: str = "proxy", password: str | None = None,
                 database: str = "tombstones", port: int | None = None,
                 base: Path | None = None):
        self.user = user
        self.password = password or secrets.token_hex(8)
        self.database = database
        self.port = port or free_port()
        self.base = base
        self.dir: Path | None = None
        self.bindir: Path | None = None
        self._proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self.initdb_seconds: float | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL for the asyncpg driver."""
        return (f"postgresql+asyncpg://{self.user}:{self.password}"
                f"@127.0.0.1:{self.port}/{self.database}")

    @property
    def dsn(self) -> str:
        """libpq/asyncpg DSN (no SQLAlchemy driver part)."""
        return (f"postgresql://{self.user}:{self.password}"
                f"@127.0.0.1:{self.port}/{self.database}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> "PostgresServer":
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.dir / "postgres.log", lines) if self.dir else ""

    # -- helpers
    def _as_user(self, cmd: list[str], pdeathsig: str | None = None) -> list[str]:
        """Run ``cmd`` as the postgres OS user (setpriv applies PDEATHSIG after
        switching users, so it survives the switch)."""
        if os.geteuid() != 0:
            return cmd
        setpriv = shutil.which("setpriv")
        if setpriv:
            pre = [setpriv, f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups"]
            if pdeathsig and threading.current_thread() is threading.main_thread():
                pre += ["--pdeathsig", pdeathsig]
            return [*pre, "--", *cmd]
        return ["runuser", "-u", OS_USER, "--", *cmd]

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket (trusted)."""
        assert self.bindir is not None and self.dir is not None
        res = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.dir / "sock"), "-p", str(self.port), "-U", self.user,
             "-d", database, "-c", sql],
            capture_output=True, text=True, env=clean_env(PGCONNECT_TIMEOUT="10"),
            stdin=subprocess.DEVNULL, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {res.stderr.strip()}")
        return res.stdout

    # -- lifecycle
    def start(self, timeout: float = READY_TIMEOUT) -> "PostgresServer":
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError(f"already running (pid {self._proc.pid})")
        self.bindir = ensure_postgres_installed()
        t0 = time.monotonic()
        fresh = self.dir is None
        if fresh:
            self._initdb()
        self.initdb_seconds = time.monotonic() - t0 if fresh else None
        d = self.dir
        assert d is not None
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"port {self.port} on 127.0.0.1 is already in use")
        log = open(d / "postgres.log", "ab")
        try:
            self._proc = subprocess.Popen(
                self._as_user([str(self.bindir / "postgres"), "-D", str(d / "data")],
                              pdeathsig="INT"),  # INT = fast shutdown
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=clean_env(), cwd=d, start_new_session=True)
        finally:
            log.close()
        _RUNNING.add(self)
        try:
            self._wait_ready(timeout)
            if fresh:
                self.psql(f'CREATE DATABASE "{self.database}" OWNER "{self.user}"')
        except BaseException:
            self.stop(grace=2.0, remove=fresh)
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _initdb(self) -> None:
        base = str(self.base) if self.base else None
        d = Path(tempfile.mkdtemp(prefix="pg-test-", dir=base)).resolve()
        pw = pwd.getpwnam(OS_USER) if os.geteuid() == 0 else None
        (d / "sock").mkdir()
        pwfile = d / "pwfile"
        pwfile.write_text(self.password + "\n")
        if pw is not None:
            for p in (d, d / "sock", pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        d.chmod(0o700)
        self.dir = d
        res = subprocess.run(
            self._as_user([str(self.bindir / "initdb"), "-D", str(d / "data"),
                           "-U", self.user, f"--pwfile={pwfile}",
                           "--auth-local=trust", "--auth-host=scram-sha-256",
                           "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]),
            capture_output=True, text=True, env=clean_env(), cwd=d,
            stdin=subprocess.DEVNULL, timeout=120)
        pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            self.dir = None
            raise RuntimeError(f"initdb failed: {res.stdout}{res.stderr}")
        conf = d / "data" / "postgresql.conf"
        with open(conf, "a") as fh:
            fh.write(f"""
# image-v1-proxy tests
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{d / "sock"}'
max_connections = 50
shared_buffers = 32MB
# fsync off survives a killed server (the page cache keeps the writes), not a
# crashed machine; synchronous_commit stays on so a commit survives kill()
fsync = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
""")
        # test-only: no subnet but loopback, no other auth method
        (d / "data" / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        isready = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1",
                   "-p", str(self.port), "-t", "2"]
        while subprocess.run(isready, stdin=subprocess.DEVNULL).returncode != 0:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({self._proc.returncode})\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready on {self.port} after "
                                   f"{timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends ("database down"); the data
        dir stays for restart() (PostgreSQL recovers from its WAL)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # backends call setsid(): they are not in the postmaster's group
        children = _children(proc.pid)
        _killpg(proc.pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(proc, 10)

    def restart(self, timeout: float = READY_TIMEOUT) -> "PostgresServer":
        if self._proc is not None:
            self.kill()
        return self.start(timeout)

    def stop(self, grace: float = STOP_GRACE, remove: bool = True) -> None:
        """Fast shutdown (SIGINT), SIGKILL after ``grace``; removes the data
        dir unless ``remove=False``."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is not None:
            _killpg(proc.pid, signal.SIGINT)
            if not _wait_gone(proc, grace):
                _killpg(proc.pid, signal.SIGKILL)
                _wait_gone(proc, 10)
        if remove and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _children(ppid: int) -> list[int]:
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat).read_text()
            if int(text[text.rindex(")") + 2:].split()[1]) == ppid:
                out.append(int(Path(stat).parent.name))
    return out


def _wait_gone(proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _group_alive(proc.pid, proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1)
    return True
