"""deploy/: what can be checked without a container engine or a cluster.

The Kubernetes manifests parse, their probes name paths the proxy really serves on the port
their ConfigMap makes it listen on, their config passes the proxy's own validation, they
hold no credential (the database's and the bus's URLs only by reference to a Secret),
the tombstone store is kept where it survives (a writable volume for the sidecar's file, a
shared database for the replicas), and every container is locked down. The Containerfile's
build context holds what `pip install .` needs, its user can write the store's default
file, and its ENTRYPOINT + CMD, run directly, start a proxy that is healthy, becomes ready,
and exits 0 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

import pytest
import yaml
from aiohttp import web
from yarl import URL

from proxy.shell.app import make_app
from proxy.config import TombstoneSettings, load_settings
from proxy.shell.tombstone_store import TombstoneStore
from tests.support.glance import free_port
from tests.support.servers import ThreadedApp

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
MANIFESTS = sorted(KUBERNETES.glob("*.yaml"))
PROXY = "image-v1-proxy"  # the proxy's container name in every manifest
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


# --- the Containerfile, read as Docker reads it --------------------------------------------

def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comments dropped."""
    found, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, even inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        found.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"
    return found


INSTRUCTIONS = instructions(CONTAINERFILE.read_text())


def final_stage() -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(INSTRUCTIONS) if keyword == "FROM")
    return INSTRUCTIONS[last_from:]


def only(keyword: str) -> str:
    """The arguments of the final stage's last KEYWORD (the one Docker applies)."""
    values = [rest for k, rest in final_stage() if k == keyword]
    assert values, f"the Containerfile's final stage has no {keyword}"
    return values[-1]


def exec_form(text: str) -> list[str]:
    """A JSON array of strings; shell form would put /bin/sh between SIGTERM and the proxy."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    assert isinstance(value, list) and value and all(isinstance(v, str) for v in value), \
        f"not exec form: {text}"
    return value


def entrypoint_and_cmd() -> tuple[list[str], list[str]]:
    return exec_form(only("ENTRYPOINT")), exec_form(only("CMD"))


def image_env() -> dict[str, str]:
    env = {}
    for keyword, rest in final_stage():
        if keyword == "ENV":
            for word in shlex.split(rest):
                name, _, value = word.partition("=")
                env[name] = value
    return env


def config_path_of(argv: list[str], env: dict[str, str]) -> str:
    for i, word in enumerate(argv):
        if word == "--config":
            return argv[i + 1]
        if word.startswith("--config="):
            return word.partition("=")[2]
    return env["IMAGE_V1_PROXY_CONFIG"]  # the proxy's own fallback


def dockerignore_keeps(path: str, patterns: list[tuple[bool, re.Pattern]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    kept = True
    for negated, pattern in patterns:
        if any(pattern.fullmatch(c) for c in candidates):
            kept = negated
    return kept


def dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = os.path.normpath(line.lstrip("!")).lstrip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", glob):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token))
        patterns.append((negated, re.compile(regex)))
    return patterns


# --- the manifests -------------------------------------------------------------------------

def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def pod_specs(docs: list[dict]) -> list[dict]:
    specs = []
    for doc in docs:
        if doc["kind"] == "Pod":
            specs.append(doc["spec"])
        elif doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            specs.append(doc["spec"]["template"]["spec"])
    return specs


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def proxy_containers(docs: list[dict]) -> list[tuple[dict, dict]]:
    return [(spec, c) for spec in pod_specs(docs) for c in containers(spec) if c["name"] == PROXY]


def effective_argv(container: dict) -> list[str]:
    """Kubernetes' rule: command replaces ENTRYPOINT (and drops CMD); args replace CMD."""
    if "command" in container:
        return container["command"] + container.get("args", [])
    entrypoint, cmd = entrypoint_and_cmd()
    return entrypoint + container.get("args", cmd)


def mount_source(spec: dict, container: dict, path: str) -> tuple[dict, str]:
    """(the volume, the key in its ConfigMap or Secret) that puts a file at ``path``."""
    for mount in container.get("volumeMounts", []):
        if mount.get("subPath") and mount["mountPath"] == path:
            mounted_name = mount["subPath"]
        elif not mount.get("subPath") and os.path.dirname(path) == mount["mountPath"]:
            mounted_name = os.path.basename(path)
        else:
            continue
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        source = volume.get("configMap") or volume.get("secret")
        assert source is not None, f"{path} is mounted from neither a ConfigMap nor a Secret"
        key = next((item["key"] for item in source.get("items", [])
                    if item["path"] == mounted_name), mounted_name)
        return volume, key
    raise AssertionError(f"{path} is not mounted into container {container['name']}")


