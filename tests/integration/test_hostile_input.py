"""Hostile and malformed input, over real sockets: limits answer 414/431/413, the proxy is
never an open proxy, tokens never reach the logs, and a caller who hangs up cancels the
upstream call."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from proxy.shell.app import make_app
from tests.support.faulty import FaultyUpstream
from tests.support.scripted import proxy_settings

SECRET = "gAAAAABsecret-token-which-must-never-be-logged"


async def raw(client, request: bytes) -> bytes:
    """Send raw bytes to the proxy; the status line and headers of its answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    return head


@pytest.fixture
async def proxy(aiohttp_client, upstream):
    return await aiohttp_client(make_app(proxy_settings(
        str(upstream.server.make_url("")), limits_max_request_line=1024,
        limits_max_header_bytes=2048, limits_max_body_bytes=100)))


async def test_a_request_line_over_the_limit_is_414(proxy, upstream):
    response = await proxy.get("/v1/images/detail?name=" + "a" * 1100)
    assert response.status == 414
    assert upstream.seen == []


async def test_headers_over_the_limit_are_431(proxy, upstream):
    assert (await proxy.get("/v1/images/detail", headers={"X-Big": "b" * 2100})).status == 431
    many = {f"X-H{i}": "v" * 90 for i in range(30)}  # each fine, together too large
    assert (await proxy.get("/v1/images/detail", headers=many)).status == 431
    assert upstream.seen == []


async def test_a_body_over_the_limit_is_413(proxy, upstream):
    assert (await proxy.get("/v1/images/detail", data=b"x" * 101)).status == 413


async def test_far_past_the_limits_aiohttp_itself_answers_400_without_a_crash(proxy):
    head = await raw(proxy, b"GET /v1/images/detail?x=" + b"a" * 5000 + b" HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    assert (await proxy.get("/versions")).status == 200  # and it goes on serving


async def test_an_absolute_form_target_never_changes_which_upstream_is_called(proxy, upstream):
    head = await raw(proxy, b"GET http://evil.example:9292/v1/images/detail HTTP/1.1\r\n"
                     b"Host: evil.example\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(upstream.seen) == 1  # the configured upstream answered it
    head = await raw(proxy, b"GET http://evil.example/v2/images HTTP/1.1\r\n"
                     b"Host: evil.example\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 300") and len(upstream.seen) == 1


async def test_redirects_from_the_upstream_are_not_followed(aiohttp_client, aiohttp_server,
                                                            upstream):
    elsewhere = []

    async def other(request):
        elsewhere.append(request)
        return web.json_response({"images": []})

    other_app = web.Application()
    other_app.router.add_get("/{tail:.*}", other)
    other_server = await aiohttp_server(other_app)

    async def redirect(request):
        raise web.HTTPFound(str(other_server.make_url("/v2/images")))

    upstream.images_handler = redirect
    client = await aiohttp_client(make_app(proxy_settings(str(upstream.server.make_url("")))))
    assert (await client.get("/v1/images/detail")).status == 500
    assert elsewhere == []


async def test_the_token_never_appears_in_any_log_line(aiohttp_client, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    client = await aiohttp_client(make_app(proxy_settings(str(upstream.server.make_url("")))))

    async def refuse(request):
        return web.json_response({"message": "go away"}, status=403)

    headers = {"X-Auth-Token": SECRET}
    await client.get("/v1/images/detail", headers=headers)
    await client.get("/v1/images/detail?limit=x", headers=headers)
    await client.head("/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78", headers=headers)
    upstream.images_handler = refuse
    await client.get("/v1/images/detail", headers=headers)
    await upstream.server.close()
    await client.get("/v1/images/detail", headers=headers)
    assert caplog.records, "the requests above must have logged something"
    assert all(SECRET not in record.getMessage() for record in caplog.records)


async def test_a_caller_who_hangs_up_cancels_the_upstream_call(aiohttp_client):
    faulty = await FaultyUpstream().start()
    try:
        faulty.mode = "silent"
        client = await aiohttp_client(make_app(proxy_settings(faulty.url)))
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET /v1/images/detail HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        for _ in range(100):  # until the upstream is asked
            if faulty.image_list_requests():
                break
            await asyncio.sleep(0.01)
        writer.close()  # the caller goes away
        for _ in range(200):
            if faulty.abandoned:
                break
            await asyncio.sleep(0.01)
        assert faulty.abandoned == 1
    finally:
        await faulty.stop()
