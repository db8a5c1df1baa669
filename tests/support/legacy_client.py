"""Drive the REAL legacy v1 CLI: python-glanceclient 2.17.1.

2.17.1 is the last release with ``glanceclient.v1``; it lives in its own
cached venv (``legacy-venv``), installed by the suite itself.

Things the callers must know (see docs/legacy-clients.md#invocation-and-pitfalls):
* ``image-create``/``image-update`` read a non-TTY stdin as image data.  By
  default stdin is /dev/null (so they upload 0 bytes) or ``input``; pass
  ``stdin_tty=True`` to run under ``script`` with a pseudo-terminal, which
  is what an interactive user has (no data sent).  Under a pty the child's
  stderr is merged into stdout.
* The CLI percent-encodes every header value, the token included.

Public surface:
    ensure_glanceclient_venv()            -> Path of the ``glance`` executable
    run_glance_v1(exe, url, token, *args, stdin_tty=False, timeout=60, input=None)
    run_glance_v1_async(...)              same, for tests inside an event loop
    start_glance_v1(exe, url, token, *args) / kill_glance(proc)
                                          a CLI fed through a pipe, killed mid-way
    parse_table(stdout)                   -> list[dict[str, str]]  (image-list)
    parse_fields(stdout)                  -> dict[str, str]        (image-show)
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from tests.support.glance import install_venv

GLANCECLIENT_VERSION = "2.17.1"


def ensure_glanceclient_venv() -> Path:
    """Install python-glanceclient 2.17.1 once; return its ``glance`` script."""
    venv = install_venv("legacy-venv",
                        [f"python-glanceclient=={GLANCECLIENT_VERSION}"],
                        check=("glance",),
                        what=f"python-glanceclient {GLANCECLIENT_VERSION} for the client tests",
                        takes="about 30 s")
    return venv / "bin" / "glance"


# ------------------------------------------------------------------ running

def _env() -> dict[str, str]:
    # Built from scratch rather than filtered: no OS_* (would override or add
    # to the CLI flags), no http_proxy (requests would route 127.0.0.1
    # through it), no PYTHONPATH/VIRTUAL_ENV from the test runner.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8",
           # a wide terminal so nothing is wrapped or truncated under a pty
           "COLUMNS": "500", "TERM": "dumb"}
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


def _command(glance_exe: Path | str, url: str, token: str, args: tuple,
             stdin_tty: bool) -> list[str]:
    cmd = [str(glance_exe), "--os-image-api-version", "1",
           "--os-image-url", url, "--os-auth-token", token,
           *map(str, args)]
    if not stdin_tty:
        return cmd
    script = shutil.which("script")
    if script is None:
        raise RuntimeError("stdin_tty=True needs `script` (package util-linux)")
    # script gives the command a pty on stdin/stdout/stderr; -e passes on its
    # exit code, -q drops the "Script started" banner, /dev/null: no typescript
    return [script, "-qec", shlex.join(cmd), "/dev/null"]


def _result(cmd: list[str], rc: int, out: bytes, err: bytes,
            stdin_tty: bool) -> subprocess.CompletedProcess:
    stdout = out.decode("utf-8", "replace")
    if stdin_tty:
        stdout = stdout.replace("\r\n", "\n")  # the pty turns \n into \r\n
    return subprocess.CompletedProcess(cmd, rc, stdout,
                                       err.decode("utf-8", "replace"))


def _killpg(pid: int) -> None:
    # the CLI runs in its own session: kill script *and* glance under it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_glance_v1(glance_exe: Path | str, url: str, token: str, *args,
                  stdin_tty: bool = False, timeout: float = 60,
                  input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ``glance --os-image-api-version 1 ... *args``; never raises on a
    non-zero exit (check ``.returncode``), raises TimeoutExpired on timeout.

    ``input`` is piped to stdin (ignored with ``stdin_tty``); otherwise stdin
    is /dev/null.  stdout/stderr are str.
    """
    cmd = _command(glance_exe, url, token, args, stdin_tty)
    stdin = subprocess.PIPE if input is not None and not stdin_tty else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(),
                            start_new_session=True)
    try:
        out, err = proc.communicate(input if stdin is subprocess.PIPE else None,
                                    timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout, out, err) from None
    except BaseException:
        _killpg(proc.pid)
        proc.wait()
        raise
    return _result(cmd, proc.returncode, out, err, stdin_tty)


