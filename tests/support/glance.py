"""A REAL OpenStack Glance v2 server for the contract tests.

The suite installs Glance itself (CI starts from a clean clone), into a
cached venv, and runs it under uWSGI (``pyuwsgi``): Glance 33 dropped the
standalone ``glance-api`` command.  There is no Keystone: a tiny paste filter
(the "trusted" lab shim below) turns an ``X-Auth-Token`` of the form
``project:role1,role2[:user]`` into the headers keystonemiddleware would set,
and Glance's own ContextMiddleware and policy engine do the rest.

Public surface:
    cache_dir()            -> Path   $IMAGE_V1_PROXY_TEST_CACHE or ~/.cache/...
    install_venv(...)      -> Path   locked, idempotent venv installer
    installing_line(...), installed_line(...) -> str   the progress lines of an install
    set_progress(write)    -> the previous one   where those lines go (stderr by default;
                                     tests/support/fixtures.py: pytest's terminal)
    ensure_glance_venv()   -> Path   venv with glance==33.0.0 + pyuwsgi
    GlanceServer                     start(workdir, port) / stop() / url / pid
    free_port()            -> int
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

GLANCE_VERSION = "33.0.0"
GLANCE_REQUIREMENTS = [f"glance=={GLANCE_VERSION}", "pyuwsgi"]
CONSTRAINTS_FILE = Path(__file__).with_name("glance-constraints.txt")
READY_TIMEOUT = 90.0
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of the process group

# Variables that must not leak from the test runner into child Pythons/venvs.
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


# --------------------------------------------------------------- venv cache

def cache_dir() -> Path:
    """Shared cache for the test venvs (survives between runs, CI-cacheable)."""
    d = os.environ.get("IMAGE_V1_PROXY_TEST_CACHE")
    path = Path(d) if d else Path.home() / ".cache" / "image-v1-proxy-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without Python/venv and OpenStack (OS_*) variables."""
    env = {k: v for k, v in os.environ.items()
           if k not in _LEAKY_ENV and not k.startswith("OS_")}
    env.update(extra)
    return env


@contextlib.contextmanager
def _file_lock(path: Path):
    # flock, not a marker-file dance: the kernel drops it if we die, so a
    # crashed installer never wedges later runs; xdist workers just queue.
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path.name})"


# ------------------------------------------------------------ progress lines

def _stderr(line: str) -> None:
    print(line, file=sys.__stderr__ or sys.stderr, flush=True)


_progress: Callable[[str], None] = _stderr


def set_progress(write: Callable[[str], None]) -> Callable[[str], None]:
    """Send the install progress lines to ``write`` (one line, no newline, per call);
    returns the previous writer. Outside pytest they go to stderr; under pytest
    tests/support/fixtures.py sends them to the terminal, past the output capture."""
    global _progress
    previous, _progress = _progress, write
    return previous


def _shown(path: Path) -> str:
    """``path`` with the home directory written as ``~``."""
    home = Path.home()
    try:
        return "~/" + str(Path(path).relative_to(home))
    except ValueError:
        return str(path)


def installing_line(what: str, venv: Path, takes: str) -> str:
    """The line printed before an install, e.g. ``installing Glance 33 for the contract
    tests into ~/.cache/image-v1-proxy-tests/glance-venv (about a minute, once)``."""
    return f"installing {what} into {_shown(venv)} ({takes}, once)"


def installed_line(seconds: float) -> str:
    """The line printed after it, e.g. ``installed in 52 s``."""
    return f"installed in {seconds:.0f} s"


def failed_line(seconds: float, log: Path) -> str:
    return f"install failed after {seconds:.0f} s (log: {_shown(log)})"


