"""systemd unit files and drop-ins (meshbeam/units.py): golden files, and the unit-name grammar table-driven."""

from __future__ import annotations

import pytest

from meshbeam import backends, firewall, units
from meshbeam.errors import InputError


def test_firewall_unit(golden):
    golden("units/meshbeam-firewall.service", units.firewall_unit())


@pytest.mark.parametrize("name, ip", [("ipv4", "198.18.0.1"), ("ipv6", "fd00:18::1")])
def test_epmd_socket_dropin(golden, name, ip):
    golden(f"units/epmd.socket.d/{name}.conf", units.epmd_socket_dropin(ip))


@pytest.mark.parametrize("backend", list(backends.BACKENDS))
def test_node_dropin(golden, backend):
    golden(f"units/node.service.d/{backend}.conf", units.node_dropin(backend, "mb0"))


def test_tinc_dropin(golden):
    golden("units/tinc@mb0.service.d/meshbeam.conf", units.tinc_dropin("mb0", "198.18.0.1"))


@pytest.mark.parametrize("backend", list(backends.BACKENDS))
@pytest.mark.parametrize("epmd", ["mesh", "none"])
def test_host_files(backend, epmd):
    """Which files a host gets, at which paths: the firewall always, EPMD's drop-in only with --epmd mesh
    (with none, epmd.socket is masked), tinc's readiness drop-in only with tinc, the node's only with --service."""
    files = units.host_files(backend=backend, interface="mb0", mesh_ip="198.18.0.1", epmd=epmd, service="app.service")
    want = ["/etc/systemd/system/meshbeam-firewall.service"]
    want += ["/etc/systemd/system/epmd.socket.d/meshbeam.conf"] if epmd == "mesh" else []
    want += ["/etc/systemd/system/tinc@mb0.service.d/meshbeam.conf"] if backend == "tinc" else []
    want += ["/etc/systemd/system/app.service.d/meshbeam.conf"]
    assert [f.path for f in files] == want
    assert all(f.mode == 0o644 for f in files)
    assert f"wants={units.mesh_unit(backend, 'mb0')}" in files[-1].content.lower()
    no_service = units.host_files(backend=backend, interface="mb0", mesh_ip="198.18.0.1", epmd=epmd, service=None)
    assert [f.path for f in no_service] == want[:-1]


def test_firewall_unit_loads_the_file_up_writes_and_that_file_replaces_only_its_own_table():
    unit = units.firewall_unit()
    assert f"ExecStart=/usr/sbin/nft -f {units.FIREWALL_RULES_PATH}\n" in unit
    rules = firewall.ruleset(interface="mb0", cidr="198.18.0.0/24", dist_port=9100, listen_port=51820)
    # create (so the delete cannot fail), delete, define: idempotent in one transaction, this table only
    assert rules.splitlines()[:3] == ["table inet meshbeam {}", "delete table inet meshbeam", "table inet meshbeam {"]
    tables = {line.split("{")[0].strip() for line in rules.splitlines() if line.startswith(("table", "delete"))}
    assert tables == {"table inet meshbeam", "delete table inet meshbeam"}


@pytest.mark.parametrize("name", [
    "app.service", "my-app.service", "app@blue.service", "app@a@b.service", "a:b_c.d.service",
    "foo\\x2dbar.service", "x" * 247 + ".service",
])
def test_good_service_names(name):
    assert units.check_service_name(name) == name
    assert units.node_dropin_path(name) == f"/etc/systemd/system/{name}.d/meshbeam.conf"


@pytest.mark.parametrize("name, why", [
    ("app", "want a systemd service name"),
    ("app.socket", "want a systemd service name"),
    ("app.service ", "want a systemd service name"),
    (".service", "want a systemd service name"),
    ("app@.service", "want a systemd service name"),  # a template cannot run
    ("@x.service", "want a systemd service name"),
    ("-app.service", "want a systemd service name"),  # would read as a systemctl option
    ("../evil.service", "want a systemd service name"),
    ("a/b.service", "want a systemd service name"),
    ("app service.service", "want a systemd service name"),
    ("app;reboot.service", "want a systemd service name"),
    ("app$x.service", "want a systemd service name"),
    ("app%i.service", "want a systemd service name"),
    ("app\n.service", "want a systemd service name"),
    ("äpp.service", "want a systemd service name"),
    ("", "want a systemd service name"),
    ("x" * 248 + ".service", "at most 255 characters"),
    ("meshbeam-firewall.service", "part of the mesh or of meshbeam"),
    ("epmd.service", "part of the mesh or of meshbeam"),
    ("wg-quick@mb0.service", "part of the mesh or of meshbeam"),
    ("tinc@mb0.service", "part of the mesh or of meshbeam"),
    ("tinc.service", "part of the mesh or of meshbeam"),
    (None, "is text"),
    (7, "is text"),
])
def test_bad_service_names(name, why):
    with pytest.raises(InputError) as e:
        units.check_service_name(name)
    message = str(e.value)
    assert message.startswith("invalid --service ") and why in message
    assert "\n" not in message and len(message) < 300
    assert e.value.exit_code == 2
    if isinstance(name, str):
        with pytest.raises(InputError):
            units.node_dropin_path(name)


def test_field_named_in_the_error():
    with pytest.raises(InputError, match=r"^invalid hosts\.0\.service 'x'"):
        units.check_service_name("x", "hosts.0.service")


@pytest.mark.parametrize("call", [
    lambda: units.mesh_unit("ipsec", "mb0"),
    lambda: units.mesh_unit("wireguard", "mb0;x"),
    lambda: units.mesh_unit("wireguard", "a" * 16),
    lambda: units.node_dropin("tinc", "mb 0"),
    lambda: units.tinc_dropin("mb0", "198.18.0.1'; reboot; '"),
    lambda: units.epmd_socket_dropin("198.18.0.1:4369"),
    lambda: units.host_files(backend="wireguard", interface="mb0", mesh_ip="198.18.0.1", epmd="all", service=None),
])
def test_renderers_refuse_unchecked_values(call):
    with pytest.raises(ValueError):
        call()