def start_glance_v1(glance_exe: Path | str, url: str, token: str,
                    *args) -> subprocess.Popen:
    """Start ``glance --os-image-api-version 1 ... *args`` with a pipe for stdin (image data
    the test writes as it likes) and return at once; stop it with ``kill_glance``."""
    return subprocess.Popen(_command(glance_exe, url, token, args, False),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env(), start_new_session=True)


def kill_glance(proc: subprocess.Popen) -> None:
    """Kill a started CLI at once (as a user's Ctrl-C or a dying CI job would)."""
    _killpg(proc.pid)
    proc.wait()


async def run_glance_v1_async(glance_exe: Path | str, url: str, token: str,
                              *args, stdin_tty: bool = False,
                              timeout: float = 60,
                              input: bytes | None = None
                              ) -> subprocess.CompletedProcess:
    """Like run_glance_v1, but awaitable, so the event loop keeps serving the
    proxy under test while the CLI talks to it."""
    cmd = _command(glance_exe, url, token, args, stdin_tty)
    piped = input is not None and not stdin_tty
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
        start_new_session=True)
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input if piped else None), timeout)
    except asyncio.TimeoutError:
        _killpg(proc.pid)
        await proc.wait()
        raise subprocess.TimeoutExpired(cmd, timeout) from None
    except BaseException:  # e.g. the test was cancelled
        _killpg(proc.pid)
        with contextlib.suppress(Exception):
            await proc.wait()
        raise
    return _result(cmd, proc.returncode, out, err, stdin_tty)


# ------------------------------------------------------------------ parsing

def _tables(stdout: str) -> list[tuple[list[str], list[list[str]]]]:
    """All prettytable tables in ``stdout`` as (header, rows).

    Cells are cut at the '+' positions of the border line rather than split
    on '|', so a '|' inside a value cannot shift the columns.  Lines outside
    a table (warnings, which a pty merges into stdout) are ignored.
    """
    tables = []
    lines = [line.rstrip("\r") for line in stdout.splitlines()]
    i = 0
    while i < len(lines):
        border = lines[i]
        if not (border.startswith("+-") and border.endswith("+")
                and set(border) <= {"+", "-"}):
            i += 1
            continue
        cuts = [k for k, ch in enumerate(border) if ch == "+"]

        def cells(line: str) -> list[str]:
            return [line[a + 1:b].strip() for a, b in zip(cuts, cuts[1:])]

        header: list[str] | None = None
        rows: list[list[str]] = []
        i += 1
        while i < len(lines) and lines[i].startswith("|"):
            if header is None:
                header = cells(lines[i])
            else:
                rows.append(cells(lines[i]))
            i += 1
            if i < len(lines) and lines[i] == border:
                i += 1  # separator after the header, or the closing border
        if header is not None:
            tables.append((header, rows))
    return tables


def parse_table(stdout: str) -> list[dict[str, str]]:
    """Rows of the first table (e.g. ``image-list``: ID, Name, Disk Format,
    Container Format, Size, Status) as dicts keyed by column title.
    An empty table gives []; output without a table raises ValueError."""
    tables = _tables(stdout)
    if not tables:
        raise ValueError(f"no table in output:\n{stdout}")
    header, rows = tables[0]
    return [dict(zip(header, row)) for row in rows]


def parse_fields(stdout: str) -> dict[str, str]:
    """The two-column Property/Value table of ``image-show`` as a dict, e.g.
    {"id": ..., "status": "active", "Property 'os_distro'": "ubuntu"}.
    A value prettytable wrapped over several lines (its continuation rows
    have an empty Property cell) is joined back with newlines."""
    tables = _tables(stdout)
    if not tables:
        raise ValueError(f"no table in output:\n{stdout}")
    header, rows = tables[0]
    if len(header) != 2:
        raise ValueError(f"not a Property/Value table: {header}")
    fields: dict[str, str] = {}
    last = None
    for key, value in rows:
        if key == "" and last is not None:
            fields[last] += "\n" + value
        else:
            fields[key] = value
            last = key
    return fields