def install_venv(name: str, requirements: list[str],
                 constraints: Path | None = None,
                 check: tuple[str, ...] = (),
                 python: Path | str | None = None,
                 what: str | None = None, takes: str = "a few seconds") -> Path:
    """Create ``cache_dir()/name`` with ``requirements`` installed, once, by ``python``
    (another interpreter than the one running the tests; its version is then part of the
    spec).

    While it installs, two progress lines say so (installing_line, then installed_line),
    ``what`` naming what is installed (default: the requirements) and ``takes`` how long
    that usually takes.

    A ``.installed`` stamp holding the requested spec is written last, so a
    half-built venv (killed run, failed pip) is detected and rebuilt, and a
    changed spec (e.g. new constraints) triggers a rebuild.  With
    ``constraints`` the pinned install is tried first and, if pip cannot
    satisfy it (yanked release, other platform), retried unpinned.
    ``check`` lists executables in bin/ that must exist afterwards.
    """
    root = cache_dir()
    venv = root / name
    stamp = venv / ".installed"
    spec = " ".join(requirements)
    if python is not None:
        spec = f"{Path(python).name} {spec}"
    if constraints is not None:
        spec += " -c sha256:" + hashlib.sha256(constraints.read_bytes()).hexdigest()

    def ready() -> bool:
        return (stamp.is_file() and stamp.read_text().splitlines()[:1] == [spec]
                and all((venv / "bin" / exe).exists() for exe in check))

    if ready():  # fast path, no lock needed: the stamp is written atomically
        return venv
    with _file_lock(root / f"{name}.lock"):
        if ready():  # another process finished it while we waited
            return venv
        log = root / f"{name}.install.log"
        _progress(installing_line(what or " ".join(requirements), venv, takes))
        started = time.monotonic()
        try:
            how = _install(venv, log, requirements, constraints, check, python)
        except BaseException:
            _progress(failed_line(time.monotonic() - started, log))
            raise
        tmp = stamp.with_suffix(".tmp")
        tmp.write_text(f"{spec}\n{how}\n")
        tmp.replace(stamp)
        _progress(installed_line(time.monotonic() - started))
    return venv


def _install(venv: Path, log: Path, requirements: list[str], constraints: Path | None,
             check: tuple[str, ...], python: Path | str | None) -> str:
    """Builds the venv (see install_venv); returns how the requirements were installed."""
    shutil.rmtree(venv, ignore_errors=True)
    env = clean_env()
    with open(log, "w") as out:
        def run(*cmd: str | Path) -> int:
            out.write(f"\n$ {' '.join(map(str, cmd))}\n")
            out.flush()
            return subprocess.run([str(c) for c in cmd], stdout=out,
                                  stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL).returncode

        # sys.executable may itself be a venv python; venv handles that
        # (the new venv points at the base interpreter).
        if run(python or sys.executable, "-m", "venv", venv) != 0:
            raise RuntimeError(f"creating {venv} failed:\n{_tail(log)}")
        pip = venv / "bin" / "pip"
        # an old bundled pip usually works too, so an upgrade failure
        # (offline mirror without pip) is not fatal
        run(pip, "install", "-q", "--upgrade", "pip")
        how, rc = "unconstrained", 1
        if constraints is not None:
            how = "pinned"
            rc = run(pip, "install", "-q", "-c", constraints, *requirements)
            if rc != 0:
                how = "unpinned (pinned install failed)"
        if rc != 0:
            rc = run(pip, "install", "-q", *requirements)
        if rc != 0:
            raise RuntimeError(
                f"pip install {' '.join(requirements)} into {venv} "
                f"failed (log: {log}):\n{_tail(log)}")
        missing = [e for e in check if not (venv / "bin" / e).exists()]
        if missing:
            raise RuntimeError(f"{venv}: installed but {missing} missing")
        out.write(f"\ninstalled ({how})\n")
    return how


def ensure_glance_venv() -> Path:
    """Venv with glance==33.0.0 and pyuwsgi (pinned by glance-constraints.txt)."""
    return install_venv("glance-venv", GLANCE_REQUIREMENTS,
                        constraints=CONSTRAINTS_FILE,
                        check=("uwsgi", "glance-manage"),
                        what=f"Glance {GLANCE_VERSION.split('.')[0]} for the contract tests",
                        takes="about a minute")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (small race)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ------------------------------------------------------------------ configs

