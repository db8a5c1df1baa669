"""Command line: read the settings, set up logging, serve the proxy (optionally with the demo upstream)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys

import uvloop
from aiohttp import web

from proxy.accesslog import ACCESS_LOG, AccessLogger, configure_logging
from proxy.app import make_app
from proxy.appkeys import DRAINING
from proxy.config import ConfigError, Settings, load_settings, log_level

log = logging.getLogger("proxy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="image-v1-proxy",
        description="Serve the OpenStack image API v1/v1.1 on top of a v2 upstream.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("IMAGE_V1_PROXY_CONFIG"),
        help="YAML settings (see config.example.yaml); IMAGE_V1_PROXY_* variables override it",
    )
    parser.add_argument(
        "--check-config", metavar="FILE", help="validate FILE (and the environment), then exit"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve in front of an embedded in-memory v2 upstream with a sample catalogue",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N processes sharing the listening port (default: listen.workers, 1)",
    )
    args = parser.parse_args(argv)

    path = args.check_config or args.config
    try:
        settings = load_settings(path, os.environ, require_upstream=not args.demo)
    except ConfigError as exc:
        print(f"image-v1-proxy: config error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"image-v1-proxy: {args.check_config}: configuration is valid")
        return 0

    configure_logging(log_level(settings), settings.log.format)
    workers = args.workers if args.workers is not None else settings.listen.workers
    if not 1 <= workers <= 64 or (args.demo and workers > 1):
        print("image-v1-proxy: --workers must be between 1 and 64 (and 1 with --demo, whose "
              "upstream lives in the process)", file=sys.stderr)
        return 2
    if workers == 1:
        _run(serve(settings, demo=args.demo))
        return 0
    return run_workers(settings, workers)


def run_workers(settings: Settings, workers: int) -> int:
    """N forked processes, each with its own listening socket on the same port
    (SO_REUSEPORT: the kernel spreads connections). SIGTERM/SIGINT are passed on; the
    parent exits 0 once every worker has drained and exited 0."""
    children = []
    # Signals wait (blocked) until someone is ready for them: the parent once it passes them
    # on, each worker once its event loop handles them; none is lost or kills half-started.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: a fresh event loop of its own
            code = 0
            try:
                _run(serve(settings, demo=False, reuse_port=True))
            except BaseException:
                log.exception("worker failed")
                code = 1
            os._exit(code)
        children.append(pid)
    log.info("started %d workers: %s", workers, " ".join(map(str, children)))

    def pass_on(signum, frame):
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    failed = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    log.info("all workers stopped")
    return 1 if failed else 0


def _run(main) -> None:
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


async def serve(settings: Settings, *, demo: bool, reuse_port: bool = False) -> None:
    _tune_gc()
    async with contextlib.AsyncExitStack() as stack:
        if demo:
            from proxy.demo import start_demo_upstream

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
        app[DRAINING].set()
        log.info("draining: readiness is 503, new connections taken for %.1f s more",
                 settings.shutdown.grace)
        await asyncio.sleep(settings.shutdown.grace)
        log.info("refusing new connections; in-flight requests have %.1f s to finish",
                 settings.shutdown.deadline)
        await runner.cleanup()
    log.info("stopped")


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # (blocked in --workers)
    await stop.wait()
    log.info("signal received: stopping")


if __name__ == "__main__":
    sys.exit(main())
