"""What recording one request costs the metrics, as the middleware and the upstream client
record it (in-flight up and down, request_done, one upstream_call), in microseconds:

    PYTHONPATH=. .venv/bin/python bench/metrics_cost.py [--number 200000] [--repeat 7]

- ``Metrics``: one process (the default), plain counts in dicts;
- ``GroupMetrics``: a worker of --workers N, plain counts on a file mapped into memory;
- ``prometheus-client multiprocess``: its Counter/Histogram/Gauge with
  PROMETHEUS_MULTIPROC_DIR set (a process of its own: the mode is chosen at import), the
  label children looked up once and kept, as the proxy's own caches do.

The best of ``--repeat`` rounds of ``--number`` requests each, in CPU time (a busy machine
slows the wall clock more than it does the figures).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import timeit

ROUTE, METHOD, STATUS, AGENT = "/v1/images/detail", "GET", 200, "python-glanceclient/2.17"


def ours(group: bool, number: int, repeat: int) -> float:
    import shutil

    from proxy.ops import metrics

    directory = metrics.group_directory()
    if group:
        metrics.join_group(directory, 1)
    recorder = metrics.Metrics()

    def one_request() -> None:
        recorder.in_flight += 1
        recorder.upstream_call("list_images", 0.004, None)
        recorder.in_flight -= 1
        recorder.request_done(ROUTE, METHOD, STATUS, 0.006, AGENT)

    try:
        return min(timeit.repeat(one_request, number=number, repeat=repeat,
                                  timer=time.process_time)) / number * 1e6
    finally:
        shutil.rmtree(directory)


def prometheus_multiprocess(number: int, repeat: int) -> float:
    from prometheus_client import Counter, Gauge, Histogram

    buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
    requests = Counter("requests", "", ["route", "method", "status"])
    seconds = Histogram("request_seconds", "", ["route"], buckets=buckets)
    upstream = Histogram("upstream_seconds", "", ["call"], buckets=buckets)
    legacy = Counter("legacy", "", ["route", "client"])
    in_flight = Gauge("in_flight", "", multiprocess_mode="livesum")
    children = {}

    def one_request() -> None:
        in_flight.inc()
        upstream.labels("list_images").observe(0.004)
        in_flight.dec()
        key = (ROUTE, METHOD, STATUS, AGENT)
        found = children.get(key)
        if found is None:
            found = children[key] = (requests.labels(ROUTE, METHOD, str(STATUS)),
                                     seconds.labels(ROUTE), legacy.labels(ROUTE, "python"))
        found[0].inc()
        found[1].observe(0.006)
        found[2].inc()

    return min(timeit.repeat(one_request, number=number, repeat=repeat,
                                  timer=time.process_time)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", choices=("metrics", "group", "prometheus"))
    args = parser.parse_args()
    if args.only == "metrics":
        print(f"{ours(False, args.number, args.repeat):.3f}")
    elif args.only == "group":
        print(f"{ours(True, args.number, args.repeat):.3f}")
    elif args.only == "prometheus":
        print(f"{prometheus_multiprocess(args.number, args.repeat):.3f}")
    else:  # each in a process of its own
        for name, only in (("Metrics (one process, today)", "metrics"),
                           ("GroupMetrics (--workers N)", "group"),
                           ("prometheus-client multiprocess", "prometheus")):
            with tempfile.TemporaryDirectory() as directory:
                env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
                if only != "prometheus":
                    env.pop("PROMETHEUS_MULTIPROC_DIR")
                took = subprocess.run(
                    [sys.executable, __file__, "--only", only, "--number", str(args.number),
                     "--repeat", str(args.repeat)], env=env, check=True, capture_output=True,
                    text=True).stdout.strip()
            print(f"{name:34} {took} us a request")


if __name__ == "__main__":
    main()
