"""TLS to the upstream: verified by default, a CA bundle and a client certificate as
settings. Certificates are made here with the openssl command (Debian's, on every machine)."""

from __future__ import annotations

import ssl
import subprocess

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.shell.app import make_app
from tests.support.faulty import GOOD_LIST
from tests.support.scripted import proxy_settings


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *ext, cwd=d)
    return d


async def images(request):
    return web.Response(body=GOOD_LIST, content_type="application/json")


async def tls_upstream(pki, *, require_client_cert):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.pem")
    app = web.Application()
    app.router.add_get("/v2/images", images)
    server = TestServer(app, scheme="https")
    await server.start_server(ssl=context)
    return server


async def status_through_proxy(aiohttp_client, server, **env):
    url = f"https://127.0.0.1:{server.port}"
    client = await aiohttp_client(make_app(proxy_settings(url, upstream_retries=0, **env)))
    return (await client.get("/v1/images/detail")).status


async def test_certificates_are_verified_against_the_configured_ca(aiohttp_client, pki):
    server = await tls_upstream(pki, require_client_cert=False)
    try:
        assert await status_through_proxy(aiohttp_client, server,
                                          upstream_ca_file=str(pki / "ca.pem")) == 200
        # The system's CAs do not know this one: the upstream is not trusted.
        assert await status_through_proxy(aiohttp_client, server) == 503
        assert await status_through_proxy(aiohttp_client, server,
                                          upstream_verify_tls="false") == 200
    finally:
        await server.close()


async def test_a_client_certificate_is_presented_when_configured(aiohttp_client, pki):
    server = await tls_upstream(pki, require_client_cert=True)
    try:
        ca = str(pki / "ca.pem")
        assert await status_through_proxy(aiohttp_client, server, upstream_ca_file=ca) == 503
        assert await status_through_proxy(
            aiohttp_client, server, upstream_ca_file=ca,
            upstream_client_cert=str(pki / "client.pem"),
            upstream_client_key=str(pki / "client.key")) == 200
    finally:
        await server.close()


async def test_a_certificate_that_does_not_verify_is_counted_as_a_tls_failure_not_a_timeout(
        aiohttp_client, pki):
    server = await tls_upstream(pki, require_client_cert=False)
    try:
        url = f"https://127.0.0.1:{server.port}"
        client = await aiohttp_client(make_app(proxy_settings(url)))
        assert (await client.get("/v1/images/detail")).status == 503
        metrics = await (await client.get("/metrics")).text()
        counted = [line for line in metrics.splitlines()
                   if line.startswith("image_v1_proxy_upstream_errors_total{")]
        # (the listing, and the version document the proxy reads in the background)
        assert [line.split()[0] for line in counted] == [
            'image_v1_proxy_upstream_errors_total{kind="tls"}']
    finally:
        await server.close()
