"""Every way the upstream can fail, over real sockets: each gives the documented v1 error
within the configured timeout plus a small margin, and says nothing of the upstream's
insides (docs/failures-and-hostile-input.md#when-the-upstream-fails)."""

from __future__ import annotations

import socket
import time

import pytest

from proxy.shell.app import make_app
from tests.support.faulty import FaultyUpstream
from tests.support.scripted import proxy_settings

TIMEOUT = 0.5
TOKEN = "gAAAAABsecret-token-value"
UNAVAILABLE = ("503 Service Unavailable\n\nThe server is currently unavailable. Please try "
               "again at a later time.\n\n   ")
BROKEN = ("500 Internal Server Error\n\nThe server has either erred or is incapable of "
          "performing the requested operation.\n\n   ")


@pytest.fixture
async def faulty():
    upstream = await FaultyUpstream().start()
    yield upstream
    await upstream.stop()


@pytest.fixture
async def proxy(aiohttp_client, faulty):
    return await aiohttp_client(make_app(proxy_settings(
        faulty.url, upstream_timeout=TIMEOUT, upstream_connect_timeout=TIMEOUT,
        upstream_max_body_bytes=2048)))


async def ask(proxy, path="/v1/images/detail"):
    started = time.monotonic()
    response = await proxy.get(path, headers={"X-Auth-Token": TOKEN, "Accept": "text/plain"})
    body = await response.text()
    return response.status, body, time.monotonic() - started


def assert_says_nothing_of_the_upstream(body, faulty):
    port = faulty.url.rsplit(":", 1)[1]
    for secret in (TOKEN, port, "127.0.0.1", "10.1.2.3", "Traceback", "maintenance"):
        assert secret not in body


@pytest.mark.parametrize("mode, expected", [
    ("reset_before", (503, UNAVAILABLE)),
    ("silent", (503, UNAVAILABLE)),
    ("stall_after_headers", (503, UNAVAILABLE)),
    ("reset_mid_body", (500, BROKEN)),
    ("truncated", (500, BROKEN)),
    ("502", (503, UNAVAILABLE)),  # the upstream says it cannot answer now: a client may retry
    ("503", (503, UNAVAILABLE)),
    ("504", (503, UNAVAILABLE)),
    ("not_json", (500, BROKEN)),
    ("no_images", (500, BROKEN)),
    ("image_not_object", (500, BROKEN)),
    ("wrong_type", (500, BROKEN)),
    ("too_large", (500, BROKEN)),
])
async def test_each_upstream_fault_has_its_documented_answer_in_time(proxy, faulty, mode,
                                                                     expected):
    faulty.mode = mode
    status, body, took = await ask(proxy)
    assert (status, body) == expected
    assert took < TIMEOUT + 0.5
    assert_says_nothing_of_the_upstream(body, faulty)


@pytest.mark.parametrize("mode, retry_after", [
    ("503", "120"), ("503_date", "Fri, 31 Dec 2027 23:59:59 GMT"), ("503_odd", None),
    ("502", None)])
async def test_an_unavailable_upstream_is_503_with_its_retry_after_passed_on(
        proxy, faulty, mode, retry_after):
    faulty.mode = mode
    response = await proxy.get("/v1/images/detail",
                               headers={"X-Auth-Token": TOKEN, "Accept": "text/plain"})
    assert (response.status, await response.text()) == (503, UNAVAILABLE)
    assert response.headers.get("Retry-After") == retry_after  # only a well-formed one
    assert faulty.image_list_requests() == 1  # an answer, not a failure: not retried


async def test_a_refused_connection_is_503_after_the_bounded_retries(aiohttp_client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = await aiohttp_client(make_app(proxy_settings(f"http://127.0.0.1:{port}")))
    started = time.monotonic()
    response = await client.get("/v1/images/detail", headers={"Accept": "text/plain"})
    assert (response.status, await response.text()) == (503, UNAVAILABLE)
    assert time.monotonic() - started < 1.0


async def test_gets_are_retried_after_connection_failures_and_then_succeed(proxy, faulty):
    faulty.mode = "reset_before"
    status, _, _ = await ask(proxy)
    assert status == 503
    # The first try and upstream.retries=2 more; aiohttp itself resends a GET once, at
    # once, when a connection drops under it, so each try may reach the upstream twice.
    assert 3 <= faulty.image_list_requests() <= 6
    faulty.mode = "good"
    assert (await ask(proxy))[0] == 200


async def test_timeouts_are_not_retried(proxy, faulty):
    faulty.mode = "silent"
    assert (await ask(proxy))[0] == 503
    assert faulty.image_list_requests() == 1


async def test_downloads_fail_the_same_way_before_any_byte_is_sent(proxy, faulty):
    faulty.mode = "reset_before"
    status, body, _ = await ask(proxy, "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78")
    assert (status, body) == (503, UNAVAILABLE)
