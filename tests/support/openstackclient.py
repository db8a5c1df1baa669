"""Drive the REAL python-openstackclient 4.0.2 with ``--os-image-api-version 1``.

OSC 4.0.2 (Train) still has ``image`` commands for v1; they go through
python-glanceclient 2.17.1's v1 library (``image list`` goes through OSC's own small v1 API
class, ``GET /v1/images/detail`` following ``marker`` until an empty page). It is installed
beside glanceclient 2.17.1, with ``osc-lib`` 4.0.2 and ``simplejson``, on **Python 3.8**, into
its own cached venv (``openstackclient-venv``), pinned by ``openstackclient-constraints.txt``.

Python 3.8 is found, in this order: ``$IMAGE_V1_PROXY_PYTHON38``; ``python3.8`` on ``PATH``;
pyenv's ``$PYENV_ROOT/versions/3.8.*`` (``~/.pyenv`` when unset, and ``/root/.pyenv``).
Without one the fixture fails (never skips) and says so.

Invocation, without Keystone: ``openstack --os-auth-type admin_token --os-endpoint URL
--os-token T --os-image-api-version 1 <command>``; ``-f json`` gives machine-readable output.

Public surface:
    find_python38()                  -> Path of a Python 3.8 interpreter (or RuntimeError)
    install_venv_for(python, name, requirements, constraints=None, check=()) -> Path
    ensure_openstackclient_venv()    -> Path of the ``openstack`` executable
    run_openstack_v1(exe, url, token, *args, timeout=120) -> CompletedProcess (str output)
    openstack_json(exe, url, token, *args) -> the parsed ``-f json`` output (asserts exit 0)
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.support.glance import clean_env, install_venv

OPENSTACKCLIENT_VERSION = "4.0.2"
OPENSTACKCLIENT_REQUIREMENTS = [f"python-openstackclient=={OPENSTACKCLIENT_VERSION}",
                                "osc-lib==4.0.2", "python-glanceclient==2.17.1", "simplejson"]
CONSTRAINTS_FILE = Path(__file__).with_name("openstackclient-constraints.txt")
PYTHON_ENV = "IMAGE_V1_PROXY_PYTHON38"


# ------------------------------------------------------------------ the interpreter

def _version_of(python: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, env=clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def find_python38() -> Path:
    """A Python 3.8 interpreter, or RuntimeError saying where it was looked for."""
    explicit = os.environ.get(PYTHON_ENV)
    if explicit:
        if _version_of(Path(explicit)) != (3, 8):
            raise RuntimeError(f"${PYTHON_ENV}={explicit} is not a working Python 3.8")
        return Path(explicit)
    candidates = []
    on_path = shutil.which("python3.8")
    if on_path:
        candidates.append(on_path)
    roots = list(dict.fromkeys(r for r in (os.environ.get("PYENV_ROOT"),
                                           str(Path.home() / ".pyenv"), "/root/.pyenv") if r))
    for root in roots:
        # newest 3.8 patch release first
        found = glob.glob(os.path.join(root, "versions", "3.8*", "bin", "python3.8"))
        candidates += sorted(found, key=lambda p: [int(x) if x.isdigit() else 0 for x in
                                                   Path(p).parent.parent.name.split(".")],
                             reverse=True)
    for candidate in candidates:
        if _version_of(Path(candidate)) == (3, 8):
            return Path(candidate)
    raise RuntimeError(
        "python-openstackclient 4.0.2 is tested on Python 3.8, and none was found: looked at "
        f"${PYTHON_ENV}, python3.8 on PATH and "
        + ", ".join(f"{root}/versions/3.8*/bin/python3.8" for root in roots)
        + " (tried: " + (", ".join(candidates) or "nothing") + "). "
        f"Install one (e.g. `pyenv install 3.8`) or point ${PYTHON_ENV} at it.")


# ------------------------------------------------------------------ the venv

def ensure_openstackclient_venv() -> Path:
    """Install python-openstackclient 4.0.2 (with glanceclient 2.17.1) on Python 3.8 once;
    return its ``openstack`` script."""
    venv = install_venv("openstackclient-venv", OPENSTACKCLIENT_REQUIREMENTS,
                        constraints=CONSTRAINTS_FILE, check=("openstack",),
                        python=find_python38(),
                        what=f"python-openstackclient {OPENSTACKCLIENT_VERSION} (Python 3.8) "
                             "for the client tests",
                        takes="about 30 s")
    return venv / "bin" / "openstack"


# ------------------------------------------------------------------ running

def _env() -> dict[str, str]:
    # from scratch: no OS_* (they would add to or override the flags), no proxies, no
    # PYTHONPATH of the runner; a wide terminal so tables are never wrapped
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8", "COLUMNS": "500", "TERM": "dumb"}
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


def run_openstack_v1(openstack_exe: Path | str, url: str, token: str, *args,
                     timeout: float = 120) -> subprocess.CompletedProcess:
    """``openstack --os-auth-type admin_token --os-endpoint URL --os-token T
    --os-image-api-version 1 *args``; stdin is /dev/null; never raises on a non-zero exit."""
    cmd = [str(openstack_exe), "--os-auth-type", "admin_token", "--os-endpoint", url,
           "--os-token", token, "--os-image-api-version", "1", *map(str, args)]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           encoding="utf-8", errors="replace", env=_env(), timeout=timeout)


def openstack_json(openstack_exe: Path | str, url: str, token: str, *args):
    """Run a command with ``-f json`` and return what it printed, parsed."""
    result = run_openstack_v1(openstack_exe, url, token, *args, "-f", "json")
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}{result.stdout}"
    return json.loads(result.stdout)
