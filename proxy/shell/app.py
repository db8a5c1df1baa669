"""make_app(settings): the routes, the middleware, and one upstream session for the app's life.

The middleware gives every answer a request id and turns every failure into v1's error
answer: a V1Error as it is; the upstream's failures (proxy.shell.upstream_errors) as 503
or 500; anything else as a logged 500. (Error statuses are turned into V1Errors where
the call is made, by status_as_v1 and the rule for that call.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from random import getrandbits
from datetime import date, datetime, timezone
from email.utils import format_datetime

from aiohttp import web

from proxy.config import DeprecationSettings, Settings
from proxy.ops import health
from proxy.ops.accesslog import UPSTREAM_CALLS, route_of
from proxy.ops.metrics import Metrics
from proxy.shell import deletions, image_members, image_reads, image_writes, versions
from proxy.shell.appkeys import (KEYSTONE, LISTING_MEMO, METRICS, REQUEST_ID, ROUTE, SETTINGS,
                                 TOMBSTONES, UPSTREAM, UPSTREAM_CALLS_KEY, VERSIONS)
from proxy.shell.keystone import Keystone
from proxy.shell.listing_memo import ListingMemo
from proxy.shell.read_budget import ReadBudget
from proxy.shell.readiness import VersionWatch
from proxy.shell.tombstone_store import TombstoneStore
from proxy.shell.upstream import Upstream
from proxy.shell.upstream_errors import UpstreamBroken, UpstreamUnavailable
from proxy.v1.errors import V1Error, method_not_allowed, render
from proxy.v1.images import BadImage
from proxy.v2.answers import UpstreamShapeError

log = logging.getLogger(__name__)

# v1 mapped /v1, /v1.0 and /v1.1 onto one API (docs/v1-api.md#12-prefix-handling).
V1_PREFIXES = ("/v1", "/v1.0", "/v1.1")

# A caller's own request id is kept only in the form Glance generates, so that it can be
# logged and forwarded safely (Glance breaks on ids over 64 characters).
_REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# the bits that make 128 random bits a version-4 UUID (RFC 9562: version 4, variant 10)
_UUID4_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """``req-<uuid4>``, Glance's form. From the random module (reseeded in each forked
    worker): ids must be unique, not secret, and uuid4's os.urandom is a system call."""
    h = f"{getrandbits(128) & _UUID4_KEEP | _UUID4_SET:032x}"
    return f"req-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def make_app(settings: Settings) -> web.Application:
    limits = settings.limits
    app = web.Application(middlewares=[v1_answers], handler_args={
        # aiohttp refuses with a bare 400 past its own limits: keep those well above ours,
        # so that what exceeds ours gets 414/431 (docs/failures-and-hostile-input.md#limits).
        "max_line_size": 4 * limits.max_request_line,
        "max_field_size": 4 * limits.max_header_bytes,
        # A caller who hangs up cancels its request, and with it the upstream call.
        "handler_cancellation": True,
    })
    app[SETTINGS] = settings
    metrics = app[METRICS] = Metrics()
    upstream = Upstream(settings.upstream, on_call=_recorder(metrics),
                        list_budget=ReadBudget(settings.listing.read_bytes))
    app[UPSTREAM] = upstream
    app[LISTING_MEMO] = ListingMemo(settings.listing.memo_images, settings.listing.memo_bytes)
    app[VERSIONS] = VersionWatch(upstream, settings.upstream.version_refresh_interval)
    app[health.HEALTH] = health.Health(app[VERSIONS], settings.health.ready_max_age)
    identity = settings.identity
    app[KEYSTONE] = Keystone(identity, upstream) if identity.keystone_url else None
    app[TOMBSTONES] = TombstoneStore.create(settings.tombstones)
    app.cleanup_ctx.append(_upstream_lifetime)
    app.cleanup_ctx.append(deletions.lifetime)
    app.on_response_prepare.append(_give_request_id)
    if settings.deprecation != DeprecationSettings():
        app.on_response_prepare.append(_deprecation_headers(settings.deprecation))
    _add_routes(app.router)
    return app


