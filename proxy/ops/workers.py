"""--workers N: forked processes serving one port together."""

from __future__ import annotations

import contextlib
import logging
import os
import signal

from proxy.config import Settings
from proxy.ops.serving import STOP_SIGNALS, MakeApp, run, serve

log = logging.getLogger("proxy")


def run_workers(settings: Settings, make_app: MakeApp, workers: int) -> int:
    """N forked processes, each with its own listening socket on the same port
    (SO_REUSEPORT: the kernel spreads connections). SIGTERM/SIGINT are passed on; the
    parent exits 0 once every worker has drained and exited 0."""
    children = []
    # Signals wait (blocked) until someone is ready for them: the parent once it passes them
    # on, each worker once its event loop handles them; none is lost or kills half-started.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: a fresh event loop of its own
            code = 0
            try:
                run(serve(settings, make_app, demo=False, reuse_port=True))
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
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    failed = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    log.info("all workers stopped")
    return 1 if failed else 0