def mounted_config(docs: list[dict], spec: dict, container: dict) -> str:
    """The text of the file the proxy container reads its settings from."""
    path = config_path_of(effective_argv(container), image_env())
    volume, key = mount_source(spec, container, path)
    assert "configMap" in volume, f"{path} (the proxy's --config) is not from a ConfigMap"
    configmap = next(d for d in docs if d["kind"] == "ConfigMap"
                     and d["metadata"]["name"] == volume["configMap"]["name"])
    return configmap["data"][key]


def literal_env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


# Settings naming files that the proxy's validation requires to exist.
FILE_SETTINGS = ("upstream.ca_file", "upstream.client_cert", "upstream.client_key")


def settings_of(docs, spec, container, tmp_path, **overrides):
    """The proxy container's settings, as load_settings reads them in the pod. Files it
    names must be mounted there; here, empty stand-ins take their place."""
    config = tmp_path / "config.yaml"
    config.write_text(mounted_config(docs, spec, container))
    document = yaml.safe_load(config.read_text()) or {}
    environ = literal_env(container)
    for dotted in FILE_SETTINGS:
        section, key = dotted.split(".")
        env_name = f"IMAGE_V1_PROXY_{section}_{key}".upper()
        path = environ.get(env_name, (document.get(section) or {}).get(key))
        if path:
            mount_source(spec, container, path)
            stand_in = tmp_path / key
            stand_in.write_text("")
            environ[env_name] = str(stand_in)
    return load_settings(config, {**environ, **overrides})


def resolve_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"port {port!r} is not a port of container {container['name']}"
    return named[0]


def each_proxy():
    """(the manifest's documents, pod spec, proxy container) for every proxy deployed."""
    cases = []
    for path in MANIFESTS:
        docs = documents(path)
        found = proxy_containers(docs)
        assert found, f"{path.name} deploys no container named {PROXY}"
        cases += [pytest.param(docs, spec, c, id=f"{path.stem}") for spec, c in found]
    return cases


def test_there_are_both_shapes_and_every_document_is_a_kubernetes_object():
    assert {p.name for p in MANIFESTS} >= {"sidecar-pod.yaml", "shared-service.yaml"}
    for path in MANIFESTS:
        for doc in documents(path):
            assert isinstance(doc, dict), path.name
            assert doc.get("apiVersion") and doc.get("kind"), path.name
            assert doc["metadata"]["name"], path.name


@pytest.mark.parametrize(("docs", "spec", "container"), each_proxy())
def test_the_configmap_config_passes_the_proxys_validation(docs, spec, container, tmp_path):
    settings = settings_of(docs, spec, container, tmp_path)
    # In a pod, loopback is the pod itself: the upstream must be a cluster address.
    host = URL(settings.upstream.url).host
    assert host != "localhost"
    with pytest.raises(ValueError):
        ipaddress.ip_address(host)  # a Service name, not a pod or loopback address


@pytest.mark.parametrize(("docs", "spec", "container"), each_proxy())
def test_ports_and_probes_are_the_port_the_proxy_listens_on(docs, spec, container, tmp_path):
    listen = settings_of(docs, spec, container, tmp_path).listen
    # The kubelet probes the pod IP: a proxy bound to loopback would never look alive.
    assert listen.host in ("0.0.0.0", "::")
    assert [p["containerPort"] for p in container["ports"]] == [listen.port]
    assert {"livenessProbe", "readinessProbe"} <= container.keys()
    for name in PROBES:
        if name in container:
            probe = container[name]["httpGet"]
            assert probe.get("scheme", "HTTP") == "HTTP"
            assert resolve_port(container, probe["port"]) == listen.port, name
    annotations = {}
    for doc in docs:
        if doc["kind"] == "Deployment":
            annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        assert int(annotations["prometheus.io/port"]) == listen.port


