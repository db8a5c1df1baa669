"""Keeps the upstream's capabilities current: read at start-up, refreshed in the background.

An upstream can be upgraded (or replaced) under a running proxy; re-reading its version
document every ``upstream.version_refresh_interval`` seconds, and every few seconds while
it has not answered yet, keeps the proxy from asking for what it no longer offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from proxy.v2.client import Upstream
from proxy.v2.versions import Capabilities

log = logging.getLogger(__name__)

RETRY_UNTIL_KNOWN = 5.0


class VersionWatch:
    def __init__(self, upstream: Upstream, interval: float) -> None:
        self.upstream = upstream
        self.interval = interval
        # Until the upstream answers, assume the oldest upstream we support.
        self.capabilities = Capabilities()
        self.known = False
        self.answered_at: float | None = None  # monotonic time of the last answer
        self._asking: asyncio.Task | None = None  # the one refresh probes may wait on

    async def refresh(self) -> None:
        found = await self.upstream.discover()
        if found is None:
            return
        self.answered_at = time.monotonic()
        if not self.known or found != self.capabilities:
            log.info("upstream image API offers %s (was %s)", found,
                     self.capabilities if self.known else "unknown")
        self.capabilities, self.known = found, True

    async def answered_within(self, seconds: float, wait: float) -> bool:
        """Whether the upstream answered its version document in the last ``seconds``,
        asking it again first when the last answer is older (readiness). Concurrent probes
        share one question, and none waits more than ``wait`` seconds for it."""
        if self._age() > seconds:
            if self._asking is None or self._asking.done():
                self._asking = asyncio.create_task(self.refresh())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._asking), wait)
        return self._age() <= seconds

    def _age(self) -> float:
        return float("inf") if self.answered_at is None else time.monotonic() - self.answered_at

    async def run(self) -> None:
        """Read now, then keep reading; started in the background so that an upstream that
        is slow to answer never delays the proxy's start."""
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval if self.known else min(RETRY_UNTIL_KNOWN, self.interval))
