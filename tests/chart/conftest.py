"""Shared helpers for the Helm chart tests: render with the real Helm 4 SDK, parse the output,
read the server's facts (webhook paths, CLI flags) out of the Rust sources, and a stub API server
that answers Helm's `lookup` so the upgrade path can be rendered without a cluster."""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import helm_python as helm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "charts" / "aws-load-balancer-controller"
RELEASE = "aws-load-balancer-controller"
NAMESPACE = "kube-system"
BASE_VALUES: dict[str, Any] = {"clusterName": "test-cluster", "vpcId": "vpc-0aaaabbbbccccdddd"}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class Rendered:
    """The objects of one render, in template order."""

    objects: list[dict[str, Any]]
    notes: str = ""

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def webhooks(self) -> list[tuple[str, dict[str, Any]]]:
        """(configuration kind, webhook) for every webhook in both configurations."""
        out = []
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            for config in self.all(kind):
                out.extend((kind, hook) for hook in config.get("webhooks") or [])
        return out

    def container(self) -> dict[str, Any]:
        containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return containers[0]

    def args(self) -> list[str]:
        return list(self.container()["args"])

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` in the container args (None when absent)."""
        prefix = f"{name}="
        values = [a[len(prefix):] for a in self.args() if a.startswith(prefix)]
        assert len(values) <= 1, f"{name} given {len(values)} times"
        return values[0] if values else None

    def tls_secret(self) -> dict[str, Any]:
        return self.one("Secret", "aws-load-balancer-tls")


def parse_manifests(manifests: dict[str, str]) -> Rendered:
    objects: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert isinstance(doc, dict), f"{path}: a document is not a mapping"
                objects.append(doc)
    return Rendered(objects, notes)


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture()
def render(chart: helm.Chart):
    """render(values, namespace=..., name=..., config=..., is_upgrade=...) -> Rendered.

    `values` are merged over BASE_VALUES (a cluster name); pass base=False to render the chart's
    own defaults. With `config` (a helm Config), `lookup` asks that API server."""

    def _render(
        values: dict[str, Any] | None = None,
        *,
        base: bool = True,
        name: str = RELEASE,
        namespace: str = NAMESPACE,
        config: helm.Config | None = None,
        is_upgrade: bool | None = None,
    ) -> Rendered:
        merged = deep_merge(BASE_VALUES if base else {}, values or {})
        kwargs: dict[str, Any] = {"name": name, "namespace": namespace}
        if is_upgrade is not None:
            kwargs["is_upgrade"] = is_upgrade
            kwargs["is_install"] = not is_upgrade
        if config is None:
            manifests = chart.render(merged, **kwargs)
        else:
            manifests = config.render(chart, merged, **kwargs)
        return parse_manifests(manifests)

    return _render


def b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode())


# --- facts read from the Rust sources ------------------------------------------------------------


def _fn_body(source: str, signature: str) -> str:
    start = source.find(signature)
    assert start >= 0, f"`{signature}` not found"
    end = source.find("\n    }\n", start)
    assert end > start, f"end of `{signature}` not found"
    return source[start:end]


def _variant_strings(body: str) -> dict[str, str]:
    pairs = re.findall(r'Endpoint::(\w+)\s*=>\s*\{?\s*"([^"]+)"', body)
    assert pairs, "no `Endpoint::X => \"...\"` arms found"
    return dict(pairs)


