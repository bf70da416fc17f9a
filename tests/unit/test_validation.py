"""Every inventory field is hostile until validated (issue 10).

Each hostile value is fed two ways where it applies: written into mesh.yaml by hand, then
`list`, `render --out` and `up --dry-run`; and through the CLI's own options (`add-host`,
`add-peer`, `init`). Every time: exit status 2, exactly one line naming the field, no
traceback, the inventory byte-identical (keys/ included), and no render output directory.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from meshbeam import fields, inventory, tinc
from meshbeam.errors import InputError
from tests.conftest import invoke
from tests.unit.test_cli_input import snapshot

# ---- how a value reaches the inventory --------------------------------------------------------

S9 = "198.51.100.20"  # the SSH address of a host that the CLI cases try to add


def _host_option(option: str) -> Callable[[str], list[str]]:
    return lambda v: ["add-host", option, v, "--", "s9", S9]


# field -> (its place in the `inv` fixture's mesh.yaml, the command line that carries it or None)
FIELDS: dict[str, tuple[str, Callable[[str], list[str]] | None]] = {
    "member name": ("hosts.0.name", lambda v: ["add-host", "--", v, S9]),
    "peer name": ("peers.0.name", lambda v: ["add-peer", "--", v]),
    "ssh": ("hosts.0.ssh", lambda v: ["add-host", "--", "s9", v]),
    "endpoint": ("hosts.1.endpoint", _host_option("--endpoint")),
    "vm_args": ("hosts.2.vm_args", _host_option("--vm-args")),
    "node_name": ("hosts.2.node_name", _host_option("--node-name")),
    "run_user": ("hosts.0.run_user", _host_option("--run-user")),
    "address": ("hosts.1.address", None),
    "public_key": ("hosts.0.public_key", None),
    "mix_release": ("hosts.2.mix_release", None),
    "cidr": ("mesh.cidr", lambda v: ["init", "--force", "--cidr", v]),
    "interface": ("mesh.interface", lambda v: ["init", "--force", "--interface", v]),
    "port": ("mesh.port", lambda v: ["init", "--force", "--port", v]),
    "dist_port": ("mesh.dist_port", lambda v: ["init", "--force", "--dist-port", v]),
    "mtu": ("mesh.mtu", lambda v: ["init", "--force", "--mtu", v]),
    "backend": ("mesh.backend", lambda v: ["init", "--force", "--backend", v]),
    "epmd": ("mesh.epmd", lambda v: ["init", "--force", "--epmd", v]),
    "identity": ("mesh.identity", lambda v: ["init", "--force", "--identity", v]),
    "service": ("hosts.2.service", _host_option("--service")),
}

BOTH, YAML_ONLY, CLI_ONLY = "both", "yaml", "cli"

# (field, hostile value, what the error line must contain besides the field, ways)
HOSTILE: list[tuple[str, Any, str, str]] = [
    # vm_args: it reaches shell commands and file operations as root on the host
    ("vm_args", "/srv/app/$(id>/tmp/pwned)/vm.args", "'._+@-'", BOTH),
    ("vm_args", "/srv/app/vm.args\n-setcookie x", "control", BOTH),
    ("vm_args", "/srv/app/`id`/vm.args", "'._+@-'", BOTH),
    ("vm_args", "/srv/app/vm.args;reboot", "'._+@-'", BOTH),
    ("vm_args", "/srv/*/vm.args", "'._+@-'", BOTH),
    ("vm_args", "/srv/app'/vm.args", "'._+@-'", BOTH),
    ("vm_args", '/srv/app"/vm.args', "'._+@-'", BOTH),
    ("vm_args", "/srv/app/\x00/vm.args", "control", BOTH),
    ("vm_args", "/srv/app dir/vm.args", "'._+@-'", BOTH),
    ("vm_args", "/srv/$HOME/vm.args", "'._+@-'", BOTH),
    ("vm_args", "~/vm.args", "'._+@-'", BOTH),
    ("vm_args", "/srv/../etc/vm.args", "normalized", BOTH),
    ("vm_args", "//srv/app/vm.args", "normalized", BOTH),
    ("vm_args", "/srv/./app/vm.args", "normalized", BOTH),
    ("vm_args", "/srv/app/vm.args/", "normalized", BOTH),
    ("vm_args", "/srv/app/" + "a" * 2000 + "/vm.args", "longer than", BOTH),
    ("vm_args", "/srv/äpp/vm.args", "'._+@-'", BOTH),
    ("vm_args", "/srv/app/vm.args.bak", "named vm.args", BOTH),
    ("vm_args", "/etc/shadow", "named vm.args", BOTH),
    ("vm_args", "relative/vm.args", "absolute", BOTH),
    ("vm_args", 7, "must be a string", YAML_ONLY),
    # ssh targets: they reach ssh_config expansions and Fabric
    ("ssh", "root@fe80::1%$(cmd)", "scope id", BOTH),
    ("ssh", "root@[fe80::1%eth0]:22", "scope id", BOTH),
    ("ssh", "fe80::1%25eth0", "scope id", BOTH),
    ("ssh", "-oProxyCommand=id", "not an IP address or DNS name", BOTH),
    ("ssh", "root@-oProxyCommand=id", "not an IP address or DNS name", BOTH),
    ("ssh", "root@host;id", "not an IP address or DNS name", BOTH),
    ("ssh", "root@host name", "not an IP address or DNS name", BOTH),
    ("ssh", "root@web\n1", "control", BOTH),
    ("ssh", "root@wéb1", "not an IP address or DNS name", BOTH),
    ("ssh", "root@1.2.3.999", "not a valid IPv4", BOTH),
    ("ssh", "root@2130706433", "not a valid IPv4", BOTH),
    ("ssh", "root@[web1]:22", "[IPV6]", BOTH),
    ("ssh", "root@" + "a" * 300, "not an IP address or DNS name", BOTH),
    ("ssh", "root@198.51.100.20:+22", "digits only", BOTH),
    ("ssh", "root@198.51.100.20:2_2", "digits only", BOTH),
    ("ssh", "root@198.51.100.20: 22", "digits only", BOTH),
    ("ssh", "root@198.51.100.20:0", "digits only", BOTH),
    ("ssh", "root@198.51.100.20:65536", "1-65535", BOTH),
    ("ssh", "ro$ot@198.51.100.20", "ssh user", BOTH),
    ("ssh", "@198.51.100.20", "ssh user", BOTH),
    ("ssh", "`id`@198.51.100.20", "ssh user", BOTH),
    # endpoints: written into every member's wg-quick or tinc config
    ("endpoint", "10.0.0.7:+51_820", "digits only", BOTH),
    ("endpoint", "198.51.100.20:-1", "digits only", BOTH),
    ("endpoint", "198.51.100.20:051820", "digits only", BOTH),
    ("endpoint", "198.51.100.20:70000", "1-65535", BOTH),
    ("endpoint", "[fe80::1%eth0]:51820", "scope id", BOTH),
    ("endpoint", "[198.51.100.20]:51820", "[IPV6]", BOTH),
    ("endpoint", "-x.example.com:51820", "not an IP address or DNS name", BOTH),
    ("endpoint", "host$(id):51820", "not an IP address or DNS name", BOTH),
    ("endpoint", "198.51.100.20:51820\nSubnet = 0.0.0.0/0", "control", BOTH),
    ("endpoint", "198.51.100.20:51820 # x", "digits only", BOTH),
    ("endpoint", "198.51.100.20", "needs a port", YAML_ONLY),  # the CLI adds the mesh port
    ("endpoint", "[2001:DB8::1]:51820", "write it as [2001:db8::1]:51820", YAML_ONLY),  # the CLI writes it so
    # names
    ("member name", "s1;id", "use 1-32", BOTH),
    ("member name", "../x", "use 1-32", BOTH),
    ("member name", "x" * 40, "use 1-32", BOTH),
    ("member name", "-x", "use 1-32", BOTH),
    ("member name", "é", "use 1-32", BOTH),
    ("member name", "", "use 1-32", YAML_ONLY),  # add-host reads an empty NAME as none given
    ("peer name", "lap top", "use 1-32", BOTH),
    ("peer name", "*", "use 1-32", BOTH),
    ("peer name", "lap\x1b[2Jtop", "control", BOTH),
    ("node_name", "a@b", "letters, digits", BOTH),
    ("node_name", "app$(id)", "letters, digits", BOTH),
    ("node_name", "9lives", "letters, digits", BOTH),
    ("node_name", "app\r", "control", BOTH),
    ("node_name", ":smile:", "':smile:'", BOTH),  # rich would print an emoji
    ("run_user", "Root!", "login name", BOTH),
    ("run_user", "root;id", "login name", BOTH),
    ("run_user", "-root", "login name", BOTH),
    ("run_user", "$(id)", "login name", BOTH),
    # interfaces: names on the host, paths under /etc/tinc/NET and render's OUT
    ("interface", "mb=0", "1-15", BOTH),
    ("interface", ".", "1-15", BOTH),
    ("interface", "..", "1-15", BOTH),
    ("interface", "mb0/x", "1-15", BOTH),
    ("interface", "mb 0", "1-15", BOTH),
    ("interface", "mb:0", "1-15", BOTH),
    ("interface", "mb%d", "1-15", BOTH),
    ("interface", "-mb0", "1-15", BOTH),
    ("interface", "averyverylongname", "1-15", BOTH),
    ("interface", "", "1-15", BOTH),
    ("interface", "mb0\n", "control", BOTH),
    ("interface", "méb0", "1-15", BOTH),
    # mesh ranges: routed on every member
    ("cidr", "127.0.0.0/8", "private range", BOTH),
    ("cidr", "0.0.0.0/1", "wider than /8", BOTH),
    ("cidr", "0.0.0.0/0", "wider than /8", BOTH),
    ("cidr", "10.0.0.0/7", "wider than /8", BOTH),
    ("cidr", "169.254.0.0/16", "private range", BOTH),
    ("cidr", "224.0.0.0/24", "private range", BOTH),
    ("cidr", "8.8.8.0/24", "private range", BOTH),
    ("cidr", "0.0.0.0/8", "private range", BOTH),
    ("cidr", "fd00::/64", "IPv4-only", BOTH),
    ("cidr", "198.18.0.0/31", "at least a /30", BOTH),
    ("cidr", "198.18.0.1/24", "host bits", BOTH),
    ("cidr", "198.18.0.0/255.255.255.0", "A.B.C.D/N", BOTH),
    ("cidr", "198.18.0.0/24; rm -rf /", "A.B.C.D/N", BOTH),
    ("cidr", "198.18.0.0/024", "A.B.C.D/N", BOTH),
    # ports
    ("port", 0, "1-65535", YAML_ONLY),
    ("port", "0", "digits only", CLI_ONLY),
    ("port", 65536, "1-65535", BOTH),
    ("port", "+51_820", "digits only", CLI_ONLY),
    ("port", " 51820", "digits only", CLI_ONLY),
    ("port", "-1", "digits only", CLI_ONLY),
    ("port", "51820", "must be a number", YAML_ONLY),  # a string in YAML
    ("port", True, "must be a number", YAML_ONLY),
    ("port", 51820.0, "must be a number", YAML_ONLY),
    ("mtu", 1279, "1280-9000", BOTH),
    ("mtu", 9001, "1280-9000", BOTH),
    ("mtu", 0, "1280-9000", YAML_ONLY),
    ("mtu", "1_420", "digits only", CLI_ONLY),
    ("mtu", "-1420", "digits only", CLI_ONLY),
    ("mtu", "1420", "must be a number", YAML_ONLY),
    ("mtu", True, "must be a number", YAML_ONLY),
    ("dist_port", 22, "1024 or above", BOTH),
    ("dist_port", 4369, "EPMD", BOTH),
    ("dist_port", 1023, "1024 or above", BOTH),
    ("dist_port", 51820, "the wireguard port", BOTH),
    ("dist_port", "9_100", "digits only", CLI_ONLY),
    ("backend", "ipsec", "choose from", BOTH),
    ("epmd", "everywhere", "choose from", BOTH),
    ("epmd", "mesh\x00", "control", BOTH),
    ("identity", "name", "choose from", BOTH),
    # service: a systemd unit name, on systemctl's command line and in a drop-in's path
    ("service", "-app.service", "not starting with -", BOTH),
    ("service", "app.service; reboot", "want a systemd service name", BOTH),
    ("service", "../../app.service", "want a systemd service name", BOTH),
    ("service", "app@.service", "want a systemd service name", BOTH),
    ("service", "wg-quick@mb0.service", "part of the mesh", BOTH),
    ("service", "app", "want a systemd service name", BOTH),
    ("service", "a" * 300 + ".service", "at most 255", BOTH),
    # fields only the YAML carries
    ("address", "198.18.0.2%eth0", "not an IPv4", YAML_ONLY),
    ("address", "198.18.0.02", "not an IPv4", YAML_ONLY),
    ("address", "198.18.0.0", "outside the mesh CIDR", YAML_ONLY),
    ("public_key", "AAAA", "WireGuard key", YAML_ONLY),
    ("public_key", "A" * 43 + "B", "WireGuard key", YAML_ONLY),  # no padding
    ("public_key", "A" * 42 + "B=", "WireGuard key", YAML_ONLY),  # 32 bytes, but not as base64 writes them
    ("public_key", "A" * 43 + "=\n", "control", YAML_ONLY),
    ("mix_release", "yes", "must be a boolean", YAML_ONLY),
    ("mix_release", 1, "must be a boolean", YAML_ONLY),
]

# The distribution port may not be a host's SSH port: the firewall would shut SSH out.
SSH_ON_DIST_PORT = ("root@198.51.100.12:9100", "invalid dist_port 9100: it is the SSH port of hosts[")

# (where in mesh.yaml, value, error) for keys meshbeam does not know
UNKNOWN_KEYS = [
    ("hosts.0.vm-args", "/srv/app/vm.args", "hosts[0]: unknown field 'vm-args' (did you mean 'vm_args'?)"),
    ("hosts.2.vmargs", "/srv/app/vm.args", "hosts[2]: unknown field 'vmargs' (did you mean 'vm_args'?)"),
    ("hosts.0.mix-release", True, "unknown field 'mix-release' (did you mean 'mix_release'?)"),
    ("mesh.dist-port", 9100, "mesh: unknown field 'dist-port' (did you mean 'dist_port'?)"),
    ("mesh.firewall", False, "mesh: unknown field 'firewall' (known: "),
    ("peers.0.pubkey", "x", "peers[0]: unknown field 'pubkey' (did you mean 'public_key'?)"),
    ("meshes", {}, "unknown field 'meshes' (did you mean 'mesh'?)"),
    ("hosts.0.$(id)", "x", "hosts[0]: unknown field '$(id)'"),
]

# (id, replace-this, with-this) in the mesh.yaml text; None: write these bytes as the whole file
RAW_YAML = [
    ("duplicate field", "  node_name: web\n", "  node_name: web\n  node_name: app\n", "'node_name' appears twice"),
    ("NUL byte", "  node_name: web\n", "  node_name: w\x00eb\n", "malformed YAML"),
    ("python tag", "  node_name: web\n", "  node_name: !!python/object:os.system ['id']\n", "malformed YAML"),
    ("binary value", "  node_name: web\n", "  node_name: !!binary aWQ=\n", "must be a string"),
    ("date value", "  node_name: web\n", "  node_name: 2024-01-01\n", "must be a string"),
    ("set value", "  node_name: web\n", "  node_name: !!set {a: null}\n", "must be a string"),
    ("not UTF-8", None, b"mesh:\n  cidr: \xff\xfe\n", "not UTF-8"),
    ("deep nesting", None, b"mesh: " + b"[" * 5000 + b"]" * 5000 + b"\n", "mesh.yaml"),
]


def _ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [f"{c[0]}={ascii(c[1])[:40]}" for c in cases]


# ---- helpers ----------------------------------------------------------------------------------


def set_field(d: Path, where: str, value: Any) -> None:
    """Set mesh.yaml's field at `where` ('hosts.0.vm_args') to `value`, as a hand edit would."""
    path = d / "mesh.yaml"
    data = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)  # libyaml: this runs hundreds of times
    *parents, last = where.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    path.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True))


