"""A host whose run user is hostile: planted links are refused, `down` restores the user's own
files byte for byte, and a killed apply leaves no temp file behind. Real sandbox hosts, real sshd."""

from __future__ import annotations

import shlex
import threading
import time

import pytest

from meshbeam import inventory, remote
from meshbeam.command import sh as cmd
from meshbeam.errors import RemoteError
from meshbeam.plan import Action, HostPlan, Write

from .conftest import HOME, RUN_USER, Meshbeam, sh

pytestmark = pytest.mark.e2e
SANDBOX_PREFIX = "mbhst"
REL = "/srv/rel/releases"  # s2 runs a mix release whose directory the run user owns
VM_ARGS = {"s1": "/srv/app/vm.args", "s2": f"{REL}/1.0/vm.args", "s3": "/srv/app/vm.args"}
CANARY = "/root/canary"  # root-only, on each host's private /root
WATCHED = ("/etc/passwd", "/etc/shadow", CANARY)


def as_user(mb: Meshbeam, host: str, command: str) -> None:
    sh(mb.box, host, f"setpriv --reuid={RUN_USER} --regid=$(id -g {RUN_USER}) --init-groups sh -c {shlex.quote(command)}")


def hashes(mb: Meshbeam) -> dict[str, str]:
    return {f"{h} {p}": sh(mb.box, h, f"sha256sum {p}").stdout for h in VM_ARGS for p in WATCHED}


@pytest.fixture(scope="module")
def mb(sb, run_user, tmp_path_factory) -> Meshbeam:
    for h in VM_ARGS:
        sh(sb, h, f"mkdir -p {HOME} /srv/app {REL}/1.0 && chown {RUN_USER} {HOME} && chown -R {RUN_USER} /srv/rel && "
                  f"printf '+K true\\n' > /srv/app/vm.args && umask 077 && echo root-only > {CANARY}")
    mb = Meshbeam(tmp_path_factory.mktemp("hostile") / "inv", sb)
    mb("init", "--cidr", "198.18.0.0/24")
    for s in sb.servers:
        extra = ["--mix-release"] if s.name == "s2" else []
        mb("add-host", s.name, f"root@{s.address}", "--vm-args", VM_ARGS[s.name], "--run-user", RUN_USER, *extra)
    return mb


def test_planted_links_are_refused_and_nothing_is_touched(mb):
    before = hashes(mb)
    as_user(mb, "s1", f"ln -s /etc/passwd {HOME}/.erlang.cookie")
    # the temp names of earlier versions (NAME.meshbeam-PID), guessed, and one of mktemp's
    as_user(mb, "s3", f"for p in $(seq 1 2000); do ln -s /etc/shadow {HOME}/.erlang.cookie.meshbeam-$p; done; "
                      f"ln -s /etc/shadow {HOME}/.meshbeam.AAAAAAAA")
    as_user(mb, "s2", f"ln -s {CANARY} {VM_ARGS['s2']}")  # root would have read it into a 0644 copy
    dry = mb("up", "--dry-run", ok=False)
    r = mb("up", ok=False)
    assert r.exit_code == 1
    for out in (dry.output, r.output):
        assert "s1: ~mbapp/.erlang.cookie is a symbolic link" in out
        assert f"s2: {VM_ARGS['s2']} is a symbolic link" in out
        assert "root-only" not in out
    assert "converged" in r.output  # s3: its own files only, the planted links left alone
    assert hashes(mb) == before
    for h in ("s1", "s2"):
        assert sh(mb.box, h, "test -e /etc/wireguard/mb0.conf", check=False).returncode != 0, f"{h} was written"
    st = sh(mb.box, "s3", f"stat -c '%U %a' {HOME}/.erlang.cookie").stdout.split()
    assert st == [RUN_USER, "400"], "the cookie in the run user's home is written by that user"
    assert sh(mb.box, "s3", f"readlink {HOME}/.meshbeam.AAAAAAAA").stdout.strip() == "/etc/shadow"