@dataclass(frozen=True)
class ServerEndpoints:
    """Webhook path -> webhook name, as served by webhook/src/admission.rs."""

    names: dict[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> set[str]:
        return set(self.names)


@pytest.fixture(scope="session")
def server_endpoints() -> ServerEndpoints:
    source = (ROOT / "webhook" / "src" / "admission.rs").read_text()
    paths = _variant_strings(_fn_body(source, "pub fn path(self)"))
    names = _variant_strings(_fn_body(source, "pub fn name(self)"))
    assert set(paths) == set(names), "fn path and fn name cover different endpoints"
    return ServerEndpoints({paths[v]: names[v] for v in paths})


@dataclass(frozen=True)
class CliFlag:
    name: str
    is_bool: bool


def _struct_fields(source: str, struct: str) -> list[tuple[str, str, str]]:
    """(attributes, field name, type) for each field of `pub struct <struct>`."""
    match = re.search(r"pub struct " + struct + r"\s*\{(.*?)\n\}", source, re.S)
    assert match, f"struct {struct} not found in cli.rs"
    fields = []
    attrs: list[str] = []
    for line in match.group(1).splitlines():
        stripped = line.strip()
        if stripped.startswith("#["):
            attrs.append(stripped)
        elif attrs and not stripped.startswith("#[") and stripped and not stripped.startswith("///"):
            decl = re.match(r"pub (\w+):\s*(.+?),?$", stripped)
            if decl:
                fields.append((" ".join(attrs), decl.group(1), decl.group(2)))
                attrs = []
            else:
                attrs[-1] += " " + stripped  # an attribute continued on the next line
    return fields


def _flags_of(source: str, struct: str) -> dict[str, CliFlag]:
    flags: dict[str, CliFlag] = {}
    for attrs, name, ty in _struct_fields(source, struct):
        if "flatten" in attrs:
            flags.update(_flags_of(source, ty.strip()))
            continue
        if "long" not in attrs:
            continue
        explicit = re.search(r'long\s*=\s*"([^"]+)"', attrs)
        flag = "--" + (explicit.group(1) if explicit else name.replace("_", "-"))
        # A bool with `ArgAction::Set` takes an explicit value (`--flag=false`), like Go's flags.
        flags[flag] = CliFlag(flag, ty.strip() == "bool" and "ArgAction::Set" not in attrs)
    return flags


@pytest.fixture(scope="session")
def serve_flags() -> dict[str, CliFlag]:
    """The long flags `aws-load-balancer-controller serve` accepts, from src/cli.rs."""
    source = (ROOT / "src" / "cli.rs").read_text()
    flags = _flags_of(source, "ServeArgs")
    assert "--cluster-name" in flags and "--webhook-cert-dir" in flags, flags
    return flags


# --- a stub API server for `lookup` ---------------------------------------------------------------


class StubApiServer:
    """Answers the two requests Helm's `lookup "v1" "Secret" ns name` makes: API discovery for
    core/v1 and a GET of the Secret. Everything else is 404. Binds 127.0.0.1 only."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                stub.requests.append(path)
                body: dict[str, Any] | None = None
                if path == "/api/v1":
                    body = {
                        "kind": "APIResourceList",
                        "apiVersion": "v1",
                        "groupVersion": "v1",
                        "resources": [
                            {
                                "name": "secrets",
                                "singularName": "secret",
                                "namespaced": True,
                                "kind": "Secret",
                                "verbs": ["get", "list"],
                            }
                        ],
                    }
                else:
                    found = re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets/([^/]+)", path)
                    if found:
                        body = stub.secrets.get((found.group(1), found.group(2)))
                if body is None:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "reason": "NotFound", "code": 404})
                else:
                    self._send(200, body)

            def _send(self, code: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add_secret(self, secret: dict[str, Any]) -> None:
        meta = secret["metadata"]
        self.secrets[(meta["namespace"], meta["name"])] = secret

    def kubeconfig(self) -> str:
        return yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "stub", "cluster": {"server": self.url}}],
            "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}],
            "users": [{"name": "stub", "user": {}}],
            "current-context": "stub",
        })


@pytest.fixture()
def api_server() -> Iterator[StubApiServer]:
    stub = StubApiServer()
    stub.thread.start()
    try:
        yield stub
    finally:
        stub.server.shutdown()
        stub.server.server_close()


@pytest.fixture()
def lookup_config(api_server: StubApiServer) -> Iterator[helm.Config]:
    """A helm Config whose `lookup` asks the stub API server."""
    with helm.Config(kubeconfig_content=api_server.kubeconfig(), namespace=NAMESPACE) as config:
        yield config
