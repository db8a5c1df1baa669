"""Serving one process: the event loop, the drain on SIGTERM, the garbage collector's pace."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

import uvloop
from aiohttp import web

from proxy.config import Settings, is_loopback
from proxy.ops.accesslog import ACCESS_LOG, AccessLogger
from proxy.ops.health import HEALTH

log = logging.getLogger("proxy")

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# A second SIGINT (Ctrl-C) during the drain ends the process at once, with this status
# (128 + SIGINT, as a shell reports a process killed by Ctrl-C). SIGINTs this close to the
# first are the same Ctrl-C (a terminal signals every process of its group, and the
# --workers parent passes the signal on as well): they are not a second one.
INTERRUPTED_AGAIN = 128 + signal.SIGINT
SAME_INTERRUPT_WITHIN = 0.5


class StartError(Exception):
    """Start-up cannot go on: one line saying why, with no traceback (a setting to fix)."""


class ListenError(StartError):
    """The listening socket could not be opened: one line naming the address and why."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_failure(host: str, port: int, error: OSError) -> ListenError:
    address = _address(host, port)
    if isinstance(error, socket.gaierror):
        cause = f"unknown host ({error.strerror})"
    elif error.errno == errno.EADDRINUSE:
        cause = "address already in use"
    elif error.errno == errno.EACCES:
        cause = "permission denied (a port below 1024 needs privileges)"
    elif error.errno == errno.EADDRNOTAVAIL:
        cause = "no such address on this machine"
    elif error.errno:
        cause = os.strerror(error.errno).lower()
    else:
        cause = " ".join(str(error).split())
    return ListenError(f"cannot listen on {address}: {cause}")


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
        host, port = settings.listen.host, settings.listen.port
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        try:
            await site.start()
        except OSError as error:
            raise _bind_failure(host, port, error) from None
        log.info(
            "serving the v1 image API on http://%s in front of %s",
            _address(host, port), "the demo upstream" if demo else settings.upstream.url,
        )
        if demo and not is_loopback(host):
            log.warning("the demo listens on %s: anyone who can reach it reads and writes its "
                        "images without a token", host)
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
    first: list[float] = []

    def stop_on(signum: int) -> None:
        now = time.monotonic()
        if not first:
            first.append(now)
            log.info("signal received: stopping%s", " (Ctrl-C again: stop at once)"
                     if signum == signal.SIGINT else "")
            stop.set()
        elif signum == signal.SIGINT and now - first[0] >= SAME_INTERRUPT_WITHIN:
            _exit_at_once()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop_on, sig)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # (blocked in --workers)
    await stop.wait()


def _exit_at_once() -> None:
    """The second Ctrl-C: no drain, no waiting for what is in flight."""
    log.warning("interrupted again: stopping at once, in-flight requests cut")
    for handler in logging.getLogger().handlers + log.handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(INTERRUPTED_AGAIN)

