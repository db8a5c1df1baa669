"""The command line, run as a real process: --demo answers the README's example at once,
--check-config validates without serving, bad settings stop start-up with one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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
    assert SEED_CIRROS_V1 in images
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
