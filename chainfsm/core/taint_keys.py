"""Which taint keys and node names the API accepts, pure: the settings check ``--untaint``
and ``--node-name`` with these. Kept apart from ``taints`` so that every start-up, with
``--untaint`` or not, imports only these few lines."""

from __future__ import annotations

import re

#: Patterns compiled on first use (re caches them), not at import.
#: A taint key is a qualified name, as a label key: an optional DNS subdomain prefix and a
#: slash, then a name of at most 63 characters (Kubernetes' IsQualifiedName).
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
#: A node's name is a DNS subdomain.
MAX_SUBDOMAIN = 253


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a taint key the API would accept, or None. Pure."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return f"{key!r} has an empty prefix before '/'"
    if slash and (len(prefix) > MAX_SUBDOMAIN or not re.fullmatch(_SUBDOMAIN, prefix)):
        return f"{key!r}: the prefix {prefix!r} is not a DNS subdomain"
    if not name or len(name) > 63 or not re.fullmatch(_NAME, name):
        return (
            f"{key!r} is not a taint key (at most 63 of A-Z a-z 0-9 - _ . after an optional"
            " DNS-subdomain prefix and '/', starting and ending with a letter or digit)"
        )
    return None


def node_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a node's name (a DNS subdomain), or None. Pure."""
    if len(name) > MAX_SUBDOMAIN or not re.fullmatch(_SUBDOMAIN, name):
        return f"{name!r} is not a node name (a DNS subdomain: lowercase letters, digits, - and .)"
    return None
