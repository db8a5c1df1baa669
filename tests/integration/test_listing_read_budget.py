"""Listings under the read budget (``listing.read_bytes``), over real sockets: a listing
waits to ask until a body like its last fits, and every way a listing ends gives its bytes
back."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from proxy.shell.app import make_app
from proxy.shell.appkeys import UPSTREAM
from tests.support.scripted import V2_IMAGE, proxy_settings

BODY = orjson.dumps({"images": [V2_IMAGE]})


async def listing(client, path="/v1/images/detail"):
    response = await client.get(path)
    return response.status, await response.json()


async def proxy_with_budget(aiohttp_client, upstream, read_bytes, **env):
    return await aiohttp_client(make_app(proxy_settings(
        str(upstream.server.make_url("")), listing_read_bytes=read_bytes, **env)))


async def test_a_listing_asks_the_upstream_only_once_a_body_like_its_last_fits(
        aiohttp_client, upstream):
    client = await proxy_with_budget(aiohttp_client, upstream, len(BODY))
    budget = client.app[UPSTREAM].list_budget
    assert (await listing(client))[0] == 200  # its page size's body: len(BODY)
    held = await budget.take(1)  # another listing's body, not yet translated
    waiting = asyncio.ensure_future(listing(client))
    for _ in range(50):
        await asyncio.sleep(0.01)
    assert len(upstream.seen) == 1 and not waiting.done()  # not asked yet
    budget.give(held)
    status, body = await asyncio.wait_for(waiting, 5)
    assert status == 200 and [image["id"] for image in body["images"]] == [V2_IMAGE["id"]]
    assert len(upstream.seen) == 2 and budget.used == 0


async def test_concurrent_listings_each_get_their_answer_and_give_every_byte_back(
        aiohttp_client, upstream):
    client = await proxy_with_budget(aiohttp_client, upstream, len(BODY) * 2)
    answers = await asyncio.gather(*(listing(client) for _ in range(12)))
    assert answers == [answers[0]] * 12 and answers[0][0] == 200
    assert client.app[UPSTREAM].list_budget.used == 0


async def test_a_body_larger_than_the_budget_is_read_alone(aiohttp_client, upstream):
    client = await proxy_with_budget(aiohttp_client, upstream, 16)
    answers = await asyncio.gather(*(listing(client) for _ in range(3)))
    assert [status for status, _ in answers] == [200] * 3
    assert client.app[UPSTREAM].list_budget.used == 0


async def test_failed_listings_give_their_bytes_back(aiohttp_client, upstream):
    client = await proxy_with_budget(aiohttp_client, upstream, len(BODY),
                                     upstream_max_body_bytes=len(BODY) - 1, upstream_retries=0)
    budget = client.app[UPSTREAM].list_budget
    assert (await client.get("/v1/images/detail")).status == 500  # too large to read

    async def not_json(request):
        return web.Response(body=b"{not json", content_type="application/json")

    async def unavailable(request):
        return web.Response(status=503, body=b"busy")

    for handler, status in ((not_json, 500), (unavailable, 503)):
        upstream.images_handler = handler
        assert (await client.get("/v1/images/detail")).status == status
    assert budget.used == 0


async def test_a_caller_who_hangs_up_while_its_body_waits_gives_nothing_away(
        aiohttp_client, upstream):
    client = await proxy_with_budget(aiohttp_client, upstream, len(BODY))
    budget = client.app[UPSTREAM].list_budget
    assert (await listing(client))[0] == 200
    held = await budget.take(len(BODY))
    gone = asyncio.ensure_future(listing(client))
    for _ in range(50):
        await asyncio.sleep(0.01)
    gone.cancel()
    for _ in range(50):
        await asyncio.sleep(0.01)
    budget.give(held)
    assert budget.used == 0  # the gone caller's place was not kept, nor given to it
    status, _ = await listing(client)
    assert status == 200 and budget.used == 0


async def test_bodies_larger_than_their_estimate_never_wait_while_holding_a_connection(
        aiohttp_client, upstream):
    # Waiting for the budget with a connection held could wait on listings that hold their
    # estimate and wait for that connection: a body is counted at its size at once.
    client = await proxy_with_budget(aiohttp_client, upstream, 2 * len(BODY),
                                     upstream_max_connections=1, upstream_max_body_bytes=1 << 22,
                                     upstream_connect_timeout=1, upstream_timeout=2)
    assert (await listing(client))[0] == 200  # the estimate: len(BODY)
    # too large to arrive whole while unread (a small one frees its connection at once)
    larger = orjson.dumps({"images": [{**V2_IMAGE, "id": f"{n:08d}"} for n in range(2000)]})

    async def many_images(request):
        await asyncio.sleep(0.05)
        return web.Response(body=larger, content_type="application/json")

    upstream.images_handler = many_images
    answers = await asyncio.wait_for(
        asyncio.gather(*(listing(client) for _ in range(3))), 10)
    assert [(status, len(body["images"])) for status, body in answers] == [(200, 25)] * 3
    assert client.app[UPSTREAM].list_budget.used == 0
