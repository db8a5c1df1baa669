"""Serving one process: the event loop, the drain on SIGTERM, the garbage collector's pace."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable

import uvloop
from aiohttp import web

from proxy.config import Settings
from proxy.ops.accesslog import ACCESS_LOG, AccessLogger
from proxy.ops.health import HEALTH

log = logging.getLogger("proxy")

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def run(main) -> None:
    """uvloop's event loop: the same asyncio, with its I/O in C (measured in bench/)."""
    uvloop.run(main)


def _tune_gc() -> None:
    """Every listing builds thousands of short-lived dicts, none in a reference cycle: with
    the default thresholds the cyclic collector runs every few hundred of them and, now
    and then, walks the whole heap (a 100 ms pause under a 1000-image listing). Objects
    alive at start-up are frozen out of its reach, and it runs far less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


MakeApp = Callable[[Settings], web.Application]


async def serve(settings: Settings, make_app: MakeApp, *, demo: bool,
                reuse_port: bool = False) -> None:
    """Serves ``make_app(settings)`` until SIGTERM or SIGINT, then drains (README,
    "Signals, draining and scaling")."""
    _tune_gc()
    async with contextlib.AsyncExitStack() as stack:
        if demo:
            from proxy.ops.demo import start_demo_upstream

            settings = await stack.enter_async_context(start_demo_upstream(settings))
        app = make_app(settings)
        # shutdown_timeout: how long in-flight requests may run once listening has stopped.
        runner = web.AppRunner(app, shutdown_timeout=settings.shutdown.deadline,
                               access_log_class=AccessLogger, access_log=ACCESS_LOG)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.listen.host, settings.listen.port,
                           reuse_port=reuse_port or None)
        await site.start()
        log.info(
            "serving the v1 image API on http://%s:%d in front of %s",
            settings.listen.host,
            settings.listen.port,
            "the demo upstream" if demo else settings.upstream.url,
        )
        await _until_signalled()
        # Drain: out of rotation at once, still taking connections while load balancers
        # notice, then no new ones while what is in flight finishes (or is cut).
        app[HEALTH].draining.set()
        log.info("draining: readiness is 503, new connections taken for %.1f s more",
                 settings.shutdown.grace)
        await asyncio.sleep(settings.shutdown.grace)
        log.info("refusing new connections; in-flight requests have %.1f s to finish",
                 settings.shutdown.deadline)
        # leaving the stack: runner.cleanup() closes the listener and waits for what is in
        # flight, up to shutdown_timeout; then the demo upstream, if any, stops
    log.info("stopped")


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # (blocked in --workers)
    await stop.wait()
    log.info("signal received: stopping")
