"""Prometheus metrics, one registry per app, served at /metrics.

Labels are bounded by construction: routes are the router's patterns (never a path with an
id in it), clients are User-Agent product tokens up to a fixed number of distinct ones,
upstream calls and error kinds are fixed words. Never a token, an image id or a name.

Recording is plain Python arithmetic on dicts and lists: prometheus-client's own metric
objects take a lock per update, which cost a listing more than all its images did. The
families are built from these counts only when /metrics is scraped.

With --workers N, every worker's Metrics is a GroupMetrics (see ``join_group``): the same
plain arithmetic, on integers in a file of the worker's own mapped into memory, so that a
scrape, whichever worker answers it, sums every worker's counts as they are at that moment,
those of workers that have died included (see GroupMetrics).
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import re
import shutil
import tempfile
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

MAX_CLIENTS = 50  # distinct User-Agent products counted by name; the rest are "other"
MAX_CHILDREN = 10_000
_PRODUCT = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,39}")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BOUNDS = (*map(floatToGoString, _BUCKETS), "+Inf")  # as prometheus-client writes them


class _Histogram:
    """Counts per bucket (the first bucket a value fits, made cumulative when scraped)."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)  # the last: +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(_BUCKETS, seconds)] += 1
        self.sum += seconds

    def family_buckets(self) -> list[tuple[str, int]]:
        buckets, total = [], 0
        for bound, count in zip(_BOUNDS, self.counts):
            total += count
            buckets.append((bound, total))
        return buckets


class Metrics:
    def __new__(cls):
        # A worker of a group (join_group) counts in its shared file: make_app's Metrics()
        # is then a GroupMetrics.
        if cls is Metrics and _group is not None:
            cls = GroupMetrics
        return super().__new__(cls)

    def __init__(self) -> None:
        self.in_flight = 0
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._request_seconds: dict[str, _Histogram] = defaultdict(_Histogram)
        self._upstream_seconds: dict[str, _Histogram] = defaultdict(_Histogram)
        self._upstream_errors: dict[str, int] = defaultdict(int)
        self._legacy: dict[tuple[str, str], int] = defaultdict(int)
        self._clients: set[str] = set()
        # (route, method, status, User-Agent) -> its labels, worked out once per combination
        self._labels: dict[tuple, tuple] = {}
        # tombstones and the bus (proxy.shell.deletions)
        self._deletions = dict.fromkeys(_DELETION_COUNTS, 0) | {"connected": 0, "lag": 0.0}
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def request_done(self, route: str, method: str, status: int, seconds: float,
                     user_agent: str | None) -> None:
        key = (route, method, status, user_agent)
        labels = self._labels.get(key)
        if labels is None:
            labels = ((route, method, str(status)), (route, self.client(user_agent)))
            if len(self._labels) < MAX_CHILDREN:
                self._labels[key] = labels
        self._requests[labels[0]] += 1
        self._request_seconds[route].observe(seconds)
        self._legacy[labels[1]] += 1

    def client(self, user_agent: str | None) -> str:
        """The User-Agent's product token (``python-glanceclient``, ``openstacksdk``, ...),
        or ``other`` once MAX_CLIENTS distinct ones have been seen, ``none`` without one."""
        match = _PRODUCT.match(user_agent or "")
        if match is None:
            return "none"
        product = match.group(0).lower()
        if product not in self._clients:
            if len(self._clients) >= MAX_CLIENTS:
                return "other"
            self._clients.add(product)
        return product

    def upstream_call(self, call: str, seconds: float, error: str | None) -> None:
        self._upstream_seconds[call].observe(seconds)
        if error is not None:
            self._upstream_errors[error] += 1

    def upstream_failed(self, kind: str) -> None:
        """An answer found unusable once read (not while it was being called)."""
        self._upstream_errors[kind] += 1

    def tombstone_stored(self) -> None:
        self._count_deletion("stored")

    def tombstone_lost(self) -> None:
        """A delete through the proxy whose tombstone could not be stored."""
        self._count_deletion("lost")

    def bus_event(self, kind: str, **fields) -> None:
        """What the bus consumer (proxy.shell.notifications) tells of itself."""
        if kind in ("connected", "disconnected"):
            self._set_deletion("connected", int(kind == "connected"))
        elif kind in ("taken", "dropped"):
            self._count_deletion(kind)
            if fields.get("stored") is True:
                self._count_deletion("stored")
            if fields.get("lag") is not None:
                self._set_deletion("lag", fields["lag"])

    def _count_deletion(self, name: str) -> None:
        self._deletions[name] += 1

    def _set_deletion(self, gauge: str, value: float) -> None:
        self._deletions[gauge] = value

    def collect(self):
        """The families, as prometheus-client's registry asks a collector for them."""
        yield from _families(self._requests, self._request_seconds, self._upstream_seconds,
                             self._upstream_errors, self.in_flight, self._legacy)
        yield from _deletion_families(self._deletions)

    def render(self) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


