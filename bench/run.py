"""The benchmark: the proxy against a pass-through baseline measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/run.py [--seconds 5] [--rounds 3] [--pairs 20]
                                                [--no-glance]

Starts the v2 upstream (the fake Glance's answers, pre-built), the pass-through baseline
(bench/passthrough.py), the proxy, and the proxy "cold" (its listing memo off, so that every
image is parsed and translated afresh), each a process of its own; drives them with wrk
(installed with apt-get when missing) for 25- and 1000-image listings, the servers taking
turns for a few rounds; prints the medians of requests per second at 64 connections,
p50/p99 latency at 1 and 64 connections, CPU microseconds per request and peak RSS of each
server process, each with its ratio to the baseline, then PASS/FAIL against the targets of
issue 6. A second scenario compares the v1 listing through the proxy with the v2 listing
straight from a real Glance v2.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cores() -> tuple[str, str]:
    """(server cores, load-generator cores) for taskset: apart when there are two or more."""
    count = os.cpu_count() or 1
    if count < 2:
        return "0", "0"
    return "0", ",".join(str(c) for c in range(1, count))


def system_tool(name: str, package: str) -> str | None:
    """The path of ``name``, installed from the system's packages (apt-get) when missing;
    None when it cannot be had."""
    def found() -> str | None:
        return shutil.which(name) or shutil.which(name, path="/usr/sbin")

    if found():
        return found()
    print(f"{name} is missing: installing it from the system's packages (apt-get install "
          f"{package})")
    for step in (["apt-get", "install", "-y", package], ["apt-get", "update"],
                 ["apt-get", "install", "-y", package]):
        subprocess.run(step, check=False, capture_output=True)
        if found():
            return found()
    return None


def ensure_wrk() -> str:
    wrk_path = system_tool("wrk", "wrk")
    if wrk_path is None:
        raise SystemExit("wrk could not be installed (apt-get install wrk)")
    return wrk_path


class Process:
    def __init__(self, name: str, argv: list[str], port: int, cpus: str, env=None,
                 ready_path="/versions"):
        self.name, self.port = name, port
        self.popen = subprocess.Popen(["taskset", "-c", cpus, *argv], cwd=ROOT,
                                      env={**os.environ, **(env or {})},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                if self.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: {self.popen.stderr.read()}")
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its children (workers)."""
        total = 0.0
        for pid in [self.popen.pid, *self._children()]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        return total

    def peak_rss_mib(self) -> float:
        peak = 0
        for pid in [self.popen.pid, *self._children()]:
            status = Path(f"/proc/{pid}/status").read_text()
            peak += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
        return peak / 1024

    def _children(self) -> list[int]:
        path = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        return [int(c) for c in path.read_text().split()] if path.exists() else []

    def stop(self) -> None:
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(wrk_path: str, url: str, connections: int, seconds: float, cpus: str) -> Load:
    out = subprocess.run(
        ["taskset", "-c", cpus, wrk_path, f"-c{connections}", f"-t{min(connections, 2)}",
         f"-d{max(1, round(seconds))}s", "--timeout", "30s", "--latency", "-H", "X-Auth-Token: bench:reader,member", url],
        check=True, capture_output=True, text=True).stdout
    percentiles = {m[0]: float(m[1]) * _UNIT[m[2]]
                   for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    if "Non-2xx" in out or "Socket errors" in out or len(percentiles) != 2:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    return Load(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                percentiles["50"], percentiles["99"], requests)


def pin_group(pid: int, cpus: str) -> None:
    """Pins every process of ``pid``'s process group, all threads, to ``cpus``."""
    group = os.getpgid(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == group:
                    subprocess.run(["taskset", "-a", "-p", "-c", cpus, entry.name],
                                   check=False, capture_output=True)
            except ProcessLookupError:
                pass


def settle(process: Process) -> None:
    """Wait until the process has stopped working off what a previous run left queued
    (requests wrk gave up on are still being answered), so runs do not overlap."""
    previous = process.cpu_seconds()
    while True:
        time.sleep(0.5)
        now = process.cpu_seconds()
        if now - previous < 0.02:
            return
        previous = now


def measure(wrk_path, process: Process, url: str, seconds: float, load_cpus: str) -> dict:
    settle(process)
    one = wrk(wrk_path, url, 1, seconds, load_cpus)
    settle(process)
    cpu_before = process.cpu_seconds()
    many = wrk(wrk_path, url, 64, seconds, load_cpus)
    cpu_us = (process.cpu_seconds() - cpu_before) * 1e6 / many.requests
    return {"rps@64": many.rps, "p50@1": one.p50_ms, "p99@1": one.p99_ms,
            "p50@64": many.p50_ms, "p99@64": many.p99_ms, "cpu_us": cpu_us,
            "rss_mib": process.peak_rss_mib()}


def measure_rounds(wrk_path, servers: dict, size: int, rounds: int, seconds: float,
                   load_cpus: str) -> dict:
    """Each server measured ``rounds`` times, taking turns (so that a slow spell of this
    shared machine falls on all of them alike); the median of each figure."""
    for process, url in servers.values():
        wrk(wrk_path, url.format(size=size), 64, 2, load_cpus)  # warm up: pools, caches
    runs = {name: [] for name in servers}
    for _ in range(rounds):
        for name, (process, url) in servers.items():
            runs[name].append(measure(wrk_path, process, url.format(size=size), seconds,
                                      load_cpus))
    return {name: {key: statistics.median(run[key] for run in figures) for key in figures[0]}
            for name, figures in runs.items()}


def proxy_argv(upstream_port: int, port: int, *extra: str):
    env = {"IMAGE_V1_PROXY_UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
           "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1", "IMAGE_V1_PROXY_LISTEN_PORT": str(port),
           # the access log is a cost of its own, and a deployment choice: measured without
           "IMAGE_V1_PROXY_LOG_LEVEL": "WARNING"}
    return [PY, "-m", "proxy", *extra], env


def table(results: dict) -> None:
    print(f"\n{'':28}{'baseline':>12}{'proxy':>12}{'ratio':>8}{'cold':>12}{'ratio':>8}")
    for size in (25, 1000):
        base, prox, cold = (results[(name, size)] for name in ("baseline", "proxy", "cold"))
        print(f"-- {size}-image listing")
        for key, label in (("rps@64", "requests/s @64"), ("p50@1", "p50 ms @1"),
                           ("p99@1", "p99 ms @1"), ("p50@64", "p50 ms @64"),
                           ("p99@64", "p99 ms @64"), ("cpu_us", "CPU us/request"),
                           ("rss_mib", "peak RSS MiB")):
            print(f"   {label:25}{base[key]:>12.3f}{prox[key]:>12.3f}"
                  f"{prox[key] / base[key]:>8.2f}{cold[key]:>12.3f}{cold[key] / base[key]:>8.2f}")
    print("(medians of the rounds; cold: the proxy with listing.memo_images 0, so every image "
          "is parsed and translated afresh, as on a first listing)")


def verdict(name: str, value: float, limit: float, unit: str = "x") -> bool:
    ok = value <= limit
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {value:.2f}{unit} (target <= {limit}{unit})")
    return ok


def ensure_nginx() -> str | None:
    """nginx, the reference hop. Its package starts it as a service where it can: stopped,
    when the package was installed here."""
    had = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    path = system_tool("nginx", "nginx-light")
    if path is not None and not had:
        subprocess.run(["systemctl", "stop", "nginx"], check=False, capture_output=True)
    return path


NGINX_CONF = """worker_processes 1; daemon off; pid {dir}/nginx.pid; error_log stderr error;
events {{ worker_connections 256; }}
http {{
  access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};
  upstream glance {{ server 127.0.0.1:{upstream}; keepalive 8; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://glance; proxy_http_version 1.1;
                 proxy_set_header Connection ""; }}
  }}
}}
"""


def glance_scenario(wrk_path: str, pairs: int, keepalive: bool) -> dict[str, float]:
    """p50 of the v1 listing through the proxy / p50 of the v2 listing straight from a real
    Glance v2 holding the same 25 images, one connection; and the same for the proxy's v2
    query through the pass-through baseline and through nginx (``proxy_pass`` with
    keep-alive), what an aiohttp hop and a hop in C cost here before translating anything.

    Glance's own pace drifts by more than 5% from one second to the next, so each is
    measured in pairs of one-second wrk runs against the direct listing, back to back, the
    order alternating; its ratio is the median of its pairs' ratios. The processes are left
    where the kernel puts them, as a sidecar runs (pinned apart, each request through a
    hop would cross cores four times where the direct one crosses none). ``keepalive``:
    Glance keeps connections alive, as behind a production front end; otherwise it closes
    each one, as the test tier's Glance must (uWSGI's router: docs/real-glance.md#configuration)."""
    sys.path.insert(0, str(ROOT))
    import tempfile

    from tests.support.catalogue import ADMIN, V2Api
    from tests.support.glance import GlanceServer, ensure_glance_venv

    everywhere = f"0-{(os.cpu_count() or 1) - 1}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-glance-"))
    glance = GlanceServer(ensure_glance_venv(), keepalive=keepalive).start(workdir, free_port())
    started = []
    try:
        api = V2Api(glance.url)
        for n in range(25):
            api.create(ADMIN, name=f"image-{n:02d}", disk_format="qcow2",
                       container_format="bare", visibility="public", os_distro="ubuntu")
        upstream = int(glance.url.rsplit(":", 1)[1])
        port, base_port = free_port(), free_port()
        argv, env = proxy_argv(upstream, port)
        started.append(Process("proxy", argv, port, everywhere, env))
        started.append(Process("baseline", [PY, "bench/passthrough.py", glance.url,
                                            str(base_port)], base_port, everywhere))
        # what the proxy asks for the v1 listing (v1's scope and order)
        query = "/v2/images?member_status=all&sort_key=created_at&sort_dir=desc&limit=25"
        direct = f"{glance.url}/v2/images?limit=25"
        others = {"proxy": f"http://127.0.0.1:{port}/v1/images/detail",
                  "pass-through": f"http://127.0.0.1:{base_port}{query}"}
        nginx = ensure_nginx()
        if nginx:
            nginx_port = free_port()
            (workdir / "nginx.conf").write_text(NGINX_CONF.format(
                dir=workdir, upstream=upstream, port=nginx_port))
            started.append(Process("nginx", [nginx, "-c", str(workdir / "nginx.conf"),
                                             "-p", str(workdir)], nginx_port, everywhere))
            others["nginx"] = f"http://127.0.0.1:{nginx_port}{query}"
        for url in (direct, *others.values()):
            wrk(wrk_path, url, 1, 1, everywhere)  # warm up: connections, memo
        p50 = {name: [] for name in ("direct", *others)}
        paired = {name: [] for name in others}
        for turn in range(pairs):
            for name, url in others.items():
                first, second = (direct, url) if turn % 2 == 0 else (url, direct)
                times = {u: wrk(wrk_path, u, 1, 1, everywhere).p50_ms for u in (first, second)}
                p50["direct"].append(times[direct])
                p50[name].append(times[url])
                paired[name].append(times[url] / times[direct])
        ratios = {name: statistics.median(paired[name]) for name in others}
        print(f"\n-- real Glance v2 ({'keep-alive' if keepalive else 'closing every connection'}"
              f"), 25 images, 1 connection, {pairs} pairs of 1-second runs; p50 medians, and "
              "the pairs' median ratio to v2 direct")
        print(f"   {'v2 direct':44}{statistics.median(p50['direct']):7.2f} ms")
        for name, label in (("proxy", "v1 through the proxy"),
                            ("pass-through", "the proxy's query, aiohttp pass-through"),
                            ("nginx", "the proxy's query, nginx proxy_pass")):
            if name in ratios:
                print(f"   {label:44}{statistics.median(p50[name]):7.2f} ms {ratios[name]:7.3f}")
        if not nginx:
            print("   (nginx could not be installed: no reference hop)")
        return ratios
    finally:
        for process in started:
            process.stop()
        glance.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server is measured")
    parser.add_argument("--pairs", type=int, default=20,
                        help="pairs of 1-second runs (direct, through the proxy) against Glance")
    parser.add_argument("--no-glance", action="store_true", help="skip the real Glance scenario")
    args = parser.parse_args()
    wrk_path = ensure_wrk()
    server_cpus, load_cpus = cores()
    print(f"machine: {os.cpu_count()} cores; servers pinned to CPU {server_cpus}, wrk to CPU "
          f"{load_cpus}" + (" (one core: nothing could be separated)" if server_cpus == load_cpus
                            else ""))
    upstream_port, base_port, proxy_port = free_port(), free_port(), free_port()
    upstream = Process("upstream", [PY, "bench/upstream.py", str(upstream_port)], upstream_port,
                       load_cpus)  # off the proxy's core: the upstream is not what is measured
    try:
        return _run_all(args, wrk_path, server_cpus, load_cpus, upstream, upstream_port,
                        base_port, proxy_port)
    finally:
        upstream.stop()


