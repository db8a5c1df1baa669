"""Whether the upstream answers: its version document, read at start-up and in the background.

An upstream can be upgraded (or replaced) under a running proxy, or go away: the document
is read again every ``upstream.version_refresh_interval`` seconds (every few seconds while
it has not answered yet), and ``/readyz`` asks again when the last answer is older than
``health.ready_max_age``. What it lists is shown on ``/readyz`` and logged when it changes.
An upstream that answers with something else than a version document (a 404, an HTML
page, another service's JSON) is logged as an error at each read, and ``/readyz`` says
what it answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from proxy.shell.upstream import NoVersionDocument, Upstream

log = logging.getLogger(__name__)

RETRY_UNTIL_ANSWERED = 5.0


class VersionWatch:
    def __init__(self, upstream: Upstream, interval: float) -> None:
        self.upstream = upstream
        self.interval = interval
        self.version: tuple[int, int] | None = None  # the newest v2 minor last listed
        self.answered_at: float | None = None  # monotonic time of the last answer
        self._asking: asyncio.Task | None = None  # the one refresh probes may wait on
        # what the upstream last answered instead of a version document ("404 text/html"),
        # None while it answers one or does not answer at all
        self.wrong_answer: str | None = None

    @property
    def api(self) -> str | None:
        """``v2.17``, or None before the upstream first answered."""
        return None if self.version is None else f"v{self.version[0]}.{self.version[1]}"

    async def refresh(self) -> None:
        try:
            found = await self.upstream.version_document()
        except NoVersionDocument as wrong:
            self.wrong_answer = wrong.answered
            log.error("%s", wrong)
            return
        self.wrong_answer = None
        if found is None:
            return
        self.answered_at = time.monotonic()
        if found != self.version:
            was = self.api or "unknown"
            self.version = found
            log.info("upstream image API offers %s (was %s)", self.api, was)

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
            answered = self.answered_at is not None
            await asyncio.sleep(self.interval if answered
                                else min(RETRY_UNTIL_ANSWERED, self.interval))