_DELETION_COUNTS = ("stored", "lost", "taken", "dropped")


def _deletion_families(deletions: dict):
    yield CounterMetricFamily("image_v1_proxy_tombstones_stored", "Deleted images recorded "
                              "as tombstones.", value=deletions["stored"])
    yield CounterMetricFamily("image_v1_proxy_tombstones_lost", "Deletes through the proxy "
                              "whose tombstone the store did not take.",
                              value=deletions["lost"])
    taken = CounterMetricFamily("image_v1_proxy_notifications", "Bus messages taken or "
                                "dropped (unreadable).", labels=["outcome"])
    taken.add_metric(["taken"], deletions["taken"])
    taken.add_metric(["dropped"], deletions["dropped"])
    yield taken
    yield GaugeMetricFamily("image_v1_proxy_bus_connected", "1 while the bus consumer is "
                            "connected (every worker's, in a group).",
                            value=deletions["connected"])
    yield GaugeMetricFamily("image_v1_proxy_notification_lag_seconds", "From the last "
                            "deletion taken from the bus to its tombstone (the largest of "
                            "a group's workers).", value=deletions["lag"])


def _families(requests_: dict, request_seconds: dict, upstream_seconds: dict,
              upstream_errors: dict, in_flight: int, legacy_: dict):
    requests = CounterMetricFamily("image_v1_proxy_requests", "Requests answered, by route "
                                   "and status.", labels=["route", "method", "status"])
    for labels, count in requests_.items():
        requests.add_metric(labels, count)
    yield requests
    yield _histograms("image_v1_proxy_request_duration_seconds", "Whole-request latency.",
                      "route", request_seconds)
    yield _histograms("image_v1_proxy_upstream_request_duration_seconds",
                      "Latency of calls to the v2 upstream.", "call", upstream_seconds)
    errors = CounterMetricFamily("image_v1_proxy_upstream_errors", "Upstream calls that "
                                 "failed, by kind.", labels=["kind"])
    for kind, count in upstream_errors.items():
        errors.add_metric([kind], count)
    yield errors
    yield GaugeMetricFamily("image_v1_proxy_in_flight_requests", "Requests being answered.",
                            value=in_flight)
    legacy = CounterMetricFamily("image_v1_proxy_legacy_requests", "Calls to the legacy v1 "
                                 "API, by route and client product: who still needs v1.",
                                 labels=["route", "client"])
    for labels, count in legacy_.items():
        legacy.add_metric(labels, count)
    yield legacy


