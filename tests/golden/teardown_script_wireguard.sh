main() {
set -e
umask 077
as_user() {  # as_user USER CMD...: run CMD as USER with its own groups (as it is for root)
  u=$1; shift
  case $u in
    root) "$@" ;;
    unsafe|'') echo "meshbeam: refusing to act in a directory that two users, or others, can change" >&2; return 1 ;;
    *) setpriv --reuid="$u" --regid="$(id -g -- "$u")" --init-groups -- "$@" ;;
  esac
}
owners() {  # the uid, gid and mode of every existing directory from $1 up to /, links not followed
  p=$1; shift
  while :; do
    if [ -e "$p" ] || [ -L "$p" ]; then set -- "$@" "$p"; fi
    case $p in /|.|'') break ;; esac
    parent
  done
  [ $# -eq 0 ] || stat -c '%u %g %a' -- "$@"
}
parent() {  # p=the directory above $p, as dirname(1) prints it, without a process: owners runs per path
  while :; do case $p in ?*/) p=${p%/} ;; *) break ;; esac; done
  case $p in
    /) ;;
    */*) p=${p%/*}; while :; do case $p in ?*/) p=${p%/} ;; *) break ;; esac; done; p=${p:-/} ;;
    *) p=. ;;
  esac
}
actor() {  # actor DIR: root, the one user who owns DIR or a directory above it, or unsafe
  { owners "$1"; owners "$(readlink -m -- "$1")"; } | awk '
    { o = substr($3, length($3), 1); g = substr($3, length($3) - 1, 1); s = length($3) == 4 ? substr($3, 1, 1) : 0
      if ($1 == 0 && s % 2 == 0 && (o % 4 >= 2 || ($2 != 0 && g % 4 >= 2))) bad = 1
      if ($1 != 0) { if (u != "" && u != $1) bad = 1; u = $1 } }
    END { if (bad) print "unsafe"; else if (u == "") print "root"; else print u }' | {
    read -r a
    case $a in root|unsafe) echo "$a" ;; *) getent passwd "$a" | cut -d: -f1 | grep . || echo unsafe ;; esac
  }
}
read_owned() {  # read_owned FILE: its contents, read as the one who may act in its directory, never through a link
  a=$(actor "$(dirname -- "$1")")
  as_user "$a" sh -c '[ ! -L "$1" ] && [ -f "$1" ] && cat -- "$1"' sh "$1"
}
same_actor() {  # same_actor USER DIR: fail unless USER is still the one who may act in DIR
  [ "$(actor "$2")" = "$1" ] || { echo "meshbeam: the owners of $2 changed since the plan was made" >&2; return 1; }
}
fill() {  # fill USER TEMP SHA256 MODE < base64: decode into TEMP, check its hash, set its mode
  as_user "$1" sh -c 'base64 -d > "$1" && [ "$(sha256sum < "$1" | cut -d" " -f1)" = "$2" ] && chmod "$3" "$1"' \
    sh "$2" "$3" "$4"
}
commit() {  # commit USER TEMP TARGET OWNER: rename TEMP over TARGET, which must be a regular file or absent
  as_user "$1" sh -c '
    if [ -L "$2" ] || { [ -e "$2" ] && [ ! -f "$2" ]; }; then
      echo "meshbeam: $2 is a symbolic link or not a regular file: not replaced" >&2; exit 1
    fi
    if [ -n "$3" ]; then chown -h -- "$3" "$1"; fi
    mv -T -f -- "$1" "$2"' sh "$2" "$3" "$4"
}
remove() {  # remove FILE: unlink it (a link itself, never its target) as the one who may act in its directory
  as_user "$(actor "$(dirname -- "$1")")" rm -f -- "$1"
}

work=$(mktemp -d)
cleanup() {
[ -z "${t0:-}" ] || as_user root rm -f -- "$t0"
rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
run_logged() { "$@" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; return 1; }; }
same_actor root /srv/mbapp-home
as_user root mkdir -p -- /srv/mbapp-home
t0=$(as_user root mktemp -- /srv/mbapp-home/.meshbeam.XXXXXXXX)
fill root "$t0" c8fe612e7644cfca1cbaa9deadc52a0f46445a307a389c52567acdbf07a98596 400 <<'MESHBEAM_EOF'
(secret, 21 bytes)
MESHBEAM_EOF
commit root "$t0" /srv/mbapp-home/.erlang.cookie mbapp
t0=
remove /srv/app/releases/1.0/vm.args
remove /etc/meshbeam/nftables.nft
WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 run_logged wg-quick down mb0
rm -f -- /etc/wireguard/mb0.conf
nft delete table inet meshbeam
rm -f -- /etc/meshbeam/meshbeam_dist.erl
rm -f -- /etc/meshbeam/allowed
rmdir -- /etc/meshbeam/ebin 2>/dev/null || :
rm -rf -- /etc/meshbeam/backup; rmdir -- /etc/meshbeam 2>/dev/null || :
}
main
