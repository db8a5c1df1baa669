"""Graceful shutdown, with a real SIGTERM to a real process: readiness turns 503 at once,
new connections are taken for the grace period and refused after it, in-flight requests
finish, and the process exits 0.

Every assertion runs on every machine. The test never sleeps for a guessed time: it waits
for what it can observe (the listing reaching the upstream, readiness turning 503, the port
refusing) under one generous deadline, and it times the grace from the moment it sent the
signal. A slow machine only makes the test take longer. The one wall-clock window left is
inherent in a timed grace: the connection opened right after the 503 must arrive before the
grace ends. That takes about a millisecond, and the grace is GRACE seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


from tests.support.faulty import GOOD_IMAGE
from tests.support.glance import free_port
from tests.support.held_upstream import PATIENCE, HeldUpstream, wait_for

ROOT = Path(__file__).resolve().parents[2]
GRACE = 2.0  # shutdown.grace given to the proxy
TIMER_SLACK = 0.1  # an event loop's timer may fire a few milliseconds early
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an http_proxy


def body_of(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def attempt(url):
    """One GET on a new connection: (status, body, parsed if JSON) if the connection was
    taken, ("refused", None) if nothing listens, ("reset", None) if it was dropped."""
    try:
        with DIRECT.open(url, timeout=PATIENCE) as response:
            return response.status, body_of(response.read())
    except urllib.error.HTTPError as error:
        return error.code, body_of(error.read())
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return "refused", None
        if isinstance(error.reason, ConnectionResetError):
            return "reset", None
        raise
    except ConnectionResetError:  # http.client.RemoteDisconnected is one too
        return "reset", None


class Proxy:
    """``python -m proxy`` in a process of its own, its output in a file (a pipe nobody
    reads would fill up and stall the proxy's logging)."""

    def __init__(self, upstream_url: str, port: int, *args: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "IMAGE_V1_PROXY_UPSTREAM_URL": upstream_url,
               "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1",
               "IMAGE_V1_PROXY_LISTEN_PORT": str(port),
               "IMAGE_V1_PROXY_SHUTDOWN_GRACE": str(GRACE),
               # generous: they cut a request only once the test has given up on it
               "IMAGE_V1_PROXY_SHUTDOWN_DEADLINE": str(PATIENCE),
               "IMAGE_V1_PROXY_UPSTREAM_TIMEOUT": str(2 * PATIENCE),
               "IMAGE_V1_PROXY_IDENTITY_REQUIRE_TOKEN": "false"}
        self._output = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-m", "proxy", *args], cwd=ROOT,
                                        env=env, stdout=self._output, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def wait_until_ready(self) -> None:
        def probe():
            if self.process.poll() is not None:
                raise AssertionError(f"the proxy exited early\n{self.output()}")
            return attempt(self.base + "/readyz")

        wait_for(probe, lambda answer: answer[0] == 200, "the proxy was not ready", self.output)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=PATIENCE)
        self._output.close()


def test_sigterm_drains_then_refuses_then_exits_zero():
    upstream = HeldUpstream(hold=True)
    proxy = Proxy(upstream.url, free_port())
    try:
        proxy.wait_until_ready()
        in_flight = {}
        thread = threading.Thread(daemon=True, target=lambda: in_flight.update(
            answer=attempt(proxy.base + "/v1/images/detail")))
        thread.start()
        # The listing is in flight, and stays so until the upstream is released below.
        assert upstream.arrived.wait(PATIENCE), proxy.output()

        signalled = time.monotonic()  # the grace cannot start before this
        proxy.process.send_signal(signal.SIGTERM)

        # Out of rotation at once: ready until the signal is handled, then draining, with no
        # refused or failed connection in between.
        readiness = wait_for(lambda: attempt(proxy.base + "/readyz"),
                             lambda answer: answer[0] != 200, "readiness never left 200",
                             proxy.output)
        assert readiness == (503, {"status": "draining"}), proxy.output()
        # The grace has begun (no sooner than the signal was sent), and a new connection,
        # opened after the test saw the 503, is still served.
        assert attempt(proxy.base + "/healthz") == (200, {"status": "alive"}), proxy.output()

        # Refused after the grace: every connection is answered until the port closes. One
        # opened just as it closes may be dropped unanswered, and polling goes on.
        ending = wait_for(lambda: attempt(proxy.base + "/healthz"),
                          lambda answer: answer[0] not in (200, "reset"),
                          "new connections were never refused", proxy.output)
        refused_after = time.monotonic() - signalled
        assert ending == ("refused", None), proxy.output()
        # ... and not before it: the grace ran in full.
        assert refused_after >= GRACE - TIMER_SLACK, proxy.output()

        # The listing, in flight all along, finishes whole after the port has closed.
        assert not in_flight
        upstream.hold.clear()
        thread.join(PATIENCE)
        status, body = in_flight["answer"]
        assert status == 200, proxy.output()
        assert [image["id"] for image in body["images"]] == [GOOD_IMAGE["id"]]
        assert proxy.process.wait(timeout=PATIENCE) == 0, proxy.output()
    finally:
        proxy.stop()
        upstream.stop()


def children_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def test_workers_share_the_port_and_stop_together():
    upstream = HeldUpstream(hold=True)
    proxy = Proxy(upstream.url, free_port(), "--workers", "2")
    try:
        proxy.wait_until_ready()
        workers = wait_for(lambda: children_of(proxy.process.pid),
                           lambda children: len(children) >= 2, "two workers", proxy.output)
        assert len(workers) == 2, workers
        for _ in range(20):  # every connection is answered, whichever worker takes it
            assert attempt(proxy.base + "/healthz") == (200, {"status": "alive"})
        proxy.process.send_signal(signal.SIGTERM)
        assert proxy.process.wait(timeout=PATIENCE) == 0, proxy.output()
        # The parent exits only once it has reaped every worker.
        for worker in workers:
            assert not Path(f"/proc/{worker}").exists()
    finally:
        proxy.stop()
        upstream.stop()
