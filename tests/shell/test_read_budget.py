"""The bound on list bodies held at once (proxy.shell.read_budget): first come, first
served; a body too large for it read alone; nothing lost to a caller who goes away."""

from __future__ import annotations

import asyncio

import pytest

from proxy.shell.read_budget import FIRST_IMAGE_BYTES, ReadBudget


async def settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_bodies_that_fit_are_taken_at_once_and_given_back():
    budget = ReadBudget(100)
    assert await budget.take(60) == 60
    assert await budget.take(40) == 40
    assert budget.used == 100
    budget.give(60)
    budget.give(40)
    assert budget.used == 0


async def test_a_body_waits_until_enough_is_given_back():
    budget = ReadBudget(100)
    first = await budget.take(70)
    waiting = asyncio.ensure_future(budget.take(50))
    await settled()
    assert not waiting.done() and budget.used == 70
    budget.give(first)
    assert await waiting == 50 and budget.used == 50


async def test_first_come_first_served_a_small_body_does_not_pass_a_large_one():
    budget = ReadBudget(100)
    held = await budget.take(90)
    large = asyncio.ensure_future(budget.take(80))
    await settled()
    small = asyncio.ensure_future(budget.take(10))  # it would fit, but the large came first
    await settled()
    assert not large.done() and not small.done()
    budget.give(held)
    assert await large == 80 and await small == 10 and budget.used == 90


async def test_a_body_larger_than_the_budget_is_read_alone():
    budget = ReadBudget(100)
    held = await budget.take(1)
    alone = asyncio.ensure_future(budget.take(500))
    await settled()
    assert not alone.done()
    budget.give(held)
    assert await alone == 100 and budget.used == 100
    other = asyncio.ensure_future(budget.take(1))
    await settled()
    assert not other.done()
    budget.give(100)
    assert await other == 1


async def test_a_caller_gone_while_waiting_takes_nothing_and_lets_the_next_one_in():
    budget = ReadBudget(100)
    held = await budget.take(50)
    gone = asyncio.ensure_future(budget.take(80))
    await settled()
    behind = asyncio.ensure_future(budget.take(50))  # fits, but waits behind the first
    await settled()
    assert not behind.done()
    gone.cancel()
    assert await behind == 50 and budget.used == 100
    with pytest.raises(asyncio.CancelledError):
        await gone
    budget.give(held)
    budget.give(50)
    assert budget.used == 0


async def test_a_caller_gone_just_after_its_turn_came_gives_it_back():
    budget = ReadBudget(100)
    held = await budget.take(100)
    gone = asyncio.ensure_future(budget.take(60))
    await settled()
    budget.give(held)  # its turn: taken for it ...
    gone.cancel()      # ... before it could run
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert budget.used == 0


async def test_a_budget_of_0_never_waits_and_holds_nothing():
    budget = ReadBudget(0)
    assert await budget.take(10**9) == 0
    assert budget.count(0, None) == 0
    assert budget.used == 0


async def test_a_body_is_taken_before_it_is_asked_to_weigh_per_image_what_those_read_did():
    budget = ReadBudget(100_000)
    assert await budget.take_expected(10) == 10 * FIRST_IMAGE_BYTES  # none read yet
    budget.give(10 * FIRST_IMAGE_BYTES)
    budget.read(25, 25 * 1000)  # 1000 bytes an image
    held = await budget.take_expected(90)
    assert held == 90_000
    assert await budget.take_expected(5) == 5000  # a small page still fits
    waiting = asyncio.ensure_future(budget.take_expected(10))
    await settled()
    assert not waiting.done()
    budget.give(held)
    assert await waiting == 10_000
    budget.read(1000, 1000 * 3000)  # heavier: taken at once
    assert await budget.take_expected(1) == 3000
    budget.read(1000, 10)  # a last page, nearly empty: lowered by a quarter only
    assert await budget.take_expected(1) == 2250


async def test_once_its_size_is_known_a_body_counts_at_it_never_waiting_even_past_the_budget():
    budget = ReadBudget(100)
    held = budget.count(await budget.take(60), 20)
    assert held == 20 and budget.used == 20  # 40 given back
    other = await budget.take(50)
    held = budget.count(held, 70)  # larger than its estimate: taken at once, past the bound
    assert held == 70 and budget.used == 120
    waiting = asyncio.ensure_future(budget.take(10))
    await settled()
    assert not waiting.done()  # nobody else gets in until it is back under
    budget.give(other)
    assert await waiting == 10
    assert budget.count(0, None) == 100  # unknown size: the whole budget
    assert budget.count(100, 0) == 0 and budget.used == 80  # an error: nothing to read
    assert ReadBudget(0).count(0, 10**9) == 0
