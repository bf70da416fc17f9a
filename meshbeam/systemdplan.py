"""The systemd part of a host's plan (pure): what brings the mesh, the firewall, EPMD and the node back at boot.

Only on hosts whose PID 1 is systemd (plantypes.SYSTEMD); a host without it gets a plan note instead
(plan.build). Every host's mesh unit (wg-quick@IF or tinc@IF) is enabled. A host that runs a node
also gets units.host_files: meshbeam-firewall.service, epmd.socket's drop-in (`--epmd mesh`; with
`--epmd none` epmd.socket and epmd.service are masked instead), tinc@IF's readiness drop-in and the
node unit's drop-in (`add-host --service`).

`up`'s actions here run before the mesh layer's: daemon-reload (so tinc@IF starts with its drop-in),
the firewall through its unit (firewallplan.unit_actions), then EPMD. The node's drop-in only needs the
daemon-reload: it orders the node's next start.

`down` first removes the drop-ins (the node's among them, so the node no longer Requires= the firewall
unit, whose stop then leaves it running) and unmasks EPMD; after the firewall unit is gone, epmd.socket
is restarted as Debian has it (every address), when it is enabled or active.
"""

from __future__ import annotations

import posixpath

from . import backends, firewallplan, units
from .command import Cmd, sh
from .inventory import Host, Mesh
from .plantypes import IFACE, SYSTEMD, Action, Facts, Flag, Write, write_if_needed

EPMD_UNITS = (units.EPMD_SOCKET, units.EPMD_SERVICE)
BOOT_TARGET = "multi-user.target"


def mesh_unit(mesh: Mesh) -> str:
    return units.mesh_unit(mesh.backend, mesh.interface)


def mesh_at_boot(mesh: Mesh) -> Cmd:
    """True when the mesh unit starts at boot. Debian's tinc@NET is WantedBy=tinc.service, so tinc@NET starts
    only with an enabled tinc.service or a link of its own from multi-user.target (mesh_boot_action)."""
    unit = mesh_unit(mesh)
    enabled = sh("systemctl is-enabled --quiet {} 2>/dev/null", unit)
    service = backends.of(mesh.backend).boot_service
    if service is None:
        return enabled
    own_link = f"{units.UNIT_DIR}/{BOOT_TARGET}.wants/{unit}"
    return enabled + sh(" && { systemctl is-enabled --quiet {} 2>/dev/null || [ -L {} ]; }", service, own_link)


def epmd_masked() -> Cmd:
    return sh('[ "$(systemctl is-enabled {} {} 2>/dev/null | grep -cx masked)" = 2 ]', *EPMD_UNITS)


MESH_BOOT = Flag("mesh-boot", lambda mesh, host: mesh_at_boot(mesh))
MESH_ENABLED = Flag("mesh-enabled", lambda mesh, host: sh("systemctl is-enabled --quiet {} 2>/dev/null",
                                                           mesh_unit(mesh)))
EPMD_MASKED = Flag("epmd-masked", epmd_masked())
EPMD_MASKED_ANY = Flag("epmd-masked-any", sh("systemctl is-enabled {} {} 2>/dev/null | grep -qx masked", *EPMD_UNITS))


def unit_files(mesh: Mesh, host: Host) -> list[units.UnitFile]:
    """What `up` writes under /etc/systemd/system: only for hosts that run a node (the firewall is theirs)."""
    if not host.vm_args:
        return []
    return units.host_files(backend=mesh.backend, interface=mesh.interface, mesh_ip=host.address, epmd=mesh.epmd,
                            service=host.service)


def _owned_paths(mesh: Mesh, host: Host) -> list[str]:
    """Every unit file and drop-in meshbeam may have written: EPMD's drop-in whatever the mode, so that a
    switch to `--epmd none` (or `down`) finds it."""
    paths = [f.path for f in unit_files(mesh, host)]
    if host.vm_args and units.EPMD_DROPIN_PATH not in paths:
        paths.append(units.EPMD_DROPIN_PATH)
    return paths


def query_parts(mesh: Mesh, host: Host) -> tuple[tuple[str, ...], tuple[Flag, ...]]:
    """(paths, flags). The probes run on hosts without systemd too, where they simply fail."""
    flags: tuple[Flag, ...] = (MESH_BOOT, MESH_ENABLED)
    if host.vm_args:
        flags += firewallplan.UNIT_PROBES + (EPMD_MASKED, EPMD_MASKED_ANY, firewallplan.EPMD_WIDE)
    return tuple(_owned_paths(mesh, host)), flags


