"""A logging filter that keeps tokens out of log lines, whoever writes them.

The proxy itself never logs a token; but aiohttp's HTTP parser logs the offending header
line of a malformed request, which may be an ``X-Auth-Token``. Installed on the handlers
at start-up, it rewrites any such value before the line is written.
"""

from __future__ import annotations

import logging
import re

from aiohttp.http_exceptions import HttpProcessingError

_TOKEN_HEADER = re.compile(r"(?i)(x-(?:auth|subject)-token\s*[:=]\s*)[^\s'\"\\]+(?:\\x[0-9a-f]{2})*")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_HEADER.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            # aiohttp's parse errors quote the offending header line, whichever it is and
            # however it is mangled: their text is never kept.
            if isinstance(error, HttpProcessingError) or _TOKEN_HEADER.search(str(error)):
                # the exception's own text repeats the header line: keep the kind only
                record.msg = f"{redacted} ({type(record.exc_info[1]).__name__}, details redacted)"
                record.args, record.exc_info, record.exc_text = (), None, None
        return True
