"""Every way a call to the upstream (or to Keystone) fails, as one named error.

One hierarchy, and one table that maps aiohttp's transport failures onto it (httpx's
habit): a new kind of fault is mapped by adding a row to ``_TRANSPORT_FAILURES``. Each
error carries what the rest of the proxy needs of it: ``kind``, its label in
``image_v1_proxy_upstream_errors_total``; and, by its class, what the v1 caller gets
(the middleware in proxy.shell.app):

    UpstreamError
      UpstreamUnavailable     503: the service cannot be used now
        UpstreamTimeout         no answer in time (never retried: the caller waited)
        UpstreamUnreachable     refused, reset, dropped (a GET is tried again)
        UpstreamUntrusted       a TLS certificate that does not verify (never retried)
      UpstreamBroken          500: an answer that cannot be read
      UpstreamStatus          an error status: v1's own answer for it (proxy.v2.errors),
                              turned into a V1Error by ``status_as_v1``, which passes
                              the upstream's Retry-After on with a 503
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable

import aiohttp

from proxy.v1.errors import V1Error
from proxy.v2.errors import v1_error_from_upstream


class UpstreamError(Exception):
    """A call that did not produce a usable answer."""

    kind: str | None = None


class UpstreamUnavailable(UpstreamError):
    """No usable answer now: v1 says 503."""


class UpstreamTimeout(UpstreamUnavailable):
    kind = "timeout"


class UpstreamUnreachable(UpstreamUnavailable):
    """The connection failed before an answer: a GET is safe to try again."""

    kind = "unreachable"


class UpstreamUntrusted(UpstreamUnavailable):
    """Its TLS certificate does not verify: asking again will not make it verify."""

    kind = "tls"


class UpstreamBroken(UpstreamError):
    """Answered, but not with something we can read: v1 says 500."""

    kind = "broken"


class UpstreamStatus(UpstreamError):
    """Answered with an error status; ``body`` is kept for the message, and the answer's
    ``Retry-After`` (when it is a plain one) to pass on with a 503."""

    def __init__(self, status: int, body: bytes, retry_after: str | None = None) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.body = body
        self.retry_after = retry_after if retry_after and _RETRY_AFTER.match(retry_after) else None
        self.kind = "status_5xx" if status >= 500 else None  # a 4xx is the caller's doing


# Retry-After: delay-seconds, or an HTTP-date (RFC 9110 10.2.3); nothing else is passed on.
_RETRY_AFTER = re.compile(r"^(\d{1,10}|[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT)$")


# aiohttp's failures, most specific first: the first row whose type matches names it.
# (A read timeout is both a TimeoutError and a connection error; a TLS failure is a
# connection error too.) Messages name the kind of failure, never the address.
_TRANSPORT_FAILURES: tuple[tuple[type[BaseException], type[UpstreamError], str], ...] = (
    (asyncio.TimeoutError, UpstreamTimeout, "did not answer in time"),
    (aiohttp.ClientSSLError, UpstreamUntrusted, "presented TLS that could not be trusted"),
    (aiohttp.ClientConnectionError, UpstreamUnreachable, "could not be reached"),
    (aiohttp.ClientError, UpstreamBroken, "sent an answer that could not be read"),
)


class transport_failures_named:
    """Inside it, aiohttp's failures become UpstreamErrors, by ``_TRANSPORT_FAILURES``.
    (A plain class, not a generator: it wraps every call.)"""

    __slots__ = ("_who",)

    def __init__(self, who: str = "the upstream") -> None:
        self._who = who

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, UpstreamError):
            return False
        for failure, named, says in _TRANSPORT_FAILURES:
            if isinstance(error, failure):
                raise named(f"{self._who} {says} ({type(error).__name__})") from None
        return False


Rule = Callable[[int, bytes], "V1Error | None"]


class status_as_v1:
    """Inside it, an UpstreamStatus becomes the V1Error that ``rule`` (one of the pure
    rules of proxy.v2.errors) gives for its status and body; a rule that gives None says
    the status is no error, and the block's failure is passed over."""

    __slots__ = ("_rule",)

    def __init__(self, rule: Rule = v1_error_from_upstream) -> None:
        self._rule = rule

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if not isinstance(error, UpstreamStatus):
            return False
        answer = self._rule(error.status, error.body)
        if answer is None:
            return True
        if answer.status == 503 and error.retry_after is not None:
            answer = dataclasses.replace(answer, headers=(
                *answer.headers, ("Retry-After", error.retry_after)))
        raise answer from None
