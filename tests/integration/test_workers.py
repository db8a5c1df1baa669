"""--workers N on real processes: one scrape of /metrics shows the whole group, whichever
worker answers it; a worker that dies is restarted (and logged), its counts kept; the group
drains as one on SIGTERM; workers that keep dying at start make the group give up, a port
that cannot be had stops it; workers whose parent is killed stop too.

Which worker served a request is known, not guessed: the test keeps the connection open
and finds the worker holding its server-side socket (/proc/net/tcp, /proc/<pid>/fd). Every
wait is a poll under one generous deadline; a slow machine only makes the tests longer.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from proxy.ops import metrics
from proxy.ops.workers import FAST_DEATH, MAX_FAST_DEATHS
from tests.support.faulty import GOOD_IMAGE
from tests.support.glance import free_port
from tests.support.held_upstream import PATIENCE, HeldUpstream, wait_for

ROOT = Path(__file__).resolve().parents[2]
AGENT = "workers-test/1.0"
LISTING = "/v1/images/detail"
REQUESTS = f'image_v1_proxy_requests_total{{method="GET",route="{LISTING}",status="200"}}'
LEGACY = f'image_v1_proxy_legacy_requests_total{{client="workers-test",route="{LISTING}"}}'
DURATIONS = f'image_v1_proxy_request_duration_seconds_count{{route="{LISTING}"}}'
UPSTREAM = 'image_v1_proxy_upstream_request_duration_seconds_count{call="list_images"}'
IN_FLIGHT = "image_v1_proxy_in_flight_requests"


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


class Group:
    """``python -m proxy --workers N`` in a process of its own, its output in a file."""

    def __init__(self, upstream: HeldUpstream, workers: int = 2, grace: float = 0.5,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        env = {**os.environ, "IMAGE_V1_PROXY_UPSTREAM_URL": upstream.url,
               "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1",
               "IMAGE_V1_PROXY_LISTEN_PORT": str(self.port),
               "IMAGE_V1_PROXY_SHUTDOWN_GRACE": str(grace),
               "IMAGE_V1_PROXY_SHUTDOWN_DEADLINE": str(PATIENCE),
               "IMAGE_V1_PROXY_UPSTREAM_TIMEOUT": str(2 * PATIENCE),
               "IMAGE_V1_PROXY_IDENTITY_REQUIRE_TOKEN": "false"}
        self._output = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--workers", str(workers)], cwd=ROOT, env=env,
            stdout=self._output, stderr=subprocess.STDOUT)
        self.seen: set[int] = set()  # every worker pid ever seen

    def output(self) -> str:
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def messages(self) -> list[str]:
        found = []
        for line in self.output().splitlines():
            try:
                found.append(json.loads(line)["message"])
            except (ValueError, KeyError, TypeError):
                pass
        return found

    def workers(self) -> list[int]:
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as file:
                children = [int(child) for child in file.read().split()]
        except FileNotFoundError:
            children = []
        self.seen.update(children)
        return children

    def wait_for_workers(self, count: int, without=()) -> list[int]:
        return wait_for(self.workers, lambda children: len(children) == count
                        and not set(children) & set(without),
                        f"{count} workers (not {list(without)})", self.output)

    def get(self, path: str) -> tuple[int, bytes, int | None]:
        """(status, body, pid of the worker that answered) of one GET on a new
        connection, retried while the port refuses (a worker restarting alone). The pid is
        None if that worker has closed the connection (it drains)."""
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PATIENCE)
            try:
                connection.request("GET", path, headers={"User-Agent": AGENT})
                response = connection.getresponse()
                body = response.read()
                return response.status, body, self._server_of(connection.sock)
            except ConnectionRefusedError:
                if self.process.poll() is not None:
                    raise AssertionError(f"the proxy exited\n{self.output()}") from None
                time.sleep(0.02)
            finally:
                connection.close()

    def _server_of(self, sock) -> int | None:
        """The worker holding the server side of the connection ``sock``, if still open."""
        client_port = sock.getsockname()[1]
        with open("/proc/net/tcp") as table:
            for row in table.read().splitlines()[1:]:
                fields = row.split()
                if (int(fields[1].split(":")[1], 16) == self.port
                        and int(fields[2].split(":")[1], 16) == client_port):
                    target = f"socket:[{fields[9]}]"
                    break
            else:
                return None
        for pid in self.workers():
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
            except FileNotFoundError:
                continue
        return None  # closed (inode 0: in TIME_WAIT)

    def list_images(self, served: Counter) -> int:
        status, body, pid = self.get(LISTING)
        assert status == 200, (status, body)
        assert [image["id"] for image in json.loads(body)["images"]] == [GOOD_IMAGE["id"]]
        served[pid] += 1  # (None: by a worker that has closed the connection since)
        return pid

    def hold_a_listing(self, upstream: HeldUpstream, served: Counter):
        """A listing in flight, held at the upstream until ``upstream.hold`` is cleared:
        (its thread, a dict that gets the serving worker's ``pid`` once it is answered)."""
        upstream.hold.set()
        held = {}
        thread = threading.Thread(daemon=True, target=lambda: held.update(
            pid=self.list_images(served)))
        thread.start()
        assert upstream.arrived.wait(PATIENCE), self.output()
        return thread, held

    def scrape(self) -> tuple[dict[str, float], int]:
        status, body, pid = self.get("/metrics")
        assert status == 200 and pid is not None, (status, body, pid)
        return samples(body.decode()), pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=PATIENCE)
        for pid in self.seen:  # none is left serving the port, whatever failed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._output.close()


