"""The BEAM layer of a host's plan (pure): vm.args block, cookie file, live allow list; with firewallplan and identityplan.

Applies to hosts with a vm.args path in the inventory. Each node's distribution then
listens only on its mesh address, behind meshbeam's own nftables table, with the cookie
in the run user's ~/.erlang.cookie (never on a command line) and an exact allow list.
"""

from __future__ import annotations

import posixpath
import re

from . import distmod, envsh, firewallplan, identityplan, vmargs, vmargs_includes, vmargs_lint
from .command import Cmd, Sh, lines, sh
from .errors import PlanError
from .inventory import Host, Mesh
from .plantypes import Action, Facts, Flag, Write, original, restore, write_if_needed

TOOLS = ("nft", "erl") + identityplan.TOOLS
BACKUP_SUFFIX = ".meshbeam-orig"
# A node listening on its dist port is running: only then is the live allow-list update worth its
# Erlang start (a whole VM boot per host).
NODE_RUNNING = Flag("node-running", lambda mesh, host: sh("ss -Htln 2>/dev/null | grep -qF -- {}",
                                                           f"{host.address}:{mesh.dist_port} "))


def control_node(host: Host) -> str:
    """The short-lived hidden node `up` uses on the host to extend a running node's allow list."""
    return f"meshbeam_ctl@{host.address}"


def settings(mesh: Mesh, host: Host) -> vmargs.DistSettings:
    allow = mesh.nodes() + (control_node(host),)
    return vmargs.DistSettings(node=host.node, address=host.address, port=mesh.dist_port, epmd=mesh.epmd,
                                allow=allow, name_flag=not host.mix_release, extra=identityplan.vm_args_lines(mesh))


def cookie_path(host: Host) -> str:
    """~USER/.erlang.cookie, or RELEASE/releases/COOKIE, which a mix release's start script reads."""
    if host.mix_release:
        assert host.vm_args
        return f"{posixpath.dirname(posixpath.dirname(host.vm_args))}/COOKIE"
    return f"~{host.run_user}/.erlang.cookie"


def env_sh_path(host: Host) -> str:
    assert host.vm_args
    return f"{posixpath.dirname(host.vm_args)}/env.sh"


def query_paths(host: Host) -> tuple[str, ...]:
    assert host.vm_args
    paths = (host.vm_args, host.vm_args + BACKUP_SUFFIX, cookie_path(host))
    paths += firewallplan.query_paths() + identityplan.query_paths()
    return paths + ((env_sh_path(host),) if host.mix_release else ())


def probes(mesh: Mesh, host: Host) -> tuple[Flag, ...]:
    return firewallplan.PROBES + (NODE_RUNNING,)


def _resolve(path: str, facts: Facts) -> str:
    if not path.startswith("~"):
        return path
    user, _, rest = path[1:].partition("/")
    home = facts.homes.get(user)
    if not home:
        raise PlanError(f"user {user!r} does not exist on the host (the node's run user)")
    return f"{home.rstrip('/')}/{rest}"


def _included(host: Host, facts: Facts) -> tuple[dict[str, str | None], list[str]]:
    """(the texts of every file vm.args reaches through -args_file, None for an absent one; the absolute paths
    among them that facts do not hold yet), by vmargs_includes' own walk over what facts hold."""
    assert host.vm_args
    missing: list[str] = []

    def read(path: str) -> str | None:
        fact = facts.files.get(path)
        if fact is None:
            missing.append(path)
            return None
        return (fact.content or b"").decode(errors="replace") if fact.exists else None

    return vmargs_includes.gather((facts.files[host.vm_args].content or b"").decode(), read), missing


def included_paths(host: Host, facts: Facts) -> tuple[str, ...]:
    """Absolute paths that vm.args, or a file it includes, pulls in with -args_file and facts do not hold yet.

    The caller reads them and asks again, up to vmargs_includes.MAX_INCLUDE_DEPTH times: erlexec follows the
    includes, so `up` must see every file before it can say that nothing there overrides the block.
    """
    return tuple(_included(host, facts)[1]) if host.vm_args else ()


