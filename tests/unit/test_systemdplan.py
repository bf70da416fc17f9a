"""systemd in `up`, `down` and `status` (meshbeam/systemdplan.py, firewallplan.py): facts in, writes and actions out.

Each case starts from a host as `up` leaves it ("converged": every file as rendered, every unit enabled and
active) or from a fresh one, changes a fact, and names the systemd actions the plan must hold, in order.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from meshbeam import firewallplan, keys, plan, plantypes, probes, status, tinc, units
from meshbeam.inventory import Host, Mesh, Peer
from meshbeam.keys import KeyStore
from meshbeam.plan import Facts, FileFact, HostPlan

FIXTURES = Path(__file__).parent.parent / "fixtures"
UNIT_WORDS = ("systemctl", "daemon-reload")
CONVERGED_FLAGS = {"systemd", "iface", "tincd", "nft-table", "node-running", "mesh-boot", "mesh-enabled", "fw-enabled",
                   "fw-active", "epmd-socket"}


def _private(backend: str, i: int, name: str) -> str:
    if backend == "tinc":
        return (FIXTURES / f"tinc_rsa_{i}.pem").read_text()  # test-only keys
    return base64.b64encode(keys.clamp(hashlib.sha256(f"meshbeam systemd {name}".encode()).digest())).decode()


def _setup(tmp_path: Path, backend: str, epmd: str = "mesh", service: str | None = "app.service") -> tuple[Mesh, KeyStore]:
    names = ("s1", "s2", "laptop")
    private = {n: _private(backend, i + 1, n) for i, n in enumerate(names)}
    pub = {n: (tinc.public_pem(k) if backend == "tinc" else keys.public_key(k)) for n, k in private.items()}
    hosts = (
        Host("s1", "root@198.51.100.11", "198.18.0.1", "198.51.100.11:51820", pub["s1"], vm_args="/srv/app/vm.args",
             service=service),
        Host("s2", "root@198.51.100.12", "198.18.0.2", "198.51.100.12:51820", pub["s2"]),
    )
    mesh = Mesh(backend=backend, cidr="198.18.0.0/24", epmd=epmd, hosts=hosts,
                peers=(Peer("laptop", "198.18.0.3", pub["laptop"]),))
    store = tmp_path / "keys"
    store.mkdir(mode=0o700)
    for name, key in private.items():
        (store / f"{name}.key").write_text(key + "\n")
    (store / keys.PSK_SECRET_FILE).write_text(base64.b64encode(b"p" * 32).decode() + "\n")
    (store / "cookie").write_text("C" * 43 + "\n")
    return mesh, KeyStore(tmp_path)


def fresh(mesh: Mesh, host: Host, flags: set[str]) -> Facts:
    """Probed as the host's query is: a layer that reads a flag the query does not ask about fails the case."""
    q = plan.query(mesh, host)
    return Facts(frozenset(q.tools), frozenset(flags), (), {u: "/root" for u in q.users},
                 {p: FileFact(p, False) for p in q.paths}, {d: () for d in q.listdirs},
                 probed=frozenset(n for n, _ in q.probes))


def converged(mesh: Mesh, host: Host, store: KeyStore, flags: set[str] = CONVERGED_FLAGS) -> Facts:
    """The host after `up` on systemd: every file as the plan wrote it."""
    before = fresh(mesh, host, {"systemd"})
    files = dict(before.files)
    for w in plan.build(mesh, host, store, before).writes:
        key = w.old.path if w.old else w.path
        files[key] = FileFact(key, True, w.mode, w.owner, w.content)
    assert before.probed is not None
    return replace(before, flags=frozenset(flags) & before.probed, files=files,
                   iface_addrs=("198.18.0.1/24",) if "iface" in flags else ())


def systemd_labels(p: HostPlan) -> list[str]:
    """The actions that talk to systemd, and the table loads, in plan order."""
    return [a.label for a in p.actions if any(w in a.script for w in UNIT_WORDS) or "nft " in a.script]