@pytest.fixture
def upstream():
    upstream = HeldUpstream()
    yield upstream
    upstream.stop()


@pytest.fixture
def group(upstream):
    group = Group(upstream)
    yield group
    group.stop()


def spread_listings(group: Group, served: Counter, workers: list[int], at_least=5) -> None:
    """Listings until each of ``workers`` has served ``at_least`` of them since now."""
    start = Counter(served)
    wait_for(lambda: group.list_images(served),
             lambda _: all(served[pid] - start[pid] >= at_least for pid in workers),
             f"listings served by each of {workers}", group.output)


def assert_scrapes_whole(group: Group, upstream: HeldUpstream, served: Counter, workers,
                         at_least=10) -> None:
    """Scrapes, until each of ``workers`` has answered ``at_least``: every one of them
    shows the whole group's counts, exactly."""
    total = sum(served.values())
    answered = Counter()

    def scrape():
        got, pid = group.scrape()
        answered[pid] += 1
        for name in (REQUESTS, LEGACY, DURATIONS, UPSTREAM):
            assert got.get(name) == total, (name, got.get(name), total, pid, served)
        assert upstream.listings == total
        assert got[IN_FLIGHT] == 1  # the scrape itself
        return answered

    wait_for(scrape, lambda answered: all(answered[pid] >= at_least for pid in workers),
             f"scrapes answered by each of {workers}", group.output)


def test_every_scrape_shows_the_whole_groups_counts(group, upstream):
    served = Counter()
    workers = group.wait_for_workers(2)
    spread_listings(group, served, workers)
    assert_scrapes_whole(group, upstream, served, workers)
    spread_listings(group, served, workers, at_least=3)  # and again: they go on adding up
    assert_scrapes_whole(group, upstream, served, workers)

    # The in-flight gauge too is the group's: a listing held on one worker shows in a
    # scrape that the other answers.
    thread, held = group.hold_a_listing(upstream, served)
    gauges = {pid: got[IN_FLIGHT] for got, pid in
              wait_for(lambda: [group.scrape() for _ in range(4)],
                       lambda scrapes: len({pid for _, pid in scrapes}) == 2,
                       "a scrape answered by each worker", group.output)}
    assert gauges == dict.fromkeys(workers, 2), gauges
    upstream.hold.clear()
    thread.join(PATIENCE)
    assert_scrapes_whole(group, upstream, served, workers, at_least=2)

    group.process.send_signal(signal.SIGTERM)
    assert group.process.wait(timeout=PATIENCE) == 0, group.output()
    assert group.seen == set(workers), group.output()  # never a restart


def test_a_killed_worker_is_restarted_logged_and_its_counts_kept(group, upstream):
    served = Counter()
    workers = group.wait_for_workers(2)
    spread_listings(group, served, workers)
    assert_scrapes_whole(group, upstream, served, workers, at_least=3)

    victim, survivor = workers
    os.kill(victim, signal.SIGKILL)
    replacement, = set(group.wait_for_workers(2, without=[victim])) - {survivor}
    # At once, before the new worker has served anything: nothing the dead one counted is
    # missing, whichever worker answers.
    assert_scrapes_whole(group, upstream, served, [survivor, replacement], at_least=3)
    line = f"worker {victim} was killed by signal 9 (SIGKILL); started worker {replacement} " \
           "in its place"
    wait_for(group.messages, lambda messages: line in messages, "the restart's line",
             group.output)
    # The new worker serves; what the dead one counted is still there, and counting goes on.
    spread_listings(group, served, [replacement, survivor])
    assert_scrapes_whole(group, upstream, served, [replacement, survivor], at_least=5)
    assert served[victim] >= 5

    group.process.send_signal(signal.SIGTERM)
    assert group.process.wait(timeout=PATIENCE) == 0, group.output()
    assert group.seen == {victim, survivor, replacement}, group.output()
    assert [m for m in group.messages() if "in its place" in m] == [line]
    for pid in group.seen:
        assert not Path(f"/proc/{pid}").exists()


