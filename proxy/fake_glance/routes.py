"""The fake's HTTP face: ``FakeGlance``, its aiohttp application and the dispatch of requests.

In: any HTTP request. Out: Glance's answer: version documents for paths naming no served
version (300, or 200 under ``/versions``), 401 before any request id when the caller is not
confirmed, then the handler the route table names (405 with ``Allow``, 404, or 400 for a body
where none is expected otherwise), errors rendered by WebOb, an ``X-Openstack-Request-Id``
(docs/v2-upstream.md#6-version-discovery, docs/v2-upstream.md#43-request-ids).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import datetime
from typing import Awaitable, Callable, Coroutine

from aiohttp import web

from proxy.fake_glance import data_handlers, image_handlers, member_handlers
from proxy.fake_glance.bodies import has_body, json_response
from proxy.fake_glance.errors import GlanceError, bad_request, render_error
from proxy.fake_glance.policy import Context, identify
from proxy.fake_glance.store import ImageStore
from proxy.fake_glance.views import versions_document

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[web.StreamResponse]]
_ID = r"(?P<image_id>[^/]+)"
# (path, {method: handler}, Allow header, methods whose body must be empty)
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler], str, set[str]]] = [
    (re.compile(r"/v2/images"),
     {"GET": image_handlers.list_images, "POST": image_handlers.create_image},
     "GET, POST", set()),
    (re.compile(rf"/v2/images/{_ID}"),
     {"GET": image_handlers.show_image, "PATCH": image_handlers.update_image,
      "DELETE": image_handlers.delete_image},
     "GET, PATCH, DELETE", {"GET", "DELETE"}),
    (re.compile(rf"/v2/images/{_ID}/file"),
     {"GET": data_handlers.download, "PUT": data_handlers.upload}, "GET, PUT", {"GET"}),
    (re.compile(rf"/v2/images/{_ID}/actions/(?P<action>deactivate|reactivate)"),
     {"POST": image_handlers.image_action}, "POST", {"POST"}),
    (re.compile(r"/v2/info/import"), {"GET": data_handlers.import_info}, "GET", {"GET"}),
    (re.compile(rf"/v2/images/{_ID}/import"), {"POST": data_handlers.import_image},
     "POST", set()),
    (re.compile(rf"/v2/images/{_ID}/members"),
     {"GET": member_handlers.list_members, "POST": member_handlers.add_member},
     "GET, POST", {"GET"}),
    (re.compile(rf"/v2/images/{_ID}/members/(?P<member_id>[^/]+)"),
     {"GET": member_handlers.show_member, "PUT": member_handlers.update_member,
      "DELETE": member_handlers.delete_member},
     "GET, PUT, DELETE", {"GET", "DELETE"}),
]


def _request_id(request: web.Request) -> str:
    """The caller's id (``req-`` prefixed) or a new one."""
    request_id = request.headers.get("X-Openstack-Request-Id") or f"req-{uuid.uuid4()}"
    return request_id if request_id.startswith("req-") else f"req-{request_id}"


class FakeGlance:
    """In-memory Glance v2.  One store; ``app()`` may be called for several servers.

    ``api_version`` is the newest minor version served (below 2.7 it answers as Pike);
    ``api_limit_max`` and ``limit_param_default`` are Glance's options of the same names:
    the cap and the default of page sizes.  All three may be changed while serving."""

    def __init__(self, *, api_version: str = "2.17",
                 now: Callable[[], datetime] | None = None,
                 api_limit_max: int = 1000, limit_param_default: int = 25):
        self.api_version = api_version
        self.api_limit_max, self.limit_param_default = api_limit_max, limit_param_default
        self.store = ImageStore(now)
        self._background: set[asyncio.Task] = set()  # web-downloads under way

    def app(self) -> web.Application:
        app = web.Application(client_max_size=0)  # no body size limit, like Glance
        app.router.add_route("*", "/{path:.*}", self._dispatch)
        return app

    def add_image(self, *, owner: str, data: bytes | None = None,
                  members: dict[str, str] | None = None, **fields) -> dict:
        """Load an image directly (demo/bench): ``members`` maps projects to member
        statuses; ``data`` makes it active; unknown fields become custom properties."""
        return self.store.load(owner=owner, data=data, members=members, **fields)

    @property
    def version(self) -> tuple[int, int]:
        major, _, minor = self.api_version.partition(".")
        return int(major), int(minor or 0)

    def run_in_background(self, work: Coroutine) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _versions(self, request: web.Request, status: int) -> web.Response:
        body = versions_document(str(request.url.origin()), self.version)
        return json_response(body, status=status)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        segments = request.path.lstrip("/").split("/", 1)
        # Version negotiation runs before the context middleware: no request id here.
        if segments[0] == "versions":
            return self._versions(request, 200)
        allowed = {"v2"} | {f"v2.{n}" for n in range(self.version[1] + 1)}
        if segments[0] not in allowed:
            return self._versions(request, 300)
        try:
            ctx = identify(request.headers)
        except GlanceError as err:  # raised before Glance attaches a request id
            return render_error(request, err)
        request_id = _request_id(request)
        try:
            if len(segments) == 1:  # Routes redirects the bare version prefix
                response = web.Response(status=302,
                                        headers={"Location": f"{request.url.origin()}/v2/"})
            else:
                response = await self._route(request, ctx, "/v2/" + segments[1])
        except GlanceError as err:
            response = render_error(request, err)
        except Exception:
            log.exception("fake glance: unexpected error on %s %s", request.method,
                          request.path)
            response = render_error(request, GlanceError(500))
        response.headers["X-Openstack-Request-Id"] = request_id
        return response

    async def _route(self, request: web.Request, ctx: Context, path: str) -> web.StreamResponse:
        for pattern, handlers, allow, no_body in ROUTES:
            match = pattern.fullmatch(path)
            if not match:
                continue
            handler = handlers.get(request.method)
            if handler is None:
                raise GlanceError(405, headers={"Allow": allow})
            if request.method in no_body and has_body(request):
                raise bad_request("A body is not expected with this request.")
            return await handler(self, request, ctx, **match.groupdict())
        raise GlanceError(404)
