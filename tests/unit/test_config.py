"""Settings: YAML plus environment overrides; every error names its key."""

import dataclasses
from pathlib import Path

import pytest

from proxy.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"


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
        ("upstream: {url: 'http://127.0.0.1'}\nlisten: {port: 9292.5}", {},
         "listen.port: must be an integer, got 9292.5"),
        ("upstream: {url: 'http://127.0.0.1'}\nlisten: {port: '92x'}", {},
         "listen.port: must be an integer, got '92x'"),
        ("upstream: {url: 'http://127.0.0.1', verify_tls: 'maybe'}", {},
         "upstream.verify_tls: must be true or false, got 'maybe'"),
    ],
)
def test_bad_settings_name_the_key_on_one_line(tmp_path, text, env, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_demo_needs_no_upstream_url():
    assert load_settings(None, {}, require_upstream=False).upstream.url == ""


def test_the_top_level_example_is_the_one_the_package_ships():
    assert EXAMPLE.is_symlink()
    assert EXAMPLE.resolve() == ROOT / "proxy" / "config.example.yaml"


@pytest.mark.parametrize("name, value, message", [
    ("IMAGE_V1_PROXY_UPSTREAM_TIMOUT", "5", "IMAGE_V1_PROXY_UPSTREAM_TIMOUT: unknown setting, "
     "did you mean IMAGE_V1_PROXY_UPSTREAM_TIMEOUT?"),
    ("IMAGE_V1_PROXY_UPSTEAM_URL", "https://g", "IMAGE_V1_PROXY_UPSTEAM_URL: unknown setting, "
     "did you mean IMAGE_V1_PROXY_UPSTREAM_URL?"),
    ("IMAGE_V1_PROXY_PORT", "80", "IMAGE_V1_PROXY_PORT: unknown setting, "
     "did you mean IMAGE_V1_PROXY_LISTEN_PORT?"),
    ("IMAGE_V1_PROXY_upstream_url", "https://g", "IMAGE_V1_PROXY_upstream_url: unknown "
     "setting, did you mean IMAGE_V1_PROXY_UPSTREAM_URL?"),
    ("IMAGE_V1_PROXY_FOO", "1", "IMAGE_V1_PROXY_FOO: unknown setting; each setting "
     "section.key is IMAGE_V1_PROXY_<SECTION>_<KEY> (image-v1-proxy --example-config shows "
     "them all)"),
])
def test_an_environment_variable_naming_no_setting_is_refused(name, value, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"IMAGE_V1_PROXY_UPSTREAM_URL": "https://g", name: value})
    assert str(caught.value) == message


def test_known_variables_that_are_no_settings_pass():
    env = {"IMAGE_V1_PROXY_UPSTREAM_URL": "https://g", "IMAGE_V1_PROXY_CONFIG": "/x.yaml",
           "IMAGE_V1_PROXY_TEST_CACHE": "/tmp/c", "OTHER_UPSTREAM_TIMOUT": "1"}
    assert load_settings(None, env).upstream.url == "https://g"


@pytest.mark.parametrize("text, message", [
    ("listen: {prot: 1}", "listen.prot: unknown setting, did you mean listen.port?"),
    ("lisen: {port: 1}", "lisen: unknown setting, did you mean listen?"),
    ("port: 9292", "port: unknown setting, did you mean listen.port?"),
    ("upstream: {colour: blue}", "upstream.colour: unknown setting"),
])
def test_a_misspelt_key_suggests_the_nearest_setting(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {}, require_upstream=False)
    assert str(caught.value) == message


def test_quoted_numbers_and_booleans_in_the_file_are_read_as_from_the_environment(tmp_path):
    quoted = load_settings(write(tmp_path, """
listen: {port: "9393", trust_forwarded_headers: "yes"}
upstream: {url: "http://127.0.0.1", timeout: "2.5", retries: "3", verify_tls: "false"}
deprecation: {deprecation_date: 2027-06-30}
"""), {})
    from_env = load_settings(None, {
        "IMAGE_V1_PROXY_LISTEN_PORT": "9393",
        "IMAGE_V1_PROXY_LISTEN_TRUST_FORWARDED_HEADERS": "yes",
        "IMAGE_V1_PROXY_UPSTREAM_URL": "http://127.0.0.1", "IMAGE_V1_PROXY_UPSTREAM_TIMEOUT": "2.5",
        "IMAGE_V1_PROXY_UPSTREAM_RETRIES": "3", "IMAGE_V1_PROXY_UPSTREAM_VERIFY_TLS": "false",
        "IMAGE_V1_PROXY_DEPRECATION_DEPRECATION_DATE": "2027-06-30"})
    assert quoted == from_env
    assert (quoted.listen.port, quoted.upstream.timeout, quoted.upstream.verify_tls) == (
        9393, 2.5, False)
    assert quoted.deprecation.deprecation_date == "2027-06-30"


@pytest.mark.parametrize("text, where, problem", [
    ("a: [", "line 1, column 5", "expected the node content, but found '<stream end>' "
     "(while parsing a flow node)"),
    ("listen:\n  port: 1\n host: x\n", "line 3, column 2",
     "expected <block end>, but found '<block mapping start>' "
     "(while parsing a block mapping started on line 1)"),
    ("listen:\n\tport: 1\n", "line 2, column 1",
     "found character '\\t' that cannot start any token (while scanning for the next token)"),
])
def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path, text, where, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(caught.value) == f"config file: {path}, {where}: not valid YAML: {problem}"


@pytest.mark.parametrize("url, root", [
    ("http://127.0.0.1:9293/v2", "http://127.0.0.1:9293"),
    ("http://127.0.0.1:9293/v2/", "http://127.0.0.1:9293"),
    ("https://glance.example/v1", "https://glance.example"),
    ("https://cloud.example/image/v2.0", "https://cloud.example/image"),
    ("https://cloud.example/image/V1.1/", "https://cloud.example/image"),
])
def test_an_upstream_url_ending_in_a_version_is_refused(url, root):
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"IMAGE_V1_PROXY_UPSTREAM_URL": url})
    version = url.rstrip("/").rsplit("/", 1)[1]
    assert str(caught.value) == (
        f"upstream.url: ends in the API version /{version}: give the URL without the version "
        f"({root}); the proxy adds /v2 itself")


@pytest.mark.parametrize("url", ["https://ims.example/image", "https://g.example/v2images",
                                 "https://g.example/v2/images/x", "https://g.example/glance/"])
def test_other_paths_are_a_prefix_and_fine(url):
    assert load_settings(None, {"IMAGE_V1_PROXY_UPSTREAM_URL": url}).upstream.url == url


def test_the_demo_listens_on_loopback_unless_a_host_is_given(tmp_path):
    assert load_settings(None, {}, demo=True).listen.host == "127.0.0.1"
    assert load_settings(None, {}, require_upstream=False).listen.host == "0.0.0.0"
    env = {"IMAGE_V1_PROXY_LISTEN_HOST": "0.0.0.0"}
    assert load_settings(None, env, demo=True).listen.host == "0.0.0.0"
    given = write(tmp_path, "listen: {host: '::'}")
    assert load_settings(given, {}, demo=True).listen.host == "::"
    port_only = write(tmp_path, "listen: {port: 9393}")
    assert load_settings(port_only, {}, demo=True).listen.host == "127.0.0.1"
