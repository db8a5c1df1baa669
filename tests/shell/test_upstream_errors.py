"""Every transport failure named by the one table (proxy.shell.upstream_errors), and an
upstream status turned into v1's error by the one helper."""

import asyncio
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from proxy.shell.upstream_errors import (UpstreamBroken, UpstreamError, UpstreamStatus,
                                         UpstreamTimeout, UpstreamUnavailable,
                                         UpstreamUnreachable, UpstreamUntrusted, status_as_v1,
                                         transport_failures_named)
from proxy.v1.errors import V1Error

KEY = ConnectionKey("glance.example", 443, True, True, None, None, None)
CERT_ERROR = aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError(1, "bad"))


@pytest.mark.parametrize("failure, named, kind", [
    (asyncio.TimeoutError(), UpstreamTimeout, "timeout"),
    (aiohttp.ServerTimeoutError("read"), UpstreamTimeout, "timeout"),
    (CERT_ERROR, UpstreamUntrusted, "tls"),
    (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")),
     UpstreamUnreachable, "unreachable"),
    (aiohttp.ServerDisconnectedError(), UpstreamUnreachable, "unreachable"),
    (aiohttp.ClientOSError(104, "reset"), UpstreamUnreachable, "unreachable"),
    (aiohttp.ClientPayloadError("broken"), UpstreamBroken, "broken"),
    (aiohttp.ClientResponseError(None, (), status=400, message="bad"), UpstreamBroken,
     "broken"),
])
def test_each_transport_failure_is_named_with_its_kind(failure, named, kind):
    with pytest.raises(named) as raised:
        with transport_failures_named():
            raise failure
    assert type(raised.value) is named and raised.value.kind == kind
    assert "glance.example" not in str(raised.value)  # never the address


def test_what_is_unavailable_and_what_is_broken():
    assert issubclass(UpstreamUntrusted, UpstreamUnavailable)
    assert issubclass(UpstreamTimeout, UpstreamUnavailable)
    assert not issubclass(UpstreamBroken, UpstreamUnavailable)


def test_other_errors_and_named_ones_pass_through_unchanged():
    with pytest.raises(KeyError):
        with transport_failures_named():
            raise KeyError("x")
    status = UpstreamStatus(500, b"")
    with pytest.raises(UpstreamStatus) as raised:
        with transport_failures_named():
            raise status
    assert raised.value is status


def test_a_status_counts_as_a_failure_only_from_500_up():
    assert UpstreamStatus(502, b"").kind == "status_5xx"
    assert UpstreamStatus(404, b"").kind is None
    assert isinstance(UpstreamStatus(404, b""), UpstreamError)


def test_a_status_becomes_the_v1_error_its_rule_gives():
    with pytest.raises(V1Error) as raised:
        with status_as_v1():
            raise UpstreamStatus(409, b'{"message": "Conflict<br /><br />\\nin use"}')
    assert (raised.value.status, raised.value.detail) == (409, "Conflict in use")
    with pytest.raises(V1Error) as raised:
        with status_as_v1(lambda status, body: V1Error(404, detail=f"{status} {body!r}")):
            raise UpstreamStatus(403, b"x")
    assert raised.value.detail == "403 b'x'"


def test_a_rule_that_gives_nothing_says_the_status_is_no_error():
    with status_as_v1(lambda status, body: None):
        raise UpstreamStatus(409, b"")
    with pytest.raises(UpstreamTimeout):  # only statuses are the rule's business
        with status_as_v1(lambda status, body: None):
            raise UpstreamTimeout("slow")