def unit_writes(p: HostPlan) -> list[str]:
    return [w.path for w in p.writes if w.path.startswith(units.UNIT_DIR + "/")]


FW_RELOAD = "load table inet meshbeam (systemctl reload-or-restart meshbeam-firewall.service)"
FW_ENABLE = "enable meshbeam-firewall.service (loads table inet meshbeam at boot)"
EPMD_RESTART = "restart epmd.socket on the mesh address and loopback"
RELOAD = "systemctl daemon-reload"


def _unflag(*names: str):
    return lambda f: replace(f, flags=f.flags - set(names))


def _change(path: str):
    return lambda f: replace(f, files={**f.files, path: replace(f.files[path], content=b"# edited by hand\n")})


def _drop(path: str):
    return lambda f: replace(f, files={**f.files, path: FileFact(path, False)})


# (case, backend, epmd, host, facts from (mesh, host, store), change to the facts, wanted unit writes, wanted actions)
UP_CASES = [
    ("fresh node host", "wireguard", "mesh", "s1", "fresh", None,
     [units.FIREWALL_UNIT_PATH, units.EPMD_DROPIN_PATH, "/etc/systemd/system/app.service.d/meshbeam.conf"],
     [RELOAD, FW_ENABLE, FW_RELOAD, EPMD_RESTART, "start wg-quick@mb0"]),
    ("converged: nothing to do", "wireguard", "mesh", "s1", "converged", None, [], []),
    ("table deleted by hand", "wireguard", "mesh", "s1", "converged", _unflag("nft-table"), [], [FW_RELOAD]),
    ("table file changed", "wireguard", "mesh", "s1", "converged", _change(firewallplan.NFT_FILE), [], [FW_RELOAD]),
    ("firewall unit disabled", "wireguard", "mesh", "s1", "converged", _unflag("fw-enabled"), [], [FW_ENABLE]),
    ("firewall unit file changed", "wireguard", "mesh", "s1", "converged", _change(units.FIREWALL_UNIT_PATH),
     [units.FIREWALL_UNIT_PATH], [RELOAD, FW_RELOAD]),
    ("node drop-in gone: daemon-reload only", "wireguard", "mesh", "s1", "converged",
     _drop("/etc/systemd/system/app.service.d/meshbeam.conf"), ["/etc/systemd/system/app.service.d/meshbeam.conf"],
     [RELOAD]),
    ("EPMD drop-in changed", "wireguard", "mesh", "s1", "converged", _change(units.EPMD_DROPIN_PATH),
     [units.EPMD_DROPIN_PATH], [RELOAD, EPMD_RESTART]),
    ("epmd.socket still on every address", "wireguard", "mesh", "s1", "converged",
     lambda f: replace(f, flags=f.flags | {"epmd-wide"}), [], [EPMD_RESTART]),
    ("mesh unit not enabled, interface up", "wireguard", "mesh", "s1", "converged", _unflag("mesh-boot"), [],
     ["enable wg-quick@mb0.service at boot"]),
    ("--epmd none, fresh", "wireguard", "none", "s1", "fresh", None,
     [units.FIREWALL_UNIT_PATH, "/etc/systemd/system/app.service.d/meshbeam.conf"],
     [RELOAD, FW_ENABLE, FW_RELOAD, "mask epmd.socket and epmd.service (--epmd none)", "start wg-quick@mb0"]),
    ("--epmd none, masked", "wireguard", "none", "s1", "converged", lambda f: replace(f, flags=f.flags | {"epmd-masked"}),
     [], []),
    ("host without a node: only the mesh unit", "wireguard", "mesh", "s2", "fresh", None, [], ["start wg-quick@mb0"]),
    ("host without a node, interface up by hand", "wireguard", "mesh", "s2", "fresh",
     lambda f: replace(f, flags=f.flags | {"iface"}, iface_addrs=("198.18.0.2/24",)), [],
     ["enable wg-quick@mb0.service at boot"]),
    ("tinc, fresh", "tinc", "mesh", "s1", "fresh", None,
     [units.FIREWALL_UNIT_PATH, units.EPMD_DROPIN_PATH, "/etc/systemd/system/tinc@mb0.service.d/meshbeam.conf",
      "/etc/systemd/system/app.service.d/meshbeam.conf"],
     [RELOAD, FW_ENABLE, FW_RELOAD, EPMD_RESTART, "enable tinc@mb0.service at boot", "start tinc@mb0"]),
    ("tinc, converged", "tinc", "mesh", "s1", "converged", None, [], []),
]


