"""The command line, run as a real process: --demo answers the README's example at once,
--check-config validates without serving, bad settings stop start-up with one line, and so
does an address the proxy cannot listen on; --version and --example-config."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import proxy
from proxy.fake_glance.catalogue import CIRROS_CHECKSUM
from tests.support.glance import free_port
from tests.support.seed import SEED_CIRROS_V1

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "image-v1-proxy"


def run(*args, env=None, timeout=30):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_check_config_accepts_the_example():
    result = run("--check-config", "config.example.yaml")
    assert (result.returncode, result.stderr) == (0, "")
    assert "configuration is valid" in result.stdout


def test_a_bad_setting_stops_start_up_with_one_line_naming_the_key(tmp_path):
    result = run("--check-config", "config.example.yaml",
                 env={"IMAGE_V1_PROXY_UPSTREAM_TIMEOUT": "-1"})
    assert result.returncode == 2
    assert result.stderr == (
        "image-v1-proxy: config error: upstream.timeout: must be greater than 0\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstream:\n  url: glance:9292\n")
    result = run("--config", str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "upstream.url" in result.stderr


@pytest.fixture
def demo():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "proxy", "--demo"], cwd=ROOT,
                               env={**os.environ, "IMAGE_V1_PROXY_LISTEN_PORT": str(port),
                                    "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/v1/images/detail?limit=0", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(process.stdout.read().decode())
            time.sleep(0.1)
    process.url, process.port = url, port
    yield process
    if process.poll() is None:
        process.terminate()
    assert process.wait(timeout=10) == 0


def test_demo_answers_the_readme_example_with_the_seeds_cirros(demo):
    with urllib.request.urlopen(demo.url + "/v1.1/images/detail?disk_format=qcow2") as response:
        assert response.status == 200
        images = json.loads(response.read())["images"]
    # the seed's cirros, but for the checksum of the data the demo has for it
    assert {**SEED_CIRROS_V1, "checksum": CIRROS_CHECKSUM} in images
    assert {image["disk_format"] for image in images} == {"qcow2"}


def test_a_malformed_token_never_reaches_the_process_log(demo):
    with socket.create_connection(("127.0.0.1", demo.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/images/detail HTTP/1.1\r\nHost: x\r\n"
                     b"X-Auth-Token: s3cr3t-t0ken\x7f\r\n\r\n")
        assert b" 400 " in sock.recv(4096).split(b"\r\n")[0]
    demo.terminate()
    output = demo.communicate(timeout=10)[0].decode()
    assert "(BadHttpMessage, details redacted)" in output
    assert "s3cr3t-t0ken" not in output


def test_version_prints_the_installed_version():
    result = run("--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"image-v1-proxy {importlib.metadata.version('image-v1-proxy')}\n"
    assert result.stdout == f"image-v1-proxy {proxy.__version__}\n"


def test_example_config_prints_the_annotated_example_the_package_ships(tmp_path):
    result = run("--example-config")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (ROOT / "proxy" / "config.example.yaml").read_text()
    assert result.stdout.startswith("# image-v1-proxy settings.")
    mine = tmp_path / "config.yaml"
    mine.write_text(result.stdout)
    checked = run("--check-config", str(mine))
    assert (checked.returncode, checked.stdout, checked.stderr) == (
        0, f"image-v1-proxy: {mine}: configuration is valid\n", "")


def test_help_names_no_file_that_is_not_installed():
    result = run("--help")
    assert result.returncode == 0
    assert "config.example.yaml" not in result.stdout
    assert "--example-config" in result.stdout and "--version" in result.stdout


@pytest.mark.parametrize("url", ["http://127.0.0.1:9293/v2", "http://127.0.0.1:9293/v2/",
                                 "http://127.0.0.1:9293/v1"])
def test_an_upstream_url_ending_in_a_version_is_refused_by_check_and_at_start_up(tmp_path, url):
    version = url.rstrip("/").rsplit("/", 1)[1]
    line = (f"image-v1-proxy: config error: upstream.url: ends in the API version /{version}: "
            "give the URL without the version (http://127.0.0.1:9293); the proxy adds /v2 "
            "itself\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"upstream:\n  url: {url}\n")
    checked = run("--check-config", str(config))
    assert (checked.returncode, checked.stdout, checked.stderr) == (2, "", line)
    started = run(env={"IMAGE_V1_PROXY_UPSTREAM_URL": url})
    assert (started.returncode, started.stdout, started.stderr) == (2, "", line)


def test_an_environment_variable_naming_no_setting_is_refused_with_the_nearest_name():
    line = ("image-v1-proxy: config error: IMAGE_V1_PROXY_UPSTREAM_TIMOUT: unknown setting, "
            "did you mean IMAGE_V1_PROXY_UPSTREAM_TIMEOUT?\n")
    env = {"IMAGE_V1_PROXY_UPSTREAM_TIMOUT": "5"}
    checked = run("--check-config", "config.example.yaml", env=env)
    assert (checked.returncode, checked.stdout, checked.stderr) == (2, "", line)
    started = run("--demo", env=env)
    assert (started.returncode, started.stdout, started.stderr) == (2, "", line)


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("listen:\n  port: 9292\n host: 127.0.0.1\n")
    result = run("--check-config", str(config))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"image-v1-proxy: config error: config file: {config}, line 3, column 2: not valid "
        "YAML: expected <block end>, but found '<block mapping start>' (while parsing a block "
        "mapping started on line 1)\n")


def serving(args, env, port):
    """Start ``python -m proxy ARGS``; the process once it answers on ``port``."""
    process = subprocess.Popen([sys.executable, "-m", "proxy", *args], cwd=ROOT,
                               env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(process.stdout.read().decode())
            time.sleep(0.1)


def test_a_quoted_number_in_the_file_is_the_number(tmp_path):
    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(f'listen:\n  host: "127.0.0.1"\n  port: "{port}"\n'
                      'upstream:\n  url: http://127.0.0.1:9293\n  timeout: "2.5"\n'
                      'shutdown:\n  grace: "0"\n  deadline: "1"\n')
    checked = run("--check-config", str(config))
    assert (checked.returncode, checked.stderr) == (0, "")
    process = serving(["--demo", "--config", str(config)], {}, port)
    process.terminate()
    assert process.wait(timeout=10) == 0


def last_line(result) -> str:
    lines = result.stderr.splitlines()
    return lines[-1] if lines else ""


def test_a_port_in_use_is_one_line_naming_the_address_no_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--demo", "--port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.endswith("\n") and last_line(result) == (
        f"image-v1-proxy: cannot listen on 127.0.0.1:{port}: address already in use")


def test_an_unknown_host_is_one_line_naming_the_address_no_traceback():
    result = run("--demo", env={"IMAGE_V1_PROXY_LISTEN_HOST": "no-such-host.invalid"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert last_line(result).startswith(
        "image-v1-proxy: cannot listen on no-such-host.invalid:9292: unknown host (")


def test_an_address_of_no_interface_here_is_one_line():
    result = run("--demo", "--host", "192.0.2.1", "--port", "9292")  # TEST-NET-1
    assert (result.returncode, "Traceback" in result.stderr) == (1, False)
    assert last_line(result) == (
        "image-v1-proxy: cannot listen on 192.0.2.1:9292: no such address on this machine")


def _privileged_port_run():
    """``run`` for a user who may not listen on port 80, or None when there is none here."""
    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if start.exists() and int(start.read_text()) <= 80:
        return None
    if os.geteuid() != 0:
        return run
    # root: without the capability to bind a privileged port
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    drop = [setpriv, "--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service"]
    if subprocess.run([*drop, "true"], capture_output=True).returncode != 0:
        return None
    return lambda *args: subprocess.run([*drop, str(SCRIPT), *args], capture_output=True,
                                        text=True, timeout=30, cwd=ROOT)


def test_a_privileged_port_is_one_line_naming_the_address_no_traceback():
    runner = _privileged_port_run()
    if runner is None:
        pytest.skip("nothing here stops a process from listening on port 80")
    result = runner("--demo", "--port", "80")
    assert (result.returncode, "Traceback" in result.stderr) == (1, False)
    assert last_line(result) == ("image-v1-proxy: cannot listen on 127.0.0.1:80: permission "
                                 "denied (a port below 1024 needs privileges)")


def test_an_embedded_tombstone_file_that_cannot_be_made_is_one_line_no_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = blocker / "tombstones.sqlite"
    result = run("--port", str(free_port()), env={
        "IMAGE_V1_PROXY_UPSTREAM_URL": "http://127.0.0.1:9",
        "IMAGE_V1_PROXY_TOMBSTONES_SQLITE_PATH": str(path)})
    assert (result.returncode, "Traceback" in result.stderr) == (1, False), result.stderr
    assert last_line(result).startswith(
        f"image-v1-proxy: cannot keep tombstones in {path}: FileExistsError: ")
