"""What a serving process holds: large buffers given back when freed, and no library for a
bus or a shared database it was not configured with (bench/RESULTS.md measures both)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a fresh interpreter: a 4 MiB buffer freed (which raises glibc's threshold when left
# to itself), then a 3 MiB one filled and freed; how many KiB the second's free gave back.
_GIVEN_BACK = textwrap.dedent("""
    import sys
    from proxy.ops import serving
    if sys.argv[1] == "tuned":
        serving._return_large_buffers()

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    first = bytearray(b"x" * (4 << 20))
    del first
    second = bytearray(b"y" * (3 << 20))
    held = rss_kib()
    del second
    print(held - rss_kib())
""")


def given_back_kib(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _GIVEN_BACK, mode], check=True,
                         capture_output=True, text=True).stdout
    return int(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc")
def test_a_large_buffer_freed_is_given_back_to_the_system():
    assert given_back_kib("tuned") >= 2.5 * 1024
    # the reason for the tuning: left alone, glibc keeps that buffer's pages
    assert given_back_kib("default") < 1024


def test_no_bus_or_shared_database_library_is_loaded_unless_configured():
    script = textwrap.dedent("""
        import sys
        from proxy.config import Settings, UpstreamSettings
        from proxy.shell.app import make_app
        make_app(Settings(upstream=UpstreamSettings(url="http://127.0.0.1:9")))
        print(sorted(m for m in ("aio_pika", "aiormq", "sqlalchemy.dialects.postgresql",
                                 "asyncpg", "aiomysql") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "[]"