def refused(r: Any, *needles: str) -> None:
    """Exit status 2, one line of output (no traceback) that holds every needle."""
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1, r.output
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def refused_everywhere(d: Path, out: Path, *needles: str) -> None:
    """`list`, `render --out` and `up --dry-run` on a hand-edited inventory: refused, nothing written."""
    before = snapshot(d)
    for args in (["list"], ["render", "--out", str(out)], ["up", "--dry-run"]):
        refused(invoke(*args, "--dir", str(d)), *needles)
        assert snapshot(d) == before, args
        assert not out.exists(), args


def refused_on_command_line(d: Path, args: list[str], *needles: str) -> None:
    before = snapshot(d)
    refused(invoke(args[0], "--dir", str(d), *args[1:]), *needles)
    assert snapshot(d) == before


def _needle(field: str) -> str:
    return field if field == "member name" else f"invalid {field}"


# ---- hostile values, by hand and by the CLI -----------------------------------------------------

YAML_CASES = [c for c in HOSTILE if c[3] in (BOTH, YAML_ONLY)]
CLI_CASES = [c for c in HOSTILE if c[3] in (BOTH, CLI_ONLY)]


@pytest.mark.parametrize("field,value,why,_", YAML_CASES, ids=_ids(YAML_CASES))
def test_hostile_value_in_mesh_yaml(inv, tmp_path, field, value, why, _):
    set_field(inv, FIELDS[field][0], value)
    refused_everywhere(inv, tmp_path / "rendered", _needle("member name" if field == "peer name" else field), why)


