"""libcluster: the `export libcluster` topology."""

import pytest

from meshbeam.libcluster import libcluster_topology


def test_libcluster_topology_golden(golden):
    golden("libcluster/topology.exs",
           libcluster_topology(["app@198.18.0.1", "app@198.18.0.2", "web@198.18.0.3", "app@198.18.0.1"]))


@pytest.mark.parametrize("nodes, name", [
    ([], "meshbeam"),
    (['a@b"#{x}'], "meshbeam"),
    (["a@b", "no-host"], "meshbeam"),
    (["a@b"], "Bad"),
    (["a@b"], "x-y"),
])
def test_libcluster_topology_refuses(nodes, name):
    with pytest.raises(ValueError):
        libcluster_topology(nodes, name=name)