def _run_all(args, wrk_path, server_cpus, load_cpus, upstream, upstream_port, base_port,
             proxy_port) -> int:
    baseline = Process("baseline", [PY, "bench/passthrough.py",
                                    f"http://127.0.0.1:{upstream_port}", str(base_port)],
                       base_port, server_cpus)
    argv, env = proxy_argv(upstream_port, proxy_port)
    proxy = Process("proxy", argv, proxy_port, server_cpus, env, ready_path="/healthz")
    cold_port = free_port()
    argv, env = proxy_argv(upstream_port, cold_port)
    cold = Process("cold", argv, cold_port, server_cpus,
                   {**env, "IMAGE_V1_PROXY_LISTING_MEMO_IMAGES": "0"}, ready_path="/healthz")
    servers = {
        "baseline": (baseline, f"http://127.0.0.1:{base_port}/v2/images?limit={{size}}"),
        "proxy": (proxy, f"http://127.0.0.1:{proxy_port}/v1/images/detail?limit={{size}}"),
        "cold": (cold, f"http://127.0.0.1:{cold_port}/v1/images/detail?limit={{size}}"),
    }
    results = {}
    try:
        for size in (25, 1000):
            measured = measure_rounds(wrk_path, servers, size, args.rounds, args.seconds,
                                      load_cpus)
            results.update({(name, size): figures for name, figures in measured.items()})
    finally:
        for process, _ in servers.values():
            process.stop()
    table(results)

    print()
    ok = [
        verdict("25-image CPU per request vs baseline",
                results[("proxy", 25)]["cpu_us"] / results[("baseline", 25)]["cpu_us"], 1.5),
        verdict("1000-image CPU per request vs baseline",
                results[("proxy", 1000)]["cpu_us"] / results[("baseline", 1000)]["cpu_us"], 4),
        verdict("added p50 latency at 1 connection, 25 images",
                results[("proxy", 25)]["p50@1"] - results[("baseline", 25)]["p50@1"], 0.3, " ms"),
    ]
    if (os.cpu_count() or 1) >= 4:
        one_port, two_port = free_port(), free_port()
        scaled = {}
        for workers, port in ((1, one_port), (2, two_port)):
            argv, env = proxy_argv(upstream_port, port, "--workers", str(workers))
            process = Process("proxy", argv, port, "0,1", env, ready_path="/healthz")
            try:
                wrk(wrk_path, f"http://127.0.0.1:{port}/v1/images/detail", 64, 2, "2-")
                scaled[workers] = wrk(wrk_path, f"http://127.0.0.1:{port}/v1/images/detail",
                                      64, args.seconds, "2-").rps
            finally:
                process.stop()
        ok.append(verdict("2 workers vs 1 (throughput, inverted: 1.6x wanted)",
                          1.6 / (scaled[2] / scaled[1]), 1.0))
    else:
        print(f"N/A   2 workers vs 1: needs 4 cores (2 workers, wrk, upstream); "
              f"this machine has {os.cpu_count()}")
    if not args.no_glance:
        kept = glance_scenario(wrk_path, args.pairs, keepalive=True)
        ok.append(verdict("v1 through the proxy vs v2 direct, real Glance, p50",
                          kept["proxy"], 1.05))
        closing = glance_scenario(wrk_path, max(args.pairs // 2, 1), keepalive=False)
        print(f"info  the same with a Glance that closes every connection: "
              f"{closing['proxy']:.2f}x (each upstream call then opens a connection)")
    print(f"\n{sum(ok)} of {len(ok)} targets met")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