def layer(mesh: Mesh, host: Host, cookie: str, facts: Facts,
          build: distmod.Build | None = None) -> tuple[list[Write], list[Action], list[str]]:
    """The BEAM part of a host's plan: its writes, its actions and the notes shown with it; `build` is
    meshbeam_dist as compiled on the operator's machine (identityplan)."""
    assert host.vm_args
    if host.mix_release and cookie.startswith("-"):
        raise PlanError(f"{host.name}: the cluster cookie starts with '-', and the release's start script passes it "
                        "as --cookie, which erl takes for a flag (the node would boot with another cookie): run "
                        "`meshbeam rotate-keys --cookie` (cookies made now never start with '-')")
    original = (facts.files[host.vm_args].content or b"").decode()
    dist = settings(mesh, host)
    vmargs_includes.check(original, _included(host, facts)[0])
    new_vm = vmargs.apply_block(original, dist)
    out = writes(mesh, host, cookie, facts, new_vm.encode())
    out += firewallplan.writes(mesh, facts) + identityplan.writes(mesh, dist.allow, facts)
    acts = (firewallplan.actions(facts, out) + identityplan.actions(mesh, host, facts, build)
            + actions(mesh, host, facts, out))
    found = (firewallplan.notes(mesh, facts) + identityplan.notes(mesh, host, facts, facts.has(NODE_RUNNING), build)
             + notes(mesh, host, facts))
    return out, acts, found + lint_rendered(new_vm, host)


def writes(mesh: Mesh, host: Host, cookie: str, facts: Facts, new_vm: bytes) -> list[Write]:
    assert host.vm_args
    out: list[Write] = []
    vm = facts.files[host.vm_args]
    owner = vm.owner or host.run_user
    mode = vm.mode if vm.mode is not None else 0o644
    backup = facts.files[host.vm_args + BACKUP_SUFFIX]
    if vm.exists and not backup.exists and vmargs.MARK_BEGIN.encode() not in (vm.content or b""):
        # Keep the user's original once, before the first rewrite.
        kept_by = backup.actor if backup.actor != "root" else owner  # see plantypes.write_if_needed
        out.append(Write(backup.path, vm.content or b"", mode, kept_by, False, "backup", backup, backup.actor))
    if host.mix_release:
        # The release sets its node name from env.sh (RELEASE_NODE), never from vm.args.
        env = facts.files[env_sh_path(host)]
        new_env = envsh.apply_env_sh((env.content or b"").decode(), host.node,
                                     interactive=identityplan.on(mesh)).encode()
        out += [w for w in [write_if_needed(env, new_env, env.mode or 0o755, env.owner or host.run_user, False)] if w]
    for w in (
        write_if_needed(vm, new_vm, mode, owner, secret=False),
        write_if_needed(
            facts.files[cookie_path(host)],
            cookie.encode(),
            0o400,
            host.run_user,
            secret=True,
            path=_resolve(cookie_path(host), facts),
        ),
    ):
        if w:
            out.append(w)
    return out


def _block_lines(text: str) -> range:
    lines = text.splitlines()
    begin = lines.index(vmargs.MARK_BEGIN) + 1
    return range(begin, lines.index(vmargs.MARK_END, begin) + 2)


def lint_rendered(text: str, host: Host) -> list[str]:
    """`up` lints what it is about to write, once. A finding inside the managed block is a bug
    and is never shipped; findings in the user's own lines are returned as plan notes."""
    inside = _block_lines(text)
    findings = vmargs_lint.lint(text, bind_address=host.address)
    bad = [f for f in findings if f.line in inside]
    if bad:
        raise RuntimeError(f"rendered vm.args fails its own lint at line {bad[0].line}: {bad[0].message}")
    return [f"{host.vm_args}:{f.line}: {f.code}: {f.message}" for f in findings]


def actions(mesh: Mesh, host: Host, facts: Facts, written: list[Write]) -> list[Action]:
    paths = {w.path for w in written}
    acts = []
    if host.vm_args in paths and facts.has(NODE_RUNNING):
        acts.append(Action(f"extend the allow list of the running {host.node}", live_allow_script(mesh, host, facts)))
    return acts


def live_allow_script(mesh: Mesh, host: Host, facts: Facts) -> Cmd:
    """Append missing names to a running node's allow list with a short-lived hidden node.

    allow/1 only appends, so names that left the cluster stay allowed until the node restarts.
    The control node reads the cookie from the run user's home, never from its argv; the copy
    is read as the one who owns that home (hostlib's read_owned), never through a link.
    """
    wanted = ",".join(vmargs.erl_atom(n) for n in settings(mesh, host).allow)
    target = vmargs.erl_atom(host.node)
    expr = (
        f"T = {target}, "
        "case net_adm:ping(T) of "
        "pang -> io:format(\"~s not running; its next boot reads vm.args~n\", [T]); "
        f"pong -> {{ok, Cur}} = rpc:call(T, net_kernel, allowed, []), "
        f"New = [{wanted}] -- Cur, ok = rpc:call(T, net_kernel, allow, [New]), "
        "io:format(\"allowed ~p on ~s~n\", [New, T]) end, halt()."
    )
    # -start_epmd false: an EPMD started here would listen on every interface, not the mesh address.
    epmd = sh(" -erl_epmd_port {}", mesh.dist_port) if mesh.epmd == "none" else Cmd()
    return lines(
        # a private copy of the cookie as the control node's ~/.erlang.cookie: never on its argv
        sh('mkdir -p "$work/home"'),
        sh('read_owned {} > "$work/home/.erlang.cookie"', _resolve(cookie_path(host), facts)),
        sh('chmod 400 "$work/home/.erlang.cookie"'),
        Cmd(Sh('HOME="$work/home" run_logged erl -noshell -hidden -dist_listen false -start_epmd false'), epmd,
            sh(" -name {} -eval {}", control_node(host), expr)),
    ) + sh('cat "$work/log"')


def _allowed_in_block(vm_args: str) -> set[str]:
    begin, end = vm_args.find(vmargs.MARK_BEGIN), vm_args.find(vmargs.MARK_END)
    if begin < 0 or end < 0:
        return set()
    block = vm_args[begin:end]
    inner = block[block.find("net_kernel:allow([") :]
    return set(re.findall(r"'([^']+)'", inner[: inner.find("])")]))


def notes(mesh: Mesh, host: Host, facts: Facts) -> list[str]:
    assert host.vm_args
    out = []
    if host.mix_release:
        out.append(
            "a mix release's stock bin/ script passes the cookie as --cookie, so it shows in ps to local users; "
            "mount /proc with hidepid=2 on this host, or start the release another way"
        )
    before = _allowed_in_block((facts.files[host.vm_args].content or b"").decode())
    gone = sorted(before - set(settings(mesh, host).allow))
    if gone and not identityplan.on(mesh):  # with meshbeam_dist the allowed file decides, read at every connection
        out.append(
            f"{', '.join(gone)} left the allow list of {host.node}: a running node keeps allowing them "
            "until it restarts (net_kernel:allow/1 can only add)"
        )
    return out


def teardown(host: Host, cookie: str, facts: Facts) -> tuple[list[Write], list[str], list[Action]]:
    """Restore the user's vm.args and env.sh (lines meshbeam commented out come back; the user's
    own later edits stay), put back the cookie file as it was before meshbeam (from its backup),
    and drop the vm.args copy and meshbeam's nftables table."""
    assert host.vm_args
    writes: list[Write] = []
    removes: list[str] = []
    actions: list[Action] = []
    for path, default_mode in [(host.vm_args, 0o644)] + ([(env_sh_path(host), 0o755)] if host.mix_release else []):
        f = facts.files[path]
        if f.exists and f.content is not None and vmargs.MARK_BEGIN.encode() in f.content:
            restored = vmargs.remove_block(f.content.decode()).encode()
            was = original(facts, path)
            if was is not None and not was.exists and not restored.strip():
                removes.append(path)  # meshbeam made it: it goes
                continue
            w = write_if_needed(f, restored, f.mode or default_mode, f.owner or host.run_user, secret=False)
            writes += [w] if w else []
    backup = facts.files[host.vm_args + BACKUP_SUFFIX]
    if backup.exists:
        removes.append(backup.path)
    key = cookie_path(host)
    c = facts.files[key]
    back = restore(host, facts, key, _resolve(key, facts)) if original(facts, key) is not None else None
    if back is not None:
        writes, removes = writes + back[0], removes + back[1]
    elif c.exists and c.content == cookie.encode() and not host.mix_release:
        # no backup (a host set up before meshbeam kept them): only the cookie meshbeam wrote goes
        removes.append(_resolve(key, facts))
    fw_removes, fw_actions = firewallplan.teardown(facts)
    return writes, removes + fw_removes, actions + fw_actions + identityplan.teardown(facts)
