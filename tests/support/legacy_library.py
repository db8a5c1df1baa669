"""Drive the REAL python-glanceclient 2.17.1 as a LIBRARY, as Nova and Cinder used v1:
``glanceclient.Client('1', endpoint, token=...)``.

The library runs inside its own venv (``legacy-venv``, the one the CLI tests use), never in
the test venv: a small driver runs under that venv's python and reads one request a line on
stdin, ``{"endpoint", "token", "code", "vars"}``; it runs ``code`` (Python) with ``glance``
bound to a fresh v1 ``Client`` for that endpoint and token and the ``vars`` as names, and
writes one JSON line back: ``{"result": <the snippet's result>}`` or ``{"error": {...}}``
with the glanceclient exception's class, HTTP ``code`` and ``details`` (what the library
shows its caller). One driver process serves a whole session (starting Python and
importing glanceclient costs about 0.8 s; a call then costs what its requests cost).

In snippets: images and members are turned into their ``to_dict()`` (the body or headers
the library parsed), iterables into lists, ``bytes`` travel both ways base64-encoded; the
helpers ``BytesIO``, ``md5`` and ``details_of(status, content_type, body)`` (what
glanceclient's ``exc.from_response`` makes of a given answer: the message a caller of the
library gets from an error body) are in scope.

Public surface:
    GlanceLibrary(python)        .call(endpoint, token, code, **vars) -> result
                                  (raises LibraryError), .close()
    LibraryError                 .type, .code, .details, .text
    ensure_glanceclient_python() -> Path of the legacy venv's python
    head_view(v1_image)          -> what ``images.get`` returns for an image v1 described
                                    with this detail dict
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import subprocess
import threading
from pathlib import Path

from tests.support.legacy_client import ensure_glanceclient_venv

CALL_TIMEOUT = 60.0

DRIVER = r'''
import base64, hashlib, io, json, sys, traceback

import glanceclient
from glanceclient import exc

_out = sys.stdout
sys.stdout = sys.stderr  # a print() in a snippet must not break the protocol


def _hook(obj):
    if set(obj) == {"__bytes__"}:
        return base64.b64decode(obj["__bytes__"])
    return obj


def _default(obj):
    if isinstance(obj, bytes):
        return {"__bytes__": base64.b64encode(obj).decode("ascii")}
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "__iter__"):
        return list(obj)
    raise TypeError("cannot send %r back" % (obj,))


class _Answer(object):
    """Just enough of a requests.Response for exc.from_response."""

    def __init__(self, status, content_type, body):
        self.status_code = status
        self.headers = {"content-type": content_type}
        self.content = body.encode("utf-8")
        self.text = body

    def json(self):
        return json.loads(self.text)


def details_of(status, content_type, body):
    return exc.from_response(_Answer(status, content_type, body),
                             body.encode("utf-8")).details


def md5(data):
    return hashlib.md5(data).hexdigest()


for line in sys.stdin:
    request = json.loads(line, object_hook=_hook)
    names = {"glance": glanceclient.Client("1", request["endpoint"], token=request["token"]),
             "BytesIO": io.BytesIO, "md5": md5, "details_of": details_of}
    names.update(request["vars"])
    try:
        exec(compile(request["code"], "<snippet>", "exec"), names)
        answer = {"result": names.get("result")}
    except exc.HTTPException as error:
        answer = {"error": {"type": type(error).__name__, "code": error.code,
                            "details": error.details, "text": str(error)}}
    except Exception as error:
        answer = {"error": {"type": type(error).__name__, "code": None, "details": None,
                            "text": "%s\n%s" % (error, traceback.format_exc())}}
    try:
        text = json.dumps(answer, default=_default)
    except Exception as error:
        text = json.dumps({"error": {"type": "ProtocolError", "code": None, "details": None,
                                     "text": "result not sendable: %s" % error}})
    _out.write(text + "\n")
    _out.flush()
'''


def head_view(v1_image: dict) -> dict:
    """What glanceclient's ``images.get`` (v1 HEAD) returns for the image whose v1 detail
    body is ``v1_image``: v1's headers are its non-null fields and non-null properties, the
    property names lower-cased, values as ``str()`` (docs/v1-api.md#32-metadata-headers);
    the library reads ``size``, ``min_ram``, ``min_disk`` back as int and ``is_public``,
    ``protected``, ``deleted`` as bool, anything else stays the header's text
    (docs/v1-api.md#73-image-show-and-finding-an-image)."""
    meta: dict = {}
    for key, value in v1_image.items():
        if key == "properties" or value is None:
            continue
        typed = key in ("size", "min_ram", "min_disk", "is_public", "protected", "deleted")
        meta[key] = value if typed else str(value)
    meta["properties"] = {k.lower(): v for k, v in v1_image["properties"].items()
                          if v is not None}
    return meta


class LibraryError(Exception):
    """An exception the library raised inside a snippet (HTTP or not)."""

    def __init__(self, error: dict) -> None:
        self.type = error["type"]
        self.code = error["code"]
        self.details = error["details"]
        self.text = error["text"]
        super().__init__(f"{self.type} (HTTP {self.code}): {self.details or self.text}")


def ensure_glanceclient_python() -> Path:
    """The python of the venv holding python-glanceclient 2.17.1 (installed once)."""
    return ensure_glanceclient_venv().parent / "python"


def _env() -> dict[str, str]:
    # from scratch, as for the CLI: no OS_*, no http_proxy, no PYTHONPATH of the runner
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8"}
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


def _encode(obj):
    if isinstance(obj, bytes):
        return {"__bytes__": base64.b64encode(obj).decode("ascii")}
    raise TypeError(f"cannot send {obj!r} to the driver")


def _decode(obj: dict):
    if set(obj) == {"__bytes__"}:
        return base64.b64decode(obj["__bytes__"])
    return obj


class GlanceLibrary:
    """One long-lived driver process running python-glanceclient 2.17.1's v1 library."""

    def __init__(self, python: Path | str) -> None:
        self._proc = subprocess.Popen(
            [str(python), "-u", "-c", DRIVER], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
            start_new_session=True, text=True, encoding="utf-8")
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self._proc.stdout, self._lines.put),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self._proc.stderr, self._stderr.append),
                         daemon=True).start()
        self._lock = threading.Lock()

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink(line)
        sink(None)

    def call(self, endpoint: str, token: str, code: str, timeout: float = CALL_TIMEOUT,
             **variables):
        """Run ``code`` with ``glance`` = ``glanceclient.Client('1', endpoint, token=token)``;
        return its ``result``, or raise LibraryError with what the library raised."""
        request = json.dumps({"endpoint": endpoint, "token": token, "code": code,
                              "vars": variables}, default=_encode)
        with self._lock:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the glanceclient driver exited "
                                   f"({self._proc.returncode}): {self.stderr_tail()}")
            self._proc.stdin.write(request + "\n")
            self._proc.stdin.flush()
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                self.close()
                raise TimeoutError(f"no answer from the glanceclient driver in {timeout} s; "
                                   f"snippet:\n{code}\nstderr:\n{self.stderr_tail()}") from None
        if line is None:
            raise RuntimeError(f"the glanceclient driver died: {self.stderr_tail()}")
        answer = json.loads(line, object_hook=_decode)
        if "error" in answer:
            raise LibraryError(answer["error"])
        return answer["result"]

    def stderr_tail(self, lines: int = 30) -> str:
        return "".join(line for line in self._stderr[-lines:] if line)

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, 9)
                self._proc.wait()
