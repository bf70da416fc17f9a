"""The cluster as a libcluster topology for Elixir apps (pure)."""

from __future__ import annotations

import re
from typing import Sequence

from .vmargs import check_node


def libcluster_topology(nodes: Sequence[str], *, name: str = "meshbeam") -> str:
    """An Elixir `config :libcluster` snippet listing the nodes for Cluster.Strategy.Epmd."""
    if not re.fullmatch(r"[a-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"topology name {name!r} must be a plain lowercase Elixir atom")
    if not nodes:
        raise ValueError("a libcluster topology needs at least one node")
    for n in nodes:
        check_node(n)  # also guarantees no `"`, `\` or `#{` inside the atom literal
    hosts = ",\n".join(f'          :"{n}"' for n in dict.fromkeys(nodes))
    return (f"config :libcluster,\n  topologies: [\n    {name}: [\n"
            f"      strategy: Cluster.Strategy.Epmd,\n      config: [\n        hosts: [\n"
            f"{hosts}\n        ]\n      ]\n    ]\n  ]\n")