@pytest.mark.parametrize("field,value,why,_", CLI_CASES, ids=_ids(CLI_CASES))
def test_hostile_value_on_the_command_line(inv, field, value, why, _):
    command = FIELDS[field][1]
    assert command is not None
    refused_on_command_line(inv, command(str(value)), _needle("member name" if field == "peer name" else field), why)


def test_init_with_a_hostile_value_creates_nothing(tmp_path):
    d = tmp_path / "new"
    refused(invoke("init", "--dir", str(d), "--cidr", "127.0.0.0/8"), "invalid cidr")
    refused(invoke("init", "--dir", str(d), "--dist-port", "22"), "invalid dist_port")
    assert not d.exists()


def test_dist_port_on_a_hosts_ssh_port(inv, tmp_path):
    target, needle = SSH_ON_DIST_PORT
    refused_on_command_line(inv, ["add-host", "s9", target.replace("198.51.100.12", S9)], needle)
    set_field(inv, "hosts.1.ssh", target)
    refused_everywhere(inv, tmp_path / "rendered", needle + "1] (s2)")


@pytest.mark.parametrize("where,value,needle", UNKNOWN_KEYS, ids=[c[0] for c in UNKNOWN_KEYS])
def test_unknown_fields_are_refused_with_a_suggestion(inv, tmp_path, where, value, needle):
    set_field(inv, where, value)
    refused_everywhere(inv, tmp_path / "rendered", needle)