@pytest.mark.parametrize("case, backend, epmd, name, start, change, want_writes, want_actions", UP_CASES,
                         ids=[c[0] for c in UP_CASES])
def test_up_on_systemd(tmp_path, case, backend, epmd, name, start, change, want_writes, want_actions):
    mesh, store = _setup(tmp_path, backend, epmd)
    host = mesh.host(name)
    facts = fresh(mesh, host, {"systemd"}) if start == "fresh" else converged(mesh, host, store)
    p = plan.build(mesh, host, store, change(facts) if change else facts)
    assert unit_writes(p) == want_writes
    assert all(w.mode == 0o644 and w.owner == "root" and not w.secret for w in p.writes if w.path in want_writes)
    assert systemd_labels(p) == want_actions
    assert not any("nft -f" in a.script and "systemctl" not in a.script for a in p.actions), "nft -f on systemd"
    assert not any("systemctl restart meshbeam-firewall" in a.script for a in p.actions), "a restart stops the node"
    assert not any("systemd" in n for n in p.notes)


def test_tinc_starts_at_boot_even_when_tinc_service_is_disabled(tmp_path):
    mesh, store = _setup(tmp_path, "tinc")
    p = plan.build(mesh, mesh.host("s2"), store, fresh(mesh, mesh.host("s2"), {"systemd"}))
    enable = next(a for a in p.actions if a.label == "enable tinc@mb0.service at boot")
    assert enable.script.render() == ("systemctl enable --quiet tinc@mb0.service && { systemctl is-enabled --quiet "
                                      "tinc.service || systemctl add-wants multi-user.target tinc@mb0.service; }")


def test_a_changed_table_is_reloaded_never_restarted(tmp_path):
    mesh, store = _setup(tmp_path, "wireguard")
    facts = _change(firewallplan.NFT_FILE)(converged(mesh, mesh.host("s1"), store))
    p = plan.build(mesh, mesh.host("s1"), store, facts)
    assert [a.script.render() for a in p.actions if a.label == FW_RELOAD] == [
        "systemctl reload-or-restart meshbeam-firewall.service"]


def test_switching_to_epmd_none_removes_the_epmd_drop_in(tmp_path):
    mesh, store = _setup(tmp_path, "wireguard", "mesh")
    facts = converged(mesh, mesh.host("s1"), store)
    none = replace(mesh, epmd="none")
    p = plan.build(none, none.host("s1"), store, facts)
    assert units.EPMD_DROPIN_PATH in p.removes
    reload = next(a for a in p.actions if a.label == RELOAD)
    assert reload.script.render() == "rmdir -- /etc/systemd/system/epmd.socket.d 2>/dev/null || :; systemctl daemon-reload"


@pytest.mark.parametrize("backend", ["wireguard", "tinc"])
@pytest.mark.parametrize("name", ["s1", "s2"])
def test_hosts_without_systemd_say_so_once_and_keep_todays_plan(tmp_path, backend, name):
    mesh, store = _setup(tmp_path, backend)
    host = mesh.host(name)
    p = plan.build(mesh, host, store, fresh(mesh, host, set()))
    said = [n for n in p.notes if "does not run systemd" in n]
    assert len(said) == 1 and "run `meshbeam up` again after every boot" in said[0]
    assert ("firewall table" in said[0]) == bool(host.vm_args)
    assert not unit_writes(p) and not any("systemctl" in a.script for a in p.actions)
    assert any(a.script.render() == f"nft -f {firewallplan.NFT_FILE}" for a in p.actions) == bool(host.vm_args)


