"""V1Error and its rendering, byte for byte as Glance v1 (WebOb 1.7) rendered errors.

A v1 error body depends on the request's ``Accept`` header (docs/v1-api.md#61-error-bodies):
plain text when nothing matches, HTML for ``*/*`` or ``text/html`` (what glanceclient and
curl send), JSON for ``application/json``. Two flavours exist: a message passed as
*detail* is printed after the status's default explanation; a message passed as
*explanation* replaces it. Errors that v1 relayed from glance-registry are *nested*: the
registry's own plain-text body, flattened onto one line, becomes the explanation
(docs/v1-api.md#62-nested-registry-errors).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

# WebOb's default explanations, used when an error carries only a detail.
EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed "
    "or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document "
    "you requested. Either you supplied the wrong credentials (e.g., bad password), "
    "or your browser does not understand how to supply the credentials required.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    413: "The body of your request was too large for this server.",
    414: "The request URI was too long for this server.",
    431: "The request header fields were too large",
    500: "The server has either erred or is incapable of performing the requested "
    "operation.",
    501: "The server has not implemented the request method.",
    503: "The server is currently unavailable. Please try again at a later time.",
}


@dataclass(frozen=True)
class V1Error(Exception):
    """An error answer in v1's form.

    ``detail`` follows the default explanation; ``explanation`` (when given) replaces it.
    ``headers`` are extra response headers (``Allow`` on a 405).
    """

    status: int
    detail: str = ""
    explanation: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:  # what logs show
        return f"{self.status} {self.detail or self.explanation or ''}".strip()

    @property
    def status_line(self) -> str:
        return f"{self.status} {TITLES.get(self.status, 'Error')}"

    def explanation_text(self) -> str:
        if self.explanation is not None:
            return self.explanation
        return EXPLANATIONS.get(self.status, "")


def nested(status: int, message: str, *, detail: bool = False) -> V1Error:
    """An error as v1 relayed it from glance-registry: the registry's plain-text body becomes
    the explanation (flattened onto one line only in a plain-text answer, where every
    newline becomes a space).

    ``detail=True`` when the registry itself raised the message as a detail (so its body
    carried the default explanation too).
    """
    inner = V1Error(status, detail=message) if detail else V1Error(status, explanation=message)
    return V1Error(status, explanation=plain_body(inner))


def method_not_allowed(method: str, allow: str | None) -> V1Error:
    headers = (("Allow", allow),) if allow else ()
    return V1Error(405, explanation=f"The method {method} is not allowed for this resource.",
                   headers=headers)


_BR = re.compile(r"<br.*?>", re.I | re.S)
_TAG = re.compile(r"<.*?>", re.S)


def _html_escape(text: str) -> str:
    """WebOb's ``html_escape``: quotes too, and every non-ASCII character as ``&#N;``."""
    return html.escape(text, True).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _template(error: V1Error, escape=lambda text: text) -> str:
    explanation, detail = escape(error.explanation_text()), escape(error.detail)
    if error.status == 405:  # WebOb's 405 has a template of its own
        return f"{explanation} <br /><br />\n{detail}"
    return f"{explanation}<br /><br />\n{detail}\n\n"


def plain_body(error: V1Error) -> str:
    body = _template(error)
    body = body.replace("\n", " ").replace("\r", "")
    body = _TAG.sub("", _BR.sub("\n", body))
    return f"{error.status_line}\n\n{body}"


def html_body(error: V1Error) -> str:
    body = _template(error, _html_escape)
    return (
        f"<html>\n <head>\n  <title>{error.status_line}</title>\n </head>\n <body>\n"
        f"  <h1>{error.status_line}</h1>\n  {body}\n </body>\n</html>"
    )


def json_body(error: V1Error) -> bytes:
    # WebOb's json.dumps: ", " and ": " between items, non-ASCII as \uXXXX
    return json.dumps(
        {
            "message": _template(error),
            "code": error.status_line,
            "title": TITLES.get(error.status, "Error"),
        }
    ).encode("ascii")


def render(error: V1Error, accept: str | None) -> tuple[str, bytes]:
    """(content type, body) for ``error`` as v1 answered a request with this ``Accept``."""
    match = best_match(accept or "", ("text/html", "application/json"))
    if match == "text/html":
        return "text/html; charset=UTF-8", html_body(error).encode()
    if match == "application/json":
        return "application/json", json_body(error)
    return "text/plain; charset=UTF-8", plain_body(error).encode()


def _parse_accept(header: str) -> list[tuple[str, float]]:
    ranges = []
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((media.lower(), quality))
    return ranges


def _matches(mask: str, offer: str) -> bool:
    if mask == "*/*":
        return True
    mask_type, _, mask_sub = mask.partition("/")
    offer_type, _, offer_sub = offer.partition("/")
    return mask_type == offer_type and mask_sub in ("*", offer_sub)


def best_match(header: str, offers: tuple[str, ...]) -> str | None:
    """WebOb 1.7 ``MIMEAccept.best_match``: highest q wins; on a tie the more specific range
    wins, then the earlier offer."""
    best, best_quality, matched_by = None, -1.0, "*/*"
    for offer in offers:
        for mask, quality in _parse_accept(header):
            if quality < best_quality:
                continue
            if quality == best_quality and matched_by.count("*") <= mask.count("*"):
                continue
            if _matches(mask, offer):
                best, best_quality, matched_by = offer, quality, mask
    return best