# Lab-only stand-in for keystonemiddleware.auth_token, loaded by paste from
# workdir/shim (docs/real-glance.md#auth-without-keystone).
LAB_AUTH_SHIM = '''\
"""Lab-only stand-in for keystonemiddleware.auth_token (no Keystone here).

Sets the headers auth_token would set after validating a token, so that
Glance's real ContextMiddleware and policy engine decide everything else:
  - X-Identity-Status present -> headers used as sent;
  - else X-Auth-Token "project:role1,role2[:user]" (percent-decoded first:
    python-glanceclient 2.x sends "projA%3Amember%2Creader");
  - else X-Project-Id/X-Tenant-Id [+ X-Roles, default member,reader];
  - else admin (project "admin", roles admin,member,reader).
"""
from urllib.parse import unquote


def filter_factory(global_conf, **local_conf):
    def _filter(app):
        def _app(environ, start_response):
            if 'HTTP_X_IDENTITY_STATUS' not in environ:
                token = unquote(environ.get('HTTP_X_AUTH_TOKEN', ''))
                parts = token.split(':')
                project = (environ.get('HTTP_X_PROJECT_ID') or
                           environ.get('HTTP_X_TENANT_ID') or
                           environ.get('HTTP_X_TENANT'))
                roles = environ.get('HTTP_X_ROLES')
                user = environ.get('HTTP_X_USER_ID')
                if len(parts) in (2, 3) and all(parts):
                    project, roles = parts[0], parts[1]
                    user = parts[2] if len(parts) == 3 else None
                elif project:
                    roles = roles or 'member,reader'
                else:
                    project = 'admin'
                    roles = roles or 'admin,member,reader'
                environ['HTTP_X_IDENTITY_STATUS'] = 'Confirmed'
                environ['HTTP_X_PROJECT_ID'] = project
                environ['HTTP_X_ROLES'] = roles
                environ['HTTP_X_USER_ID'] = user or ('user-' + project)
            return app(environ, start_response)
        return _app
    return _filter
'''

GLANCE_API_CONF = """\
[DEFAULT]
debug = False
log_file = {d}/glance-api.log
enabled_backends = fs:file
image_cache_dir = {d}/cache
# the contract tier lowers these so that listings page the upstream for real
limit_param_default = {limit_default}
api_limit_max = {api_limit_max}
[database]
connection = sqlite:///{d}/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {d}/images
[os_glance_staging_store]
filesystem_store_datadir = {d}/staging
[os_glance_tasks_store]
filesystem_store_datadir = {d}/tasks
[oslo_concurrency]
lock_path = {d}/lock
[image_format]
# upstream default True: random test bytes uploaded as qcow2 would get 415
require_image_format_match = {format_match}
[import_filtering_opts]
# web-download imports (v1's copy-from through the proxy) fetch from the tests' own
# local servers: loopback (refused unless listed) on any port (default: 80 and 443)
allowed_hosts = [127.0.0.1]
allowed_ports = []
[paste_deploy]
flavor = {auth}
config_file = {d}/etc/glance-api-paste.ini
"""

# v2-only pipeline; "trusted" adds the lab shim, "headers" expects callers to
# send X-Identity-Status/X-Project-Id/X-Roles themselves.
GLANCE_API_PASTE = """\
[composite:glance-api-trusted]
paste.composite_factory = glance.api:root_app_factory
/: api
/healthcheck: healthcheck

[composite:glance-api-headers]
paste.composite_factory = glance.api:root_app_factory
/: api
/healthcheck: healthcheck

[composite:api]
paste.composite_factory = glance.api:pipeline_factory
trusted = http_proxy_to_wsgi versionnegotiation labauth context rootapp
headers = http_proxy_to_wsgi versionnegotiation context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = {d}/healthcheck_disable

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:labauth]
paste.filter_factory = glance_lab_auth:filter_factory

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
"""

