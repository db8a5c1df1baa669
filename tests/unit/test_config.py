"""Settings: YAML plus environment overrides; every error names its key."""

import dataclasses
from pathlib import Path

import pytest

from proxy.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def test_the_example_documents_every_setting_and_is_valid():
    settings = load_settings(EXAMPLE, {})
    text = EXAMPLE.read_text()
    for section in dataclasses.fields(Settings):
        for key in dataclasses.fields(getattr(settings, section.name)):
            assert f"  {key.name}:" in text, f"{section.name}.{key.name} is not documented"


def test_environment_overrides_the_file(tmp_path):
    settings = load_settings(EXAMPLE, {"IMAGE_V1_PROXY_UPSTREAM_URL": "https://ims.example/image",
                                       "IMAGE_V1_PROXY_LISTEN_PORT": "8080",
                                       "IMAGE_V1_PROXY_UPSTREAM_TIMEOUT": "2.5"})
    assert settings.upstream.url == "https://ims.example/image"
    assert settings.listen.port == 8080
    assert settings.upstream.timeout == 2.5


def test_environment_alone_is_enough():
    assert load_settings(None, {"IMAGE_V1_PROXY_UPSTREAM_URL": "https://g:9292"}).upstream.url == (
        "https://g:9292")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9292", "http://localhost", "http://[::1]:9292"])
def test_plain_http_is_fine_to_a_loopback_upstream(url):
    assert load_settings(None, {"IMAGE_V1_PROXY_UPSTREAM_URL": url}).upstream.url == url


def test_plain_http_elsewhere_needs_saying_so():
    env = {"IMAGE_V1_PROXY_UPSTREAM_URL": "http://glance.internal:9292"}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert str(caught.value).startswith("upstream.url: plain http is allowed only to a loopback")
    env["IMAGE_V1_PROXY_UPSTREAM_ALLOW_PLAIN_HTTP"] = "true"
    assert load_settings(None, env).upstream.allow_plain_http is True


def test_tls_files_must_exist(tmp_path):
    env = {"IMAGE_V1_PROXY_UPSTREAM_URL": "https://g", "IMAGE_V1_PROXY_UPSTREAM_CA_FILE": "/nope"}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert str(caught.value) == "upstream.ca_file: no such file: /nope"


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, env, message",
    [
        ("upstream: {}", {}, "upstream.url: is required"),
        ("upstream: {url: ftp://x}", {}, "upstream.url: must be an http:// or https:// URL"),
        ("upstream: {url: 'http://u:p@x'}", {}, "upstream.url: must not carry credentials"),
        ("upstream: {url: 'http://127.0.0.1', timeout: 0}", {}, "upstream.timeout: must be greater than 0"),
        ("upstream: {url: 'http://127.0.0.1', timeout: soon}", {}, "upstream.timeout: must be a number"),
        ("upstream: {url: 'http://127.0.0.1'}\nlisten: {port: 70000}", {}, "listen.port: must be between"),
        ("upstream: {url: 'http://127.0.0.1'}\nlisten: {prot: 1}", {}, "listen.prot: unknown setting"),
        ("upstream: {url: 'http://127.0.0.1'}\nlisting: {max_limit: 2000}", {}, "listing.max_limit"),
        ("upstream: {url: 'http://127.0.0.1'}\nlog: {level: LOUD}", {}, "log.level: must be one of"),
        ("upstream: {url: 'http://127.0.0.1'}\nextra: 1", {}, "extra: unknown setting"),
        ("upstream: [1]", {}, "upstream: must be a mapping"),
        ("upstream: {url: 'http://127.0.0.1'}", {"IMAGE_V1_PROXY_LISTEN_PORT": "eighty"},
         "listen.port: must be an integer, got 'eighty'"),
        ("a: [", {}, "config file:"),
    ],
)
def test_bad_settings_name_the_key_on_one_line(tmp_path, text, env, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_demo_needs_no_upstream_url():
    assert load_settings(None, {}, require_upstream=False).upstream.url == ""
