"""Upstream: the only code that talks to the v2 image service.

It owns the one ``aiohttp.ClientSession`` of the app, the timeouts and the size limit, and
maps every way a call can fail onto one small exception family (the httpx habit), which
the shell renders as v1 statuses: unreachable or too slow -> 503, a broken answer -> 500,
an error status -> whatever v1 would have said (proxy.v2.errors).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable

import aiohttp
import orjson
from yarl import URL

from proxy import __version__
from proxy.config import UpstreamSettings
from proxy.v2.answers import UpstreamShapeError
from proxy.v2.writes import PATCH_CONTENT_TYPE
from proxy.v2.versions import Capabilities, capabilities_from_document

log = logging.getLogger(__name__)

USER_AGENT = f"image-v1-proxy/{__version__}"
OnCall = Callable[[str, float, "str | None"], None]
MEMBER_LOOKUPS_AT_ONCE = 8
DATA_CHUNK = 64 * 1024


class UpstreamError(Exception):
    """A v2 call that did not produce a usable answer."""


class UpstreamUnavailable(UpstreamError):
    """Refused, reset, unresolvable or timed out: v1 says 503."""


class UpstreamUnreachable(UpstreamUnavailable):
    """No answer because the connection failed (refused, reset, dropped): a GET is safe
    to try again."""


class UpstreamBroken(UpstreamError):
    """Answered, but not with something we can read: v1 says 500."""


class UpstreamStatus(UpstreamError):
    """Answered with an error status; ``body`` is kept for the message."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.body = body


