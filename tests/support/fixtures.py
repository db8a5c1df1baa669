"""pytest fixtures for the real-Glance tier and the legacy v1 CLI.

Loaded with ``pytest_plugins = ["tests.support.fixtures"]``.  Nothing here
skips when a tool is missing: the suite installs what it needs (into the
cache dir of tests/support/glance.py), because a silently skipped contract
test would hide exactly the breakage it exists to catch.  The first test
that uses a fixture pays for the install (about 55 s for Glance, 30 s each for
glanceclient and openstackclient, once per cache) inside its pytest-timeout
budget; a line on the terminal says so before and after, past pytest's output
capture (pytest_configure below).

Test ids name the upstream a contract or client test runs against: ``real-glance-33``,
``fake-glance``, ``fake-glance-as-pike`` (BACKEND_IDS).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.shell.app import make_app
from proxy.config import load_settings
from tests.support.catalogue import Loaded, load
from tests.support.lab_keystone import make_app as lab_keystone_app
from tests.support.servers import ThreadedApp
from tests.support import postgres as pg_support
from tests.support.postgres import PostgresServer

from tests.support.glance import (GLANCE_VERSION, GlanceServer, PortInUseError,
                                  ensure_glance_venv, free_port, set_progress)
from tests.support.legacy_client import ensure_glanceclient_venv


# ------------------------------------------------------------ install progress

_PREVIOUS_PROGRESS = pytest.StashKey()


def pytest_configure(config: pytest.Config) -> None:
    """The install progress lines of tests/support/glance.py go to the terminal, even while
    a test (or fixture) runs with its output captured."""
    def write(line: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:  # -p no:terminal
            previous(line)
            return
        capture = config.pluginmanager.get_plugin("capturemanager")
        with (capture.global_and_fixture_disabled() if capture is not None
              else contextlib.nullcontext()):
            reporter.write_line(line)

    previous = config.stash[_PREVIOUS_PROGRESS] = set_progress(write)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS_PROGRESS in config.stash:
        set_progress(config.stash[_PREVIOUS_PROGRESS])


# The page size the contract upstreams (real Glance and the fake Glance) are capped at.
UPSTREAM_PAGE_LIMIT = 7


@pytest.fixture(scope="session")
def real_glance(tmp_path_factory: pytest.TempPathFactory):
    """A running real Glance v2 (trusted lab auth); ``.url`` is
    ``http://127.0.0.1:PORT``.  Tokens look like ``projA:member,reader``."""
    venv = ensure_glance_venv()
    # A small api_limit_max makes every v1 listing page the upstream for real.
    server = GlanceServer(venv, api_limit_max=UPSTREAM_PAGE_LIMIT)
    workdir = tmp_path_factory.mktemp("glance")
    for attempt in range(3):
        try:
            # free_port() can race with another process grabbing the port
            server.start(workdir, free_port())
            break
        except PortInUseError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def glance_cli() -> Path:
    """Path of the python-glanceclient 2.17.1 ``glance`` executable."""
    return ensure_glanceclient_venv()


@dataclass
class Backend:
    """A v2 upstream holding the contract catalogue."""

    name: str
    url: str
    loaded: Loaded


def _fake_glance(api_version: str):
    """The in-memory fake Glance on a real port, capped like the real tier."""
    from proxy.fake_glance import FakeGlance

    server = ThreadedApp(FakeGlance(api_version=api_version,
                                    api_limit_max=UPSTREAM_PAGE_LIMIT).app).start()
    return server


@pytest.fixture(scope="session")
def fake_glance_upstream():
    server = _fake_glance("2.17")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pike_fake_glance_upstream():
    """The fake Glance answering as Glance Pike (API v2.5), the oldest upstream promised."""
    server = _fake_glance("2.5")
    yield server
    server.stop()


# Backend.name (what tests compare) -> the fixture that serves it.
_BACKENDS = {"fake-glance": "fake_glance_upstream",
             "fake-glance-pike": "pike_fake_glance_upstream", "glance": "real_glance"}

# Backend.name -> the test id, which says which upstream a test ran against.
BACKEND_IDS = {"fake-glance": "fake-glance", "fake-glance-pike": "fake-glance-as-pike",
               "glance": f"real-glance-{GLANCE_VERSION.split('.')[0]}"}


def backend_id(name: str) -> str:
    """The test id of a backend, for ``parametrize("backend", [...], indirect=True,
    ids=backend_id)``."""
    return BACKEND_IDS[name]


@pytest.fixture(scope="session", params=list(_BACKENDS), ids=backend_id)
def backend(request) -> Backend:
    """Each contract scenario runs against real Glance and the fake Glance (as the newest
    Glance and as Pike)."""
    server = request.getfixturevalue(_BACKENDS[request.param])
    return Backend(request.param, server.url, load(server.url))


@pytest.fixture(scope="session")
def lab_keystone():
    server = ThreadedApp(lab_keystone_app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(backend: Backend, lab_keystone):
    """The proxy, configured as an operator would, in front of ``backend``."""
    settings = load_settings(None, {"IMAGE_V1_PROXY_UPSTREAM_URL": backend.url,
                                    "IMAGE_V1_PROXY_IDENTITY_KEYSTONE_URL": lab_keystone.url})
    server = ThreadedApp(lambda: make_app(settings)).start()
    yield server
    server.stop()


# ------------------------------------------------------------ ids of real-Glance-only tests

# Fixtures that start real Glance for tests without ``backend`` (the real tier's own smoke
# tests; the replicator's clouds, tests/clients/test_glance_replicator.py).
_REAL_GLANCE_FIXTURES = ("real_glance", "clouds")


@pytest.fixture(autouse=True)
def upstream_id():
    """Nothing but a test id: pytest_generate_tests parametrises it with
    ``real-glance-33`` for the contract and client tests that run on real Glance without
    ``backend``, so that their ids name their upstream as the others' do."""
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "backend" not in names and any(f in names for f in _REAL_GLANCE_FIXTURES):
        metafunc.parametrize("upstream_id", [BACKEND_IDS["glance"]])


@pytest.fixture(scope="module")
def postgres(report):
    """A real PostgreSQL from the system's packages, in its own directory and port."""
    server = PostgresServer()
    server.start()
    if pg_support.INSTALL_SECONDS is not None:
        report(f"postgresql apt install: {pg_support.INSTALL_SECONDS:.1f} s")
    report(f"PostgreSQL initdb {server.initdb_seconds:.1f} s, "
           f"initdb to database ready: {server.start_seconds:.1f} s")
    try:
        yield server
    finally:
        server.stop()