def _histograms(name: str, documentation: str, label: str,
                histograms: dict[str, _Histogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, histogram in histograms.items():
        family.add_metric([value], histogram.family_buckets(), histogram.sum)
    return family


# --- the workers of --workers N -----------------------------------------------------------

log = logging.getLogger("proxy")

_group: tuple[Path, int] | None = None  # (the group's directory, this worker's place in it)
_SUM = len(_BUCKETS) + 1  # a histogram's slots: its bucket counts (+Inf last), then its sum
_WIDTH = {"request_seconds": _SUM + 1, "upstream_seconds": _SUM + 1}  # others: one slot
_DISCARD = 1  # slots 1.._SUM: counts no file names, if the files cannot grow
_INITIAL_SLOTS = 8192  # 64 KiB a worker, doubled when its label combinations need more
_GROUP_PREFIX = "image-v1-proxy-metrics-"


def group_directory(base: str | None = None) -> str:
    """A new private directory (0700) for a group's counts, made by the parent before it
    forks: in /dev/shm where there is one (memory, nothing written back to a disk). Its
    ``group.lock`` stays locked while any process of the group lives (the lock's file
    description is inherited by the workers); directories left by groups of which none
    lives (a parent killed with SIGKILL cannot remove its own) are removed first."""
    if base is None:
        shm = "/dev/shm"
        base = shm if os.access(shm, os.W_OK | os.X_OK) else tempfile.gettempdir()
    for stale in Path(base).glob(_GROUP_PREFIX + "*"):
        try:
            lock = os.open(stale / "group.lock", os.O_RDWR)
        except OSError:
            continue  # another user's, or just being made
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # its group lives
        else:
            shutil.rmtree(stale, ignore_errors=True)
        finally:
            os.close(lock)
    directory = tempfile.mkdtemp(prefix=_GROUP_PREFIX, dir=base)
    lock = os.open(os.path.join(directory, "group.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # never closed: released when the group has ended
    return directory


def join_group(directory: str, place: int) -> None:
    """In a worker just forked: its Metrics count as the group's worker ``place`` (1..N).
    A worker started in place of a dead one takes over its files, and counts on."""
    global _group
    _group = (Path(directory), place)


class GroupMetrics(Metrics):
    """One worker's counts, in ``<place>.counts`` of the group's directory mapped into
    memory: 64-bit integers (a histogram's sum a double), each label combination at slots
    named in ``<place>.keys`` by a JSON line ``[slot, family, labels...]``, appended the
    first time the combination is seen. Recording is Metrics' plain arithmetic, on the
    mapped integers: no lock, and no system call but for a new combination. A scrape, on
    any worker, reads every worker's files: slots only grow, so no counter goes backwards
    whichever worker answers; a dead worker's counts stay in its file, which the worker
    started in its place takes over. A worker holds a lock on its file while it lives: the
    in-flight requests of live workers only are summed."""

    def __init__(self) -> None:
        self._directory, place = _group
        self._fd = os.open(self._directory / f"{place}.counts", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # released when this process ends, however
        self._maps: list[mmap.mmap] = []
        self._map(max(os.fstat(self._fd).st_size // 8, _INITIAL_SLOTS))
        self._keys = os.open(self._directory / f"{place}.keys",
                             os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._slots: dict[tuple, int] = {}  # (family, *labels) -> its first slot
        self._calls: dict[str, int] = {}  # upstream call -> its histogram's first slot
        self._labels: dict[tuple, tuple[int, int, int]] = {}  # request_done's key -> slots
        self._clients: set[str] = set()
        self._next = _DISCARD + _SUM + 1
        self._lost = False
        self._take_over()
        self._set_deletion("connected", 0)  # a dead worker's consumer is gone with it
        self.registry = CollectorRegistry()
        self.registry.register(self)

    @property
    def in_flight(self) -> int:
        return self._q[0]

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._q[0] = value

    def _map(self, slots: int) -> None:
        """Maps (and reserves: never a SIGBUS on a full /dev/shm) ``slots`` slots. Earlier
        mappings stay valid: they are the same pages."""
        os.posix_fallocate(self._fd, 0, slots * 8)
        mapped = mmap.mmap(self._fd, slots * 8)
        self._maps.append(mapped)
        self._capacity = slots
        self._q = memoryview(mapped).cast("q")
        self._d = memoryview(mapped).cast("d")

    def _take_over(self) -> None:
        """A dead worker's labels, in the files this one has just taken over (none when
        they are new): counting goes on where it stopped."""
        keys = os.pread(self._keys, os.fstat(self._keys).st_size, 0)
        whole = keys.rfind(b"\n") + 1
        os.ftruncate(self._keys, whole)  # a line it was cut off writing named no count yet
        for line in keys[:whole].splitlines():
            slot, family, *labels = orjson.loads(line)
            self._slots[(family, *labels)] = slot
            self._next = max(self._next, slot + _WIDTH.get(family, 1))
            if family == "upstream_seconds":
                self._calls[labels[0]] = slot
            elif family == "legacy" and labels[1] not in ("none", "other"):
                self._clients.add(labels[1])
        self.in_flight = 0  # those of the dead worker were cut

    def _slot(self, *key) -> int:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._next
            width = _WIDTH.get(key[0], 1)
            try:
                if slot + width > self._capacity:
                    self._map(2 * self._capacity)
                os.write(self._keys, orjson.dumps([slot, *key]) + b"\n")
            except OSError as error:
                if not self._lost:
                    log.error("metrics: cannot count new label combinations (%s); their "
                              "counts are lost", error)
                    self._lost = True
                return _DISCARD
            self._next = slot + width
            self._slots[key] = slot
        return slot

    def request_done(self, route: str, method: str, status: int, seconds: float,
                     user_agent: str | None) -> None:
        key = (route, method, status, user_agent)
        slots = self._labels.get(key)
        if slots is None:
            slots = (self._slot("requests", route, method, str(status)),
                     self._slot("request_seconds", route),
                     self._slot("legacy", route, self.client(user_agent)))
            if len(self._labels) < MAX_CHILDREN and _DISCARD not in slots:
                self._labels[key] = slots
        q = self._q
        q[slots[0]] += 1
        histogram = slots[1]
        q[histogram + bisect_left(_BUCKETS, seconds)] += 1
        self._d[histogram + _SUM] += seconds
        q[slots[2]] += 1

    def upstream_call(self, call: str, seconds: float, error: str | None) -> None:
        histogram = self._calls.get(call)
        if histogram is None:
            histogram = self._slot("upstream_seconds", call)
            if histogram != _DISCARD:
                self._calls[call] = histogram
        self._q[histogram + bisect_left(_BUCKETS, seconds)] += 1
        self._d[histogram + _SUM] += seconds
        if error is not None:
            self.upstream_failed(error)

    def upstream_failed(self, kind: str) -> None:
        slot = self._slot("upstream_errors", kind)  # first: it may map a larger file
        self._q[slot] += 1

    def _count_deletion(self, name: str) -> None:
        self._q[self._slot("deletions", name)] += 1

    def _set_deletion(self, gauge: str, value: float) -> None:
        slot = self._slot("deletion_gauges", gauge)
        if gauge == "lag":
            self._d[slot] = value
        else:
            self._q[slot] = value

    def collect(self):
        """The sums of every worker's counts, read now. The bus gauges are those of the
        live workers: connected only when every one is, the largest lag."""
        counters: dict[str, dict[tuple, int]] = {
            "requests": defaultdict(int), "upstream_errors": defaultdict(int),
            "legacy": defaultdict(int), "deletions": defaultdict(int)}
        gauges: dict[str, list[float]] = {"connected": [], "lag": []}
        histograms: dict[str, dict[str, _Histogram]] = {
            "request_seconds": defaultdict(_Histogram),
            "upstream_seconds": defaultdict(_Histogram)}
        in_flight = 0
        for keys in sorted(self._directory.glob("*.keys"), key=lambda path: int(path.stem)):
            in_flight += _read_worker(keys, counters, histograms, gauges)
        errors = {labels[0]: count for labels, count in counters["upstream_errors"].items()}
        yield from _families(counters["requests"], histograms["request_seconds"],
                             histograms["upstream_seconds"], errors, in_flight, counters["legacy"])
        deletions = {name: counters["deletions"][(name,)] for name in _DELETION_COUNTS}
        deletions["connected"] = int(bool(gauges["connected"]) and all(gauges["connected"]))
        deletions["lag"] = max(gauges["lag"], default=0.0)
        yield from _deletion_families(deletions)


def _read_worker(keys_path: Path, counters: dict, histograms: dict, gauges: dict) -> int:
    """Adds one worker's counts to ``counters`` and ``histograms``, and if it is alive its
    bus gauges to ``gauges``; its in-flight requests if it is alive, else 0."""
    keys = keys_path.read_bytes()
    fd = os.open(keys_path.with_suffix(".counts"), os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            alive = True  # its worker holds the lock
        else:
            alive = False
            fcntl.flock(fd, fcntl.LOCK_UN)
        # Mapped after the keys were read: every slot they name is in it.
        with mmap.mmap(fd, os.fstat(fd).st_size, access=mmap.ACCESS_READ) as mapped:
            q, d = memoryview(mapped).cast("q"), memoryview(mapped).cast("d")
            try:
                for line in keys[:keys.rfind(b"\n") + 1].splitlines():
                    slot, family, *labels = orjson.loads(line)
                    if family in histograms:
                        histogram = histograms[family][labels[0]]
                        for i in range(_SUM):
                            histogram.counts[i] += q[slot + i]
                        histogram.sum += d[slot + _SUM]
                    elif family == "deletion_gauges":
                        if alive:
                            gauges[labels[0]].append(d[slot] if labels[0] == "lag"
                                                     else q[slot])
                    else:
                        counters[family][tuple(labels)] += q[slot]
                return q[0] if alive else 0
            finally:
                q.release()
                d.release()
    finally:
        os.close(fd)