# ---- down ------------------------------------------------------------------------------------------


def _index(labels: list[str], prefix: str) -> int:
    return next(i for i, label in enumerate(labels) if label.startswith(prefix))


@pytest.mark.parametrize("backend", ["wireguard", "tinc"])
@pytest.mark.parametrize("epmd", ["mesh", "none"])
def test_down_on_systemd_removes_drop_ins_first_and_restarts_epmd_last(tmp_path, backend, epmd):
    mesh, store = _setup(tmp_path, backend, epmd)
    host = mesh.host("s1")
    facts = converged(mesh, host, store, CONVERGED_FLAGS | ({"epmd-masked", "epmd-masked-any"} if epmd == "none"
                                                            else set()))
    p = plan.teardown(mesh, host, store, facts)
    labels = [a.label for a in p.actions]
    dropins = ["/etc/systemd/system/app.service.d/meshbeam.conf"]
    dropins += [units.EPMD_DROPIN_PATH] if epmd == "mesh" else []
    dropins += ["/etc/systemd/system/tinc@mb0.service.d/meshbeam.conf"] if backend == "tinc" else []
    assert sorted(r for r in p.removes if r.startswith(units.UNIT_DIR)) == sorted(dropins)
    assert firewallplan.NFT_FILE in p.removes and units.FIREWALL_UNIT_PATH not in p.removes  # removed after its stop
    order = ([_index(labels, "unmask epmd")] if epmd == "none" else []) + [
        _index(labels, RELOAD),
        _index(labels, "stop tincd" if backend == "tinc" else "take mb0 down"),
        _index(labels, "disable and remove meshbeam-firewall.service"),
        _index(labels, "restart epmd.socket as Debian has it"),
        _index(labels, "remove /etc/meshbeam/backup") if any("backup" in l for l in labels) else len(labels),
    ]
    assert order == sorted(order), labels
    fw = p.actions[_index(labels, "disable and remove")].script.render()
    assert fw == ("systemctl disable --quiet --now meshbeam-firewall.service && rm -f -- "
                  "/etc/systemd/system/meshbeam-firewall.service && systemctl daemon-reload")
    assert not any(l.startswith("nft delete table") for l in labels), "the unit's ExecStop deletes the table"
    reload = p.actions[_index(labels, RELOAD)].script.render()
    for d in sorted({r.rsplit("/", 1)[0] for r in dropins}):
        assert f"rmdir -- {d} 2>/dev/null || :;" in reload


@pytest.mark.parametrize("epmd", ["mesh", "none"])
def test_a_second_down_on_systemd_has_nothing_to_do(tmp_path, epmd):
    mesh, store = _setup(tmp_path, "wireguard", epmd)
    host = mesh.host("s1")
    assert plan.teardown(mesh, host, store, fresh(mesh, host, {"systemd"})).empty


def test_down_without_systemd_is_todays(tmp_path):
    mesh, store = _setup(tmp_path, "wireguard")
    host = mesh.host("s1")
    facts = converged(mesh, host, store, {"iface", "nft-table", "node-running"})
    facts = replace(facts, files={p: (FileFact(p, False) if p.startswith(units.UNIT_DIR) else f)
                                  for p, f in facts.files.items()})
    p = plan.teardown(mesh, host, store, facts)
    assert not any("systemctl" in a.script for a in p.actions)
    assert [a.label for a in p.actions][:1] == ["take mb0 down"]
    assert "nft delete table inet meshbeam" in [a.label for a in p.actions]


def test_down_takes_down_a_mesh_unit_that_is_only_enabled(tmp_path):
    mesh, store = _setup(tmp_path, "wireguard")
    host = mesh.host("s2")
    p = plan.teardown(mesh, host, store, replace(fresh(mesh, host, {"systemd", "mesh-enabled"})))
    assert [a.label for a in p.actions] == ["take mb0 down"]
    assert "systemctl disable --quiet --now wg-quick@mb0" in p.actions[0].script


