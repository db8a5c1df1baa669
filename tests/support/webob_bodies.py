"""v1's own error renderer as the oracle for the proxy's error bodies.

Glance v1 raised ``webob.exc.HTTPxxx(message)`` (the message is the *detail*, after the
default explanation) or ``HTTPxxx(explanation=message)`` (the message replaces it), and
WebOb rendered the answer by the request's ``Accept`` (docs/v1-api.md#61-error-bodies).
Here WebOb itself renders the same exception: the WebOb installed with the tests (1.8)
renders these bodies byte for byte as WebOb 1.7.4, v1's, did (both were compared when these
tests were written; tests/unit/test_v1_errors.py also holds 1.7.4's bytes literally).
"""

from __future__ import annotations

import webob
import webob.exc

from proxy.v1.errors import V1Error, render

# no Accept (plain text), what glanceclient and curl send (HTML), and JSON
ACCEPTS = (None, "*/*", "application/json")

# WebOb 1.7.4's answers (v1's) to HTTPForbidden(explanation="Forbidden to modify 'size' of
# active image."), for each of ACCEPTS, written out as issue 13 quotes them
SIZE_OF_ACTIVE_IMAGE = [
    ("text/plain; charset=UTF-8",
     b"403 Forbidden\n\nForbidden to modify 'size' of active image.\n\n   "),
    ("text/html; charset=UTF-8",
     b"<html>\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n"
     b"  <h1>403 Forbidden</h1>\n  Forbidden to modify &#x27;size&#x27; of active image."
     b"<br /><br />\n\n\n\n </body>\n</html>"),
    ("application/json",
     b'{"message": "Forbidden to modify \'size\' of active image.<br /><br />\\n\\n\\n", '
     b'"code": "403 Forbidden", "title": "Forbidden"}'),
]


def webob_answers(status: int, *, detail: str = "",
                  explanation: str | None = None) -> list[tuple[str, bytes]]:
    """(Content-Type, body) that v1 answered for each of ACCEPTS."""
    answers = []
    for accept in ACCEPTS:
        request = webob.Request.blank("/v1/images", headers={"Accept": accept} if accept else {})
        kwargs = {} if explanation is None else {"explanation": explanation}
        # content_type as Glance passed it: the Accept header decides all the same
        error = webob.exc.status_map[status](detail, content_type="text/plain", **kwargs)
        answer = request.get_response(error)
        answers.append((answer.headers["Content-Type"], answer.body))
    return answers


def proxy_answers(error: V1Error) -> list[tuple[str, bytes]]:
    """(Content-Type, body) the proxy answers for ``error`` to each of ACCEPTS."""
    return [render(error, accept) for accept in ACCEPTS]