# The front of uWSGI: its HTTP router, which cannot keep connections alive.
UWSGI_ROUTER = """\
http = 127.0.0.1:{port}
socket = {sock}
http-raw-body = true
http-chunked-input = true
http-auto-chunked = true
http-keepalive = false
# without this header clients that pool connections (aiohttp, requests,
# glanceclient v2) hit RemoteDisconnected on their 2nd request (devstack
# sets the same header)
add-header = Connection: close
threads = 4
"""
# Or HTTP/1.1 served by the workers themselves, connections kept alive as behind a
# production front end; each idle connection holds a thread, hence many threads. (The
# benchmark's choice: the test tier keeps the router.)
UWSGI_KEEPALIVE = """\
http11-socket = 127.0.0.1:{port}
http-chunked-input = true
threads = 32
"""

UWSGI_INI = """\
[uwsgi]
{front}socket-timeout = 30
module = glance.wsgi.api:application
pythonpath = {d}/shim
master = true
processes = 1
enable-threads = true
lazy-apps = true
need-app = true
die-on-term = true
exit-on-reload = false
hook-master-start = unix_signal:15 gracefully_kill_them_all
worker-reload-mercy = 5
buffer-size = 65535
pidfile = {d}/uwsgi.pid
logto = {d}/uwsgi.log
"""


# ------------------------------------------------------------------- server

class PortInUseError(RuntimeError):
    """start() found the port taken; callers may retry with another one."""


_RUNNING: set["GlanceServer"] = set()


@atexit.register
def _stop_leftovers() -> None:
    # last line of defence if a fixture teardown never ran
    for server in list(_RUNNING):
        server.stop(grace=1.0)


