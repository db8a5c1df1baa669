"""An upstream that answers its version document with something else (a 404 page, HTML, the
wrong JSON), seen by a real ``python -m proxy`` process: an ERROR line at start-up and at
each retry naming the URL and what came back, and ``/readyz`` saying what was answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.glance import free_port
from tests.support.servers import ThreadedApp

ROOT = Path(__file__).resolve().parents[2]
GLANCE_DOCUMENT = {"versions": [{"id": "v2.17", "status": "CURRENT", "links": []},
                                {"id": "v2.0", "status": "SUPPORTED", "links": []}]}
NOT_FOUND_PAGE = ("<html>\n<head><title>404 Not Found</title></head>\n<body>\n"
                  "<center><h1>404 Not Found</h1></center>\n<hr><center>nginx</center>\n"
                  "</body>\n</html>\n")


class Upstream:
    """Answers every GET with ``self.answer`` (a web.Response factory), recording headers."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.seen: list[dict] = []

        def make_app():
            app = web.Application()
            app.router.add_get("/{tail:.*}", self._handle)
            return app

        self.server = ThreadedApp(make_app).start()
        self.url = self.server.url

    async def _handle(self, request):
        self.seen.append(dict(request.headers))
        return self.answer()


def ask(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None, None


@pytest.fixture
def started():
    """``started(upstream)``: a proxy process in front of it, its port and output file."""
    running = []

    def start(upstream: Upstream):
        port = free_port()
        output = tempfile.TemporaryFile()
        env = {**os.environ, "IMAGE_V1_PROXY_UPSTREAM_URL": upstream.url,
               "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1", "IMAGE_V1_PROXY_LISTEN_PORT": str(port),
               "IMAGE_V1_PROXY_UPSTREAM_VERSION_REFRESH_INTERVAL": "0.3",
               "IMAGE_V1_PROXY_SHUTDOWN_GRACE": "0"}
        process = subprocess.Popen([sys.executable, "-m", "proxy"], cwd=ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
        running.append((process, output, upstream))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while ask(base + "/healthz")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, read(output)
            time.sleep(0.1)
        return base, output

    yield start
    for process, output, upstream in running:
        process.kill()
        process.wait(timeout=10)
        output.close()
        upstream.server.stop()


def read(output) -> str:
    output.seek(0)
    return output.read().decode(errors="replace")


def errors_logged(output) -> list[str]:
    complete = read(output).rpartition("\n")[0]  # not a line being written
    return [line["message"] for line in map(json.loads, complete.splitlines())
            if line["level"] == "ERROR"]


def wait_for_errors(output, count: int) -> list[str]:
    deadline = time.monotonic() + 15
    while len(found := errors_logged(output)) < count:
        assert time.monotonic() < deadline, read(output)
        time.sleep(0.1)
    return found


def test_a_404_page_is_logged_at_start_and_each_retry_and_readyz_says_so(started):
    upstream = Upstream(lambda: web.Response(status=404, text=NOT_FOUND_PAGE,
                                             content_type="text/html"))
    base, output = started(upstream)
    errors = wait_for_errors(output, 2)  # at start-up, then at the retry
    u = upstream.url
    excerpt = ("'<html> <head><title>404 Not Found</title></head> <body> <center><h1>404 Not "
               "Foun...'")
    assert errors[0] == errors[1] == (
        f"upstream {u} answers no Glance version document (is upstream.url the image "
        f"service's root URL?): GET {u}/versions: 404 text/html {excerpt}; "
        f"GET {u}/: 404 text/html {excerpt}")
    assert ask(base + "/readyz") == (503, {"status": "upstream answers no version document",
                                           "answered": "404 text/html"})
    # no token was ever sent for it, so none can come back in a log line
    assert upstream.seen and not any("X-Auth-Token" in h for h in upstream.seen)

    upstream.answer = lambda: web.json_response(GLANCE_DOCUMENT)  # fixed: ready again
    deadline = time.monotonic() + 10
    while (answer := ask(base + "/readyz"))[0] != 200:
        assert time.monotonic() < deadline, answer
        time.sleep(0.1)
    assert answer == (200, {"status": "ready", "upstream_api": "v2.17"})


@pytest.mark.parametrize("answer, answered, shown", [
    (lambda: web.Response(text="<!DOCTYPE html><title>Welcome</title>", content_type="text/html"),
     "200 text/html", "200 text/html '<!DOCTYPE html><title>Welcome</title>'"),
    (lambda: web.json_response({"error": {"code": 401, "message": "Unauthorized"}}, status=401),
     "401 application/json",
     """401 application/json '{"error": {"code": 401, "message": "Unauthorized"}}'"""),
    (lambda: web.json_response({"images": []}),
     "200 application/json", """200 application/json '{"images": []}'"""),
])
def test_the_wrong_answer_is_named(started, answer, answered, shown):
    upstream = Upstream(answer)
    base, output = started(upstream)
    error = wait_for_errors(output, 1)[0]
    assert error.endswith(f"GET {upstream.url}/versions: {shown}; GET {upstream.url}/: {shown}")
    assert ask(base + "/readyz") == (503, {"status": "upstream answers no version document",
                                           "answered": answered})


def test_another_services_version_document_is_named_by_what_it_lists(started):
    keystone = {"versions": {"values": [{"id": "v3.14", "status": "stable"}]}}
    upstream = Upstream(lambda: web.json_response(keystone, status=300))
    base, output = started(upstream)
    error = wait_for_errors(output, 1)[0]
    assert error == (f"upstream {upstream.url} lists no v2 image API (is upstream.url the "
                     f"image service's root URL?): GET {upstream.url}/versions: 300 "
                     f"application/json listing v3.14; GET {upstream.url}/: 300 "
                     "application/json listing v3.14")
    assert ask(base + "/readyz") == (503, {"status": "upstream not answering"})