@pytest.mark.parametrize(("docs", "spec", "container"), each_proxy())
def test_the_grace_period_outlasts_the_proxys_drain(docs, spec, container, tmp_path):
    shutdown = settings_of(docs, spec, container, tmp_path).shutdown
    assert spec["terminationGracePeriodSeconds"] > shutdown.grace + shutdown.deadline


async def versions(request: web.Request) -> web.Response:
    return web.json_response({"versions": [{"id": "v2.17", "status": "CURRENT", "links": []}]})


def tiny_upstream() -> web.Application:
    app = web.Application()
    app.router.add_get("/versions", versions)
    return app


async def answer(client, path: str, want: int, within: float = 5.0) -> int:
    deadline = time.monotonic() + within
    while True:
        async with client.get(path) as response:
            await response.read()
            if response.status == want or time.monotonic() > deadline:
                return response.status
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(("docs", "spec", "container"), each_proxy())
async def test_every_probe_path_is_served_by_the_proxy(docs, spec, container, tmp_path,
                                                       aiohttp_client, aiohttp_server):
    """With the upstream up every probe answers 200; with it down liveness still does (a
    restart would not bring the upstream back) and readiness does not. The catch-all
    version negotiation would answer a path the proxy does not serve with 300."""
    liveness = container["livenessProbe"]["httpGet"]["path"]
    readiness = container["readinessProbe"]["httpGet"]["path"]
    paths = {container[p]["httpGet"]["path"] for p in PROBES if p in container}

    nobody = f"http://127.0.0.1:{free_port()}"
    local = {"IMAGE_V1_PROXY_UPSTREAM_CA_FILE": "",  # the local upstreams speak plain http
             # the pod's volume is not here; nor is the real home the place for test files
             "IMAGE_V1_PROXY_TOMBSTONES_SQLITE_PATH": str(tmp_path / "tombstones.sqlite")}
    down = settings_of(docs, spec, container, tmp_path, **local,
                       IMAGE_V1_PROXY_UPSTREAM_URL=nobody)
    client = await aiohttp_client(make_app(down))
    assert await answer(client, liveness, 200, within=0) == 200
    assert await answer(client, readiness, 503, within=0) == 503
    await client.close()

    server = await aiohttp_server(tiny_upstream())
    up = settings_of(docs, spec, container, tmp_path, **local,
                     IMAGE_V1_PROXY_UPSTREAM_URL=str(server.make_url("")).rstrip("/"))
    client = await aiohttp_client(make_app(up))
    for path in sorted(paths):
        assert await answer(client, path, 200) == 200, path
    for doc in docs:  # the path the Deployment's scrape annotation names, if any
        annotations = doc.get("spec", {}).get("template", {}).get("metadata", {}).get(
            "annotations", {})
        if "prometheus.io/path" in annotations:
            async with client.get(annotations["prometheus.io/path"]) as response:
                assert response.status == 200
                assert response.content_type == "text/plain"


