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
  p=$1
  while :; do
    if [ -e "$p" ] || [ -L "$p" ]; then stat -c '%u %g %a' -- "$p"; fi
    case $p in /|.|'') return 0 ;; esac
    p=$(dirname -- "$p")
  done
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
[ -z "${t1:-}" ] || as_user root rm -f -- "$t1"
[ -z "${t2:-}" ] || as_user root rm -f -- "$t2"
[ -z "${t3:-}" ] || as_user root rm -f -- "$t3"
[ -z "${t4:-}" ] || as_user root rm -f -- "$t4"
[ -z "${t5:-}" ] || as_user root rm -f -- "$t5"
[ -z "${t6:-}" ] || as_user root rm -f -- "$t6"
[ -z "${t7:-}" ] || as_user root rm -f -- "$t7"
rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
run_logged() { "$@" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; return 1; }; }
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t0=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t0" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t1=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t1" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t2=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t2" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t3=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t3" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/wireguard
as_user root mkdir -p -- /etc/wireguard
t4=$(as_user root mktemp -- /etc/wireguard/.meshbeam.XXXXXXXX)
fill root "$t4" 618b6a19ff4dbb4c03ce8867a977dbaea539c0b664c88db7db17360bb348326a 600 <<'MESHBEAM_EOF'
(secret, 530 bytes)
MESHBEAM_EOF
same_actor root /srv/app/releases/1.0
as_user root mkdir -p -- /srv/app/releases/1.0
t5=$(as_user root mktemp -- /srv/app/releases/1.0/.meshbeam.XXXXXXXX)
fill root "$t5" 0fa82087a04d91156e6d22e2b6fb8036ffdccccc74a3b207dabbbd174918ba46 644 <<'MESHBEAM_EOF'
IyMgbWVzaGJlYW06YmVnaW4gKG1hbmFnZWQgYnkgbWVzaGJlYW07IGVkaXRzIGluc2lkZSBhcmUg
b3ZlcndyaXR0ZW4pCi1uYW1lIHdlYkAxOTguMTguMC4yCi1rZXJuZWwgaW5ldF9kaXN0X3VzZV9p
bnRlcmZhY2UgezE5OCwxOCwwLDJ9Ci1rZXJuZWwgaW5ldF9kaXN0X2xpc3Rlbl9taW4gOTEwMCBp
bmV0X2Rpc3RfbGlzdGVuX21heCA5MTAwCi1lbnYgRVJMX0VQTURfQUREUkVTUyAxOTguMTguMC4y
Ci1ldmFsICJvayA9IG5ldF9rZXJuZWw6YWxsb3coWydhcHBAMTk4LjE4LjAuMScsJ3dlYkAxOTgu
MTguMC4yJywnbGFwdG9wQDE5OC4xOC4wLjMnLCdtZXNoYmVhbV9jdGxAMTk4LjE4LjAuMiddKSIK
IyMgbWVzaGJlYW06ZW5kCg==
MESHBEAM_EOF
same_actor root /srv/mbapp-home
as_user root mkdir -p -- /srv/mbapp-home
t6=$(as_user root mktemp -- /srv/mbapp-home/.meshbeam.XXXXXXXX)
fill root "$t6" 942014af03195c97fc8a6121a03e1660b89027a538325a101eba426dacd7e587 400 <<'MESHBEAM_EOF'
(secret, 43 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam
as_user root mkdir -p -- /etc/meshbeam
t7=$(as_user root mktemp -- /etc/meshbeam/.meshbeam.XXXXXXXX)
fill root "$t7" a479e4b302f8a20357da4ae9ab21f847b8b7a9d09ff414bd2e4dc33f6b42dd80 644 <<'MESHBEAM_EOF'
dGFibGUgaW5ldCBtZXNoYmVhbSB7fQpkZWxldGUgdGFibGUgaW5ldCBtZXNoYmVhbQp0YWJsZSBp
bmV0IG1lc2hiZWFtIHsKCWNoYWluIGlucHV0IHsKCQl0eXBlIGZpbHRlciBob29rIGlucHV0IHBy
aW9yaXR5IDA7IHBvbGljeSBhY2NlcHQ7CgkJaWlmICJsbyIgYWNjZXB0CgkJaWlmbmFtZSAibWIw
IiBpcCBzYWRkciAxOTguMTguMC4wLzI0IHRjcCBkcG9ydCB7IDQzNjksIDkxMDAgfSBhY2NlcHQK
CQl0Y3AgZHBvcnQgeyA0MzY5LCA5MTAwIH0gZHJvcAoJCXVkcCBkcG9ydCA1MTgyMCBhY2NlcHQK
CX0KfQo=
MESHBEAM_EOF
commit root "$t0" /etc/meshbeam/backup/d7e3d17c8a0c32d5e6418c82513263f60a34893f53e19aae1d1bcc10183ad91e root
t0=
commit root "$t1" /etc/meshbeam/backup/603c2ac7908f47465423afa933ba1a49db8865bf17523add05120dc945f3df10 root
t1=
commit root "$t2" /etc/meshbeam/backup/edc02a6abcf3daf7e615018adb6a7e317bdc5414b2ac209e449542b2a176a908 root
t2=
commit root "$t3" /etc/meshbeam/backup/d5951fd81283da237babc41c3deee11e0cd0e6df773b0a2c158dc53ad3266bed root
t3=
commit root "$t4" /etc/wireguard/mb0.conf root
t4=
commit root "$t5" /srv/app/releases/1.0/vm.args mbapp
t5=
commit root "$t6" /srv/mbapp-home/.erlang.cookie mbapp
t6=
commit root "$t7" /etc/meshbeam/nftables.nft root
t7=
wg-quick strip mb0 > "$work/stripped" && wg syncconf mb0 "$work/stripped"
ip -4 addr del 198.18.0.9/24 dev mb0; ip -4 addr replace 198.18.0.2/24 dev mb0
nft -f /etc/meshbeam/nftables.nft
mkdir -p "$work/home"
read_owned /srv/mbapp-home/.erlang.cookie > "$work/home/.erlang.cookie"
chmod 400 "$work/home/.erlang.cookie"
HOME="$work/home" run_logged erl -noshell -hidden -dist_listen false -start_epmd false -name meshbeam_ctl@198.18.0.2 -eval 'T = '"'"'web@198.18.0.2'"'"', case net_adm:ping(T) of pang -> io:format("~s not running; its next boot reads vm.args~n", [T]); pong -> {ok, Cur} = rpc:call(T, net_kernel, allowed, []), New = ['"'"'app@198.18.0.1'"'"','"'"'web@198.18.0.2'"'"','"'"'laptop@198.18.0.3'"'"','"'"'meshbeam_ctl@198.18.0.2'"'"'] -- Cur, ok = rpc:call(T, net_kernel, allow, [New]), io:format("allowed ~p on ~s~n", [New, T]) end, halt().'
cat "$work/log"
}
main
