"""A bound on the bytes of upstream list bodies the proxy holds at once.

A listing's body is read whole, then translated on the one event loop. Under a burst of
large listings every request would read its body at once, and most would then wait,
holding it, for their turn at the CPU: 64 callers of 1000-image pages held 64 bodies of
0.7 MB (bench/RESULTS.md). So a listing asks the upstream only once a body of its page
size, as heavy per image as those read before, fits within the budget, waiting in line
while it holds nothing; once its answer's headers come, its body counts at its own size,
until its page is translated. That count never waits (the listing holds a connection by
then), so a body heavier than its estimate can pass the bound, never for long.
"""

from __future__ import annotations

import asyncio
from collections import deque


# bytes a listed image is taken to weigh before any body is read (a Glance image's JSON is
# about 1 KB, an IMS one's with its extra fields about 2)
FIRST_IMAGE_BYTES = 2048


class ReadBudget:
    """``limit`` bytes, taken and given back in first-come order; 0: no bound."""

    __slots__ = ("limit", "used", "_per_image", "_waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        # bytes per image asked for, from the bodies read: what the next is taken to weigh
        self._per_image: float | None = None
        self._waiting: deque[tuple[int, asyncio.Future]] = deque()

    async def take(self, size: int) -> int:
        """Waits until a body of ``size`` bytes fits, and takes them; returns what to give
        back. A body larger than the budget takes all of it (alone, it always fits)."""
        if not self.limit:
            return 0
        weight = min(size, self.limit)
        if not self._waiting and self.used + weight <= self.limit:
            self.used += weight
            return weight
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((weight, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.cancelled():  # still waiting (or passed over by _wake): not taken
                if (weight, future) in self._waiting:
                    self._waiting.remove((weight, future))
                self._wake()  # a smaller body behind it may fit now
            else:  # taken, then cancelled before it could be read
                self.give(weight)
            raise
        return weight

    async def take_expected(self, images: int) -> int:
        """``take`` for a body of ``images`` images as heavy as those read so far, before
        asking for it."""
        per_image = FIRST_IMAGE_BYTES if self._per_image is None else self._per_image
        return await self.take(int(per_image * images))

    def read(self, images: int, size: int) -> None:
        """A body of ``images`` images asked for was ``size`` bytes. (A lighter one, a last
        page, lowers the estimate only by a quarter at a time.)"""
        per_image = size / max(images, 1)
        if self._per_image is not None:
            per_image = max(per_image, self._per_image * 0.75)
        self._per_image = per_image

    def count(self, held: int, size: int | None) -> int:
        """What ``held`` (from ``take_expected``) becomes once the body's ``size`` is known
        (0: none to read; None: unknown, counted as the whole budget): the difference given
        back, or taken, past the budget if need be, never waited for. (The caller holds a
        connection by then: waiting could wait on listings that hold their estimate and
        wait for a connection.)"""
        if not self.limit:
            return 0
        weight = self.limit if size is None else min(size, self.limit)
        if weight < held:
            self.give(held - weight)
        else:
            self.used += weight - held
        return weight

    def give(self, weight: int) -> None:
        """``weight`` bytes (what ``take`` returned) back, to whoever waits first."""
        self.used -= weight
        self._wake()

    def _wake(self) -> None:
        waiting = self._waiting
        while waiting:
            weight, future = waiting[0]
            if future.done():  # cancelled while waiting
                waiting.popleft()
            elif self.used + weight <= self.limit:
                waiting.popleft()
                self.used += weight
                future.set_result(None)
            else:
                return