def test_the_shared_service_has_replicas_behind_a_service_on_the_proxy_port(tmp_path):
    docs = documents(KUBERNETES / "shared-service.yaml")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (service,) = [d for d in docs if d["kind"] == "Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["selector"].items() <= labels.items()
    ((spec, proxy),) = proxy_containers(docs)
    listen_port = settings_of(docs, spec, proxy, tmp_path).listen.port
    (port,) = service["spec"]["ports"]
    assert port["port"] == 9292
    assert resolve_port(proxy, port.get("targetPort", port["port"])) == listen_port
    for budget in (d for d in docs if d["kind"] == "PodDisruptionBudget"):
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_sidecars_application_calls_the_proxy_over_loopback(tmp_path):
    docs = documents(KUBERNETES / "sidecar-pod.yaml")
    ((spec, proxy),) = proxy_containers(docs)
    port = settings_of(docs, spec, proxy, tmp_path).listen.port
    # A native sidecar: started before the application and stopped after it.
    assert proxy in spec.get("initContainers", []) and proxy["restartPolicy"] == "Always"
    apps = [c for c in spec["containers"] if c["name"] != PROXY]
    assert apps
    for app in apps:
        command = " ".join(app.get("command", []) + app.get("args", []))
        assert f"--os-image-url http://127.0.0.1:{port}" in command
        assert "--os-image-api-version 1" in command


# A credential in any of these spellings, or any token/password/secret field with a value,
# or a URL with a password in it (scheme://user:password@host).
FORBIDDEN = re.compile(r"x-auth-token|auth[-_]token|os_token|os_password|password"
                       r"|[a-z][a-z0-9+.-]*://[^/\s@]*:[^/\s@]*@", re.IGNORECASE)
CREDENTIAL_KEY = re.compile(r"token|password|secret", re.IGNORECASE)
# The one credential the proxy is given: the URLs of the tombstone database and the bus,
# passwords included, from a Secret. Never an OpenStack credential: callers send their own.
STORE_SECRETS = ("IMAGE_V1_PROXY_TOMBSTONES_DATABASE_URL", "IMAGE_V1_PROXY_NOTIFICATIONS_URL")


def credentials_in(node, where: str):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and CREDENTIAL_KEY.search(key) and isinstance(value, str):
                yield f"{where}.{key}"
            yield from credentials_in(key, where)
            yield from credentials_in(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from credentials_in(item, f"{where}[{i}]")
    elif isinstance(node, str):
        if FORBIDDEN.search(node):
            yield where
        if "\n" in node:  # an embedded file (config.yaml): read it as YAML too
            try:
                embedded = yaml.safe_load(node)
            except yaml.YAMLError:
                return
            if isinstance(embedded, (dict, list)):
                yield from credentials_in(embedded, where)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_no_token_or_password_is_in_a_manifest(path):
    docs = documents(path)
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert list(credentials_in(docs, path.stem)) == []
    for spec in pod_specs(docs):
        for container in containers(spec):
            for env in container.get("env", []):
                assert not CREDENTIAL_KEY.search(env["name"]), env["name"]
                if container["name"] == PROXY and "secretKeyRef" in env.get("valueFrom", {}):
                    assert env["name"] in STORE_SECRETS, env["name"]
            if container["name"] == PROXY:
                assert "envFrom" not in container


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_every_container_is_locked_down_and_sized(path):
    uid, _, gid = only("USER").partition(":")
    for spec in pod_specs(documents(path)):
        pod = spec.get("securityContext", {})
        for container in containers(spec):
            name = f"{path.stem}/{container['name']}"
            context = container.get("securityContext", {})
            assert context.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, name
            assert context.get("readOnlyRootFilesystem") is True, name
            assert context.get("allowPrivilegeEscalation") is False, name
            assert "ALL" in context.get("capabilities", {}).get("drop", []), name
            assert context.get("privileged", False) is False, name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][kind].keys(), name
            if container["name"] == PROXY:
                assert context.get("runAsUser", int(uid)) == int(uid), name
                assert context.get("runAsGroup", int(gid or uid)) == int(gid or uid), name


# --- the tombstone store and the bus -------------------------------------------------------

def secret_refs(container: dict) -> dict[str, dict]:
    """{environment variable: its secretKeyRef} of a container."""
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})}


def documented_secrets(path: Path) -> dict[str, dict[str, str]]:
    """{name: {key: example value}} of each `kubectl create secret generic` in the
    manifest's comments: how the operator is told to make the Secrets it names."""
    lines, pending = [], ""
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text.startswith("#"):
            pending = ""
            continue
        text = text.lstrip("#").strip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        lines.append(pending + text)
        pending = ""
    secrets = {}
    for line in lines:
        if line.startswith("kubectl create secret generic "):
            words = shlex.split(line)
            literals = [w.partition("=")[2] for w in words if w.startswith("--from-literal=")]
            secrets[words[4]] = dict(literal.split("=", 1) for literal in literals)
    return secrets


def settings_with_secrets(path, docs, spec, container, tmp_path, **overrides):
    """settings_of, with each variable from a Secret set to the example value its
    documented `kubectl create secret` command gives it."""
    secrets = documented_secrets(path)
    given = {}
    for name, ref in secret_refs(container).items():
        assert ref["key"] in secrets.get(ref["name"], {}), \
            f"{name}: no kubectl create secret in the comments makes {ref['name']}/{ref['key']}"
        given[name] = secrets[ref["name"]][ref["key"]]
    return settings_of(docs, spec, container, tmp_path, **{**given, **overrides})


