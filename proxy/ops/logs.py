"""The log format of every line (JSON or plain), with tokens redacted whoever logs them."""

from __future__ import annotations

import logging
import time

import orjson

from proxy.ops.redact import RedactTokens


REASON_MAX = 200  # characters of a failure's reason in a log line


def reason_of(failure: BaseException) -> str:
    """A failure in one short line: its kind and its text, never a traceback."""
    text = " ".join(str(failure).split())
    reason = f"{type(failure).__name__}: {text}" if text else type(failure).__name__
    return reason if len(reason) <= REASON_MAX else reason[:REASON_MAX - 3] + "..."


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(level: int, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
