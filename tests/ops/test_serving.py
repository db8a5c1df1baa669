"""What a serving process holds: no library for a bus or a shared database it was not
configured with (bench/RESULTS.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