# ---- the scripts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["wireguard", "tinc"])
def test_golden_systemd_actions(tmp_path, golden, backend):
    """The systemd part of `up` on a fresh host and of `down` on a converged one, as the host runs it."""
    mesh, store = _setup(tmp_path, backend)
    host = mesh.host("s1")
    up = plan.build(mesh, host, store, fresh(mesh, host, {"systemd"}))
    down = plan.teardown(mesh, host, store, converged(mesh, host, store))

    def shown(p: HostPlan) -> str:
        acts = [a for a in p.actions if any(w in a.script for w in UNIT_WORDS)]
        return "".join(f"# {a.label}\n{a.script.shown()}\n" for a in acts)

    golden(f"systemd/up_{backend}.sh", shown(up))
    golden(f"systemd/down_{backend}.sh", shown(down))


@pytest.mark.parametrize("epmd", ["mesh", "none"])
def test_golden_status_boot_checks(tmp_path, golden, epmd):
    mesh, store = _setup(tmp_path, "tinc", epmd)
    golden(f"systemd/status_boot_checks_{epmd}.sh", "".join(c.render() + "\n" for c in status.boot_checks(mesh, mesh.host("s1"))))


def test_the_probes_are_in_the_facts_script(tmp_path):
    mesh, _ = _setup(tmp_path, "wireguard")
    q = plan.query(mesh, mesh.host("s1"))
    names = [n for n, _ in q.probes]
    for flag in ("mesh-boot", "mesh-enabled", "fw-enabled", "fw-active", "epmd-masked", "epmd-masked-any", "epmd-wide"):
        assert flag in names
    assert units.FIREWALL_UNIT_PATH in q.paths and plantypes.backup_path(units.FIREWALL_UNIT_PATH) not in q.paths
    assert "systemctl is-enabled --quiet wg-quick@mb0.service" in probes.facts_script(q)


# ---- status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("line, finding", [
    ("lost table", "firewall table missing"),
    ("lost mesh-unit", "wg-quick@mb0.service is not enabled"),
    ("lost firewall-unit", "meshbeam-firewall.service is not enabled"),
    ("lost epmd-mask", "epmd.socket and epmd.service are not both masked"),
    ("lost file 0", f"{firewallplan.NFT_FILE} is missing or not as `up` wrote it"),
    ("lost file 1", f"{units.FIREWALL_UNIT_PATH} is missing or not as `up` wrote it"),
    ("listen 0.0.0.0:4369", "0.0.0.0:4369 listens off the mesh"),
])
def test_status_names_what_a_reboot_would_lose(tmp_path, line, finding):
    mesh, _ = _setup(tmp_path, "wireguard")
    s = status.parse(mesh, mesh.host("s1"), f"iface\n{line}\n")
    assert len(s.findings) == 1 and s.findings[0].startswith(finding), s.findings
    assert not s.healthy


@pytest.mark.parametrize("line", ["lost file 99", "lost nothing", "lost", "lost file x"])
def test_status_ignores_a_lost_line_it_does_not_know(tmp_path, line):
    mesh, _ = _setup(tmp_path, "wireguard")
    assert status.parse(mesh, mesh.host("s1"), f"iface\n{line}\n").findings == ()


@pytest.mark.parametrize("flags, noted", [
    ({"epmd-wide"}, True),  # no systemd: an EPMD a node started before `up`
    ({"epmd-wide", "systemd", "epmd-socket"}, False),  # epmd.socket: the drop-in and a restart move it
    ({"epmd-wide", "systemd"}, True),  # systemd, but not epmd.socket's EPMD
    (set(), False),
])
def test_an_epmd_up_cannot_move_is_noted(tmp_path, flags, noted):
    mesh, store = _setup(tmp_path, "wireguard")
    host = mesh.host("s1")
    p = plan.build(mesh, host, store, fresh(mesh, host, flags))
    assert any("EPMD started before" in n for n in p.notes) == noted
