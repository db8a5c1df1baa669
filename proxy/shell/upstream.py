"""Upstream: the only code that calls the v2 image service.

``Upstream`` owns the app's one ``aiohttp.ClientSession``, the timeouts, the retries, the
size limit and the bound on list bodies held at once (proxy.shell.read_budget);
``Upstream.for_caller`` gives each request an ``UpstreamHandle`` bound to its token and
request id, whose methods are the v2 calls. Every failure is one of the
named errors of proxy.shell.upstream_errors. Answers come back as bytes (listings, for
proxy.shell.listing_memo to read) or parsed JSON (single images, members).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import aiohttp
import orjson
from yarl import URL

from proxy import __version__
from proxy.config import UpstreamSettings
from proxy.shell.read_budget import ReadBudget
from proxy.shell.upstream_errors import (UpstreamBroken, UpstreamError, UpstreamStatus,
                                         UpstreamUnreachable, transport_failures_named)
from proxy.v2.answers import member_made_at
from proxy.v2.versions import newest_v2_version
from proxy.v2.writes import PATCH_CONTENT_TYPE

log = logging.getLogger(__name__)

USER_AGENT = f"image-v1-proxy/{__version__}"
OnCall = Callable[[str, float, "str | None"], None]
MEMBER_LOOKUPS_AT_ONCE = 8
DATA_CHUNK = 64 * 1024


class Answer(NamedTuple):
    """An upstream answer, read: its status, body and Retry-After (for a 503)."""

    status: int
    body: bytes
    retry_after: str | None
    held: int = 0  # bytes of a read budget the body holds (only a 200's can)

    def raise_for_status(self) -> None:
        """UpstreamStatus unless the answer is a success (2xx)."""
        if not 200 <= self.status < 300:
            raise UpstreamStatus(self.status, self.body, self.retry_after)


class _VersionAnswer(NamedTuple):
    url: URL
    status: int
    media_type: str
    body: bytes
    versions: list[str] | None  # the versions listed, when it is a version document

    def __str__(self) -> str:
        what = f"{self.status} {self.media_type or '(no content type)'}"
        if self.versions is not None:
            return f"GET {self.url}: {what} listing {', '.join(self.versions) or 'no version'}"
        return f"GET {self.url}: {what} {_excerpt(self.body)}"


class NoVersionDocument(Exception):
    """The upstream answered, but neither its ``/versions`` nor its root gave a version
    document listing a v2 image API: ``upstream.url`` is likely not the image service's
    root (a /v2 path, another service, a web server's error page)."""

    def __init__(self, base: URL, answers: list[_VersionAnswer]) -> None:
        self.answers = answers
        lists_versions = any(a.versions is not None for a in answers)
        self.answered = None if lists_versions else f"{answers[0].status} " + (
            answers[0].media_type or "(no content type)")
        what = ("lists no v2 image API" if lists_versions
                else "answers no Glance version document")
        super().__init__(f"upstream {base} {what} (is upstream.url the image service's root "
                         f"URL?): " + "; ".join(map(str, answers)))


def listed_versions(document: object) -> list[str] | None:
    """The ids a version document lists (Glance's or keystoneauth's spelling); None when
    ``document`` is not one."""
    entries = document.get("versions") if isinstance(document, dict) else None
    if isinstance(entries, dict):
        entries = entries.get("values")
    if not isinstance(entries, list):
        return None
    return [str(e.get("id"))[:20] for e in entries if isinstance(e, dict)][:10]


def _excerpt(body: bytes, limit: int = 80) -> str:
    """The start of an answer's body, on one line, quoted; never more than ``limit``
    characters of it."""
    if not body:
        return "(empty body)"
    text = " ".join(body[:4 * limit].decode("utf-8", "replace").split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


class Upstream:
    """The configured v2 upstream, the only image service the proxy ever contacts."""

    def __init__(self, settings: UpstreamSettings, on_call: OnCall | None = None,
                 list_budget: ReadBudget | None = None) -> None:
        self.settings = settings
        self.list_budget = list_budget or ReadBudget(0)
        # told of every call: its name, seconds taken, and the kind of failure if any
        self._on_call = on_call
        self.base = URL(settings.url)
        self.images_url = self.base / "v2" / "images"
        self._session: aiohttp.ClientSession | None = None
        # Member look-ups come in bursts of up to a page of images: keep the shared
        # connection pool for everyone else.
        self.member_lookups = asyncio.Semaphore(MEMBER_LOOKUPS_AT_ONCE)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.max_connections,
                                           ssl=tls_context(self.settings)),
            timeout=aiohttp.ClientTimeout(
                total=self.settings.timeout, connect=self.settings.connect_timeout
            ),
            # The caller's token must never be stored and replayed for another caller.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Upstream.start() was not awaited"
        return self._session

    def for_caller(self, token: str | None, request_id: str | None) -> UpstreamHandle:
        """The v2 calls of one request, made with its token and request id."""
        return UpstreamHandle(self, _headers(token, request_id))

    async def version_document(self) -> tuple[int, int] | None:
        """The newest v2 minor version the upstream's version document lists (no token
        needed: Glance answers it before authentication); None when the upstream cannot be
        reached. NoVersionDocument when it answers, but with no document listing a v2."""
        handle = self.for_caller(None, None)
        answers = []
        for url in (self.base / "versions", self.base.with_path(self.base.path.rstrip("/") + "/")):
            try:
                with self.observed("versions"):
                    status, media_type, body = await handle.get_with_type(url)
            except UpstreamError as exc:
                log.warning("upstream version discovery failed: %s", exc)
                return None
            document = None
            if status in (200, 300):
                try:
                    document = orjson.loads(body)
                except orjson.JSONDecodeError:
                    pass
                found = newest_v2_version(document)
                if found is not None:
                    return found
            answers.append(_VersionAnswer(url, status, media_type, body,
                                          listed_versions(document)))
        raise NoVersionDocument(self.base, answers)

    def observed(self, call: str) -> _Observed:
        return _Observed(self._on_call, call)

    async def with_retries(self, attempt):
        """``attempt()`` (a GET: idempotent), tried again after a connection failure, at most
        ``upstream.retries`` more times, with full-jitter exponential backoff. Timeouts are
        not retried: the caller has already waited. (Within one try aiohttp itself resends
        a GET once, at once, when a reused connection turns out to be dropped.)"""
        for tried in range(self.settings.retries + 1):
            try:
                return await attempt()
            except UpstreamUnreachable:
                if tried == self.settings.retries:
                    raise
                await asyncio.sleep(random.uniform(0, self.settings.retry_backoff * 2 ** tried))


class UpstreamHandle:
    """The v2 calls of one request: every one carries its caller's token and request id,
    and nothing else of the caller's request."""

    __slots__ = ("_upstream", "_headers")

    def __init__(self, upstream: Upstream, headers: dict[str, str]) -> None:
        self._upstream = upstream
        self._headers = headers

    def list_images(self, params) -> _ListBody:
        """``async with``: a ``GET /v2/images`` answer's body, as it came, counted in the
        read budget until the block ends (read it there, keep none of it)."""
        return _ListBody(self, params)

    async def get_image(self, image_id: str) -> object:
        with self._upstream.observed("get_image"):
            return await self._get_json(self._image_url(image_id))

    async def open_image_data(self, image_id: str) -> aiohttp.ClientResponse:
        """The upstream's answer to ``GET /v2/images/{id}/file``, headers read, body not:
        the caller streams it with ``image_chunks`` and must ``close()`` it."""
        upstream = self._upstream
        # identity: the bytes must arrive as stored, so that lengths and checksums hold.
        headers = {**self._headers, "Accept-Encoding": "identity"}

        async def attempt() -> aiohttp.ClientResponse:
            with transport_failures_named():
                return await upstream.session.get(self._image_url(image_id) / "file",
                                                  headers=headers, allow_redirects=False,
                                                  timeout=_silence_timeout(upstream.settings))

        with upstream.observed("image_data"):
            response = await upstream.with_retries(attempt)
        if response.status != 200:
            try:
                with transport_failures_named():
                    body = await read_bounded(response, upstream.settings.max_body_bytes)
            finally:
                response.close()
            raise UpstreamStatus(response.status, body, response.headers.get("Retry-After"))
        return response

    async def create_image(self, body: dict) -> object:
        """``POST /v2/images``: the created image."""
        with self._upstream.observed("create_image"):
            return await self._send("POST", self._upstream.images_url, 201, json=body)

    async def update_image(self, image_id: str, patch: list) -> object:
        """``PATCH /v2/images/{id}`` with a JSON patch: the updated image."""
        with self._upstream.observed("update_image"):
            return await self._send("PATCH", self._image_url(image_id), 200,
                                    data=orjson.dumps(patch), content_type=PATCH_CONTENT_TYPE)

    async def delete_image(self, image_id: str) -> None:
        with self._upstream.observed("delete_image"):
            await self._send("DELETE", self._image_url(image_id), 204)

    async def upload_image_data(self, image_id: str, chunks, size: int | None) -> None:
        """``PUT /v2/images/{id}/file`` with ``chunks`` (an async iterator of bytes), streamed:
        never more than a chunk in memory; sized when ``size`` is known (servers that take
        no chunked uploads exist), chunked otherwise. Only silence is a timeout."""
        with self._upstream.observed("upload_data"):
            await self._send("PUT", self._image_url(image_id) / "file", 204, data=chunks,
                             content_type="application/octet-stream",
                             timeout=_silence_timeout(self._upstream.settings), length=size)

    async def import_methods(self) -> list[str]:
        """The upstream's import methods (``GET /v2/info/import``); none where it has no
        import API (404: before Queens, or Huawei IMS)."""
        with self._upstream.observed("import_info"):
            answer = await self.get(self._upstream.base / "v2" / "info" / "import")
        if answer.status == 404:
            return []
        answer.raise_for_status()
        try:
            methods = orjson.loads(answer.body)["import-methods"]["value"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamBroken("the upstream's import methods cannot be read") from None
        return [m for m in methods if isinstance(m, str)] if isinstance(methods, list) else []

    async def web_download(self, image_id: str, uri: str) -> None:
        """``POST /v2/images/{id}/import`` with web-download: v2 fetches ``uri`` itself,
        asynchronously (202)."""
        with self._upstream.observed("import"):
            await self._send("POST", self._image_url(image_id) / "import", 202,
                             json={"method": {"name": "web-download", "uri": uri}})

    async def members(self, image_id: str) -> object:
        with self._upstream.observed("members"):
            return await self._get_json(self._image_url(image_id) / "members")

    async def add_member(self, image_id: str, member: str) -> object:
        with self._upstream.observed("add_member"):
            return await self._send("POST", self._image_url(image_id) / "members", 200,
                                    json={"member": member})

    async def remove_member(self, image_id: str, member: str) -> None:
        with self._upstream.observed("remove_member"):
            await self._send("DELETE", self._image_url(image_id) / "members" / member, 204)

    async def shared_with(self, image_ids, project: str) -> dict[str, str]:
        """Which of ``image_ids`` have ``project`` as a member, in any member status, each
        with when that membership was made (v2's ``created_at``; "" if it says none)."""
        upstream = self._upstream

        async def membership(image_id: str) -> str | None:
            url = self._image_url(image_id) / "members" / project
            async with upstream.member_lookups:
                with upstream.observed("member"):
                    answer = await self.get(url)
            if answer.status == 404:
                return None
            answer.raise_for_status()
            return member_made_at(_json(answer.body))

        # a TaskGroup: when one look-up fails, the others are cancelled, not left running
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(membership(image_id)) for image_id in image_ids]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the first failure, as one error
        return {i: task.result() for i, task in zip(image_ids, tasks)
                if task.result() is not None}

    async def get(self, url: URL, params=(), budget: ReadBudget | None = None,
                  images: int = 0) -> Answer:
        """A GET's answer (its body bounded), tried again after connection failures. With
        a ``budget``, asked once a body of ``images`` images fits there; a
        success's body then counts at its own size: the answer's ``held`` bytes are to be
        given back."""
        upstream = self._upstream

        async def attempt() -> Answer:
            held = 0 if budget is None else await budget.take_expected(images)
            try:
                with transport_failures_named():
                    async with upstream.session.get(_with_query(url, params) if params else url,
                                                    headers=self._headers,
                                                    allow_redirects=False) as response:
                        if budget is not None:  # (no await: nothing can come between)
                            held = budget.count(
                                held, response.content_length if response.status == 200 else 0)
                        body = await read_bounded(response, upstream.settings.max_body_bytes)
                        if held:
                            budget.read(images, len(body))
                        return Answer(response.status, body,
                                      response.headers.get("Retry-After"), held)
            except BaseException:
                if held:
                    budget.give(held)
                raise

        return await upstream.with_retries(attempt)

    async def get_with_type(self, url: URL) -> tuple[int, str, bytes]:
        """A GET's status, media type (``""`` if none) and body (bounded), tried again
        after connection failures."""
        upstream = self._upstream

        async def attempt() -> tuple[int, str, bytes]:
            with transport_failures_named():
                async with upstream.session.get(url, headers=self._headers,
                                                allow_redirects=False) as response:
                    media_type = response.headers.get("Content-Type", "").partition(";")[0]
                    media_type = "".join(c for c in media_type.strip().lower()[:60]
                                         if c.isprintable() and c != " ")
                    return (response.status, media_type,
                            await read_bounded(response, upstream.settings.max_body_bytes))

        return await upstream.with_retries(attempt)

    async def _get_json(self, url: URL) -> object:
        answer = await self.get(url)
        answer.raise_for_status()
        return _json(answer.body)

    async def _send(self, method: str, url: URL, expected: int, *, json=None, data=None,
                    content_type: str | None = None,
                    timeout: aiohttp.ClientTimeout | None = None, length: int | None = None):
        """One call that changes something: never retried (it may have happened). The
        parsed body of the ``expected`` status (None when empty); UpstreamStatus otherwise."""
        headers = dict(self._headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if length is not None:
            headers["Content-Length"] = str(length)
        # the session's own timeout unless this call has one
        options = {"timeout": timeout} if timeout is not None else {}
        upstream = self._upstream
        with transport_failures_named():
            async with upstream.session.request(method, url, headers=headers, json=json,
                                                data=data, allow_redirects=False,
                                                **options) as response:
                answer = Answer(response.status,
                                await read_bounded(response, upstream.settings.max_body_bytes),
                                response.headers.get("Retry-After"))
        if answer.status != expected:
            raise UpstreamStatus(answer.status, answer.body, answer.retry_after)
        return _json(answer.body) if answer.body else None

    def _image_url(self, image_id: str) -> URL:
        return self._upstream.images_url / image_id


async def image_chunks(response: aiohttp.ClientResponse):
    """The body of an ``open_image_data`` answer, chunk by chunk, failures named."""
    with transport_failures_named():
        async for chunk in response.content.iter_chunked(DATA_CHUNK):
            yield chunk


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """A whole answer's body, or UpstreamBroken once it is past ``limit`` bytes."""
    if response.content_length is not None:
        if response.content_length > limit:
            raise UpstreamBroken(f"an answer was larger than {limit} bytes")
        # A length within the limit: read in one go (a body that turns out longer is a
        # protocol error aiohttp reports itself).
        return await response.read()
    chunks, size = [], 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise UpstreamBroken(f"an answer was larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamBroken("the upstream answered with a body that is not JSON") from None


def _headers(token: str | None, request_id: str | None) -> dict[str, str]:
    """All that reaches the upstream of a caller's request: its token and request id."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if token is not None:
        headers["X-Auth-Token"] = token
    if request_id is not None:
        headers["X-Openstack-Request-Id"] = request_id
    return headers


def _silence_timeout(settings: UpstreamSettings) -> aiohttp.ClientTimeout:
    """Data may take far longer than one API call: only silence is a timeout."""
    return aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout,
                                 sock_read=settings.timeout)


class _ListBody:
    """``UpstreamHandle.list_images``'s block (a plain class: it runs on every listing)."""

    __slots__ = ("_handle", "_params", "_held")

    def __init__(self, handle: UpstreamHandle, params) -> None:
        self._handle, self._params = handle, params

    async def __aenter__(self) -> bytes:
        upstream = self._handle._upstream
        with upstream.observed("list_images"):
            answer = await self._handle.get(upstream.images_url, self._params,
                                            upstream.list_budget, _page_size(self._params))
            self._held = answer.held
            answer.raise_for_status()  # (with nothing held: only a 200's body is counted)
        return answer.body

    async def __aexit__(self, *exc_info) -> bool:
        self._handle._upstream.list_budget.give(self._held)
        return False


@lru_cache(maxsize=1024)
def _with_query(url: URL, params: tuple) -> URL:
    """``url`` with ``params``, remembered: tools poll with the same query again and again,
    and aiohttp works out a URL's parts once per URL object (a new one cost a listing
    10-15 us of CPU, twice what building it did)."""
    return url.with_query(params)


def _page_size(params) -> int:
    """A list call's ``limit`` (the plan always sets one, at most 1000)."""
    for name, value in params:
        if name == "limit":
            return int(value)
    return 1


class _Observed:
    """Times one upstream call and names its failure for the ``on_call`` hook (a plain class:
    it runs on every call, and a generator-based context manager costs more)."""

    __slots__ = ("_on_call", "_call", "_started")

    def __init__(self, on_call: OnCall | None, call: str) -> None:
        self._on_call, self._call = on_call, call

    def __enter__(self) -> None:
        self._started = time.monotonic()

    def __exit__(self, kind, error, traceback) -> bool:
        if self._on_call is not None:
            failure = error.kind if isinstance(error, UpstreamError) else None
            self._on_call(self._call, time.monotonic() - self._started, failure)
        return False


def tls_context(settings: UpstreamSettings) -> ssl.SSLContext:
    """Verification on by default; a CA bundle and a client certificate when configured."""
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key or None)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
