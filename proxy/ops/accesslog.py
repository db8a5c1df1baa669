"""One log line per request, and the record of each request's upstream calls it reports.

The access line carries the request id, method, route pattern, status, duration, the
upstream calls made for it with their durations, bytes sent and the User-Agent; never a
token (the proxy never logs headers) nor a query string (which may hold image names).
"""

from __future__ import annotations

import contextvars
import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


# The upstream calls of the request being answered (set by the app's middleware).
UPSTREAM_CALLS: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "upstream_calls", default=None)

# What the access line reads of each request, set by the app's middleware.
REQUEST_ID = web.RequestKey("request_id", str)
UPSTREAM_CALLS_KEY = web.RequestKey("upstream_calls", list)
# the route a request was given to when it is not the router's own match (v1's media-type
# versioning routes an unprefixed path by its Accept header)
ROUTE = web.RequestKey("route", str)

ACCESS_LOG = logging.getLogger("proxy.access")


def route_of(request: web.BaseRequest) -> str:
    """The route pattern (``/v1/images/{image_id}``), bounded for logs and metrics."""
    route = request.get(ROUTE)
    if route is not None:
        return route
    match_info = getattr(request, "match_info", None)
    resource = getattr(getattr(match_info, "route", None), "resource", None)
    return resource.canonical if resource is not None else "unmatched"


class AccessLogger(AbstractAccessLogger):
    @property
    def enabled(self) -> bool:
        # asked once per connection: below INFO, no line is built at all
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, took: float) -> None:
        fields = {
            "request_id": request.get(REQUEST_ID),
            "method": request.method,
            "route": route_of(request),
            "status": response.status,
            "duration_ms": round(took * 1000, 3),
            "upstream_calls": request.get(UPSTREAM_CALLS_KEY, []),
            "bytes": response.body_length,
            "user_agent": request.headers.get("User-Agent"),
        }
        self.logger.info("%s %s %s", request.method, fields["route"], response.status,
                         extra={"fields": fields})