class Upstream:
    """Calls the configured v2 upstream, the only image service the proxy ever contacts."""

    def __init__(self, settings: UpstreamSettings, on_call: OnCall | None = None) -> None:
        self.settings = settings
        # told of every call: its name, seconds taken, and the kind of failure if any
        self._on_call = on_call
        self.base = URL(settings.url)
        self._images = self.base / "v2" / "images"
        self._session: aiohttp.ClientSession | None = None
        # Member look-ups come in bursts of up to a page of images: keep the shared
        # connection pool for everyone else.
        self._member_lookups = asyncio.Semaphore(MEMBER_LOOKUPS_AT_ONCE)

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

    async def list_images(self, params, *, token: str | None, request_id: str,
                          read: Callable[[bytes], dict]) -> dict:
        """A ``GET /v2/images`` body as ``read`` makes it of the bytes (proxy.imagememo)."""
        with self._observed("list_images"):
            status, body = await self._get(self._images, params, token, request_id)
            if status >= 300:
                raise UpstreamStatus(status, body)
            return read(body)

    async def get_image(self, image_id: str, *, token: str | None, request_id: str) -> object:
        with self._observed("get_image"):
            return await self._get_json(self._image_url(image_id), (), token, request_id)

    async def open_image_data(self, image_id: str, *, token: str | None,
                              request_id: str) -> aiohttp.ClientResponse:
        """The upstream's answer to ``GET /v2/images/{id}/file``, headers read, body not:
        the caller streams it with ``image_chunks`` and must ``close()`` it."""
        # A download may last far longer than one API call: only silence is a timeout.
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout,
                                        sock_read=self.settings.timeout)
        # identity: the bytes must arrive as stored, so that lengths and checksums hold.
        headers = {**self._headers(token, request_id), "Accept-Encoding": "identity"}

        async def attempt() -> aiohttp.ClientResponse:
            with _failures_named():
                return await self.session.get(self._image_url(image_id) / "file",
                                              headers=headers, allow_redirects=False,
                                              timeout=timeout)

        with self._observed("image_data"):
            response = await self._with_retries(attempt)
        if response.status != 200:
            try:
                with _failures_named():
                    body = await self._read_limited(response)
            finally:
                response.close()
            raise UpstreamStatus(response.status, body)
        return response

    async def create_image(self, body: dict, *, token: str | None, request_id: str) -> dict:
        """``POST /v2/images``: the created image (UpstreamStatus for an error answer)."""
        with self._observed("create_image"):
            return await self._send_json("POST", self._images, token, request_id, 201,
                                         json=body)

    async def update_image(self, image_id: str, patch: list, *, token: str | None,
                           request_id: str) -> dict:
        """``PATCH /v2/images/{id}`` with a JSON patch: the updated image."""
        with self._observed("update_image"):
            return await self._send_json(
                "PATCH", self._image_url(image_id), token, request_id, 200,
                data=orjson.dumps(patch), content_type=PATCH_CONTENT_TYPE)

    async def delete_image(self, image_id: str, *, token: str | None, request_id: str) -> None:
        with self._observed("delete_image"):
            await self._send_json("DELETE", self._image_url(image_id), token, request_id, 204)

    async def upload_image_data(self, image_id: str, chunks, size: int | None, *,
                                token: str | None, request_id: str) -> None:
        """``PUT /v2/images/{id}/file`` with ``chunks`` (an async iterator of bytes), streamed:
        never more than a chunk in memory; sized when ``size`` is known (servers that take
        no chunked uploads exist), chunked otherwise. Only silence is a timeout."""
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout,
                                        sock_read=self.settings.timeout)
        with self._observed("upload_data"):
            await self._send_json("PUT", self._image_url(image_id) / "file", token, request_id,
                                  204, data=chunks, content_type="application/octet-stream",
                                  timeout=timeout, length=size)

    async def import_methods(self, *, token: str | None, request_id: str) -> list[str]:
        """The upstream's import methods (``GET /v2/info/import``); none where it has no
        import API (404: before Queens, or Huawei IMS)."""
        with self._observed("import_info"):
            status, body = await self._get(self.base / "v2" / "info" / "import", (), token,
                                           request_id)
        if status == 404:
            return []
        if status != 200:
            raise UpstreamStatus(status, body)
        try:
            methods = orjson.loads(body)["import-methods"]["value"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamBroken("the upstream's import methods cannot be read") from None
        return [m for m in methods if isinstance(m, str)] if isinstance(methods, list) else []

    async def web_download(self, image_id: str, uri: str, *, token: str | None,
                           request_id: str) -> None:
        """``POST /v2/images/{id}/import`` with web-download: v2 fetches ``uri`` itself,
        asynchronously (202)."""
        with self._observed("import"):
            await self._send_json("POST", self._image_url(image_id) / "import", token,
                                  request_id, 202,
                                  json={"method": {"name": "web-download", "uri": uri}})

    async def members(self, image_id: str, *, token: str | None, request_id: str) -> object:
        with self._observed("members"):
            return await self._get_json(self._image_url(image_id) / "members", (), token,
                                        request_id)

    async def add_member(self, image_id: str, member: str, *, token: str | None,
                         request_id: str) -> dict:
        with self._observed("add_member"):
            return await self._send_json("POST", self._image_url(image_id) / "members", token,
                                         request_id, 200, json={"member": member})

    async def remove_member(self, image_id: str, member: str, *, token: str | None,
                            request_id: str) -> None:
        with self._observed("remove_member"):
            await self._send_json("DELETE", self._image_url(image_id) / "members" / member,
                                  token, request_id, 204)

    async def _send_json(self, method: str, url: URL, token, request_id, expected: int, *,
                         json=None, data=None, content_type: str | None = None,
                         timeout: aiohttp.ClientTimeout | None = None,
                         length: int | None = None):
        """One call that changes something: never retried (it may have happened). The
        parsed body of the ``expected`` status (None when empty); UpstreamStatus otherwise."""
        headers = self._headers(token, request_id)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if length is not None:
            headers["Content-Length"] = str(length)
        # the session's own timeout unless this call has one
        options = {"timeout": timeout} if timeout is not None else {}
        with _failures_named():
            async with self.session.request(method, url, headers=headers, json=json, data=data,
                                            allow_redirects=False, **options) as answer:
                status, body = answer.status, await self._read_limited(answer)
        if status != expected:
            raise UpstreamStatus(status, body)
        if not body:
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamBroken("the upstream answered with a body that is not JSON") from None

    @staticmethod
    async def image_chunks(response: aiohttp.ClientResponse):
        """The body of an ``open_image_data`` answer, chunk by chunk, failures named."""
        try:
            async for chunk in response.content.iter_chunked(DATA_CHUNK):
                yield chunk
        except asyncio.TimeoutError:
            raise UpstreamUnavailable("the upstream stalled while sending image data") from None
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(f"the image data broke off ({type(exc).__name__})") from None

    def _image_url(self, image_id: str) -> URL:
        return self.base / "v2" / "images" / image_id

    async def shared_with(self, image_ids, project: str, *, token: str | None,
                          request_id: str) -> frozenset[str]:
        """Which of ``image_ids`` have ``project`` as a member, in any member status."""

        async def is_member(image_id: str) -> bool:
            url = self._image_url(image_id) / "members" / project
            async with self._member_lookups:
                with self._observed("member"):
                    status, body = await self._get(url, (), token, request_id)
            if status not in (200, 404):
                raise UpstreamStatus(status, body)
            return status == 200

        # a TaskGroup: when one look-up fails, the others are cancelled, not left running
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(is_member(image_id)) for image_id in image_ids]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the first failure, as one error
        return frozenset(i for i, task in zip(image_ids, tasks) if task.result())

    async def discover(self) -> Capabilities | None:
        """The upstream's capabilities from its version document (no token needed: Glance
        answers it before authentication); None when it cannot be read."""
        for url in (self.base / "versions", self.base.with_path(self.base.path.rstrip("/") + "/")):
            try:
                with self._observed("versions"):
                    status, body = await self._get(url, (), None, None)
            except UpstreamError as exc:
                log.warning("upstream version discovery failed: %s", exc)
                return None
            if status in (200, 300):
                try:
                    found = capabilities_from_document(orjson.loads(body))
                except orjson.JSONDecodeError:
                    found = None
                if found is not None:
                    return found
        return None

    async def _get_json(self, url: URL, params, token, request_id) -> object:
        status, body = await self._get(url, params, token, request_id)
        if status >= 300:
            raise UpstreamStatus(status, body)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamBroken("the upstream answered with a body that is not JSON") from None

    def _observed(self, call: str) -> "_Observed":
        return _Observed(self._on_call, call)

    @staticmethod
    def _headers(token: str | None, request_id: str | None) -> dict[str, str]:
        """All that reaches the upstream of a caller's request: its token and request id."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if token is not None:
            headers["X-Auth-Token"] = token
        if request_id is not None:
            headers["X-Openstack-Request-Id"] = request_id
        return headers

    async def _get(self, url: URL, params, token, request_id) -> tuple[int, bytes]:
        async def attempt() -> tuple[int, bytes]:
            with _failures_named():
                async with self.session.get(
                    url.with_query(params), headers=self._headers(token, request_id),
                    allow_redirects=False,
                ) as response:
                    return response.status, await self._read_limited(response)

        return await self._with_retries(attempt)

    async def _with_retries(self, attempt):
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

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.settings.max_body_bytes
        if response.content_length is not None:
            if response.content_length > limit:
                raise UpstreamBroken("the upstream answer is larger than upstream.max_body_bytes")
            # A length within the limit: read in one go (a body that turns out longer is a
            # protocol error aiohttp reports itself).
            return await response.read()
        chunks, size = [], 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise UpstreamBroken("the upstream answer is larger than upstream.max_body_bytes")
            chunks.append(chunk)
        return b"".join(chunks)


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
            self._on_call(self._call, time.monotonic() - self._started, _failure_kind(error))
        return False


def _failure_kind(error: BaseException | None) -> str | None:
    if isinstance(error, UpstreamUnreachable):
        return "unreachable"
    if isinstance(error, UpstreamUnavailable):
        return "timeout"
    if isinstance(error, (UpstreamBroken, UpstreamShapeError)):
        return "broken"
    if isinstance(error, UpstreamStatus) and error.status >= 500:
        return "status_5xx"
    return None  # success, or a 4xx: the caller's doing


def tls_context(settings: UpstreamSettings) -> ssl.SSLContext:
    """Verification on by default; a CA bundle and a client certificate when configured."""
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key or None)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _failures_named:
    """Every way an upstream call fails, as one of our named errors: the kind of failure,
    never the address. (A plain class, as _Observed: it wraps every call.)"""

    __slots__ = ()

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind, exc, traceback) -> bool:
        if exc is None or not isinstance(exc, (asyncio.TimeoutError, aiohttp.ClientError)):
            return False
        if isinstance(exc, asyncio.TimeoutError):
            raise UpstreamUnavailable("the upstream did not answer in time") from None
        if isinstance(exc, aiohttp.ClientSSLError):  # a certificate that does not verify:
            raise UpstreamUnavailable(                 # asking again will not make it verify
                f"the upstream's TLS could not be trusted ({type(exc).__name__})") from None
        if isinstance(exc, aiohttp.ClientConnectionError):  # refused, reset, disconnected
            raise UpstreamUnreachable(
                f"the upstream could not be reached ({type(exc).__name__})") from None
        raise UpstreamBroken(f"the upstream answer was unreadable ({type(exc).__name__})") from None