def volume_holding(spec: dict, container: dict, path: str) -> tuple[dict, dict] | None:
    """(volume, mount) of the container's innermost mount under which ``path`` lies, or
    None: on the root filesystem."""
    mounts = [m for m in container.get("volumeMounts", [])
              if PurePosixPath(path).is_relative_to(m["mountPath"]) and path != m["mountPath"]]
    if not mounts:
        return None
    mount = max(mounts, key=lambda m: len(PurePosixPath(m["mountPath"]).parts))
    return next(v for v in spec["volumes"] if v["name"] == mount["name"]), mount


def test_the_sidecars_tombstone_file_is_on_a_volume_that_outlives_the_proxy(tmp_path):
    """Not under ~: the image's HOME is on the read-only root filesystem (and the proxy
    does not start when it cannot make the file)."""
    docs = documents(KUBERNETES / "sidecar-pod.yaml")
    ((spec, proxy),) = proxy_containers(docs)
    tombstones = settings_of(docs, spec, proxy, tmp_path).tombstones
    assert tombstones.database_url == ""  # the embedded SQLite file
    assert PurePosixPath(tombstones.sqlite_path).is_absolute(), tombstones.sqlite_path
    assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
    held = volume_holding(spec, proxy, tombstones.sqlite_path)
    assert held, f"{tombstones.sqlite_path} is on the read-only root filesystem"
    volume, mount = held
    assert not mount.get("readOnly", False)  # SQLite writes its -wal and -shm beside it
    # A container restart keeps an emptyDir; configMap, secret and the like are read-only.
    assert {"emptyDir", "persistentVolumeClaim", "ephemeral"} & volume.keys(), volume
    if "emptyDir" in volume:
        assert volume["emptyDir"].get("sizeLimit"), volume


def test_the_shared_replicas_share_postgresql_and_the_bus_through_a_secret(tmp_path):
    path = KUBERNETES / "shared-service.yaml"
    docs = documents(path)
    ((spec, proxy),) = proxy_containers(docs)
    refs = secret_refs(proxy)
    assert set(STORE_SECRETS) <= refs.keys()
    for ref in refs.values():
        assert ref.get("optional", False) is False  # a replica without them is not started
    # Nowhere but the Secret: no literal variable, nothing in the ConfigMap.
    assert not set(STORE_SECRETS) & literal_env(proxy).keys()
    alone = settings_of(docs, spec, proxy, tmp_path)
    assert alone.tombstones.database_url == "" and alone.notifications.url == ""

    settings = settings_with_secrets(path, docs, spec, proxy, tmp_path)
    assert TombstoneStore.create(settings.tombstones).dialect == "postgresql"
    assert urllib.parse.urlsplit(settings.notifications.url).scheme in ("amqp", "amqps")
    # The documented command takes each password from the shell, never spells one out.
    for url in (settings.tombstones.database_url, settings.notifications.url):
        assert re.fullmatch(r"\$\{?\w+\}?", urllib.parse.urlsplit(url).password or ""), url


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_every_secret_the_proxy_reads_is_documented_and_not_in_a_manifest(path, tmp_path):
    contained = {d["metadata"]["name"] for p in MANIFESTS for d in documents(p)
                 if d["kind"] == "Secret" and (d.get("data") or d.get("stringData"))}
    documented = documented_secrets(path)
    docs = documents(path)
    for spec, proxy in proxy_containers(docs):
        for name, ref in secret_refs(proxy).items():
            assert name in STORE_SECRETS, name
            assert ref["name"] not in contained, ref["name"]
            assert ref["key"] in documented.get(ref["name"], {}), (name, ref)
        settings_with_secrets(path, docs, spec, proxy, tmp_path)  # the values pass validation


# --- the Containerfile ---------------------------------------------------------------------