def _add_routes(router: web.UrlDispatcher) -> None:
    """v1's route table (docs/v1-api.md#14-route-table), under each of its three prefixes."""
    for prefix in V1_PREFIXES:
        router.add_route("*", prefix, versions.v1_root)
        router.add_route("*", f"{prefix}/", image_reads.images_index)
        router.add_get(f"{prefix}/images", image_reads.images_index, allow_head=False)
        router.add_post(f"{prefix}/images", image_writes.create_image)
        router.add_route("*", f"{prefix}/images", _reject("GET, POST"))
        router.add_get(f"{prefix}/images/detail", image_reads.images_detail, allow_head=False)
        router.add_route("*", f"{prefix}/images/detail", _images_detail_other)
        one = f"{prefix}/images/{{image_id}}"
        router.add_route("HEAD", one, image_reads.image_meta)
        router.add_get(one, image_reads.image_data, allow_head=False)
        router.add_put(one, image_writes.update_image)
        router.add_delete(one, image_writes.delete_image)
        router.add_route("*", one, _reject("GET, HEAD, PUT, DELETE"))
        router.add_get(f"{one}/members", image_members.list_members, allow_head=False)
        router.add_put(f"{one}/members", image_members.replace_members)
        router.add_route("*", f"{one}/members", _reject("GET, PUT"))
        member = f"{one}/members/{{member}}"
        router.add_get(member, _reject(None), allow_head=False)  # v1: 405, no Allow
        router.add_put(member, image_members.add_member)
        router.add_delete(member, image_members.remove_member)
        router.add_route("*", member, _reject("GET, PUT, DELETE"))
        router.add_route("*", f"{prefix}/shared-images/{{member}}", image_members.shared_images)
    router.add_get("/healthz", health.healthz)
    router.add_get("/readyz", health.readyz)
    router.add_get("/metrics", _metrics)
    router.add_route("*", "/versions", versions.versions)
    router.add_route("*", "/versions/{tail:.*}", versions.versions)
    # Whatever names no v1 version is answered by version negotiation, never forwarded.
    router.add_route("*", r"/{tail:(?!v1(\.0|\.1)?(/|$)).*}", versions.multiple_choices)


async def _images_detail_other(request: web.Request) -> web.Response:
    # v1's router: HEAD on the detail list reaches the controller, which refuses it.
    if request.method == "HEAD":
        raise method_not_allowed("HEAD", "GET")
    raise method_not_allowed(request.method, "GET, HEAD")


def _reject(allow: str | None):
    """A handler answering v1's 405 with ``Allow: <allow>`` (or none) to every method."""

    async def handler(request: web.Request) -> web.Response:
        raise method_not_allowed(request.method, allow)

    return handler