def _daemon_reload(dirs: tuple[str, ...] = ()) -> Action:
    """daemon-reload; with `dirs`, first the drop-in directories that are left empty (rmdir keeps any other)."""
    rm = [sh("rmdir -- {} 2>/dev/null || :; ", d) for d in dirs]
    return Action("systemctl daemon-reload", Cmd(*rm, sh("systemctl daemon-reload")))


def _mesh_boot_actions(mesh: Mesh, facts: Facts) -> list[Action]:
    """Enable the mesh unit for the next boots when the mesh layer does not (it runs `enable --now` only when
    the interface or tincd is missing)."""
    if facts.has(MESH_BOOT):
        return []
    unit = mesh_unit(mesh)
    service = backends.of(mesh.backend).boot_service
    if service is None:
        if not facts.has(IFACE):
            return []
        return [Action(f"enable {unit} at boot", sh("systemctl enable --quiet {}", unit))]
    wants = sh("systemctl enable --quiet {} && { systemctl is-enabled --quiet {} || systemctl add-wants {} {}; }",
               unit, service, BOOT_TARGET, unit)
    return [Action(f"enable {unit} at boot", wants)]


def layer(mesh: Mesh, host: Host, facts: Facts, written: set[str]) -> tuple[list[Write], list[str], list[Action]]:
    """(writes, removes, actions) of `up` on a systemd host; `written` holds the paths the other layers write
    (the firewall's table file among them). The actions go before the mesh layer's."""
    if not facts.has(SYSTEMD):
        return [], [], []
    writes = []
    for f in unit_files(mesh, host):
        w = write_if_needed(facts.files[f.path], f.content.encode(), f.mode, "root", secret=False)
        writes += [w] if w else []
    removes = []
    dropin = facts.files.get(units.EPMD_DROPIN_PATH)
    if host.vm_args and mesh.epmd == "none" and dropin is not None and dropin.exists:
        removes.append(units.EPMD_DROPIN_PATH)
    actions = []
    if removes or any(w.reason != "mode" for w in writes):
        actions.append(_daemon_reload(tuple(posixpath.dirname(p) for p in removes)))
    if host.vm_args:
        actions += firewallplan.unit_actions(facts, written | {w.path for w in writes})
        actions += _epmd_actions(mesh, facts, {w.path for w in writes})
    actions += _mesh_boot_actions(mesh, facts)
    return writes, removes, actions


def _epmd_actions(mesh: Mesh, facts: Facts, written: set[str]) -> list[Action]:
    if mesh.epmd == "none":
        if facts.has(EPMD_MASKED):
            return []
        return [Action("mask epmd.socket and epmd.service (--epmd none)", sh("systemctl mask --quiet --now {} {}",
                                                                             *EPMD_UNITS))]
    if units.EPMD_DROPIN_PATH in written or (facts.has(firewallplan.EPMD_WIDE)
                                             and facts.has(firewallplan.EPMD_SOCKET_ACTIVE)):
        # A running node registers again within seconds; try-restart leaves a stopped socket stopped.
        return [Action("restart epmd.socket on the mesh address and loopback",
                       sh("systemctl try-restart {}", units.EPMD_SOCKET))]
    return []


def teardown(mesh: Mesh, host: Host, facts: Facts) -> tuple[list[str], list[Action], list[Action]]:
    """(removes, before, after) of `down` on a systemd host: `before` runs ahead of every other action
    (the drop-ins are removed by then), `after` once the firewall unit is gone."""
    if not facts.has(SYSTEMD) or not host.vm_args:
        return [], [], []
    paths = [p for p in _owned_paths(mesh, host) if p != units.FIREWALL_UNIT_PATH]
    removes = [p for p in paths if facts.files[p].exists]
    before = []
    unmask = mesh.epmd == "none" and facts.has(EPMD_MASKED_ANY)
    if unmask:
        before.append(Action("unmask epmd.socket and epmd.service", sh("systemctl unmask --quiet {} {}", *EPMD_UNITS)))
    if removes:
        before.append(_daemon_reload(tuple(sorted({posixpath.dirname(p) for p in removes}))))
    if not (unmask or units.EPMD_DROPIN_PATH in removes):
        return removes, before, []
    restart = sh("if systemctl is-enabled --quiet {} || systemctl is-active --quiet {}; then systemctl restart {}; fi",
                 units.EPMD_SOCKET, units.EPMD_SOCKET, units.EPMD_SOCKET)
    return removes, before, [Action("restart epmd.socket as Debian has it (when enabled)", restart)]