def test_sigterm_drains_the_group_as_one_without_restarts(upstream):
    group = Group(upstream, grace=1.0)
    try:
        served = Counter()
        workers = group.wait_for_workers(2)
        spread_listings(group, served, workers, at_least=1)
        thread, held = group.hold_a_listing(upstream, served)

        group.process.send_signal(signal.SIGTERM)
        # Every worker stops listening (the grace over), none is started in its place,
        # and the held listing is still in flight.
        wait_for(lambda: attempt_connect(group.port), lambda refused: refused,
                 "the port refusing", group.output)
        assert set(group.workers()) <= set(workers)
        assert thread.is_alive() and group.process.poll() is None
        upstream.hold.clear()
        thread.join(PATIENCE)
        assert held["pid"] in (*workers, None)  # answered 200 (the drain closes it)
        assert group.process.wait(timeout=PATIENCE) == 0, group.output()
        assert group.seen == set(workers), group.output()
        assert "all workers stopped" in group.messages()
        assert not [m for m in group.messages() if "in its place" in m]
    finally:
        group.stop()


def attempt_connect(port: int) -> bool:
    """True if nothing listens on ``port`` any more."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    try:
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        return False
    except ConnectionRefusedError:
        return True
    except (ConnectionResetError, http.client.RemoteDisconnected):
        return False
    finally:
        connection.close()


def test_workers_that_keep_dying_at_start_make_the_group_give_up(group):
    """Each worker killed as soon as it appears, until the group gives up: after
    MAX_FAST_DEATHS deaths in a row, each within FAST_DEATH seconds of its start, the
    parent stops the rest and exits 1."""
    killed = []

    def kill_the_first_worker():
        workers = group.workers()
        if workers and len(killed) < 3 * MAX_FAST_DEATHS and not any(
                "giving up" in message for message in group.messages()):
            if workers[0] not in killed:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
        return group.process.poll()

    assert wait_for(kill_the_first_worker, lambda code: code is not None,
                    "the group giving up", group.output) == 1, group.output()
    gave_up = [m for m in group.messages() if "giving up" in m]
    assert len(gave_up) == 1, group.output()
    assert re.fullmatch(
        rf"worker ({'|'.join(map(str, killed))}) was killed by signal 9 \(SIGKILL\) "
        rf"[0-9.]+ s after it started: {MAX_FAST_DEATHS} workers in a row died within "
        rf"{FAST_DEATH:.0f} s of starting; giving up, stopping the group", gave_up[0]), gave_up
    restarts = [m for m in group.messages() if "in its place" in m]
    assert len(restarts) >= MAX_FAST_DEATHS - 1, group.output()
    assert "all workers stopped" in group.messages()
    for pid in group.seen:
        assert not Path(f"/proc/{pid}").exists()



def test_a_port_that_cannot_be_had_stops_the_group_without_restarts(upstream):
    with socket.socket() as taken:  # no SO_REUSEPORT: no worker can listen beside it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        group = Group(upstream, port=port)
        try:
            assert group.process.wait(timeout=PATIENCE) == 1, group.output()
            output, messages = group.output(), group.messages()
        finally:
            group.stop()
    said = [line for line in output.splitlines()
            if line.startswith(f"image-v1-proxy: cannot listen on 127.0.0.1:{port}")]
    assert 1 <= len(said) <= 2, output  # each worker that tried says it
    assert any(re.fullmatch(r"worker \d+ cannot start; stopping the group", m)
               for m in messages), output
    assert not [m for m in messages if "in its place" in m or "Traceback" in m], output


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_workers_drain_and_stop_when_their_parent_is_killed(group):
    """... and the group's directory of counts, which the parent could not remove, goes
    when the next group starts."""
    workers = group.wait_for_workers(2)
    directory = wait_for(lambda: metrics_directory(workers[0]), bool,
                         "the worker's counts file", group.output)
    group.process.kill()  # SIGKILL: it can pass nothing on
    group.process.wait(timeout=PATIENCE)
    wait_for(lambda: [pid for pid in workers if not gone(pid)], lambda alive: not alive,
             "the workers stopping", group.output)
    assert sum("signal received: stopping" in m for m in group.messages()) == 2, group.output()
    assert directory.exists()

    def next_group_start() -> bool:  # the lock goes once the last worker's files are closed
        shutil.rmtree(metrics.group_directory(str(directory.parent)))
        return not directory.exists()

    wait_for(next_group_start, bool, "the dead group's directory removed", group.output)


def metrics_directory(pid: int) -> Path | None:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = Path(os.readlink(f"/proc/{pid}/fd/{fd}"))
            if target.name.endswith(".counts"):
                return target.parent
    return None
