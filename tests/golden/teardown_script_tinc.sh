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
owners() {  # the uid, gid and mode of every existing directory from $1 up to /, links not followed; then
            # the same from where $1 leads (readlink -m), unless $1 is absolute, plain and crosses no link
  p=$1
  case $p in /*/./*|*/.|*/../*|*/..|[!/]*|'') resolve=yes ;; *) resolve=no ;; esac
  while :; do
    if [ -L "$p" ]; then resolve=yes; set -- "$@" "$p"; elif [ -e "$p" ]; then set -- "$@" "$p"; fi
    case $p in /|.|'') ;; *) parent; continue ;; esac
    [ "$resolve" = yes ] || break
    resolve=done
    p=$(readlink -m -- "$1") || p=
  done
  shift
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
actor() {  # actor DIR: who=root, the one user who owns DIR or a directory above it, or unsafe
  set -- $(owners "$1")  # numbers only: "uid gid mode" for each directory
  who=
  while [ $# -ge 3 ]; do
    m=$((0$3))  # a root directory others (or a group besides root's) may write, without the sticky bit
    if [ "$1" = 0 ] && [ $((m & 01000)) = 0 ] && { [ $((m & 2)) != 0 ] || { [ "$2" != 0 ] && [ $((m & 020)) != 0 ]; }; }
    then who=unsafe; return
    fi
    if [ "$1" != 0 ]; then
      if [ -n "$who" ] && [ "$who" != "$1" ]; then who=unsafe; return; fi
      who=$1
    fi
    shift 3
  done
  case $who in
    '') who=root ;;
    *) who=$(getent passwd "$who") || who=; who=${who%%:*}; who=${who:-unsafe} ;;
  esac
}
read_owned() {  # read_owned FILE: its contents, read as the one who may act in its directory, never through a link
  p=$1; parent; actor "$p"
  as_user "$who" sh -c '[ ! -L "$1" ] && [ -f "$1" ] && cat -- "$1"' sh "$1"
}
home_of() {  # home_of USER: home=USER's home directory as passwd gives it; fails when there is none
  home=$(getent passwd "$1") || return 1
  home=${home#*:*:*:*:*:}; home=${home%%:*}
  [ -n "$home" ]
}
same_actor() {  # same_actor USER DIR: fail unless USER is still the one who may act in DIR
  actor "$2"
  [ "$who" = "$1" ] || { echo "meshbeam: the owners of $2 changed since the plan was made" >&2; return 1; }
}
stage_dir() {  # stage_dir USER DIR: same_actor, then make DIR as USER if it is missing
  same_actor "$1" "$2" || return 1
  case $1 in
    root) [ -d "$2" ] || mkdir -p -- "$2" ;;
    *) as_user "$1" mkdir -p -- "$2" ;;
  esac
}
fill_body='base64 -d > "$1" && fill_sum=$(sha256sum < "$1") && [ "$fill_sum" = "$2  -" ] &&
  { [ "$3" = 600 ] || chmod "$3" "$1"; }'
fill() {  # fill USER TEMP SHA256 MODE < base64: decode into TEMP, check its hash, set its mode (mktemp made it 600)
  case $1 in
    root) shift; eval "$fill_body" ;;
    *) as_user "$1" sh -c "$fill_body" sh "$2" "$3" "$4" ;;
  esac
}
commit_body='if [ -L "$2" ] || { [ -e "$2" ] && [ ! -f "$2" ]; }; then
    echo "meshbeam: $2 is a symbolic link or not a regular file: not replaced" >&2; false
  else
    { [ -z "$3" ] || chown -h -- "$3" "$1"; } && mv -T -f -- "$1" "$2"
  fi'
commit() {  # commit USER TEMP TARGET OWNER: rename TEMP over TARGET, which must be a regular file or absent
  case $1 in
    root) shift; eval "$commit_body" ;;
    *) as_user "$1" sh -c "$commit_body" sh "$2" "$3" "$4" ;;
  esac
}
remove() {  # remove FILE: unlink it (a link itself, never its target) as the one who may act in its directory
  p=$1; parent; actor "$p"
  as_user "$who" rm -f -- "$1"
}

work=$(mktemp -d)
cleanup() {
[ -z "${t0:-}" ] || as_user root rm -f -- "$t0"
rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
run_logged() { "$@" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; return 1; }; }
stage_dir root /srv/mbapp-home
t0=$(as_user root mktemp -- /srv/mbapp-home/.meshbeam.XXXXXXXX)
fill root "$t0" c8fe612e7644cfca1cbaa9deadc52a0f46445a307a389c52567acdbf07a98596 400 <<'MESHBEAM_EOF'
(secret, 21 bytes)
MESHBEAM_EOF
commit root "$t0" /srv/mbapp-home/.erlang.cookie mbapp
t0=
remove /srv/app/releases/1.0/vm.args
remove /etc/meshbeam/nftables.nft
tincd -n mb0 -k; i=0; while [ -f /run/tinc.mb0.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
rm -rf -- /etc/tinc/mb0
nft delete table inet meshbeam
rm -f -- /etc/meshbeam/meshbeam_dist.erl
rm -f -- /etc/meshbeam/allowed
rmdir -- /etc/meshbeam/ebin 2>/dev/null || :
rm -rf -- /etc/meshbeam/backup; rmdir -- /etc/meshbeam 2>/dev/null || :
}
main