@pytest.mark.parametrize("case,old,new,needle", RAW_YAML, ids=[c[0] for c in RAW_YAML])
def test_hostile_yaml_text(inv, tmp_path, case, old, new, needle):
    path = inv / "mesh.yaml"
    if old is None:
        path.write_bytes(new)
    else:
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
    refused_everywhere(inv, tmp_path / "rendered", needle)


def test_errors_show_hostile_values_escaped_and_short(inv, tmp_path):
    set_field(inv, "hosts.2.vm_args", "/srv/\x1b]0;owned\x07/" + "A" * 500 + "\u202e/vm.args")
    r = invoke("list", "--dir", str(inv))
    refused(r, "invalid vm_args '/srv/\\x1b]0;owned\\x07/AAAA")
    assert "\x1b" not in r.output and "\u202e" not in r.output and "A" * 100 not in r.output


# ---- tinc: public keys go verbatim into every member's hosts files --------------------------------


# Keys are made once per form: only their shape matters here, and RSA key generation is slow.
@functools.cache
def _rsa_pem(bits: int, fmt: serialization.PublicFormat = serialization.PublicFormat.PKCS1) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode()


@functools.cache
def _private_pem() -> str:
    return tinc.generate_private_pem(2048)


def _ed25519_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _inside(pem: str, line: str) -> str:
    lines = pem.splitlines(keepends=True)
    return "".join(lines[:2] + [line] + lines[2:])


