"""--workers N: forked processes serving one port together, one group.

The parent forks the workers, passes SIGTERM/SIGINT on to all of them, and exits 0 once
every worker has drained and exited 0. A worker that dies otherwise is started again in
its place, with one log line; but after MAX_FAST_DEATHS deaths in a row each within
FAST_DEATH seconds of the worker's start (a worker that cannot start, a crash at once) the
group gives up: one critical line, the others drain, exit 1, and the service manager's
own backoff takes over. A worker that cannot listen on the port stops the group at once
(exit 1): a new one could not either. Nothing is restarted once the group drains. Workers
whose parent is killed (SIGKILL) drain and stop too.

Their metrics are one group's (proxy/ops/metrics.py, GroupMetrics): each worker counts in
a file of its own in a private directory the parent makes, and a scrape sums them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import sys
import time

from proxy.config import Settings
from proxy.ops import metrics
from proxy.ops.serving import STOP_SIGNALS, MakeApp, StartError, run, serve

log = logging.getLogger("proxy")

FAST_DEATH = 10.0  # seconds: a worker that dies sooner after it started died "fast"
MAX_FAST_DEATHS = 5  # that many fast deaths in a row: the group gives up (exit 1)
CANNOT_START = 3  # a worker's exit status when its port or store cannot be had: not restarted
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def run_workers(settings: Settings, make_app: MakeApp, workers: int) -> int:
    """N forked processes, each with its own listening socket on the same port
    (SO_REUSEPORT: the kernel spreads connections)."""
    directory = metrics.group_directory()
    try:
        return _Group(settings, make_app, directory).run(workers)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _stop_with(parent: int) -> None:
    """A worker whose parent dies (killed with SIGKILL: it could pass nothing on) is sent
    SIGTERM, and drains, rather than serve on alone. Linux only (prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        return f"was killed by signal {number} ({name})"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class _Group:
    def __init__(self, settings: Settings, make_app: MakeApp, directory: str) -> None:
        self._settings = settings
        self._make_app = make_app
        self._directory = directory
        self._children: dict[int, tuple[int, float]] = {}  # pid -> (its place, started)
        self._stopping = False
        self._handlers = {}  # the signal handlers a worker is forked with (the parent's own)

    def run(self, workers: int) -> int:
        # Signals wait (blocked) until someone is ready for them: the parent once it passes
        # them on, each worker once its event loop handles them; none is lost or kills a
        # worker half-started. Whenever the parent forks, they are blocked.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        self._handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        for place in range(1, workers + 1):
            self._fork(place)
        log.info("started %d workers: %s", workers, " ".join(map(str, self._children)))
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._pass_on)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

        failed = False
        fast_deaths = 0
        while self._children:
            pid, status = os.waitpid(-1, 0)  # a signal runs _pass_on, then waiting goes on
            if pid not in self._children:
                continue
            place, started = self._children.pop(pid)
            how = how_it_ended(status)
            cannot_start = os.waitstatus_to_exitcode(status) == CANNOT_START
            # Blocked: a signal that came before this has been handled (pthread_sigmask
            # runs pending handlers), and none can come between the test and the fork.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                if self._stopping:
                    if status != 0:
                        log.error("worker %d %s while the group was stopping", pid, how)
                        failed = True
                    continue
                if cannot_start:  # (it has said why) no restart would do better
                    log.critical("worker %d cannot start; stopping the group", pid)
                    failed = True
                    self._stop_all(signal.SIGTERM)
                    continue
                lived = time.monotonic() - started
                fast_deaths = fast_deaths + 1 if lived < FAST_DEATH else 0
                if fast_deaths >= MAX_FAST_DEATHS:
                    log.critical("worker %d %s %.1f s after it started: %d workers in a row "
                                 "died within %.0f s of starting; giving up, stopping the "
                                 "group", pid, how, lived, fast_deaths, FAST_DEATH)
                    failed = True
                    self._stop_all(signal.SIGTERM)
                    continue
                replacement = self._fork(place)
                log.error("worker %d %s; started worker %d in its place", pid, how,
                          replacement)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        log.info("all workers stopped")
        return 1 if failed else 0

    def _fork(self, place: int) -> int:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: a fresh event loop of its own
            code = 0
            try:
                _stop_with(parent)
                for signum, handler in self._handlers.items():
                    signal.signal(signum, handler)  # not the parent's _pass_on
                metrics.join_group(self._directory, place)
                run(serve(self._settings, self._make_app, demo=False, reuse_port=True))
            except StartError as exc:
                print(f"image-v1-proxy: {exc}", file=sys.stderr)  # as one process says it
                code = CANNOT_START
            except BaseException:
                log.exception("worker failed")
                code = 1
            os._exit(code)
        self._children[pid] = (place, time.monotonic())
        return pid

    def _pass_on(self, signum, frame) -> None:
        self._stop_all(signum)

    def _stop_all(self, signum: int) -> None:
        """From now on no worker is restarted; each is sent ``signum`` (and drains)."""
        self._stopping = True
        for child in list(self._children):
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass
