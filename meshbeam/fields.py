"""The grammar of each inventory value on its own (command line and YAML alike).

Every value is hostile until checked here: it ends up in shell commands, config files and
firewall rules on every host. So each field has a whitelist grammar, and an error is one line
naming the field, with the offending value shown escaped and cut short. Rules that relate
several values (unique names and addresses, ports that must differ) are inventory.validate's.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

from . import backends
from .errors import InputError

SSH_PORT = 22
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# Linux takes 1-15 bytes without '/', ':', whitespace or NUL; wg-quick, tinc's NET directory and
# render's OUT/NAME/INTERFACE paths need less: no '=', '%', and no leading '.' ('.', '..') or '-'.
_IFACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
NODE_BASE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")
_NUMBER = re.compile(r"[1-9][0-9]{0,4}")  # a plain decimal: int() would also take '+22', '2_2', ' 22'
_CIDR = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")  # dotted quad in canonical form: no leading zeros
# 32 bytes in base64 as `wg pubkey` prints them: 43 characters, the last holding 4 bits (so its
# 2 low bits are 0), then one '='. A regular expression: every command checks every member's.
_WG_KEY = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
_PATH = re.compile(r"[A-Za-z0-9._+@/-]+")  # nothing a shell, a glob or a config file reads specially
MAX_PATH = 1024
# Where a mesh may live: RFC 1918, RFC 6598 shared space, and 198.18.0.0/15 (RFC 2544, unrouted).
# Never a public, loopback, link-local or multicast range: routes to it would capture real traffic.
MESH_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15")
)
WIDEST_PREFIX = 8
NARROWEST_PREFIX = 30


def show(value: object, limit: int = 60) -> str:
    """A value for an error message: ASCII-escaped (no newline or terminal escape can get
    through to forge output) and cut short."""
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid(what: str, value: object, why: str) -> InputError:
    return InputError(f"invalid {what} {show(value)}: {why}")


def printable(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise invalid(what, value, "must be a string")
    if not value.isprintable():
        raise invalid(what, value, "contains a control or non-printable character")
    return value


def check_name(name: str, what: str = "name") -> str:
    printable(name, what)
    if not _NAME.fullmatch(name):
        raise invalid(what, name, "use 1-32 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def parse_number(text: str | int, what: str, low: int, high: int, hint: str = "") -> int:
    """A number as a YAML integer, or as the digits of a command-line value; `low`-`high`."""
    if isinstance(text, str):
        if not _NUMBER.fullmatch(text):
            raise invalid(what, text, f"must be a number {low}-{high}, digits only")
        value = int(text)
    elif isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        raise invalid(what, text, "must be a number")
    if not low <= value <= high:
        raise invalid(what, value, f"must be {low}-{high}{hint}")
    return value


def parse_port(text: str | int, what: str) -> int:
    return parse_number(text, what, 1, 65535)


def ipv4_int(text: str) -> int | None:
    """The value of a canonical dotted-quad IPv4 address, else None.

    Checked by a regular expression rather than ipaddress, which is far slower: an inventory
    holds several addresses per member and every command validates all of them.
    """
    if not _IPV4.fullmatch(text):
        return None
    a, b, c, d = map(int, text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


# The servers' WireGuard interface MTU. 1420 is a 1500-byte underlay less WireGuard's 80 bytes
# over IPv6 (60 over IPv4); below 1280 IPv6 cannot run on the mesh, above 9000 no underlay carries it.
DEFAULT_MTU = 1420
MIN_MTU, MAX_MTU = 1280, 9000


def parse_mtu(text: str | int) -> int:
    return parse_number(text, "mtu", MIN_MTU, MAX_MTU, " (1420 fits a 1500-byte underlay)")


def _check_hostpart(host: str, what: str) -> str:
    """An IP address (returned in canonical form) or a DNS name / ssh_config alias."""
    # ipaddress takes any text after '%' as a scope id, and ssh_config's %h hands it to a shell
    # (ProxyCommand, Match exec: CVE-2023-51385).
    if "%" in host:
        raise invalid(what, host, "IPv6 scope ids ('%...') are not allowed")
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise invalid(what, host, "not an IPv6 address") from None
    if _IPV4.fullmatch(host):  # the only form ipaddress takes, and already canonical
        return host
    if not _HOSTNAME.fullmatch(host):
        raise invalid(what, host, "not an IP address or DNS name")
    if host.rstrip(".").rsplit(".", 1)[-1].isdigit():  # '1.2.3.999', '2130706433': no name ends so
        raise invalid(what, host, "not a valid IPv4 address")
    return host


def split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """'host', 'host:port', '[v6]', '[v6]:port' -> (host, port or None); an IP comes back canonical."""
    printable(text, what)
    if text.startswith("["):
        m = re.fullmatch(r"\[([^\]]*)\](?::([^:]*))?", text)
        if not m or ":" not in m.group(1):
            raise invalid(what, text, "expected [IPV6] or [IPV6]:PORT")
        host, port = m.group(1), m.group(2)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None  # a name, an IPv4 address, or an IPv6 address without a port
    if not host:
        raise invalid(what, text, "the host part is empty")
    return _check_hostpart(host, what), (parse_port(port, f"{what} port") if port is not None else None)


def parse_ssh_target(text: str) -> tuple[str | None, str, int | None]:
    """'[user@]address[:port]' -> (user, address, port)."""
    printable(text, "ssh")
    user, at, rest = text.rpartition("@")
    if at and not USER.fullmatch(user):
        raise invalid("ssh user", user, f"in {show(text)}: use a lower-case login name")
    host, port = split_host_port(rest, "ssh")
    return (user or None), host, port


def parse_endpoint(text: str) -> tuple[str, int]:
    """'HOST:PORT' or '[IPV6]:PORT', in the canonical form format_host_port() writes."""
    host, port = split_host_port(text, "endpoint")
    if port is None:
        raise invalid("endpoint", text, "needs a port (HOST:PORT)")
    if format_host_port(host, port) != text:
        raise invalid("endpoint", text, f"write it as {format_host_port(host, port)}")
    return host, port


def parse_cidr(text: str) -> str:
    """An IPv4 range for the mesh, /8 to /30, inside MESH_RANGES; returned canonical."""
    printable(text, "cidr")
    if ":" in text:
        raise invalid("cidr", text, "the mesh is IPv4-only (an IPv6 mesh would use a ULA range in fd00::/8)")
    if not _CIDR.fullmatch(text):
        raise invalid("cidr", text, "expected A.B.C.D/N")
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise invalid("cidr", text, str(e)) from None
    if str(net) != text:
        raise invalid("cidr", text, f"write it as {net}")
    if net.prefixlen < WIDEST_PREFIX:
        raise invalid("cidr", text, f"wider than /{WIDEST_PREFIX}")
    if net.prefixlen > NARROWEST_PREFIX:
        raise invalid("cidr", text, f"a mesh needs at least a /{NARROWEST_PREFIX}")
    if not any(net.subnet_of(r) for r in MESH_RANGES):
        raise invalid("cidr", text, f"must lie within a private range ({', '.join(map(str, MESH_RANGES))})")
    return text


def check_interface(name: str) -> str:
    printable(name, "interface")
    if not _IFACE.fullmatch(name):
        raise invalid("interface", name, "use 1-15 of A-Z a-z 0-9 _ . -, starting with a letter, digit or '_'")
    return name


def check_vm_args(path: str) -> str:
    """An absolute, normalized path to a file named vm.args, in a character set that no shell,
    glob or config reader treats specially."""
    printable(path, "vm_args")
    if len(path) > MAX_PATH:
        raise invalid("vm_args", path, f"longer than {MAX_PATH} characters")
    if not _PATH.fullmatch(path):
        raise invalid("vm_args", path, "use only letters, digits, '._+@-' and '/'")
    if not path.startswith("/"):
        raise invalid("vm_args", path, "must be an absolute path on the host")
    if "//" in path or ".." in path or posixpath.normpath(path) != path:
        raise invalid("vm_args", path, "must be a normalized path (no '//', '.' or '..')")
    if posixpath.basename(path) != "vm.args":
        raise invalid("vm_args", path, "must be the path of a file named vm.args")
    return path


def format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def one_of(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise invalid(what, value, f"choose from {', '.join(choices)}")


def check_public_key(backend: str, key: str) -> None:
    if backends.of(backend).rsa_keys:
        from . import tinc

        if not isinstance(key, str):
            raise invalid("public_key", key, "must be a string")
        try:
            tinc.parse_public_pem(key)
        except ValueError as e:
            raise InputError(f"invalid public_key: {e}") from None
        return
    if not _WG_KEY.fullmatch(printable(key, "public_key")):
        raise invalid("public_key", key, "expected a WireGuard key: 32 bytes in base64, as `wg pubkey` prints")


def check_node_name(name: str) -> str:
    if not NODE_BASE.fullmatch(printable(name, "node_name")):
        raise invalid("node_name", name, "use letters, digits and '_', starting with a letter")
    return name


def check_run_user(name: str) -> str:
    if not USER.fullmatch(printable(name, "run_user")):
        raise invalid("run_user", name, "use a lower-case login name")
    return name
