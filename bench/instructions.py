"""Instructions per request, counted by valgrind's callgrind: a measure this VM's pace does
not move (the timed figures of bench/run.py move by 10-20% from run to run, and two
processes of the same tree differ by as much), to tell what a change saves.

    PYTHONPATH=. .venv/bin/python bench/instructions.py [--size 25] [--churn 1]
        [--requests 400] [SERVER ...]

SERVER is ``baseline`` (bench/passthrough.py), ``proxy`` or ``cold`` (the proxy with its
listing memo off), optionally ``@DIR`` for a tree whose ``proxy`` package is in DIR (e.g.
``git archive REV proxy | tar -x -C DIR``); default: baseline proxy cold. Each runs under
callgrind with instrumentation off until it has answered a warm-up; then exactly
``--requests`` listings, 16 at a time, are counted, user space only (the kernel's share of
a request, larger for the baseline, is not counted: compare trees, not servers). Needs
valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from run import PY, TOKEN, Process, cores, free_port, proxy_argv, set_churn

AT_ONCE = 16


async def listings(url: str, count: int) -> None:
    async with aiohttp.ClientSession(headers=TOKEN) as session:
        async def one_by_one(share: int) -> None:
            for _ in range(share):
                async with session.get(url) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"{url}: {answer.status}")
                    await answer.read()

        await asyncio.gather(*(one_by_one(count // AT_ONCE + (n < count % AT_ONCE))
                               for n in range(AT_ONCE)))


def counted(server: str, upstream_port: int, size: int, count: int, cpus: str,
            out: Path) -> float:
    """Instructions per listing of ``server``, in thousands."""
    kind, _, tree = server.partition("@")
    port = free_port()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={out}"]
    if kind == "baseline":
        argv, env, ready = ([PY, "bench/passthrough.py", f"http://127.0.0.1:{upstream_port}",
                             str(port)], {}, "/versions")
        url = f"http://127.0.0.1:{port}/v2/images?limit={size}"
    else:
        argv, env = proxy_argv(upstream_port, port)
        if kind == "cold":
            env["IMAGE_V1_PROXY_LISTING_MEMO_IMAGES"] = "0"
        if tree:  # -P: that tree's package, not the checkout's
            argv, env = [argv[0], "-P", *argv[1:]], {**env, "PYTHONPATH": tree}
        ready, url = "/healthz", f"http://127.0.0.1:{port}/v1/images/detail?limit={size}"
    process = Process(server, [*valgrind, *argv], port, cpus, env, ready_path=ready)
    try:
        asyncio.run(listings(url, 2 * AT_ONCE * 8))  # warm-up: pools, caches, layouts
        control = ["callgrind_control", str(process.popen.pid)]
        subprocess.run([*control, "-i", "on"], check=True, capture_output=True)
        asyncio.run(listings(url, count))
        subprocess.run([*control, "-d"], check=True, capture_output=True)
    finally:
        process.stop()
    dumps = sorted(out.parent.glob(out.name + ".*"))  # -d's dump: what was counted
    totals = [line for line in dumps[0].read_text().splitlines()
              if line.startswith("totals:")]
    return int(totals[0].split()[1]) / count / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=25, choices=(25, 1000))
    parser.add_argument("--churn", type=float, default=1,
                        help="share of the images that change between answers (0 to 1)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("servers", nargs="*", default=["baseline", "proxy", "cold"])
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    server_cpus, load_cpus = cores()
    os.sched_setaffinity(0, {int(cpu) for cpu in load_cpus.split(",")})  # the load's
    upstream_port = free_port()
    upstream = Process("upstream", [PY, "bench/upstream.py", str(upstream_port)],
                       upstream_port, load_cpus)
    try:
        set_churn(upstream_port, args.churn)
        print(f"{args.size}-image listings, churn {args.churn}, {args.requests} counted, "
              f"{AT_ONCE} at a time")
        for server in args.servers:
            with tempfile.TemporaryDirectory() as scratch:
                thousands = counted(server, upstream_port, args.size, args.requests,
                                    server_cpus, Path(scratch) / "callgrind.out")
            print(f"{server:40} {thousands:9.1f} k instructions per listing", flush=True)
    finally:
        upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
