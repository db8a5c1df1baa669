"""The benchmark: the proxy against a pass-through baseline measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/run.py [--seconds 4] [--rounds 3] [--pairs 20]
        [--scenarios identical,churn,mixed,floor,glance] [--no-glance]

Starts the v2 upstream (the fake Glance's answers, pre-built: bench/upstream.py), the
pass-through baseline (bench/passthrough.py), the proxy, and the proxy "cold" (its
listing memo off: IMAGE_V1_PROXY_LISTING_MEMO_IMAGES=0), each a process of its own, the
servers pinned to one core and wrk and the upstream to the other; drives them with wrk
(installed with apt-get when missing), the servers taking turns for a few rounds, and
prints the medians of requests per second at 64 connections, p50/p99 latency at 1 and 64
connections, CPU microseconds per request, and each server's peak RSS in that scenario
(reset before it), each with its ratio to the baseline; then PASS/FAIL against the
targets of issues 6 and 16. The scenarios (``--scenarios`` picks some):

- identical: every upstream answer the same bytes (a catalogue polled, nothing changing),
  25- and 1000-image listings;
- churn: every image of every answer differs from the previous answer's (a revision
  property counting up; the upstream's mode is switched at run time, PUT /bench/mode),
  25 and 1000 images: what the proxy costs when nothing can be remembered;
- mixed: about 5% of the images change between answers (a rotating 5%), 1000 images;
- floor: the translation floor and the proxy's own listing path, measured alike (bench/floor.py,
  in a process pinned to the servers' core, taking turns on the same churned bodies);
- glance: the v1 listing through the proxy against the aiohttp pass-through and the v2
  listing straight from a real Glance v2 (installed into a cached venv), nginx as the
  reference hop; keep-alive, then (info) a Glance closing every connection.

Churn is measured first, so that its peak RSS is its own: a peak can be reset, but not
below what the process holds, and Python keeps what earlier blocks made it take (the
table shows the RSS each block started from). The upstream's mode is checked before
each changing scenario: successive answers differ in every image, or in about 5%, and the
proxy shows the revisions under its v1 ``properties``.

A default run takes about 13 minutes on this project's 2-core VM: the served scenarios 5
blocks (churn 25 and 1000, mixed 1000, identical 25 and 1000) of 3 servers x 3 rounds x
2 wrk runs of 4 s, with warm-up and settling, about 1.5 minutes each; the floor 10 s;
Glance about 5 minutes (two start-ups, 20 and 10 pairs of 4 comparisons). For quick
iterations: ``--scenarios churn,floor --seconds 1 --rounds 1`` (under a minute).
"""

from __future__ import annotations

import argparse
import json
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

    def reset_peak(self) -> None:
        """The peak RSS (VmHWM) of the process and its children set back to what each uses
        now, so that the next scenario's peak is its own."""
        for pid in [self.popen.pid, *self._children()]:
            Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_rss_mib(self, field: str = "VmHWM") -> float:
        """The peak RSS of the process and its children (``field`` VmRSS: what they hold
        now)."""
        peak = 0
        for pid in [self.popen.pid, *self._children()]:
            status = Path(f"/proc/{pid}/status").read_text()
            peak += int(re.search(field + r":\s+(\d+)", status).group(1))
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
            "p50@64": many.p50_ms, "p99@64": many.p99_ms, "cpu_us": cpu_us}


def measure_rounds(wrk_path, servers: dict, size: int, rounds: int, seconds: float,
                   load_cpus: str) -> dict:
    """Each server measured ``rounds`` times, taking turns (so that a slow spell of this
    shared machine falls on all of them alike); the median of each figure, and the peak
    RSS of the whole block (warm-up included), reset at its start, and the RSS then (the
    peak cannot be reset below it: what earlier blocks left, Python keeping its freed
    memory)."""
    at_start = {}
    for name, (process, url) in servers.items():
        process.reset_peak()
        at_start[name] = process.peak_rss_mib("VmRSS")
    for process, url in servers.values():
        wrk(wrk_path, url.format(size=size), 64, 2, load_cpus)  # warm up: pools, caches
    runs = {name: [] for name in servers}
    for _ in range(rounds):
        for name, (process, url) in servers.items():
            runs[name].append(measure(wrk_path, process, url.format(size=size), seconds,
                                      load_cpus))
    return {name: {**{key: statistics.median(run[key] for run in figures)
                      for key in figures[0]},
                   "rss_mib": servers[name][0].peak_rss_mib(), "rss_start": at_start[name]}
            for name, figures in runs.items()}