BAD_PEMS: list[tuple[str, Callable[[str], Any]]] = [
    ("line between two blocks", lambda pem: pem + "Subnet = 0.0.0.0/0\n" + pem),
    ("cipher none between blocks", lambda pem: pem + "Cipher = none\n" + pem),
    ("two blocks", lambda pem: pem + pem),
    ("line before", lambda pem: "Subnet = 0.0.0.0/0\n" + pem),
    ("line after", lambda pem: pem + "Subnet = 0.0.0.0/0\n"),
    ("line inside the body", lambda pem: _inside(pem, "Cipher = none\n")),
    ("blank lines after", lambda pem: pem + "\n\n"),
    ("CRLF", lambda pem: pem.replace("\n", "\r\n")),
    ("truncated body", lambda pem: "".join(pem.splitlines(keepends=True)[:3] + pem.splitlines(keepends=True)[-1:])),
    ("not base64", lambda pem: "-----BEGIN RSA PUBLIC KEY-----\n$(id)\n-----END RSA PUBLIC KEY-----\n"),
    ("header only", lambda pem: "-----BEGIN RSA PUBLIC KEY-----\n-----END RSA PUBLIC KEY-----\n"),
    ("SubjectPublicKeyInfo form", lambda pem: _rsa_pem(2048, serialization.PublicFormat.SubjectPublicKeyInfo)),
    ("RSA 1024", lambda pem: _rsa_pem(1024)),
    ("a private key", lambda pem: _private_pem()),
    ("Ed25519", lambda pem: _ed25519_pem()),
    ("a WireGuard key", lambda pem: "A" * 43 + "="),
    ("non-ASCII", lambda pem: pem.replace("-----END", "é-----END")),
    ("NUL", lambda pem: pem + "\x00"),
    ("empty", lambda pem: ""),
    ("a number", lambda pem: 5),
]


