"""A stand-in for the Kubernetes API server, for the calls ``--untaint`` makes, on loopback.

No API server can be installed on the test machines, so this one is written from the API's
documentation (API concepts: "Patch operations", "Resource versions", the Status kind) and
checked with a real client (kubectl, in tests/agent/test_kube_standin.py):

- HTTPS with a CA made for the test (``cryptography``), a server certificate for 127.0.0.1,
  and a bearer token (401 without it);
- discovery for kubectl (``/api``, ``/api/v1``, ``/apis``);
- GET and PATCH ``/api/v1/nodes/NAME``: PATCH takes ``application/json-patch+json``
  (RFC 6902: ``test``, ``add``, ``remove``, ``replace``); a failed ``test`` is 422; a patch
  that leaves ``metadata.resourceVersion`` other than the stored one is 409; every change
  bumps the resourceVersion; the patched Node must validate against the Kubernetes OpenAPI
  schema (kubernetes-validate, strict), or 422;
- 403 for a verb the RBAC of the test denies, 404 for an unknown node, Status objects as the
  API writes them;
- faults a test queues: an answer with a given code (500, 409, ...), an answer held until the
  test releases it (a slow API), and another client's change that lands between our read and
  our patch.

Every request is recorded (method, path, headers, body) for the tests to check their shape.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.constants import HANG_GUARD
from tests.support.manifests import KUBERNETES_VERSION

JSON_PATCH = "application/json-patch+json"
TOKEN = "chainfsm-test-token"
#: Who the token authenticates as, for the 403's message (as the API says it).
USER = "system:serviceaccount:kube-system:antrea-agent"


@dataclass(frozen=True)
class Tls:
    """The test CA and the server's certificate and key, as files."""

    ca: Path
    cert: Path
    key: Path


