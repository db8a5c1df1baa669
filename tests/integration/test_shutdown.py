"""Graceful shutdown, with a real SIGTERM to a real process: readiness turns 503 at once,
new connections are taken for the grace period and refused after it, in-flight requests
finish, and the process exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp import web

from tests.support.faulty import GOOD_LIST
from tests.support.glance import free_port
from tests.support.servers import ThreadedApp

ROOT = Path(__file__).resolve().parents[2]
SLOW = 2.0


async def versions(request):
    return web.json_response({"versions": [{"id": "v2.17", "status": "CURRENT", "links": []}]})


async def slow_images(request):
    await asyncio.sleep(SLOW)
    return web.Response(body=GOOD_LIST, content_type="application/json")


def slow_upstream():
    app = web.Application()
    app.router.add_get("/versions", versions)
    app.router.add_get("/v2/images", slow_images)
    return app


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def start_proxy(upstream_url, port, *args):
    env = {**os.environ, "IMAGE_V1_PROXY_UPSTREAM_URL": upstream_url,
           "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1", "IMAGE_V1_PROXY_LISTEN_PORT": str(port),
           "IMAGE_V1_PROXY_SHUTDOWN_GRACE": "1", "IMAGE_V1_PROXY_SHUTDOWN_DEADLINE": "10",
           "IMAGE_V1_PROXY_IDENTITY_REQUIRE_TOKEN": "false"}
    process = subprocess.Popen([sys.executable, "-m", "proxy", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            if status_of(f"http://127.0.0.1:{port}/readyz") == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(process.stdout.read().decode())
        time.sleep(0.1)


def until(condition, seconds):
    """Poll ``condition`` until it holds; False if it never did within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def refused(url):
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.URLError as error:
        return isinstance(error.reason, ConnectionRefusedError)
    return False


def test_sigterm_drains_then_refuses_then_exits_zero():
    upstream = ThreadedApp(slow_upstream).start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_proxy(upstream.url, port)  # shutdown.grace 1 s, deadline 10 s
    try:
        in_flight = {}
        thread = threading.Thread(
            target=lambda: in_flight.update(status=status_of(base + "/v1/images/detail")))
        thread.start()
        time.sleep(0.3)  # let the listing reach the slow upstream (it takes SLOW seconds)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert until(lambda: status_of(base + "/readyz") == 503, 1)  # out of rotation at once
        if time.monotonic() - signalled < 0.8:  # still inside the grace: still taking them
            assert status_of(base + "/healthz") == 200
        assert until(lambda: refused(base + "/healthz"), 3), "refused after the grace period"
        assert time.monotonic() - signalled >= 0.9  # ... and not before it
        thread.join(timeout=15)
        assert in_flight == {"status": 200}  # the request in flight finished
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        upstream.stop()


def children_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def test_workers_share_the_port_and_stop_together():
    upstream = ThreadedApp(slow_upstream).start()
    port = free_port()
    process = start_proxy(upstream.url, port, "--workers", "2")
    try:
        workers = children_of(process.pid)
        assert len(workers) == 2
        for _ in range(20):  # every connection is answered, whichever worker takes it
            assert status_of(f"http://127.0.0.1:{port}/healthz") == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        for worker in workers:
            assert not Path(f"/proc/{worker}").exists()
    finally:
        if process.poll() is None:
            process.kill()
        upstream.stop()
