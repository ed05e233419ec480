"""This node's object in the Kubernetes API: read it, and patch its taints (``--untaint``).

Imported only when ``--untaint`` is set: lightkube (and its HTTP client) cost start-up time
that no other mode pays (docs/performance.md). lightkube reads the kubeconfig or the service
account and authenticates (a rotated service-account token is re-read, exec plugins run,
client certificates load); the requests themselves go through its configured HTTP client as
plain JSON, so the taint list we ``test`` is byte for byte the one the API sent, not a model's
re-encoding of it.

Every failure is one of the exceptions below, in one line that says what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx2
import yaml
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.core.exceptions import ConfigError

#: Where the kubelet mounts the pod's service account (token, ca.crt, namespace).
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: kubectl's default kubeconfig.
DEFAULT_KUBECONFIG = Path("~/.kube/config")
#: Seconds for one request, connect to last byte: an API that does not answer is retried.
REQUEST_TIMEOUT = 10.0
JSON_PATCH = "application/json-patch+json"
#: Fields of a kubeconfig that name files, relative to the kubeconfig that holds them.
_FILE_FIELDS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")


class ApiProblem(Exception):
    """A call did not do what it should; ``str()`` is the one line to log."""


class NoConfig(ApiProblem):
    """No service account and no kubeconfig, or one that cannot be read."""


class Denied(ApiProblem):
    """401 (credentials not accepted) or 403 (the RBAC rule is missing)."""


class NoSuchNode(ApiProblem):
    """404: no node of that name."""


class Changed(ApiProblem):
    """422 from a failed ``test``, or 409: the node changed since we read it; read again."""


class Refused(ApiProblem):
    """422 for another reason than a failed ``test``: the API found the patch itself wrong
    (a schema rule, an admission policy). Said as an error, since reading again will not
    change it; still retried, as the policy may change."""


class Unreachable(ApiProblem):
    """No answer, a timeout, a TLS failure or a 5xx: try again later."""


def _absolute(entries: Any, section: str, base: Path) -> None:
    """kubectl resolves a file named in a kubeconfig against that kubeconfig's dir."""
    for entry in entries if isinstance(entries, list) else []:
        inner = entry.get(section) if isinstance(entry, dict) else None
        for name in _FILE_FIELDS:
            if isinstance(inner, dict) and isinstance(inner.get(name), str):
                inner[name] = str(base / Path(inner[name]).expanduser())