@pytest.mark.parametrize("where", ["hosts.0", "peers.0"])
@pytest.mark.parametrize("case,make", BAD_PEMS, ids=[c[0] for c in BAD_PEMS])
def test_bad_tinc_public_keys(tinc_inv, tmp_path, where, case, make):
    pem = yaml.load((tinc_inv / "mesh.yaml").read_text(), Loader=yaml.CSafeLoader)["hosts"][0]["public_key"]
    set_field(tinc_inv, f"{where}.public_key", make(pem))
    refused_everywhere(tinc_inv, tmp_path / "rendered", "invalid public_key")


def test_tinc_refuses_ipv6_endpoints(tinc_inv, tmp_path):
    refused_on_command_line(tinc_inv, ["add-host", "--endpoint", "[2001:db8::1]:655", "--", "s9", S9],
                            "invalid endpoint", "IPv4-only")
    set_field(tinc_inv, "hosts.1.endpoint", "[2001:db8::1]:655")
    refused_everywhere(tinc_inv, tmp_path / "rendered", "invalid endpoint", "IPv4-only")


def test_tinc_public_pem_round_trips():
    private = tinc.generate_private_pem(2048)
    pem = tinc.public_pem(private)
    assert tinc.parse_public_pem(pem) == pem
    assert tinc.parse_public_pem(pem.rstrip("\n")) == pem  # modulo the trailing newline
    with pytest.raises(ValueError, match="at least 2048"):
        tinc.parse_public_pem(_rsa_pem(1024))


# ---- what stays accepted ------------------------------------------------------------------------

GOOD_HOSTS = [  # (add-host arguments, the endpoint stored)
    (["s9", "root@198.51.100.20", "--endpoint", "[2001:db8::1]:51820"], "[2001:db8::1]:51820"),
    (["s9", "198.51.100.20", "--endpoint", "[2001:DB8:0::1]"], "[2001:db8::1]:51820"),
    (["s9", "deploy@web2.example.com:2222"], "web2.example.com:51820"),
    (["s9", "web9"], "web9:51820"),  # an ssh_config alias
    (["s9", "root@[2001:db8::5]:22"], "[2001:db8::5]:51820"),
    (["s9", "root@2001:db8::6"], "[2001:db8::6]:51820"),
    (["s9", "198.51.100.20", "--endpoint", "vpn.example.com.:1194"], "vpn.example.com.:1194"),
    (["s9", "198.51.100.20", "--vm-args", "/srv/demo/releases/0.1.0/vm.args", "--mix-release"], "198.51.100.20:51820"),
    (["s9", "198.51.100.20", "--vm-args", "/opt/my_app-1.0+b@x/vm.args", "--node-name", "App_2"], "198.51.100.20:51820"),
    (["s9", "198.51.100.20", "--run-user", "app-user.1"], "198.51.100.20:51820"),
]


@pytest.mark.parametrize("args,endpoint", GOOD_HOSTS, ids=[" ".join(a[1:]) for a, _ in GOOD_HOSTS])
def test_valid_hosts_are_accepted(inv, tmp_path, args, endpoint):
    r = invoke("add-host", *args, "--dir", str(inv))
    assert r.exit_code == 0, r.output
    assert inventory.load(inv).host("s9").endpoint == endpoint
    assert invoke("list", "--dir", str(inv)).exit_code == 0
    r = invoke("render", "--out", str(tmp_path / "out"), "--dir", str(inv))
    assert r.exit_code == 0, r.output