# name -> (the upstream's churn: the share of the images that change between answers,
# the listing sizes measured), in the order measured: churn first, so that its peak RSS is
# its own (a block's peak cannot be reset below what the blocks before it left resident)
SERVED = {"churn": (1, (25, 1000)), "mixed": (0.05, (1000,)), "identical": (0, (25, 1000))}
SCENARIOS = ("identical", "churn", "mixed", "floor", "glance")
TOKEN = {"X-Auth-Token": "bench:reader,member"}


def set_churn(upstream_port: int, share: float) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{upstream_port}/bench/mode?churn={share}", method="PUT")
    urllib.request.urlopen(request, timeout=10).read()


def get_json(url: str):
    with urllib.request.urlopen(urllib.request.Request(url, headers=TOKEN), timeout=60) as r:
        return json.loads(r.read())


def check_churn(upstream_port: int, proxy_port: int, share: float) -> str:
    """That the upstream's answers in this mode are what the scenario says (successive
    1000-image answers differing in every image, or in about ``share`` of them), and that
    the proxy answers with each changed image's revision under its v1 properties; one line
    saying so. (The proxy is asked for 25 images: a 1000-image answer would raise its RSS
    before the scenario's peak is reset, and the peak cannot be reset below it.)"""
    def answers(url: str) -> tuple[list, list]:
        first, second = (get_json(url)["images"] for _ in range(2))
        if [i["id"] for i in first] != [i["id"] for i in second]:
            raise RuntimeError(f"successive answers of {url} list other images")
        return first, second

    first, second = answers(f"http://127.0.0.1:{upstream_port}/v2/images?limit=1000")
    v2 = sum(a != b for a, b in zip(first, second))
    first, second = answers(f"http://127.0.0.1:{proxy_port}/v1/images/detail?limit=25")
    revisions = [image["properties"].get("revision") for image in second]
    v1 = sum(a["properties"].get("revision") != r for a, r in zip(first, revisions))
    if share == 1 and not (v2 == 1000 and v1 == 25 and None not in revisions):
        raise RuntimeError(f"churn: {v2} of 1000 upstream images and {v1} of 25 v1 "
                           "revisions changed")
    if share < 1 and not (0.5 * share * 1000 <= v2 <= 2 * share * 1000 and v1 > 0):
        raise RuntimeError(f"churn={share}: {v2} of 1000 upstream images and {v1} of 25 v1 "
                           "revisions changed")
    return (f"checked: {v2} of 1000 images differ between successive upstream answers, "
            f"{v1} of 25 v1 revisions (properties) between successive proxy answers")


def proxy_argv(upstream_port: int, port: int, *extra: str):
    env = {"IMAGE_V1_PROXY_UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
           "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1", "IMAGE_V1_PROXY_LISTEN_PORT": str(port),
           # the access log is a cost of its own, and a deployment choice: measured without
           "IMAGE_V1_PROXY_LOG_LEVEL": "WARNING"}
    return [PY, "-m", "proxy", *extra], env


def table(results: dict, scenario: str) -> None:
    share = SERVED[scenario][0]
    what = {0: "identical answers", 1: "churn: every image differs in every answer"}.get(
        share, f"mixed: about {share:.0%} of the images differ between answers")
    print(f"\n== {scenario} ({what})")
    print(f"{'':28}{'baseline':>12}{'proxy':>12}{'ratio':>8}{'cold':>12}{'ratio':>8}")
    for size in SERVED[scenario][1]:
        base, prox, cold = (results[(scenario, name, size)]
                            for name in ("baseline", "proxy", "cold"))
        print(f"-- {size}-image listing")
        for key, label in (("rps@64", "requests/s @64"), ("p50@1", "p50 ms @1"),
                           ("p99@1", "p99 ms @1"), ("p50@64", "p50 ms @64"),
                           ("p99@64", "p99 ms @64"), ("cpu_us", "CPU us/request"),
                           ("rss_mib", "peak RSS MiB"),
                           ("rss_start", "  RSS MiB at its start")):
            print(f"   {label:25}{base[key]:>12.3f}{prox[key]:>12.3f}"
                  f"{prox[key] / base[key]:>8.2f}{cold[key]:>12.3f}{cold[key] / base[key]:>8.2f}")


