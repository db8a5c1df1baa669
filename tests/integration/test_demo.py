"""``image-v1-proxy --demo`` as a real process: what it promises (README, "The demo").

Every active image of its catalogue downloads with the bytes its listing promises; it
listens on 127.0.0.1 unless a host is given; it does not warn about Keystone; the first
Ctrl-C drains, a second one ends it at once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from proxy.fake_glance.catalogue import CIRROS_CHECKSUM, CIRROS_SIZE
from tests.support.glance import free_port
from tests.support.seed import SEED_CIRROS_V1

ROOT = Path(__file__).resolve().parents[2]


class Demo:
    """``python -m proxy --demo ARGS`` with ``env``, its output in a file."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._output = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--demo", "--port", str(self.port), *args],
            cwd=ROOT, env={**os.environ, **(env or {})},
            stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while self.get("/healthz")[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"the demo did not start\n{self.output()}")
            time.sleep(0.1)

    def get(self, path: str, host: str = "127.0.0.1"):
        try:
            with urllib.request.urlopen(f"http://{host}:{self.port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return None, b""

    def output(self) -> str:
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def logged(self) -> list[tuple[str, str]]:
        """(level, message) of each log line so far (JSON lines, the default format)."""
        complete = self.output().rpartition("\n")[0]  # not a line being written
        return [(line["level"], line["message"])
                for line in map(json.loads, complete.splitlines())]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._output.close()


@pytest.fixture
def demo():
    running = Demo(env={"IMAGE_V1_PROXY_SHUTDOWN_GRACE": "0"})
    yield running
    running.stop()


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (Linux's /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_every_active_image_downloads_with_its_listed_size_and_checksum(demo):
    status, body = demo.get("/v1/images/detail")
    assert status == 200
    active = [i for i in json.loads(body)["images"] if i["status"] == "active"]
    assert {i["name"] for i in active} >= {"cirros", "Ubuntu 22.04 64bit", "debian-12"}
    for image in active:
        status, data = demo.get(f"/v1/images/{image['id']}")
        assert status == 200, (image["name"], data[:200])
        assert (len(data), hashlib.md5(data).hexdigest()) == (
            image["size"], image["checksum"]), image["name"]


def test_the_demos_cirros_is_the_seeds_but_for_the_checksum_of_its_data(demo):
    status, body = demo.get("/v1.1/images/detail?name=cirros")
    assert status == 200
    assert json.loads(body)["images"] == [{**SEED_CIRROS_V1, "checksum": CIRROS_CHECKSUM}]
    assert CIRROS_SIZE == SEED_CIRROS_V1["size"]
    status, data = demo.get(f"/v1/images/{SEED_CIRROS_V1['id']}")
    assert (status, len(data), hashlib.md5(data).hexdigest()) == (
        200, 13167616, CIRROS_CHECKSUM)


def test_the_demo_listens_on_loopback_only_and_does_not_warn_about_keystone(demo):
    assert listening_addresses(demo.port) == {"0100007F"}  # 127.0.0.1, and nothing else
    logged = demo.logged()
    assert ("INFO", f"serving the v1 image API on http://127.0.0.1:{demo.port} in front of "
            "the demo upstream") in logged
    assert [line for line in logged if line[0] != "INFO"] == []  # no Keystone warning


def test_a_host_given_is_honoured_and_the_demo_says_it_is_open():
    demo = Demo("--host", "0.0.0.0", env={"IMAGE_V1_PROXY_SHUTDOWN_GRACE": "0"})
    try:
        assert listening_addresses(demo.port) == {"00000000"}  # 0.0.0.0
        assert ("WARNING", "the demo listens on 0.0.0.0: anyone who can reach it reads and "
                "writes its images without a token") in demo.logged()
    finally:
        demo.stop()


def wait_for_exit(process, seconds: float):
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def test_the_first_ctrl_c_drains_and_exits_zero():
    demo = Demo(env={"IMAGE_V1_PROXY_SHUTDOWN_GRACE": "1", "IMAGE_V1_PROXY_SHUTDOWN_DEADLINE": "1"})
    try:
        demo.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5
        while demo.get("/readyz")[0] != 503:
            assert time.monotonic() < deadline, demo.output()
            time.sleep(0.05)
        assert demo.get("/readyz") == (503, b'{"status": "draining"}')
        assert wait_for_exit(demo.process, 10) == 0, demo.output()
        assert ("INFO", "signal received: stopping (Ctrl-C again: stop at once)") in demo.logged()
    finally:
        demo.stop()


def test_one_ctrl_c_delivered_twice_at_once_still_drains():
    # a terminal signals every process of its group, and --workers' parent passes the
    # signal on too: a worker gets one Ctrl-C twice, at once
    demo = Demo(env={"IMAGE_V1_PROXY_SHUTDOWN_GRACE": "1", "IMAGE_V1_PROXY_SHUTDOWN_DEADLINE": "1"})
    try:
        demo.process.send_signal(signal.SIGINT)
        demo.process.send_signal(signal.SIGINT)
        assert wait_for_exit(demo.process, 10) == 0, demo.output()
        assert "interrupted again" not in demo.output()
    finally:
        demo.stop()


def test_a_second_ctrl_c_ends_the_demo_at_once():
    demo = Demo(env={"IMAGE_V1_PROXY_SHUTDOWN_GRACE": "60"})
    try:
        demo.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5
        while demo.get("/readyz")[0] != 503:  # the first: draining, still answering
            assert time.monotonic() < deadline, demo.output()
            time.sleep(0.05)
        time.sleep(0.6)
        assert demo.process.poll() is None
        pressed = time.monotonic()
        demo.process.send_signal(signal.SIGINT)
        assert wait_for_exit(demo.process, 5) == 130, demo.output()
        assert time.monotonic() - pressed < 5
        assert demo.logged()[-1] == (
            "WARNING", "interrupted again: stopping at once, in-flight requests cut")
    finally:
        demo.stop()