def _merged(paths: list[Path]) -> dict[str, Any]:
    """KUBECONFIG's files merged as kubectl merges them: the first to name a cluster, user or
    context (or a current-context) wins; missing files are skipped."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    for path in paths:
        try:
            loaded = yaml.safe_load(path.expanduser().read_text())
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as err:
            raise NoConfig(f"kubeconfig {path}: {err}") from None
        if not isinstance(loaded, dict):
            continue
        if merged.get("current-context") is None and loaded.get("current-context"):
            merged["current-context"] = loaded["current-context"]
        for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "")):
            entries = loaded.get(section) or []
            if inner:
                _absolute(entries, inner, path.expanduser().resolve().parent)
            taken = {e.get("name") for e in merged[section]}
            merged[section] += [
                e for e in entries if isinstance(e, dict) and e.get("name") not in taken
            ]
    return merged


def load_config(
    kubeconfig: Path | None,
    environ: Mapping[str, str],
    service_account: Path = SERVICE_ACCOUNT,
) -> SingleConfig:
    """Which API and credentials, as kubectl picks them: ``--kubeconfig``, else the files
    of KUBECONFIG, else the pod's service account (KUBERNETES_SERVICE_HOST and the token
    mounted), else ~/.kube/config. NoConfig in one line when none of them is there."""
    try:
        if kubeconfig is not None:
            paths, said = [kubeconfig], f"--kubeconfig {kubeconfig}"
        elif environ.get("KUBECONFIG"):
            text = environ["KUBECONFIG"]
            paths = [Path(p) for p in text.split(os.pathsep) if p]
            said = f"KUBECONFIG={text}"
        elif environ.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster(environ, service_account)
        else:
            paths, said = [DEFAULT_KUBECONFIG], str(DEFAULT_KUBECONFIG)
        merged = _merged(paths)
        if not merged["clusters"]:
            raise NoConfig(
                f"no cluster in {said}: in a pod, mount the service account"
                " (automountServiceAccountToken); outside, give --kubeconfig"
            )
        single = KubeConfig.from_dict(merged, fname=paths[0].expanduser()).get()
    except ConfigError as err:
        raise NoConfig(f"kubeconfig: {err}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise NoConfig(f"kubeconfig: not a kubeconfig ({err})") from None
    if single is None:
        raise NoConfig(f"no current-context in {said}")
    return single


def _in_cluster(environ: Mapping[str, str], account: Path) -> SingleConfig:
    token = account / "token"
    if not token.is_file():
        raise NoConfig(
            f"KUBERNETES_SERVICE_HOST is set but {token} is missing: the pod needs its service"
            " account token (automountServiceAccountToken: true)"
        )
    host, port = environ["KUBERNETES_SERVICE_HOST"], environ.get("KUBERNETES_SERVICE_PORT", "443")
    config = KubeConfig.from_dict(
        {
            "clusters": [
                {
                    "name": "in-cluster",
                    "cluster": {
                        "server": f"https://[{host}]:{port}"
                        if ":" in host
                        else f"https://{host}:{port}",
                        "certificate-authority": str(account / "ca.crt"),
                    },
                }
            ],
            # The file, not its text: the kubelet rotates the token and lightkube reads it
            # again on a 401.
            "users": [{"name": "in-cluster", "user": {"tokenFile": str(token)}}],
            "contexts": [
                {"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "in-cluster"}}
            ],
            "current-context": "in-cluster",
        }
    ).get()
    assert config is not None
    return config


def _message(response: httpx2.Response) -> str:
    """The API's own words (a Status object's ``message``, and its causes' messages: a
    patch that does not apply is a fixed message with the patch library's error as the
    cause), or the status line."""
    try:
        status = json.loads(response.content)
    except ValueError:
        status = None
    if not isinstance(status, dict) or not status.get("message"):
        return f"HTTP {response.status_code} {response.reason_phrase}"
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    said = [
        str(cause["message"])
        for cause in (causes if isinstance(causes, list) else [])
        if isinstance(cause, dict) and cause.get("message")
    ]
    return "; ".join([str(status["message"]), *said])


#: The patch library's words for a ``test`` that did not hold (evanphx/json-patch, which the
#: API server uses: "testing value /spec/taints failed: test failed").
_TEST_FAILED = "test failed"


class Nodes:
    """GET and JSON PATCH of one node, over one HTTP client. ``close`` when done."""

    def __init__(self, config: SingleConfig, node: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self.node = node
        self.server = config.cluster.server
        self.path = f"/api/v1/nodes/{node}"
        try:
            self._client = client_adapter.AsyncClient(
                config, client_adapter.ConnectionParams(timeout=httpx2.Timeout(timeout))
            )
        except (ConfigError, OSError, ValueError) as err:
            # A CA or client certificate that cannot be read or parsed.
            raise NoConfig(f"credentials for {self.server}: {err}") from None

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self) -> dict[str, Any]:
        """The node as the API returns it."""
        return await self._call("GET", None)

    async def patch(self, ops: list[dict[str, Any]]) -> dict[str, Any]:
        """Apply a JSON patch (RFC 6902) to the node; the node as patched."""
        return await self._call("PATCH", json.dumps(ops).encode())

    async def _call(self, method: str, body: bytes | None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = JSON_PATCH
        try:
            response = await self._client.request(method, self.path, content=body, headers=headers)
        except httpx2.TimeoutException:
            raise Unreachable(
                f"the API server {self.server} did not answer {method} {self.path}"
                f" within {self._client.timeout.read:g} s"
            ) from None
        except (httpx2.TransportError, OSError) as err:
            why = str(err) or type(err).__name__
            raise Unreachable(f"the API server {self.server} is unreachable: {why}") from None
        code = response.status_code
        if code == 200:
            try:
                node = json.loads(response.content)
            except ValueError:
                node = None
            if not isinstance(node, dict):
                raise Unreachable(f"{method} {self.path}: the answer is not a JSON object")
            return node
        said = _message(response)
        if code == 401:
            raise Denied(
                f"{method} {self.path} refused (401): the API server did not accept the"
                f" credentials (the service account's token, or the kubeconfig's user): {said}"
            )
        if code == 403:
            verb = "patch" if method == "PATCH" else "get"
            raise Denied(
                f"{method} {self.path} refused ({code}): the pod's service account needs a"
                f" ClusterRole allowing verb {verb!r} on resource 'nodes' (apiGroups ['']),"
                f" bound to it: {said}"
            )
        if code == 404:
            raise NoSuchNode(
                f"no node named {self.node!r} (404 from {self.server}): --node-name or"
                " CHAINFSM_NODE_NAME must be the node's name (spec.nodeName from the downward API)"
            )
        if code == 409 or (code == 422 and _TEST_FAILED in said):
            raise Changed(f"the node changed since it was read ({code}): {said}")
        if code == 422:
            raise Refused(f"{method} {self.path}: the API refused the patch (422): {said}")
        raise Unreachable(f"{method} {self.path}: {code} from {self.server}: {said}")