def test_the_containerfile_builds_a_small_non_root_image_that_gets_sigterm():
    args = {}
    for keyword, rest in INSTRUCTIONS:
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
    for keyword, rest in INSTRUCTIONS:
        if keyword == "FROM":
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], rest.split()[0])
            assert image.split("@")[0] == "python:3.11-slim"
    uid = only("USER").partition(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: runAsNonRoot can check it
    assert only("STOPSIGNAL") == "SIGTERM"
    entrypoint, cmd = entrypoint_and_cmd()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == [PROXY] and PROXY in scripts
    example = load_settings(ROOT / "config.example.yaml", {})
    assert str(example.listen.port) in only("EXPOSE").split()
    # The CMD's config file is the example, copied in.
    copies = [rest.split() for k, rest in final_stage() if k == "COPY"]
    config = config_path_of(entrypoint + cmd, image_env())
    assert ["config.example.yaml", config] in [[w for w in c if not w.startswith("--")]
                                               for c in copies]
    # Runtime dependencies only: the project itself, never its [test] extra.
    installs = [rest for k, rest in INSTRUCTIONS if k == "RUN" and "pip install" in rest]
    assert installs and all("--no-cache-dir" in r and "[" not in r for r in installs)
    assert all(re.search(r"\s\.(\s|$)", r) for r in installs)
    check = only("HEALTHCHECK")
    assert "/healthz" in exec_form(check.partition(" CMD ")[2])[-1]


def shell_commands(text: str) -> list[list[str]]:
    """The simple commands of a RUN's shell line, split at && || ; |."""
    commands = [[]]
    for word in shlex.split(text):
        if word in ("&&", "||", ";", "|"):
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def option(command: list[str], *names: str) -> str | None:
    for i, word in enumerate(command[:-1]):
        if word in names:
            return command[i + 1]
    return None


def test_the_images_user_can_write_the_store_s_default_file():
    """The embedded store's default file is under ~, and the proxy does not start when it
    cannot make it: the USER's home must exist and be its own."""
    assert TombstoneSettings().sqlite_path.startswith("~/")
    uid = only("USER").partition(":")[0]
    commands = [c for k, rest in final_stage() if k == "RUN" for c in shell_commands(rest)]
    users = [c for c in commands if c[0] == "useradd" and option(c, "--uid", "-u") == uid]
    home = image_env().get("HOME") or (users and option(users[-1], "--home-dir", "-d"))
    assert home, "the image's user has no HOME the Containerfile states"
    made = [c for c in commands if home in c and (
        (c[0] == "useradd" and {"--create-home", "-m"} & set(c))
        or (c[0] == "install" and "-d" in c and option(c, "-o", "--owner") == uid)
        or (c[0] == "chown" and c[-2].partition(":")[0] == uid))]
    assert made, f"{home} (the image's HOME) is not made for user {uid}"


def test_the_build_context_holds_what_pip_install_needs_and_nothing_else():
    patterns = dockerignore_patterns()
    context = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
               if p.is_file() and dockerignore_keeps(str(p.relative_to(ROOT)), patterns)]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"pyproject.toml", project["readme"], "config.example.yaml"} <= set(context)
    # Every module of every package setuptools will find (packages.find: proxy*).
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "proxy").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sources and sources <= set(context)
    assert not [p for p in context if p.split("/")[0] in ("tests", ".git", ".venv", "deploy")
                or "__pycache__" in p]


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_the_entrypoint_and_cmd_start_the_proxy_which_stops_on_sigterm(tmp_path):
    calls = []

    async def counted_versions(request):
        calls.append(request.path)
        return await versions(request)

    def upstream_app():
        app = web.Application()
        app.router.add_get("/versions", counted_versions)
        return app

    upstream = ThreadedApp(upstream_app).start()
    port = free_port()
    example = str(ROOT / "config.example.yaml")
    entrypoint, cmd = entrypoint_and_cmd()
    config = config_path_of(entrypoint + cmd, image_env())
    argv = [example if word == config else word for word in entrypoint + cmd]
    assert example in argv
    env = {**os.environ, **{k: example if v == config else v for k, v in image_env().items()},
           # the image's PATH holds the console script and python; here, the venv does
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "IMAGE_V1_PROXY_LISTEN_PORT": str(port), "IMAGE_V1_PROXY_LISTEN_HOST": "127.0.0.1",
           "IMAGE_V1_PROXY_UPSTREAM_URL": upstream.url}
    healthcheck = exec_form(only("HEALTHCHECK").partition(" CMD ")[2])
    log = tmp_path / "proxy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while status_of(base + "/healthz") != 200:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        while not (calls and status_of(base + "/readyz") == 200):
            assert time.monotonic() < deadline, (calls, log.read_text())
            time.sleep(0.1)
        # The image's own HEALTHCHECK, as Docker would run it.
        assert subprocess.run(healthcheck, check=False, env=env, timeout=10).returncode == 0

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, log.read_text()
        assert subprocess.run(healthcheck, check=False, env=env, timeout=10,
                              capture_output=True).returncode != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        upstream.stop()
    assert "Traceback" not in log.read_text()
