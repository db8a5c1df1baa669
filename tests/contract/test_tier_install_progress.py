"""The progress lines of the test tier's installs (tests/support/glance.py): what they say,
and that they reach the terminal while pytest captures the output of the test that pays
for the install. The installs themselves are stubbed: a real one takes a minute."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import glance
from tests.support.glance import installed_line, installing_line

GLANCE_LINE = ("installing Glance 33 for the contract tests into "
               "~/.cache/image-v1-proxy-tests/glance-venv (about a minute, once)")


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    """An empty HOME and no IMAGE_V1_PROXY_TEST_CACHE, as on a fresh machine; installs
    only write the venv's bin/ and say how they were done."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("IMAGE_V1_PROXY_TEST_CACHE", raising=False)

    def install(venv, log, requirements, constraints, check, python):
        (venv / "bin").mkdir(parents=True)
        for exe in check:
            (venv / "bin" / exe).touch()
        return "pinned"

    monkeypatch.setattr(glance, "_install", install)
    return tmp_path


@pytest.fixture
def lines(monkeypatch) -> list[str]:
    said: list[str] = []
    monkeypatch.setattr(glance, "_progress", said.append)
    return said


def test_the_lines_say_what_where_how_long_and_then_how_long_it_took(empty_home):
    venv = empty_home / ".cache" / "image-v1-proxy-tests" / "glance-venv"
    assert installing_line("Glance 33 for the contract tests", venv,
                           "about a minute") == GLANCE_LINE
    assert installed_line(52.4) == "installed in 52 s"


def test_installing_glance_says_so_before_and_after_and_only_once(empty_home, lines):
    venv = glance.ensure_glance_venv()
    assert venv == empty_home / ".cache" / "image-v1-proxy-tests" / "glance-venv"
    assert lines == [GLANCE_LINE, "installed in 0 s"]
    glance.ensure_glance_venv()
    assert len(lines) == 2


def test_each_client_venv_is_named(empty_home, lines, monkeypatch):
    from tests.support import openstackclient
    from tests.support.legacy_client import ensure_glanceclient_venv

    monkeypatch.setattr(openstackclient, "find_python38", lambda: Path("/usr/bin/python3.8"))
    ensure_glanceclient_venv()
    openstackclient.ensure_openstackclient_venv()
    assert lines[0::2] == [
        "installing python-glanceclient 2.17.1 for the client tests into "
        "~/.cache/image-v1-proxy-tests/legacy-venv (about 30 s, once)",
        "installing python-openstackclient 4.0.2 (Python 3.8) for the client tests into "
        "~/.cache/image-v1-proxy-tests/openstackclient-venv (about 30 s, once)"]


def test_a_failed_install_says_where_its_log_is(empty_home, lines, monkeypatch):
    def fail(*args):
        raise RuntimeError("pip install failed")

    monkeypatch.setattr(glance, "_install", fail)
    with pytest.raises(RuntimeError):
        glance.ensure_glance_venv()
    assert lines == [GLANCE_LINE, "install failed after 0 s "
                     "(log: ~/.cache/image-v1-proxy-tests/glance-venv.install.log)"]


def test_the_lines_reach_the_terminal_through_pytests_capture(pytester, empty_home,
                                                             monkeypatch):
    pytester.makepyfile(test_tiny="""
        from tests.support import glance

        def install(venv, log, requirements, constraints, check, python):
            (venv / "bin").mkdir(parents=True)
            for exe in check:
                (venv / "bin" / exe).touch()
            print("pip's own output stays captured")
            return "pinned"

        def test_pays_for_the_install(monkeypatch):
            monkeypatch.setattr(glance, "_install", install)
            glance.ensure_glance_venv()
    """)
    # a pytest of its own, in a process of its own, as a user runs it
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    result = pytester.runpytest_subprocess(
        "-p", "tests.support.fixtures", "-p", "no:cacheprovider",
        "-o", "asyncio_default_fixture_loop_scope=function")
    result.assert_outcomes(passed=1)
    assert GLANCE_LINE in result.outlines
    assert "installed in 0 s" in result.outlines
    assert "pip's own output stays captured" not in result.stdout.str()