async def _upstream_lifetime(app: web.Application):
    await app[UPSTREAM].start()
    # Not when no token is required: that is an upstream without authentication (the
    # demo's, for one), where no caller is an admin.
    if app[KEYSTONE] is None and app[SETTINGS].identity.require_token:
        log.warning("identity.keystone_url is not set: admin callers get the upstream's v2 "
                    "scope (every project's images), not v1's view of their own project")
    task = asyncio.create_task(app[VERSIONS].run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await app[UPSTREAM].close()


@web.middleware
async def v1_answers(request: web.Request, handler) -> web.StreamResponse:
    """Gives every answer a request id, and turns every failure into a v1 error answer."""
    request_id = request.headers.get("X-Openstack-Request-Id", "")
    if not _REQUEST_ID.match(request_id):
        request_id = new_request_id()
    request[REQUEST_ID] = request_id
    request[UPSTREAM_CALLS_KEY] = calls = []
    UPSTREAM_CALLS.set(calls)
    metrics = request.app[METRICS]
    if request.headers.get("Accept", "").startswith(_MEDIA_TYPE):
        handler = await _by_media_type(request)
    route = route_of(request)
    started = time.monotonic()
    metrics.in_flight += 1
    try:
        response = await _answer(request, handler, request_id)
    finally:
        metrics.in_flight -= 1
    if route.startswith(_V1_ROUTES):
        metrics.request_done(route, request.method, response.status,
                             time.monotonic() - started, request.headers.get("User-Agent"))
    return response


# v1's media-type versioning (docs/v1-api.md#12-prefix-handling): an Accept header that
# starts with this names the version, and the path is taken as it is, under that version.
_MEDIA_TYPE = "application/vnd.openstack.images-"
_V1_TOKENS = ("v1", "v1.0", "v1.1")
# paths answered before (versions) or outside (the proxy's own) v1's negotiation
_NOT_NEGOTIATED = ("versions", "healthz", "readyz", "metrics")


async def _by_media_type(request: web.Request):
    """The handler v1 gave a request whose Accept header names a version: the rest of the
    header value is the version, as it stands; v1 puts the path under /v1, anything else
    gets the version document (300). The request keeps its own path; the v1 route's
    parameters join its match_info, and its pattern is what logs and metrics see."""
    if request.path.split("/", 2)[1] in _NOT_NEGOTIATED:
        return request.match_info.handler
    if request.headers["Accept"][len(_MEDIA_TYPE):] not in _V1_TOKENS:
        return versions.multiple_choices
    as_v1 = request.clone(rel_url=request.rel_url.with_path("/v1" + request.rel_url.path))
    match = await request.app.router.resolve(as_v1)
    request.match_info.update(match)
    resource = match.route.resource if match.http_exception is None else None
    request[ROUTE] = resource.canonical if resource is not None else "unmatched"
    return match.handler


async def _answer(request: web.Request, handler, request_id: str) -> web.StreamResponse:
    try:
        _check_limits(request)
        response = await handler(request)
    except V1Error as error:
        response = error_response(request, error)
    except web.HTTPException as exc:  # the router's own 404/405
        response = error_response(request, _router_error(request, exc))
    except UpstreamUnavailable as exc:
        log.warning("%s %s: %s", request_id, request.path, exc)
        response = error_response(request, V1Error(503))
    except UpstreamBroken as exc:
        log.warning("%s %s: %s", request_id, request.path, exc)
        response = error_response(request, V1Error(500))
    except (UpstreamShapeError, BadImage) as exc:  # read after the call: counted here
        log.warning("%s %s: %s", request_id, request.path, exc)
        request.app[METRICS].upstream_failed(UpstreamBroken.kind)
        response = error_response(request, V1Error(500))
    except Exception:
        log.exception("%s %s: unexpected failure", request_id, request.path)
        response = error_response(request, V1Error(500))
    return response


# What counts as a v1 call (legacy usage, deprecation headers): the v1 routes, not probes,
# scrapes, version documents or stray paths.
_V1_ROUTES = tuple(f"{prefix}/" for prefix in V1_PREFIXES) + V1_PREFIXES


async def _metrics(request: web.Request) -> web.Response:
    return request.app[METRICS].render()


def _recorder(metrics: Metrics):
    """What the upstream client tells of each call: into the metrics, and into the list of
    calls of the request being answered (for its log line)."""

    def record(call: str, seconds: float, error: str | None) -> None:
        metrics.upstream_call(call, seconds, error)
        calls = UPSTREAM_CALLS.get()
        if calls is not None:
            calls.append({"call": call, "ms": round(seconds * 1000, 3), "error": error})

    return record


def _deprecation_headers(deprecation: DeprecationSettings):
    """Deprecation (RFC 9745: ``@<epoch seconds>``), Sunset (RFC 8594: an HTTP-date) and a
    Link to the v2 documentation, on every v1 answer."""
    headers = {}
    if deprecation.deprecation_date:
        headers["Deprecation"] = f"@{int(_midnight(deprecation.deprecation_date).timestamp())}"
    if deprecation.sunset_date:
        headers["Sunset"] = format_datetime(_midnight(deprecation.sunset_date), usegmt=True)
    if deprecation.link:
        headers["Link"] = f'<{deprecation.link}>; rel="deprecation"; type="text/html"'

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        if route_of(request).startswith(_V1_ROUTES):
            response.headers.update(headers)

    return add


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), timezone.utc)


async def _give_request_id(request: web.Request, response: web.StreamResponse) -> None:
    # Here rather than in the middleware: streamed answers send their headers early. An
    # answer aiohttp gives itself (a 417 for a bad Expect) never met the middleware.
    response.headers["X-Openstack-Request-Id"] = request.get(REQUEST_ID) or new_request_id()


def _check_limits(request: web.Request) -> None:
    limits = request.app[SETTINGS].limits
    line = len(request.method) + len(request.raw_path) + len(" HTTP/1.1") + 1
    if line > limits.max_request_line:
        raise V1Error(414)
    sizes = [len(name) + len(value) + 2 for name, value in request.raw_headers]
    if sizes and (max(sizes) > limits.max_header_bytes or sum(sizes) > limits.max_header_bytes):
        raise V1Error(431)
    # image data (POST/PUT of octet-stream) is streamed, never held: other bodies are bounded
    if (request.content_length or 0) > limits.max_body_bytes and not (
            request.method in ("POST", "PUT")
            and request.content_type == "application/octet-stream"):
        raise V1Error(413)


_ROUTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})


def _router_error(request: web.Request, exc: web.HTTPException) -> V1Error:
    # Every route answers every method (v1's 405s are routes of their own), so the router
    # only ever misses a path: v1 said 404, or 501 for methods it never routed.
    return V1Error(404 if request.method in _ROUTED_METHODS else 501)


def error_response(request: web.Request, error: V1Error) -> web.Response:
    response = web.Response(status=error.status, headers=dict(error.headers))
    if request.method == "HEAD":
        # v1's HEAD errors had no body, and WebOb's defaults for a type
        # (docs/v1-api.md#61-error-bodies).
        response.headers["Content-Type"] = (
            "text/html; charset=UTF-8" if error.status == 405 else "text/plain; charset=UTF-8")
        return response
    content_type, response.body = render(error, request.headers.get("Accept"))
    response.headers["Content-Type"] = content_type
    return response
