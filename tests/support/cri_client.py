"""A CRI ``RuntimeService`` client: the container runtime's own verdict on the network, and the
pod sandboxes a test runs (the product never creates or removes one).

The messages the product also speaks (Status, ListPodSandbox, PodSandboxStatus, StopPodSandbox)
are the product's codec, chainfsm/core/cri_messages.py; what a test checks of it is what a real
runtime answers (tests/runtime/test_cri_client.py). Only the sandbox's life is written here:

    RunPodSandboxRequest  { PodSandboxConfig config = 1; }  -> { string pod_sandbox_id = 1; }
    PodSandboxConfig      { PodSandboxMetadata metadata = 1; string hostname = 2;
                            LinuxPodSandboxConfig linux = 8; }
    PodSandboxMetadata    { string name = 1; string uid = 2; string namespace = 3; }
    LinuxPodSandboxConfig { LinuxSandboxSecurityContext security_context = 2; }
    LinuxSandboxSecurityContext { NamespaceOption namespace_options = 1; }
    NamespaceOption       { NamespaceMode network = 1; }   (POD = 0, NODE = 2)
    RemovePodSandboxRequest { string pod_sandbox_id = 1; }

Only grpcio is needed for the transport. containerd 1.6 serves both ``runtime.v1`` and
``runtime.v1alpha2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import grpc

from chainfsm.core import cri_messages
from chainfsm.core.cri_messages import Condition, NamespaceMode, RuntimeStatus, Sandbox
from tests.support import cri_wire

API_VERSIONS = ("runtime.v1", "runtime.v1alpha2")


@dataclass(frozen=True, slots=True)
class Status:
    """One answer of ``RuntimeService/Status``, as the tests look at it."""

    conditions: dict[str, Condition]
    info: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, status: RuntimeStatus) -> Status:
        return cls({c.type: c for c in status.conditions}, dict(status.info))

    @property
    def network_ready(self) -> bool:
        condition = self.conditions.get("NetworkReady")
        return condition is not None and condition.status

    @property
    def cni_load_status(self) -> str:
        """``lastCNILoadStatus``: "OK" or the error of the runtime's last load of the conf dir
        (only filled in a verbose answer)."""
        return self.info.get("lastCNILoadStatus", "")

    @property
    def networks(self) -> list[tuple[str, list[str]]]:
        """The networks the runtime loaded, as (name, plugin types), from ``cniconfig``."""
        raw = self.info.get("cniconfig")
        loaded = cri_messages.parse_cni_config(raw).networks if raw else ()
        return [(n.name, list(n.plugins)) for n in loaded]

    def describe(self) -> str:
        net = self.conditions.get("NetworkReady", Condition("NetworkReady"))
        return (
            f"NetworkReady={net.status} reason={net.reason!r} message={net.message!r}"
            f" lastCNILoadStatus={self.cni_load_status!r} networks={self.networks}"
        )


def encode_run_pod_sandbox_request(
    name: str, namespace: str, uid: str, host_network: bool = False
) -> bytes:
    """Pure. ``RunPodSandboxRequest`` for a sandbox in the pod's own network namespace, or in
    the node's (``host_network``), as the kubelet asks for a pod with ``hostNetwork: true``."""
    put = cri_wire.field
    metadata = put(1, name) + put(2, uid) + put(3, namespace)
    mode = put(1, NamespaceMode.NODE if host_network else NamespaceMode.POD)
    linux = put(2, put(1, mode))
    # The kubelet sets no hostname for a host-network pod (runc refuses one without its own UTS).
    hostname = b"" if host_network else put(2, name)
    config = put(1, metadata) + hostname + put(8, linux)
    return put(1, config)


def _raw(data: bytes) -> bytes:
    return data


class Client:
    """A blocking CRI client on a unix socket (call it from a thread in async code)."""

    def __init__(self, socket: Path) -> None:
        # grpc rejects "unix://relative": authority-based URIs are not for unix sockets.
        self._channel = grpc.insecure_channel(f"unix://{socket.resolve()}")
        self._api: str | None = None

    def _call(self, method: str, request: bytes, timeout: float) -> bytes:
        """One RuntimeService call, on the first CRI version the runtime serves."""
        last: grpc.RpcError | None = None
        for api in [self._api] if self._api else API_VERSIONS:
            call = self._channel.unary_unary(
                f"/{api}.RuntimeService/{method}",
                request_serializer=_raw,
                response_deserializer=_raw,
            )
            try:
                answer: bytes = call(request, timeout=timeout)
            except grpc.RpcError as err:
                if err.code() is grpc.StatusCode.UNIMPLEMENTED:
                    last = err
                    continue
                raise
            self._api = api
            return answer
        assert last is not None
        raise last

    def status(self, verbose: bool = True, timeout: float = 5.0) -> Status:
        answer = self._call("Status", cri_messages.encode_status_request(verbose), timeout)
        return Status.of(cri_messages.decode_status_response(answer))

    def run_pod_sandbox(
        self, name: str, namespace: str, uid: str, host_network: bool = False
    ) -> str:
        """Runs a sandbox through the CNI config the runtime has loaded; returns its id.
        A hang guard of a minute: the first run unpacks the image."""
        request = encode_run_pod_sandbox_request(name, namespace, uid, host_network)
        answer = dict(cri_messages.wire_fields(self._call("RunPodSandbox", request, 60.0)))
        found = answer.get(1, b"")
        return found.decode() if isinstance(found, bytes) else ""

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        request = cri_messages.encode_stop_sandbox_request(sandbox_id)
        self._call("StopPodSandbox", request, 60.0)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        # The same message as StopPodSandboxRequest: the id in field 1.
        request = cri_messages.encode_stop_sandbox_request(sandbox_id)
        self._call("RemovePodSandbox", request, 60.0)

    def list_pod_sandboxes(self) -> tuple[Sandbox, ...]:
        request = cri_messages.encode_list_sandboxes_request()
        return cri_messages.decode_list_sandboxes_response(
            self._call("ListPodSandbox", request, 5.0)
        )

    def sandbox_network_mode(self, sandbox_id: str) -> NamespaceMode | None:
        request = cri_messages.encode_sandbox_status_request(sandbox_id, verbose=True)
        answer = self._call("PodSandboxStatus", request, 5.0)
        return cri_messages.decode_sandbox_status_response(answer).network_mode

    def close(self) -> None:
        self._channel.close()