class GlanceServer:
    """One Glance v2 API under uWSGI, all state (db, store, logs) in workdir.

    The uWSGI master runs in its own session/process group, so stop() can
    signal the master, its worker and its HTTP router together.  When started
    from the main thread the master also gets PDEATHSIG=TERM (via util-linux
    ``setpriv``), so it dies with the test process even on SIGKILL.
    """

    def __init__(self, venv: Path | None = None, *, auth: str = "trusted",
                 format_match: bool = False, api_limit_max: int = 1000,
                 keepalive: bool = False):
        if auth not in ("trusted", "headers"):
            raise ValueError("auth must be 'trusted' or 'headers'")
        self.venv = venv
        self.auth = auth
        self.format_match = format_match
        self.api_limit_max = api_limit_max
        self.keepalive = keepalive
        self.workdir: Path | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    # -- public properties
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("GlanceServer not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the uWSGI master (also its process-group id)."""
        return self._proc.pid if self._proc else None

    def __enter__(self) -> "GlanceServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        d = self.workdir
        if d is None:
            return ""
        return "\n".join(f"--- {name}\n{_tail(d / name, lines)}"
                         for name in ("uwsgi.out", "uwsgi.log", "glance-api.log"))

    # -- lifecycle
    def start(self, workdir: Path, port: int) -> "GlanceServer":
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError(f"already running (pid {self._proc.pid})")
        if _port_in_use(port):
            raise PortInUseError(f"port {port} on 127.0.0.1 is already in use")
        venv = self.venv or ensure_glance_venv()
        d = Path(workdir).resolve()
        self.workdir, self.port = d, port
        self._write_configs(d, port)

        if not (d / "glance.sqlite").exists() or (d / "glance.sqlite").stat().st_size == 0:
            with open(d / "db_sync.log", "w") as out:
                rc = subprocess.run(
                    [str(venv / "bin" / "glance-manage"), "--config-file",
                     str(d / "etc" / "glance-api.conf"), "db_sync"],
                    stdout=out, stderr=subprocess.STDOUT, env=clean_env(),
                    stdin=subprocess.DEVNULL, timeout=180).returncode
            if rc != 0:
                raise RuntimeError(f"glance-manage db_sync failed:\n"
                                   f"{_tail(d / 'db_sync.log')}")

        (d / "uwsgi.pid").unlink(missing_ok=True)
        # OS_GLANCE_CONFIG_DIR must be in the real environment: pyuwsgi has
        # already started Python before uWSGI's own env= option would apply.
        env = clean_env(OS_GLANCE_CONFIG_DIR=str(d / "etc"),
                        PYTHONPATH=str(d / "shim"))
        cmd = [str(venv / "bin" / "uwsgi"), "--ini", str(d / "etc" / "uwsgi.ini")]
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            # PDEATHSIG fires when the *thread* that forked exits, so only
            # use it from the main thread; setpriv then execs uwsgi (same pid)
            cmd = [setpriv, "--pdeathsig", "TERM", "--", *cmd]
        with open(d / "uwsgi.out", "wb") as out:
            self._proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, cwd=d,
                start_new_session=True)  # own process group for stop()
        _RUNNING.add(self)
        try:
            self._wait_ready(READY_TIMEOUT)
        except BaseException:
            self.stop(grace=1.0)
            raise
        return self

    def _write_configs(self, d: Path, port: int) -> None:
        for sub in ("etc", "images", "staging", "tasks", "cache", "lock",
                    "shim", "run"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "etc" / "glance-api.conf").write_text(GLANCE_API_CONF.format(
            d=d, auth=self.auth, format_match=self.format_match,
            api_limit_max=self.api_limit_max,
            limit_default=min(25, self.api_limit_max)))
        (d / "etc" / "glance-api-paste.ini").write_text(
            GLANCE_API_PASTE.format(d=d))
        (d / "shim" / "glance_lab_auth.py").write_text(LAB_AUTH_SHIM)
        sock = d / "run" / "uwsgi.sock"
        # AF_UNIX paths are limited to ~108 bytes; fall back to loopback TCP
        sock_s = str(sock) if len(str(sock)) < 100 else "127.0.0.1:0"
        front = (UWSGI_KEEPALIVE if self.keepalive else UWSGI_ROUTER).format(port=port,
                                                                              sock=sock_s)
        (d / "etc" / "uwsgi.ini").write_text(UWSGI_INI.format(d=d, front=front))

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None and self.workdir is not None
        deadline = time.monotonic() + timeout
        url = self.url + "/versions"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            why = None
            if self._proc.poll() is not None:
                why = f"uwsgi exited with {self._proc.returncode}"
            elif time.monotonic() > deadline:
                why = f"/versions not answering after {timeout:.0f} s"
            else:
                log = self.workdir / "uwsgi.log"
                with contextlib.suppress(OSError):
                    text = log.read_text(errors="replace")
                    if "no app loaded" in text or "unable to load app" in text:
                        why = "uwsgi could not load glance.wsgi.api"
            if why and "Address already in use" in _tail(self.workdir / "uwsgi.log"):
                raise PortInUseError(f"port {self.port} was taken before "
                                     f"uwsgi could bind it")
            if why:
                raise RuntimeError(f"Glance did not come up on {self.url}: "
                                   f"{why}\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the whole process group, SIGKILL whatever is left after
        ``grace`` seconds, and wait until no member of the group remains."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: pgid == pid of the master
        _killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _group_alive(pgid, proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(pgid, proc):
            _killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _group_alive(pgid, proc) and time.monotonic() < deadline:
                time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)  # reap the master (our direct child)
        if self.workdir is not None:
            (self.workdir / "uwsgi.pid").unlink(missing_ok=True)
            (self.workdir / "run" / "uwsgi.sock").unlink(missing_ok=True)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int, proc: subprocess.Popen) -> bool:
    """True while any non-zombie process is in the group.

    Zombies are skipped: reparented children are reaped by init, which in a
    container may never happen, and a zombie holds no port or file.
    """
    proc.poll()  # reap the master as soon as it exits
    try:
        entries = os.listdir("/proc")
    except OSError:  # no procfs: fall back to signal 0
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # fields after "(comm)": state ppid pgrp ...
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class NotifyingGlance(GlanceServer):
    """GlanceServer with ``[oslo_messaging_notifications]`` on, to ``transport_url``."""

    def __init__(self, *args, transport_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.transport_url = transport_url

    def _write_configs(self, d: Path, port: int) -> None:
        super()._write_configs(d, port)
        conf = d / "etc" / "glance-api.conf"
        body = conf.read_text()
        assert body.startswith("[DEFAULT]\n")
        conf.write_text(
            f"[DEFAULT]\ntransport_url = {self.transport_url}\n"
            + body[len("[DEFAULT]\n"):]
            + "[oslo_messaging_notifications]\ndriver = messagingv2\n")