GOOD_INITS = [
    ["--cidr", "10.90.0.0/24"],
    ["--cidr", "10.0.0.0/8"],
    ["--cidr", "172.16.0.0/12"],
    ["--cidr", "192.168.7.0/30"],
    ["--cidr", "100.64.0.0/10"],
    ["--cidr", "198.18.0.0/15"],
    ["--interface", "wg_0.mesh-1", "--port", "655", "--dist-port", "1024"],
    ["--interface", "_x", "--port", "65535", "--dist-port", "65534"],
    ["--mtu", "1280"],
    ["--mtu", "9000"],
    ["--backend", "tinc", "--interface", "mbt0", "--epmd", "none"],
]


@pytest.mark.parametrize("args", GOOD_INITS, ids=[" ".join(a) for a in GOOD_INITS])
def test_valid_inits_are_accepted(tmp_path, args):
    d = tmp_path / "inv"
    r = invoke("init", "--dir", str(d), *args)
    assert r.exit_code == 0, r.output
    assert invoke("list", "--dir", str(d)).exit_code == 0


def test_a_saved_inventory_loads_back_equal(inv):
    mesh = inventory.load(inv)
    assert inventory.from_dict(yaml.safe_load(inventory.dump(mesh))) == mesh


def test_an_empty_optional_vm_args_is_no_vm_args(inv):
    set_field(inv, "hosts.0.vm_args", None)
    assert inventory.load(inv).host("s1").vm_args is None


SPLIT = [  # text -> (host, port) as the inventory stores them
    ("198.51.100.20", ("198.51.100.20", None)),
    ("198.51.100.20:22", ("198.51.100.20", 22)),
    ("[2001:DB8::1]:22", ("2001:db8::1", 22)),
    ("[::1]", ("::1", None)),
    ("2001:db8::1", ("2001:db8::1", None)),
    ("web-1.example.com:65535", ("web-1.example.com", 65535)),
]


@pytest.mark.parametrize("text,expected", SPLIT, ids=[t for t, _ in SPLIT])
def test_split_host_port(text, expected):
    assert fields.split_host_port(text, "ssh") == expected


@pytest.mark.parametrize("value", ["+1", "1_0", " 1", "1 ", "01", "", "0x10", "١٢", True, 1.0, None])
def test_ports_are_plain_integers(value):
    with pytest.raises(InputError, match="^invalid port "):
        inventory.parse_port(value, "port")


def test_tinc_names_that_map_to_one_are_refused(tinc_inv, tmp_path):
    """tinc 1.0 names allow only [A-Za-z0-9_] and meshbeam writes '-' as '_': 'a-b' and 'a_b' would be one member."""
    set_field(tinc_inv, "hosts.0.name", "a_b")
    refused_on_command_line(tinc_inv, ["add-host", "--", "a-b", S9], "'a-b' and 'a_b' are both 'a_b' to tinc")
    refused_on_command_line(tinc_inv, ["add-peer", "--", "a-b"], "'a-b' and 'a_b' are both 'a_b' to tinc")
    rows = tmp_path / "hosts.csv"
    rows.write_text("name,ssh\nweb-1,198.51.100.31\nweb_1,198.51.100.32\n")
    refused_on_command_line(tinc_inv, ["add-host", "--from", str(rows)], "row 2", "field 'name'",
                            "'web_1' and 'web-1'")
    set_field(tinc_inv, "hosts.1.name", "a-b")
    refused_everywhere(tinc_inv, tmp_path / "rendered", "hosts[1] (a-b)", "'a-b' and 'a_b'")


def test_a_wireguard_key_is_exactly_the_base64_of_32_bytes():
    """fields checks a key with a regular expression: it must take what base64 round-trips to
    32 bytes, and nothing else (a changed, missing or extra character; a last character with bits
    that decoding would drop)."""

    def round_trips(key: str) -> bool:
        try:
            raw = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            return False
        return len(raw) == 32 and base64.b64encode(raw).decode() == key

    def accepted(key: str) -> bool:
        try:
            fields.check_public_key("wireguard", key)
        except InputError:
            return False
        return True

    rng, alphabet = random.Random(3), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\x00é"
    keys = ["A" * 42 + c + "=" for c in alphabet]
    for _ in range(3000):
        key, i = base64.b64encode(os.urandom(32)).decode(), rng.randrange(44)
        keys += [key, key[:i] + rng.choice(alphabet) + key[i + 1:], key[:-1], key + "=", key[:-2] + "=="]
    assert sum(map(round_trips, keys)) > 3000
    for key in keys:
        assert accepted(key) == round_trips(key), ascii(key)
