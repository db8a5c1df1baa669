"""Prometheus metrics, one registry per app, served at /metrics.

Labels are bounded by construction: routes are the router's patterns (never a path with an
id in it), clients are User-Agent product tokens up to a fixed number of distinct ones,
upstream calls and error kinds are fixed words. Never a token, an image id or a name.

Recording is plain Python arithmetic on dicts and lists: prometheus-client's own metric
objects take a lock per update, which cost a listing more than all its images did. The
families are built from these counts only when /metrics is scraped.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict

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

    def collect(self):
        """The families, as prometheus-client's registry asks a collector for them."""
        requests = CounterMetricFamily("image_v1_proxy_requests", "Requests answered, by route "
                                       "and status.", labels=["route", "method", "status"])
        for labels, count in self._requests.items():
            requests.add_metric(labels, count)
        yield requests
        yield _histograms("image_v1_proxy_request_duration_seconds", "Whole-request latency.",
                          "route", self._request_seconds)
        yield _histograms("image_v1_proxy_upstream_request_duration_seconds",
                          "Latency of calls to the v2 upstream.", "call", self._upstream_seconds)
        errors = CounterMetricFamily("image_v1_proxy_upstream_errors", "Upstream calls that "
                                     "failed, by kind.", labels=["kind"])
        for kind, count in self._upstream_errors.items():
            errors.add_metric([kind], count)
        yield errors
        yield GaugeMetricFamily("image_v1_proxy_in_flight_requests", "Requests being answered.",
                                value=self.in_flight)
        legacy = CounterMetricFamily("image_v1_proxy_legacy_requests", "Calls to the legacy v1 "
                                     "API, by route and client product: who still needs v1.",
                                     labels=["route", "client"])
        for labels, count in self._legacy.items():
            legacy.add_metric(labels, count)
        yield legacy

    def render(self) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


def _histograms(name: str, documentation: str, label: str,
                histograms: dict[str, _Histogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, histogram in histograms.items():
        family.add_metric([value], histogram.family_buckets(), histogram.sum)
    return family