def table_note() -> None:
    print("(in the order measured; medians of the rounds; peak RSS: the highest of each "
          "scenario and size, reset before it, but never below the RSS at its start, what the "
          "blocks before it left; cold: the proxy with listing.memo_images 0, so every image "
          "is parsed and translated afresh, as on a first listing)")


def run_floor(server_cpus: str) -> dict:
    """The translation floor and the proxy's own listing path, us per image, measured
    alike, taking turns on the same churned bodies, in a process of its own on the servers'
    core: {"us_per_image": floor, "proxy_us_per_image": the proxy's}."""
    out = subprocess.run(["taskset", "-c", server_cpus, PY, "bench/floor.py", "--json",
                          "--repeat", "60"], cwd=ROOT, check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    return json.loads(out.splitlines()[-1])


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
    """The v1 listing through the proxy, and the proxy's v2 query through the aiohttp
    pass-through and through nginx (``proxy_pass`` with keep-alive: what a hop in C costs
    here), each against the v2 listing straight from a real Glance v2 holding the same 25
    images, one connection; and the proxy against the pass-through itself, both in front of
    that Glance: the proxy's own share, what it adds to any aiohttp hop.

    Glance's own pace drifts by more than 5% from one second to the next, so each
    comparison is made in pairs of one-second wrk runs, back to back, the order
    alternating; its ratio is the median of its pairs' ratios. The processes are left
    where the kernel puts them, as a sidecar runs (pinned apart, each request through a
    hop would cross cores four times where the direct one crosses none). ``keepalive``:
    Glance keeps connections alive, as behind a production front end; otherwise it closes
    each one, as the test tier's Glance must (uWSGI's router: docs/real-glance.md#configuration).
    Returns the ratios by name ("proxy", "pass-through", "nginx": to v2 direct;
    "proxy/pass-through")."""
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
        urls = {"direct": f"{glance.url}/v2/images?limit=25",
                "proxy": f"http://127.0.0.1:{port}/v1/images/detail",
                "pass-through": f"http://127.0.0.1:{base_port}{query}"}
        nginx = ensure_nginx()
        if nginx:
            nginx_port = free_port()
            (workdir / "nginx.conf").write_text(NGINX_CONF.format(
                dir=workdir, upstream=upstream, port=nginx_port))
            started.append(Process("nginx", [nginx, "-c", str(workdir / "nginx.conf"),
                                             "-p", str(workdir)], nginx_port, everywhere))
            urls["nginx"] = f"http://127.0.0.1:{nginx_port}{query}"
        # name -> (measured, reference): each pair's ratio is measured / reference
        compared = {name: (name, "direct") for name in urls if name != "direct"}
        compared["proxy/pass-through"] = ("proxy", "pass-through")
        for url in urls.values():
            wrk(wrk_path, url, 1, 1, everywhere)  # warm up: connections, memo
        p50 = {name: [] for name in urls}
        paired = {name: [] for name in compared}
        for turn in range(pairs):
            for name, (measured, reference) in compared.items():
                order = (reference, measured) if turn % 2 == 0 else (measured, reference)
                times = {u: wrk(wrk_path, urls[u], 1, 1, everywhere).p50_ms for u in order}
                for u in order:
                    p50[u].append(times[u])
                paired[name].append(times[measured] / times[reference])
        ratios = {name: statistics.median(paired[name]) for name in compared}
        print(f"\n== real Glance v2 ({'keep-alive' if keepalive else 'closing every connection'}"
              f"), 25 images, 1 connection, {pairs} pairs of 1-second runs per comparison; "
              "p50 medians, and the pairs' median ratios")
        print(f"   {'':44}{'p50':>10}{'vs direct':>11}{'vs pass-through':>17}")
        for name, label in (("direct", "v2 direct"),
                            ("proxy", "v1 through the proxy"),
                            ("pass-through", "the proxy's query, aiohttp pass-through"),
                            ("nginx", "the proxy's query, nginx proxy_pass")):
            if name in urls:
                versus = f"{ratios[name]:11.3f}" if name in ratios else f"{'':11}"
                own = (f"{ratios['proxy/pass-through']:17.3f}" if name == "proxy" else "")
                print(f"   {label:44}{statistics.median(p50[name]):7.2f} ms{versus}{own}")
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
    parser.add_argument("--seconds", type=float, default=4, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server is measured")
    parser.add_argument("--pairs", type=int, default=20,
                        help="pairs of 1-second runs per comparison against Glance (half as "
                        "many with the Glance that closes connections)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"a comma-separated subset of {','.join(SCENARIOS)} (default: all)")
    parser.add_argument("--no-glance", action="store_true", help="skip the real Glance scenario")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {', '.join(sorted(unknown))}: "
                     f"choose among {', '.join(SCENARIOS)}")
    if args.no_glance and "glance" in chosen:
        chosen.remove("glance")
    began = time.monotonic()
    wrk_path = ensure_wrk()
    server_cpus, load_cpus = cores()
    print(f"machine: {os.cpu_count()} cores; servers pinned to CPU {server_cpus}, wrk and the "
          f"upstream to CPU {load_cpus}" + (" (one core: nothing could be separated)"
                                            if server_cpus == load_cpus else ""))
    results = {}
    served = [name for name in SERVED if name in chosen]
    if served:
        results = run_served(args, served, wrk_path, server_cpus, load_cpus)
    floor = run_floor(server_cpus) if "floor" in chosen else None

    print()
    ok = verdicts(results, floor)
    if "glance" in chosen:
        kept = glance_scenario(wrk_path, args.pairs, keepalive=True)
        closing = glance_scenario(wrk_path, max(args.pairs // 2, 1), keepalive=False)
        print()
        ok.append(verdict("v1 through the proxy vs the aiohttp pass-through, real Glance, p50",
                          kept["proxy/pass-through"], 1.02))
        print(f"info  v1 through the proxy vs v2 direct, real Glance, p50: {kept['proxy']:.3f}x"
              f" (the pass-through: {kept['pass-through']:.3f}x"
              + (f", nginx: {kept['nginx']:.3f}x)" if "nginx" in kept else ")"))
        print(f"info  the same with a Glance that closes every connection (each upstream call "
              f"then opens a connection): proxy vs pass-through "
              f"{closing['proxy/pass-through']:.3f}x, proxy vs v2 direct {closing['proxy']:.3f}x")
    minutes, seconds = divmod(round(time.monotonic() - began), 60)
    print(f"\n{sum(ok)} of {len(ok)} targets met ({', '.join(chosen)}; {minutes} min "
          f"{seconds} s)")
    return 0 if all(ok) else 1


def run_served(args, served: list[str], wrk_path: str, server_cpus: str,
               load_cpus: str) -> dict:
    """The scenarios against the pre-built upstream: {(scenario, server, size): figures};
    the tables printed."""
    upstream_port, base_port, proxy_port, cold_port = (free_port() for _ in range(4))
    started = [Process("upstream", [PY, "bench/upstream.py", str(upstream_port)],
                       upstream_port, load_cpus)]  # off the servers' core: not measured
    try:
        started.append(Process("baseline", [PY, "bench/passthrough.py",
                                            f"http://127.0.0.1:{upstream_port}", str(base_port)],
                               base_port, server_cpus))
        argv, env = proxy_argv(upstream_port, proxy_port)
        started.append(Process("proxy", argv, proxy_port, server_cpus, env,
                               ready_path="/healthz"))
        argv, env = proxy_argv(upstream_port, cold_port)
        started.append(Process("cold", argv, cold_port, server_cpus,
                               {**env, "IMAGE_V1_PROXY_LISTING_MEMO_IMAGES": "0"},
                               ready_path="/healthz"))
        baseline, proxy, cold = started[1:]
        servers = {
            "baseline": (baseline, f"http://127.0.0.1:{base_port}/v2/images?limit={{size}}"),
            "proxy": (proxy, f"http://127.0.0.1:{proxy_port}/v1/images/detail?limit={{size}}"),
            "cold": (cold, f"http://127.0.0.1:{cold_port}/v1/images/detail?limit={{size}}"),
        }
        results = {}
        for scenario in served:
            share, sizes = SERVED[scenario]
            for process, _ in servers.values():
                settle(process)  # what wrk gave up on in the last block still calls upstream
            set_churn(upstream_port, share)
            if share:
                print(f"{scenario}: {check_churn(upstream_port, proxy_port, share)}")
            for size in sizes:
                measured = measure_rounds(wrk_path, servers, size, args.rounds, args.seconds,
                                          load_cpus)
                results.update({(scenario, name, size): figures
                                for name, figures in measured.items()})
        for process in started[1:]:
            process.stop()
        del started[1:]
        for scenario in served:
            table(results, scenario)
        table_note()
        if "identical" in served and (os.cpu_count() or 1) >= 4:
            set_churn(upstream_port, 0)
            results["workers"] = scaling(wrk_path, upstream_port, args.seconds)
        return results
    finally:
        for process in started:
            process.stop()


def scaling(wrk_path: str, upstream_port: int, seconds: float) -> dict[int, float] | None:
    """Requests per second of the proxy with 1 and with 2 workers (identical answers);
    None where there are fewer than 4 cores (2 workers, wrk, upstream)."""
    if (os.cpu_count() or 1) < 4:
        return None
    scaled = {}
    for workers in (1, 2):
        port = free_port()
        argv, env = proxy_argv(upstream_port, port, "--workers", str(workers))
        process = Process("proxy", argv, port, "0,1", env, ready_path="/healthz")
        try:
            wrk(wrk_path, f"http://127.0.0.1:{port}/v1/images/detail", 64, 2, "2-")
            scaled[workers] = wrk(wrk_path, f"http://127.0.0.1:{port}/v1/images/detail",
                                  64, seconds, "2-").rps
        finally:
            process.stop()
    return scaled


def verdicts(results: dict, floor: dict | None) -> list[bool]:
    """The targets of the scenarios measured, PASS/FAIL (info lines for what has none)."""
    def cpu(scenario, name, size):
        return results[(scenario, name, size)]["cpu_us"]

    def versus(scenario, size, name="proxy", reference="baseline"):
        return cpu(scenario, name, size) / cpu(scenario, reference, size)

    ok = []
    if ("identical", "proxy", 25) in results:
        ok += [
            verdict("identical, 25-image CPU per request vs baseline", versus("identical", 25),
                    1.5),
            verdict("identical, 1000-image CPU per request vs baseline",
                    versus("identical", 1000), 4),
            verdict("added p50 latency at 1 connection, 25 images",
                    results[("identical", "proxy", 25)]["p50@1"]
                    - results[("identical", "baseline", 25)]["p50@1"], 0.3, " ms"),
        ]
        scaled = results.get("workers")
        if scaled:
            ok.append(verdict("2 workers vs 1 (throughput, inverted: 1.6x wanted)",
                              1.6 / (scaled[2] / scaled[1]), 1.0))
        else:
            print(f"N/A   2 workers vs 1: needs 4 cores (2 workers, wrk, upstream); "
                  f"this machine has {os.cpu_count()}")
    if floor is not None:
        print(f"info  translation floor: {floor['us_per_image']:.2f} us/image; the proxy's "
              f"listing path, measured alike (in-process, same bodies, taking turns): "
              f"{floor['proxy_us_per_image']:.2f} us/image")
    if ("churn", "proxy", 25) in results:
        own = ((cpu("churn", "proxy", 1000) - cpu("churn", "proxy", 25))
               - (cpu("churn", "baseline", 1000) - cpu("churn", "baseline", 25))) / 975
        print(f"info  under churn, served, what the proxy adds per image (its CPU per request "
              f"from 25 to 1000 images, less the baseline's, / 975): {own:.2f} us/image")
        ok.append(verdict("churn, 25-image CPU per request vs baseline", versus("churn", 25),
                          2.0))
        six = verdict("churn, 1000-image CPU per request vs baseline", versus("churn", 1000), 6)
        if floor is not None:
            within = verdict("churn, the proxy's per-image translation vs the floor",
                             floor["proxy_us_per_image"] / floor["us_per_image"], 1.2)
            print("      (" + ("the 6x line counts; the floor line is information" if six else
                               "the 6x line failed: the floor line counts in its place") + ")")
            ok.append(six or within)
        else:
            print("      (the floor was not measured: the 6x line counts alone)")
            ok.append(six)
        for size in (25, 1000):
            ok.append(verdict(f"memo never worse: churn, {size}-image CPU per request, proxy "
                              f"vs cold", versus("churn", size, "proxy", "cold"), 1.05))
        ok.append(verdict("churn, 1000-image peak RSS vs baseline",
                          results[("churn", "proxy", 1000)]["rss_mib"]
                          / results[("churn", "baseline", 1000)]["rss_mib"], 1.3))
    if ("mixed", "proxy", 1000) in results:
        print(f"info  mixed (about 5% of the images changing), 1000-image CPU per request: "
              f"proxy {versus('mixed', 1000):.2f}x baseline (cold "
              f"{versus('mixed', 1000, 'cold'):.2f}x), proxy "
              f"{versus('mixed', 1000, 'proxy', 'cold'):.2f}x cold")
    return ok


if __name__ == "__main__":
    sys.exit(main())