def test_down_puts_back_the_users_own_cookies_byte_for_byte(mb):
    mb("down", "--yes", "--only", "s3")  # from the first test
    as_user(mb, "s1", f"rm {HOME}/.erlang.cookie && printf 'users-own-cookie' > {HOME}/.erlang.cookie && "
                      f"chmod 400 {HOME}/.erlang.cookie")
    as_user(mb, "s2", f"rm {VM_ARGS['s2']} && printf 'release-cookie\\n' > {REL}/COOKIE && chmod 400 {REL}/COOKIE && "
                      f"printf '+sbwt none\\n' > {VM_ARGS['s2']}")
    files = {"s1": [f"{HOME}/.erlang.cookie", VM_ARGS["s1"]], "s2": [f"{REL}/COOKIE", VM_ARGS["s2"]]}
    listing = "stat -c '%n %U %a %s' {}; sha256sum {}"
    before = {h: sh(mb.box, h, listing.format(" ".join(fs), " ".join(fs))).stdout for h, fs in files.items()}
    mb("up", "--only", "s1,s2")
    cookie = (mb.dir / "keys" / "cookie").read_text().strip()
    assert sh(mb.box, "s1", f"cat {HOME}/.erlang.cookie").stdout == cookie
    assert sh(mb.box, "s2", f"cat {REL}/COOKIE").stdout == cookie
    assert sh(mb.box, "s1", "stat -c '%U %a' /etc/meshbeam/backup").stdout.split() == ["root", "700"]
    mb("down", "--yes", "--only", "s1,s2")
    after = {h: sh(mb.box, h, listing.format(" ".join(fs), " ".join(fs))).stdout for h, fs in files.items()}
    assert after == before
    for h in files:  # /etc/meshbeam itself is a sandbox mount point: it stays, empty
        assert sh(mb.box, h, "ls -A /etc/meshbeam").stdout == "", f"backups left on {h}"
    assert "no changes" in mb("down", "--yes", "--only", "s1,s2").output


# Waits (with shell built-ins only, so it keeps up) until the big file's temp sits beside the
# first one, then sends TERM to the apply's `sh -s`, found among the processes of this host's own
# network namespace. sh runs its TERM trap once the step in progress (decoding the big file)
# returns, so the kill lands before the renames however slow the machine is.
KILL_WHEN_STAGING = r"""
while :; do
  set -- /etc/wireguard/.meshbeam.*
  [ $# -ge 2 ] && [ -e "$2" ] && break
done
me=$(readlink /proc/self/ns/net)
for p in $(pgrep -x sh); do
  [ "$(readlink /proc/"$p"/ns/net)" = "$me" ] || continue
  [ "$(tr '\0' ' ' < /proc/"$p"/cmdline)" = "sh -s " ] || continue
  kill -TERM "$p"; echo killed; exit 0
done
echo missed
"""


def test_a_killed_apply_leaves_no_temp_file(mb):
    big = b"x" * 80_000_000  # its decoding is the window: the watcher sends TERM then, well before any rename
    plan = HostPlan("s1", (
        Write("/etc/wireguard/killed-a.conf", b"PrivateKey = (test)\n", 0o600, "root", True, "new"),
        Write(f"{HOME}/killed-b", b"b\n", 0o600, RUN_USER, False, "new", actor=RUN_USER),
        Write("/etc/wireguard/killed-big", big, 0o600, "root", False, "new"),
    ), (Action("never", cmd("sleep 30")),))
    watcher: list[str] = []
    t = threading.Thread(target=lambda: watcher.append(sh(mb.box, "s1", KILL_WHEN_STAGING, timeout=300).stdout))
    t.start()
    time.sleep(0.5)
    conn = remote.connect(inventory.load(mb.dir).host("s1"), remote.SSHOptions(mb.box.ssh_config))
    try:
        with pytest.raises(RemoteError, match="apply failed"):
            remote.apply(conn, plan)
    finally:
        conn.close()
    t.join(timeout=60)
    assert watcher == ["killed\n"]
    left = sh(mb.box, "s1", f"ls -A /etc/wireguard {HOME}").stdout.split()
    assert not any(".meshbeam." in f or f.startswith("killed") for f in left), left


def test_an_args_file_that_overrides_the_block_is_refused_until_fixed(mb):
    """erlexec reads an -args_file after the block, so a -name there would win: `up` reads every include."""
    sh(mb.box, "s3", "printf '+K true\\n-args_file /srv/app/extra.args\\n' > /srv/app/vm.args && "
                     "printf -- '-args_file /srv/app/more.args\\n' > /srv/app/extra.args && "
                     "printf -- '-name evil@198.18.0.3\\n' > /srv/app/more.args")
    r = mb("up", "--only", "s3", ok=False)
    assert r.exit_code == 1
    assert "vm.args line 2: -args_file /srv/app/more.args line 1: sets -name" in r.output, r.output
    assert sh(mb.box, "s3", "cat /srv/app/vm.args").stdout == "+K true\n-args_file /srv/app/extra.args\n"
    sh(mb.box, "s3", "printf '+sbwt none\\n' > /srv/app/more.args")
    assert "converged" in mb("up", "--only", "s3").output
    assert sh(mb.box, "s3", "tail -n 1 /srv/app/vm.args").stdout == "-args_file /srv/app/extra.args\n"
    mb("down", "--yes", "--only", "s3")
