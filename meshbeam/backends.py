"""What differs between the mesh backends, as data: the one table the rest of meshbeam asks.

Every difference is an attribute here, or a function of the backend's plan layer (wgplan, tincplan),
so no module compares backend names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Backend:
    name: str
    rsa_keys: bool  # tinc 1.0: RSA PEM key pairs; WireGuard: X25519, base64
    ipv6_endpoints: bool  # the tinc mesh is IPv4-only (AddressFamily = ipv4)
    underscore_names: bool  # tinc names allow only [A-Za-z0-9_]: '-' becomes '_', so two names may clash
    peer_bundle_dir: bool  # a roaming peer gets a directory for /etc/tinc/NET/, or one wg-quick file
    unit_template: str  # the systemd unit that brings the interface up, "{}" the interface
    boot_service: str | None  # Debian's tinc@NET is WantedBy=tinc.service: that one must start too
    readiness_dropin: bool  # tinc@ is Type=simple: a drop-in waits for the address (units.tinc_dropin)
    plan_layer: str  # its module: query_parts, layer, teardown, peer_files, render_files, TOOLS, PACKAGE

    def mesh_unit(self, interface: str) -> str:
        return self.unit_template.format(interface)


WIREGUARD = Backend("wireguard", rsa_keys=False, ipv6_endpoints=True, underscore_names=False, peer_bundle_dir=False,
                    unit_template="wg-quick@{}.service", boot_service=None, readiness_dropin=False,
                    plan_layer="wgplan")
TINC = Backend("tinc", rsa_keys=True, ipv6_endpoints=False, underscore_names=True, peer_bundle_dir=True,
               unit_template="tinc@{}.service", boot_service="tinc.service", readiness_dropin=True,
               plan_layer="tincplan")
BACKENDS = {b.name: b for b in (WIREGUARD, TINC)}


def of(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"backend {name!r} must be one of {', '.join(BACKENDS)}") from None


def layer(name: str) -> ModuleType:
    """The backend's plan layer, imported when first asked for (a change to the inventory needs none)."""
    return importlib.import_module(f"meshbeam.{of(name).plan_layer}")
