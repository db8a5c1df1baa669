"""Tokens never reach a log line, whoever writes it (aiohttp's parser quotes bad headers)."""

import logging

from proxy.ops.redact import RedactTokens


def record(msg, *args, exc=None):
    return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, msg, args,
                             (type(exc), exc, None) if exc else None)


def test_token_header_values_are_redacted_in_messages():
    r = record("Invalid header value char:\n\n    b'X-Auth-Token: s3cr3t\\x7f'\n")
    assert RedactTokens().filter(r) is True
    assert "s3cr3t" not in r.getMessage() and "X-Auth-Token: ***" in r.getMessage()
    r = record("lookup %s", "x-subject-token=abc.def")
    RedactTokens().filter(r)
    assert r.getMessage() == "lookup x-subject-token=***"


def test_an_exception_quoting_a_token_header_is_reduced_to_its_kind():
    r = record("Error handling request", exc=ValueError("b'X-Auth-Token: s3cr3t'"))
    RedactTokens().filter(r)
    assert r.exc_info is None and "s3cr3t" not in r.getMessage()
    assert "ValueError" in r.getMessage()


def test_other_lines_are_left_alone():
    r = record("GET /v1/images/detail 200")
    RedactTokens().filter(r)
    assert r.getMessage() == "GET /v1/images/detail 200"


def test_aiohttp_parse_errors_never_keep_their_text_whatever_the_header_looks_like():
    from aiohttp.http_exceptions import BadHttpMessage

    for quoted in ("b'X-Auth-Token:\\ts3cr3t\\x00'", "b' s3cr3t-folded-continuation'"):
        r = record("Error handling request", exc=BadHttpMessage(f"Invalid header: {quoted}"))
        RedactTokens().filter(r)
        assert r.exc_info is None and "s3cr3t" not in r.getMessage()
