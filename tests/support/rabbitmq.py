"""A REAL RabbitMQ broker for the tests, from the system's packages.

The broker is Debian's ``rabbitmq-server`` (installed with apt-get, under a
file lock, the first time a test needs it).  It never runs as the system
service: each ``RabbitServer`` is a private node with everything in its own
directory -- database, logs, config, plugins file, Erlang cookie (via HOME) --
its own node name ``rabbit-test-<amqp port>@localhost``, its own AMQP port on
127.0.0.1, its own distribution port and its own ``epmd`` on a port of its
own (so it neither needs nor disturbs a system epmd on 4369).

The broker is started as a foreground child in its own process group, with
PDEATHSIG=TERM (util-linux ``setpriv``) when started from the main thread, so
it dies with the test process even on SIGKILL; stop() signals the group.

Public surface:
    ensure_rabbitmq_installed() -> Path   the package's lib dir, installing it if missing
    RabbitServer(workdir=None, port=None)
        start() / stop() / wait_ready() / url / node / port / pid
        kill()       SIGKILL the broker (durable queues survive; see restart())
        restart()    start again on the same port and directory
        pause() / resume()   SIGSTOP / SIGCONT: a broker that hangs
        ctl(*args)   run rabbitmqctl against this node (e.g. "list_queues")
        log_tail()
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from tests.support import glance as _glance
from tests.support.glance import (_file_lock, _group_alive, _killpg, _tail,
                                  cache_dir, clean_env, free_port)

PACKAGE = "rabbitmq-server"
READY_TIMEOUT = 90.0
STOP_GRACE = 15.0
APT_TIMEOUT = 900

# ---------------------------------------------------------------- install


def _apt_env() -> dict[str, str]:
    return clean_env(DEBIAN_FRONTEND="noninteractive", NEEDRESTART_MODE="l")


def apt_install(packages: list[str], lock_name: str, log_name: str,
                installed: Callable[[], bool] = lambda: False) -> float:
    """``apt-get install -y packages`` under a file lock; returns seconds spent.

    Runs ``apt-get update`` first only when the install cannot find a package
    (fresh image without lists).  The package's own service is kept from
    starting: a ``policy-rc.d`` that denies every start is put in place for
    the install when the machine has none (Debian's invoke-rc.d and
    deb-systemd-invoke both honour it).  ``installed`` is asked again once
    the lock is held."""
    if os.geteuid() != 0:
        raise RuntimeError(f"{packages} missing and not root: install them by hand")
    root = cache_dir()
    log = root / log_name
    # the same progress channel as the venv installs (past pytest's capture)
    progress = getattr(_glance, "_progress", None) or (lambda line: None)
    t0 = time.monotonic()
    with _file_lock(root / lock_name), _file_lock(root / "apt.lock"):
        if installed():  # another process did it while we waited
            return 0.0
        progress(f"installing {' '.join(packages)} with apt-get (about 30 s, once)")
        policy = Path("/usr/sbin/policy-rc.d")
        ours = not policy.exists()
        if ours:
            policy.write_text("#!/bin/sh\n# image-v1-proxy tests: no service starts\nexit 101\n")
            policy.chmod(0o755)
        try:
            with open(log, "a") as out:
                def run(*cmd: str) -> int:
                    out.write(f"\n$ {' '.join(cmd)}\n")
                    out.flush()
                    return subprocess.run(
                        list(cmd), stdout=out, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, env=_apt_env(),
                        timeout=APT_TIMEOUT).returncode

                install = ("apt-get", "install", "-y", "-q",
                           "--no-install-recommends",
                           "-o", "DPkg::Lock::Timeout=300",
                           "-o", "Dpkg::Options::=--force-confdef",
                           "-o", "Dpkg::Options::=--force-confold", *packages)
                rc = run(*install)
                if rc != 0:
                    run("apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300")
                    rc = run(*install)
                if rc != 0:
                    raise RuntimeError(f"apt-get install {packages} failed "
                                       f"(log: {log}):\n{_tail(log)}")
            progress(f"installed in {time.monotonic() - t0:.0f} s")
        finally:
            if ours:
                policy.unlink(missing_ok=True)
    return time.monotonic() - t0


def _lib_dir() -> Path | None:
    """/usr/lib/rabbitmq/lib/rabbitmq_server-<ver> (the real scripts, not the
    /usr/sbin wrappers, which switch to the ``rabbitmq`` user and its HOME)."""
    found = sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"))
    return Path(found[-1]).parent.parent if found else None


INSTALL_SECONDS: float | None = None  # set when this process installed the package


def ensure_rabbitmq_installed() -> Path:
    global INSTALL_SECONDS
    def ok() -> bool:
        return _lib_dir() is not None and shutil.which("epmd") is not None

    lib = _lib_dir()
    if not ok():
        INSTALL_SECONDS = apt_install([PACKAGE], "rabbitmq-install.lock",
                                      "rabbitmq-install.log", installed=ok)
        lib = _lib_dir()
        if lib is None:
            raise RuntimeError("rabbitmq-server installed but its scripts were not found")
        _stop_system_service()
    return lib


def _stop_system_service() -> None:
    """Belt and braces: if the package's service started anyway (a machine
    whose policy allowed it), stop it, so that only our nodes run."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
            subprocess.run(["systemctl", "disable", "--now", "rabbitmq-server"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60)
        elif Path("/etc/init.d/rabbitmq-server").exists() and _system_node_running():
            subprocess.run(["/etc/init.d/rabbitmq-server", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60)


def _system_node_running() -> bool:
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = Path(cmdline).read_bytes().split(b"\0")
            if any(a.startswith(b"beam") for a in args[:1]) or b"-sname" in args:
                if b"rabbit@" in b" ".join(args) and b"rabbit-test-" not in b" ".join(args):
                    return True
    return False


# ------------------------------------------------------------------ server

RABBITMQ_CONF = """\
listeners.tcp.default = 127.0.0.1:{port}
loopback_users.guest = true
# a test box may have little disk; the default 50MB limit would block publishers
disk_free_limit.absolute = 1MB
vm_memory_high_watermark.relative = 0.6
log.console = false
log.file.level = info
"""

_RUNNING: set["RabbitServer"] = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        server.stop(grace=2.0)


def _amqp_answers(port: int, timeout: float = 2.0) -> bool:
    """True when something on 127.0.0.1:port answers the AMQP 0-9-1 protocol
    header with a Connection.Start method frame (class 10, method 10)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            data = b""
            while len(data) < 11:
                chunk = s.recv(64)
                if not chunk:
                    return False
                data += chunk
            return data[0] == 1 and data[7:11] == b"\x00\x0a\x00\x0a"
    except OSError:
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class RabbitServer:
    """One private RabbitMQ node.  ``workdir`` defaults to a new temp dir
    (removed by stop() only if this object created it)."""

    def __init__(self, workdir: Path | None = None, port: int | None = None):
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="rabbit-test-")).resolve()
        self.port = port or free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"rabbit-test-{self.port}@localhost"
        self.lib: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._epmd: subprocess.Popen | None = None
        self.start_seconds: float | None = None  # last start(), to ready

    # -- properties
    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> "RabbitServer":
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        d = self.workdir
        logs = sorted((d / "log").glob("*.log")) if (d / "log").is_dir() else []
        return "\n".join(f"--- {p.name}\n{_tail(p, lines)}"
                         for p in [d / "server.out", *logs])

    # -- environment
    def _env(self) -> dict[str, str]:
        d = self.workdir
        return clean_env(
            HOME=str(d / "home"),  # Erlang cookie: home/.erlang.cookie
            RABBITMQ_CONF_ENV_FILE=str(d / "etc" / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_USE_LONGNAME="false",
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_CONFIG_FILE=str(d / "etc" / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "etc" / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "etc" / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_LOGS=str(d / "log" / "rabbit.log"),
            RABBITMQ_PID_FILE=str(d / "rabbit.pid"),
            RABBITMQ_FEATURE_FLAGS_FILE=str(d / "feature_flags"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            # the CLI tools' own distribution ports (default: dist port + 10000)
            RABBITMQ_CTL_DIST_PORT_MIN=str(min(self.dist_port + 1, 65520)),
            RABBITMQ_CTL_DIST_PORT_MAX=str(min(self.dist_port + 11, 65530)),
            # exec the VM instead of backgrounding it behind a shell trap, so the
            # pid we hold (and its PDEATHSIG) is the broker itself
            RUNNING_UNDER_SYSTEMD="true",
        )

    def _write_files(self) -> None:
        d = self.workdir
        for sub in ("etc", "mnesia", "log", "home"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "etc" / "rabbitmq-env.conf").write_text("# image-v1-proxy tests: empty\n")
        (d / "etc" / "rabbitmq.conf").write_text(RABBITMQ_CONF.format(port=self.port))
        (d / "etc" / "advanced.config").write_text("[].\n")
        (d / "etc" / "enabled_plugins").write_text("[].\n")
        cookie = d / "home" / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)

    @staticmethod
    def _pdeathsig(cmd: list[str]) -> list[str]:
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            return [setpriv, "--pdeathsig", "TERM", "--", *cmd]
        return cmd

    # -- lifecycle
    def start(self, timeout: float = READY_TIMEOUT) -> "RabbitServer":
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError(f"already running (pid {self._proc.pid})")
        self.lib = ensure_rabbitmq_installed()
        t0 = time.monotonic()
        for p in (self.port, self.dist_port):
            if _port_in_use(p):
                raise RuntimeError(f"port {p} on 127.0.0.1 is already in use")
        self._write_files()
        env = self._env()
        if self._epmd is None or self._epmd.poll() is not None:
            # our own epmd in the foreground (not -daemon), so it dies with us
            with open(self.workdir / "epmd.out", "ab") as out:
                self._epmd = subprocess.Popen(
                    self._pdeathsig([shutil.which("epmd") or "epmd",
                                     "-port", str(self.epmd_port),
                                     "-address", "127.0.0.1"]),
                    stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            _wait_port(self.epmd_port, 10, self._epmd, "epmd")
        cmd = self._pdeathsig([str(self.lib / "sbin" / "rabbitmq-server")])
        with open(self.workdir / "server.out", "ab") as out:
            self._proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, cwd=self.workdir,
                start_new_session=True)
        _RUNNING.add(self)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop(grace=2.0)
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until the node answers an AMQP handshake on its port."""
        deadline = time.monotonic() + timeout
        while not _amqp_answers(self.port):
            if self._proc is None or self._proc.poll() is not None:
                rc = None if self._proc is None else self._proc.returncode
                raise RuntimeError(f"RabbitMQ exited ({rc}) before it was ready\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ not answering on {self.port} after "
                                   f"{timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.1)

    def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout: float = 60) -> str:
        """Run a CLI tool (rabbitmqctl, rabbitmq-diagnostics) against this node."""
        assert self.lib is not None, "not started"
        res = subprocess.run([str(self.lib / "sbin" / tool), "-q", "-n", self.node, *args],
                             capture_output=True, text=True, env=self._env(),
                             stdin=subprocess.DEVNULL, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: rc={res.returncode}\n"
                               f"{res.stdout}{res.stderr}")
        return res.stdout

    def kill(self) -> None:
        """SIGKILL the broker ("bus down"); its directory and epmd stay, so
        restart() brings back its durable queues and their messages."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _killpg(proc.pid, signal.SIGKILL)
        _wait_group_gone(proc.pid, proc, 10)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)

    def restart(self, timeout: float = READY_TIMEOUT) -> "RabbitServer":
        if self._proc is not None:
            self.kill()
        return self.start(timeout)

    def pause(self) -> None:
        if self._proc is not None:
            _killpg(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            _killpg(self._proc.pid, signal.SIGCONT)

    def stop(self, grace: float = STOP_GRACE, remove: bool | None = None) -> None:
        """SIGTERM (the VM shuts down cleanly), SIGKILL after ``grace``; then
        epmd.  ``remove`` (default: only a temp dir of our own) deletes the dir."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        for p in (proc, self._epmd):
            if p is None:
                continue
            if p is proc:  # a paused VM cannot handle SIGTERM
                _killpg(p.pid, signal.SIGCONT)
            _killpg(p.pid, signal.SIGTERM)
            if not _wait_group_gone(p.pid, p, grace):
                _killpg(p.pid, signal.SIGKILL)
                _wait_group_gone(p.pid, p, 10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=1)
        self._epmd = None
        if remove if remove is not None else self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_group_gone(pgid: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _group_alive(pgid, proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _wait_port(port: int, timeout: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not _port_in_use(port):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not listening on {port} after {timeout} s")
        time.sleep(0.05)
