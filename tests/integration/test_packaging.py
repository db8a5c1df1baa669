"""What ``pip install .`` ships, built from exactly the container build's context
(.dockerignore's allow-list): the annotated example configuration is inside the package, so
that ``image-v1-proxy --example-config`` prints it wherever the proxy was installed, and
the top-level config.example.yaml the Containerfile copies resolves within the context."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "proxy" / "config.example.yaml"


def build_context(into: Path) -> Path:
    """A copy of what .dockerignore lets into a build (``*`` then ``!name`` lines)."""
    into.mkdir()
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    assert {"pyproject.toml", "proxy", "config.example.yaml"} <= set(allowed)
    for name in allowed:
        source, target = ROOT / name, into / name
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    return into


def test_the_wheel_ships_the_example_configuration_and_prints_it(tmp_path):
    context = build_context(tmp_path / "context")
    # what `COPY config.example.yaml /etc/image-v1-proxy/config.yaml` copies (BuildKit
    # follows a symbolic link that stays within the context)
    copied = (context / "config.example.yaml").resolve()
    assert copied.is_relative_to(context.resolve()) and copied.is_file()
    assert copied.read_bytes() == EXAMPLE.read_bytes()

    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--disable-pip-version-check", "-w", str(wheels), str(context)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("image_v1_proxy-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("proxy/config.example.yaml") == EXAMPLE.read_bytes()

    target = tmp_path / "installed"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                "--disable-pip-version-check", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    printed = subprocess.run([str(target / "bin" / "image-v1-proxy"), "--example-config"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert (printed.returncode, printed.stderr) == (0, "")
    assert printed.stdout == EXAMPLE.read_text()
    where = subprocess.run([sys.executable, "-c", "import proxy; print(proxy.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert where.stdout.startswith(str(target))  # the installed copy, not this checkout
