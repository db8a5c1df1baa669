"""A group's metrics (--workers N): each worker counts in its own file, a scrape on any of
them shows the sums, a dead worker's counts stay and its replacement counts on."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from proxy.ops import metrics
from proxy.ops.metrics import GroupMetrics, Metrics


def samples(recorder: Metrics) -> dict[str, float]:
    text = recorder.render().body.decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


@pytest.fixture
def worker(tmp_path, monkeypatch):
    """worker(place): the Metrics a worker of the group makes (make_app's ``Metrics()``)."""

    def make(place: int) -> Metrics:
        monkeypatch.setattr(metrics, "_group", None)
        metrics.join_group(str(tmp_path), place)
        try:
            return Metrics()
        finally:
            monkeypatch.setattr(metrics, "_group", None)

    return make


def observe(recorder: Metrics, *, agent: str, status: int = 200, error=None) -> None:
    recorder.request_done("/v1/images/detail", "GET", status, 0.004, agent)
    recorder.upstream_call("list_images", 0.003, error)


def test_one_process_is_not_a_group():
    assert type(Metrics()) is Metrics


def test_every_worker_shows_what_one_process_counting_it_all_would(worker):
    first, second, alone = worker(1), worker(2), Metrics()
    assert type(first) is GroupMetrics
    for recorder in (first, alone):
        recorder.in_flight += 2
        observe(recorder, agent="python-glanceclient")
        observe(recorder, agent="python-glanceclient", status=404)
    for recorder in (second, alone):
        recorder.in_flight += 1
        observe(recorder, agent="openstacksdk/4.0", error="timeout")
        recorder.upstream_failed("broken")
        recorder.request_done("/v1/images/{image_id}", "HEAD", 200, 45.0, None)
    expected = alone.render().body
    assert first.render().body == expected  # byte for byte, from either worker
    assert second.render().body == expected
    assert samples(first)["image_v1_proxy_in_flight_requests"] == 3


def test_a_dead_workers_counts_stay_and_its_replacement_counts_on(worker, tmp_path):
    other = worker(2)
    pid = os.fork()
    if pid == 0:  # a worker in place 1, killed in the middle of a request
        try:
            dying = worker(1)
            dying.in_flight += 5
            for _ in range(3):
                observe(dying, agent="glance")
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WTERMSIG(status) == signal.SIGKILL
    requests = ('image_v1_proxy_requests_total'
                '{method="GET",route="/v1/images/detail",status="200"}')
    legacy = 'image_v1_proxy_legacy_requests_total{client="glance",route="/v1/images/detail"}'
    got = samples(other)
    assert got[requests] == 3 and got[legacy] == 3
    assert got["image_v1_proxy_in_flight_requests"] == 0  # the dead worker's were cut

    # It was killed while it wrote a new label combination's line: that line names no count.
    with open(tmp_path / "1.keys", "ab") as keys:
        keys.write(b'[999,"requests","/v1/im')
    assert samples(other)[requests] == 3

    replacement = worker(1)  # started in its place: the same files, counting on
    replacement.in_flight += 1
    observe(replacement, agent="glance")
    replacement.request_done("/v1/images", "POST", 201, 0.1, "glance")
    got = samples(other)
    assert got[requests] == 4 and got[legacy] == 4
    assert got['image_v1_proxy_requests_total{method="POST",route="/v1/images",status="201"}'] == 1
    assert got["image_v1_proxy_in_flight_requests"] == 1
    assert got['image_v1_proxy_upstream_request_duration_seconds_count{call="list_images"}'] == 4
    assert (tmp_path / "1.keys").read_bytes().endswith(b"\n")


TAKEN = 'image_v1_proxy_notifications_total{outcome="taken"}'
DROPPED = 'image_v1_proxy_notifications_total{outcome="dropped"}'
STORED = "image_v1_proxy_tombstones_stored_total"
CONNECTED = "image_v1_proxy_bus_connected"
LAG = "image_v1_proxy_notification_lag_seconds"


def test_every_workers_deletions_are_summed_and_the_bus_is_up_only_when_up_in_each(worker):
    """Each worker runs a consumer of its own (competing on one queue): the counts of
    all of them, and the bus is connected only if every live worker's consumer is."""
    first, second = worker(1), worker(2)
    first.bus_event("connected", url="amqp://bus:5672/", queue="q")
    first.bus_event("taken", lag=2.5, stored=True, image_id="a")
    first.bus_event("taken", lag=None, stored=None, image_id=None)  # not a deletion
    second.bus_event("dropped", reason="ValueError: not JSON")
    second.tombstone_stored()  # a DELETE through the proxy
    second.bus_event("taken", lag=7.0, stored=False, image_id="a")  # stored already
    for recorder in (first, second):
        got = samples(recorder)
        assert (got[TAKEN], got[DROPPED], got[STORED]) == (3, 1, 2)
        assert (got[CONNECTED], got[LAG]) == (0, 7.0)  # the second is not connected
    second.bus_event("connected", url="amqp://bus:5672/", queue="q")
    assert samples(first)[CONNECTED] == 1
    first.bus_event("disconnected", reason="ConnectionError")
    assert samples(second)[CONNECTED] == 0


def test_a_dead_workers_deletions_stay_and_its_bus_gauges_go(worker):
    other = worker(2)
    other.bus_event("connected", url="amqp://bus:5672/", queue="q")
    pid = os.fork()
    if pid == 0:  # a worker in place 1, killed while connected and far behind
        try:
            dying = worker(1)
            dying.bus_event("connected", url="amqp://bus:5672/", queue="q")
            dying.bus_event("taken", lag=900.0, stored=True, image_id="a")
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    got = samples(other)
    assert (got[TAKEN], got[STORED], got[CONNECTED], got[LAG]) == (1, 1, 1, 0.0)
    replacement = worker(1)  # its consumer has not connected yet
    got = samples(other)
    assert (got[TAKEN], got[STORED], got[CONNECTED]) == (1, 1, 0)
    replacement.bus_event("connected", url="amqp://bus:5672/", queue="q")
    assert samples(other)[CONNECTED] == 1


def test_many_label_combinations_grow_the_file_and_lose_nothing(worker):
    writer, reader = worker(1), worker(2)
    writer.upstream_failed("first")
    kinds = [f"kind-{n}" for n in range(3 * metrics._INITIAL_SLOTS)]
    for kind in kinds:
        writer.upstream_failed(kind)
    writer.upstream_failed("first")  # a slot mapped before the file grew still counts
    writer.upstream_call("early", 0.1, None)
    got = samples(reader)
    assert got['image_v1_proxy_upstream_errors_total{kind="first"}'] == 2
    assert all(got[f'image_v1_proxy_upstream_errors_total{{kind="{kind}"}}'] == 1
               for kind in kinds)
    assert got['image_v1_proxy_upstream_request_duration_seconds_count{call="early"}'] == 1


def test_a_file_that_cannot_be_written_loses_new_combinations_not_requests(worker, caplog):
    recorder = worker(1)
    observe(recorder, agent="glance")
    os.close(recorder._keys)
    recorder._keys = os.open(os.devnull, os.O_RDONLY)  # every write fails
    with caplog.at_level(logging.ERROR, logger="proxy"):
        for _ in range(3):
            observe(recorder, agent="other", status=500, error="status_5xx")
        observe(recorder, agent="glance")
    assert [r.getMessage() for r in caplog.records] == [
        "metrics: cannot count new label combinations ([Errno 9] Bad file descriptor); "
        "their counts are lost"]
    got = samples(recorder)
    assert got['image_v1_proxy_requests_total{method="GET",route="/v1/images/detail",'
               'status="200"}'] == 2
    assert not any('status="500"' in name or "status_5xx" in name for name in got)


def test_a_group_directory_outlives_no_group(tmp_path):
    """The directory of a group none of whose processes lives (its parent killed with
    SIGKILL) goes when the next group starts; one whose group lives stays."""
    pid = os.fork()
    if pid == 0:  # a parent that is killed: its lock is released with it
        try:
            metrics.group_directory(str(tmp_path))
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    stale, = tmp_path.iterdir()
    live = metrics.group_directory(str(tmp_path))  # (this process holds its lock)
    assert not stale.exists()
    newer = metrics.group_directory(str(tmp_path))
    assert sorted(map(str, tmp_path.iterdir())) == sorted([live, newer])
    assert {path.name for path in Path(live).iterdir()} == {"group.lock"}
    assert os.stat(live).st_mode & 0o777 == 0o700
