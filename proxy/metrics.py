"""Prometheus metrics, one registry per app, served at /metrics.

Labels are bounded by construction: routes are the router's patterns (never a path with an
id in it), clients are User-Agent product tokens up to a fixed number of distinct ones,
upstream calls and error kinds are fixed words. Never a token, an image id or a name.
"""

from __future__ import annotations

import re

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MAX_CLIENTS = 50  # distinct User-Agent products counted by name; the rest are "other"
MAX_CHILDREN = 10_000
_PRODUCT = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,39}")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("image_v1_proxy_requests", "Requests answered, by route and "
                                "status.", ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram("image_v1_proxy_request_duration_seconds",
                                         "Whole-request latency.", ["route"],
                                         buckets=_BUCKETS, registry=r)
        self.upstream_seconds = Histogram("image_v1_proxy_upstream_request_duration_seconds",
                                          "Latency of calls to the v2 upstream.", ["call"],
                                          buckets=_BUCKETS, registry=r)
        self.upstream_errors = Counter("image_v1_proxy_upstream_errors", "Upstream calls that "
                                       "failed, by kind.", ["kind"], registry=r)
        self.in_flight = Gauge("image_v1_proxy_in_flight_requests", "Requests being answered.",
                               registry=r)
        self.legacy = Counter("image_v1_proxy_legacy_requests", "Calls to the legacy v1 API, by "
                              "route and client product: who still needs v1.",
                              ["route", "client"], registry=r)
        self._clients: set[str] = set()
        # (route, method, status, User-Agent) -> its three metric children: labels() is a
        # locked lookup, paid once per combination instead of three times per request
        self._children: dict[tuple, tuple] = {}

    def request_done(self, route: str, method: str, status: int, seconds: float,
                     user_agent: str | None) -> None:
        key = (route, method, status, user_agent)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(route, method, str(status)),
                        self.request_seconds.labels(route),
                        self.legacy.labels(route, self.client(user_agent)))
            if len(self._children) < MAX_CHILDREN:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        children[2].inc()

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
        self.upstream_seconds.labels(call).observe(seconds)
        if error is not None:
            self.upstream_errors.labels(error).inc()

    def render(self) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
