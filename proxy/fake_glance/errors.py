"""Glance's errors: raised as ``GlanceError``, rendered by WebOb as Glance renders them.

In: a status, an explanation and a detail, as Glance hands them to ``webob.exc``; to render,
the aiohttp request being answered (its method, ``Accept`` and ``Content-Type``).
Out: the aiohttp response whose status, headers and body WebOb itself made, in the format
the request's ``Accept`` asks for (plain text, HTML or JSON); docs/v2-upstream.md#41-error-bodies.
"""

from __future__ import annotations

import webob
import webob.exc
from aiohttp import web
from multidict import CIMultiDict


class GlanceError(Exception):
    """A ``webob.exc.HTTPError`` as Glance raises it: ``explanation`` replaces the class
    default, ``detail`` is appended after it (Glance passes text positionally in a few places)."""

    def __init__(self, status: int, explanation: str | None = None, detail: str = "",
                 headers: dict[str, str] | None = None):
        super().__init__(explanation or detail)
        self.status, self.detail, self.headers = status, detail, headers or {}
        self.explanation = (webob.exc.status_map[status].explanation if explanation is None
                            else explanation)

    def to_webob(self) -> webob.exc.WSGIHTTPException:
        return webob.exc.status_map[self.status](
            explanation=self.explanation, detail=self.detail,
            headers=list(self.headers.items()))


def bad_request(message: str) -> GlanceError:
    return GlanceError(400, message)


def not_authorized(rule: str) -> GlanceError:
    return GlanceError(403, f"You are not authorized to complete {rule} action.")


# The request headers WebOb's error rendering reads: Accept picks the format, Content-Type
# fills the 415 template (which keeps its placeholder when the header is absent).
_RENDERING_HEADERS = ("Accept", "Content-Type")


def render_error(request: web.Request, err: GlanceError) -> web.Response:
    """WebOb's answer to ``request`` for ``err`` (HEAD: WebOb's empty text/html)."""
    headers = {name: request.headers[name] for name in _RENDERING_HEADERS
               if name in request.headers}
    blank = webob.Request.blank("/", environ={"REQUEST_METHOD": request.method},
                                headers=headers)
    answer = blank.get_response(err.to_webob())
    # WebOb's headers as they are, Content-Length too (0 for HEAD, as Glance sends it).
    return web.Response(status=answer.status_code, body=answer.body,
                        headers=CIMultiDict(answer.headerlist))