def make_tls(where: Path) -> Tls:
    """A CA and a certificate for 127.0.0.1 signed by it (EC P-256, valid for a day)."""
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("chainfsm test CA"))
        .issuer_name(name("chainfsm test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("kube-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(where / "ca.crt", where / "server.crt", where / "server.key")
    tls.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


def node(name: str, taints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Node object as the API returns it, with ``taints`` (none: no spec.taints)."""
    spec: dict[str, Any] = {"podCIDR": "10.244.1.0/24", "providerID": f"azure:///{name}"}
    if taints is not None:
        spec["taints"] = taints
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": "6f1f3c2e-0d7e-4a4b-9f47-0a1c5e2b7d10",
            "resourceVersion": "1000",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"kubernetes.io/hostname": name, "kubernetes.azure.com/mode": "user"},
        },
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }


def status(code: int, reason: str, message: str, name: str | None = None) -> dict[str, Any]:
    """A Status object, as the API answers every error."""
    doc: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if name is not None:
        doc["details"] = {"name": name, "kind": "nodes"}
    return doc


class PatchFailed(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchFailed(422, "Invalid", f"path {path!r} is not a JSON pointer")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    for part in parts[:-1]:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            raise PatchFailed(422, "Invalid", f"doc is missing path: /{'/'.join(parts)}")
    return doc, parts[-1]


def apply_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 on a copy of ``doc``: the operations the API's JSON patch takes (``move`` and
    ``copy`` are not needed here). PatchFailed(422) as the API words it."""
    if not isinstance(ops, list):
        raise PatchFailed(400, "BadRequest", "json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or set(op) - {"op", "path", "value"} or "path" not in op:
            raise PatchFailed(422, "Invalid", f"not a JSON patch operation: {op!r}")
        kind, parts = op.get("op"), _pointer(op["path"])
        parent, last = _parent(doc, parts)
        at: Any = last
        if isinstance(parent, list):
            if last == "-" and kind == "add":
                at = len(parent)
            elif not last.isdigit() or int(last) > len(parent) - (kind != "add"):
                raise PatchFailed(422, "Invalid", f"index {last!r} out of range at {op['path']}")
            else:
                at = int(last)
        elif not isinstance(parent, dict):
            raise PatchFailed(422, "Invalid", f"doc is missing path: {op['path']}")
        present = at < len(parent) if isinstance(parent, list) else at in parent
        here = parent[at] if present else None
        if kind == "test":
            if "value" not in op or not present or here != op["value"]:
                raise PatchFailed(422, "Invalid", f"testing value {op['path']} failed: test failed")
        elif kind in ("add", "replace"):
            if "value" not in op:
                raise PatchFailed(422, "Invalid", f"{kind} at {op['path']} has no value")
            if kind == "replace" and not present:
                raise PatchFailed(
                    422, "Invalid", f"replace operation does not apply: doc is missing key: {last}"
                )
            if isinstance(parent, list) and kind == "add":
                parent.insert(at, copy.deepcopy(op["value"]))
            else:
                parent[at] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if not present:
                raise PatchFailed(422, "Invalid", f"remove: doc is missing key: {last}")
            del parent[at]
        else:
            raise PatchFailed(422, "Invalid", f"unsupported JSON patch operation {kind!r}")
    return doc


@dataclass
class Fault:
    """What the next request matching ``method`` (and ``path``'s end) meets."""

    method: str
    #: Answer with this code and a Status (0: answer as usual).
    code: int = 0
    #: Hold the answer until ``release`` is set (a slow API).
    hold: threading.Event | None = None
    #: Run before the request is handled: another client's change lands first.
    before: Callable[[], None] | None = None
    #: Set when the request arrived (tests await it rather than sleep).
    arrived: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StandIn:
    """The stand-in's state: the nodes, the denied verbs, the queued faults, the requests."""

    def __init__(self, tls: Tls) -> None:
        self.tls = tls
        self.nodes: dict[str, dict[str, Any]] = {}
        #: Verbs ("get", "patch") the token's RBAC does not allow on nodes.
        self.denied: set[str] = set()
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        #: Notified at every request answered.
        self.answered = threading.Condition(self.lock)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"https://{host!s}:{port}"

    def add_node(self, name: str, taints: list[dict[str, Any]] | None) -> None:
        with self.lock:
            self.nodes[name] = node(name, taints)

    def taints(self, name: str) -> list[dict[str, Any]] | None:
        with self.lock:
            found: list[dict[str, Any]] | None = self.nodes[name]["spec"].get("taints")
            return copy.deepcopy(found)

    def change(self, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """Another client's write: ``edit`` the stored node, and bump its resourceVersion."""
        with self.lock:
            self._store(name, edit)

    def _store(self, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
        stored = self.nodes[name]
        edit(stored)
        meta = stored["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

    def kubeconfig(self, where: Path, token: str = TOKEN) -> Path:
        """A kubeconfig for this server, the CA inline as kubectl writes it."""
        path = where / "kubeconfig"
        ca = base64.b64encode(self.tls.ca.read_bytes()).decode()
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "standin",
                    "cluster": {"server": self.url, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": "node-agent", "user": {"token": token}}],
            "contexts": [
                {"name": "standin", "context": {"cluster": "standin", "user": "node-agent"}}
            ],
            "current-context": "standin",
        }
        path.write_text(json.dumps(doc))
        return path

    def wait_for_requests(self, count: int) -> list[Request]:
        """Block until ``count`` requests have been answered (a thread, not the loop)."""
        with self.answered:
            if not self.answered.wait_for(lambda: len(self.requests) >= count, HANG_GUARD):
                raise AssertionError(f"only {len(self.requests)} of {count} requests came")
            return list(self.requests)

    @contextlib.contextmanager
    def serving(self) -> Iterator[StandIn]:
        standin = self

        class Handler(_Handler):
            pass

        Handler.standin = standin
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.cert, self.tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        thread = threading.Thread(target=server.serve_forever, name="kube-standin", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            for fault in self.faults:  # a held answer must not outlive the test
                if fault.hold is not None:
                    fault.hold.set()
            server.shutdown()
            server.server_close()
            thread.join(HANG_GUARD)


_DISCOVERY: dict[str, dict[str, Any]] = {
    "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.0-chainfsm-standin"},
    "/api": {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    },
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "nodes",
                "singularName": "node",
                "namespaced": False,
                "kind": "Node",
                "verbs": ["get", "list", "patch", "update", "watch"],
                "shortNames": ["no"],
            }
        ],
    },
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin: StandIn

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the requests are recorded; stderr stays the test's

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _send(self, code: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        standin = self.standin
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        fault = None
        with standin.lock:
            for each in standin.faults:
                if each.method == method and not each.arrived.is_set():
                    fault = each
                    break
        if fault is not None:
            fault.arrived.set()
            if fault.before is not None:
                fault.before()
            if fault.hold is not None:
                fault.hold.wait(HANG_GUARD)
        code, doc = self._answer(method, path, body, fault)
        try:
            self._send(code, doc)
        finally:
            with standin.answered:
                standin.requests.append(Request(method, self.path, dict(self.headers), body))
                standin.answered.notify_all()

    def _answer(
        self, method: str, path: str, body: bytes, fault: Fault | None
    ) -> tuple[int, dict[str, Any]]:
        standin = self.standin
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        if fault is not None and fault.code:
            reason = {
                409: "Conflict",
                422: "Invalid",
                500: "InternalError",
                503: "ServiceUnavailable",
            }
            return fault.code, status(fault.code, reason.get(fault.code, "Unknown"), "injected")
        if method == "GET" and path in _DISCOVERY:
            return 200, _DISCOVERY[path]
        prefix = "/api/v1/nodes/"
        name = path[len(prefix) :] if path.startswith(prefix) else ""
        if not name or "/" in name:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        verb = {"GET": "get", "PATCH": "patch", "PUT": "update"}[method]
        if verb in standin.denied:
            return 403, status(
                403,
                "Forbidden",
                f'nodes "{name}" is forbidden: User "{USER}" cannot {verb} resource "nodes" in'
                ' API group "" at the cluster scope',
                name,
            )
        with standin.lock:
            stored = standin.nodes.get(name)
            if stored is None:
                return 404, status(404, "NotFound", f'nodes "{name}" not found', name)
            if method == "GET":
                return 200, copy.deepcopy(stored)
            if method == "PUT":
                return 405, status(405, "MethodNotAllowed", "not in this stand-in")
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if kind != JSON_PATCH:
                return 415, status(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types"
                    f" include: {JSON_PATCH}",
                )
            try:
                ops = json.loads(body)
                patched = apply_patch(stored, ops)
            except ValueError as err:
                return 400, status(400, "BadRequest", f"error decoding patch: {err}")
            except PatchFailed as err:
                # The API's words for a patch that does not apply (NewGenericServerResponse:
                # a fixed message, the patch library's error as the one cause).
                failed = status(
                    err.code,
                    err.reason,
                    "the server rejected our request due to an error in our request",
                )
                failed["details"] = {
                    "causes": [{"reason": "UnexpectedServerResponse", "message": err.message}]
                }
                return err.code, failed
            version = stored["metadata"]["resourceVersion"]
            if patched["metadata"].get("resourceVersion") != version:
                return 409, status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on nodes "{name}": the object has been'
                    " modified; please apply your changes to the latest version and try again",
                    name,
                )
            try:
                kubernetes_validate.validate(patched, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as err:
                return 422, status(422, "Invalid", f'Node "{name}" is invalid: {err.message}', name)
            standin.nodes[name] = patched
            standin._store(name, lambda _: None)
            return 200, copy.deepcopy(standin.nodes[name])


def taint(key: str, effect: str = "NoSchedule", value: str | None = None) -> dict[str, Any]:
    found = {"key": key, "effect": effect}
    if value is not None:
        found["value"] = value
    return found
