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
[ -z "${t1:-}" ] || as_user root rm -f -- "$t1"
[ -z "${t2:-}" ] || as_user root rm -f -- "$t2"
[ -z "${t3:-}" ] || as_user root rm -f -- "$t3"
[ -z "${t4:-}" ] || as_user root rm -f -- "$t4"
[ -z "${t5:-}" ] || as_user root rm -f -- "$t5"
[ -z "${t6:-}" ] || as_user root rm -f -- "$t6"
[ -z "${t7:-}" ] || as_user root rm -f -- "$t7"
[ -z "${t8:-}" ] || as_user root rm -f -- "$t8"
[ -z "${t9:-}" ] || as_user root rm -f -- "$t9"
[ -z "${t10:-}" ] || as_user root rm -f -- "$t10"
[ -z "${t11:-}" ] || as_user root rm -f -- "$t11"
[ -z "${t12:-}" ] || as_user root rm -f -- "$t12"
[ -z "${t13:-}" ] || as_user root rm -f -- "$t13"
[ -z "${t14:-}" ] || as_user root rm -f -- "$t14"
[ -z "${t15:-}" ] || as_user root rm -f -- "$t15"
[ -z "${t16:-}" ] || as_user root rm -f -- "$t16"
[ -z "${t17:-}" ] || as_user root rm -f -- "$t17"
[ -z "${t18:-}" ] || as_user root rm -f -- "$t18"
[ -z "${t19:-}" ] || as_user root rm -f -- "$t19"
[ -z "${t20:-}" ] || as_user root rm -f -- "$t20"
rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
run_logged() { "$@" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; return 1; }; }
stage_dir root /etc/meshbeam/backup
t0=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t0" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t1=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t1" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t2=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t2" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t3=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t3" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t4=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t4" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t5=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t5" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t6=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t6" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t7=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t7" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
t8=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t8" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
stage_dir root /etc/tinc/mb0
t9=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t9" ab0e95e24d38e46d936ae21d3fbd5c828ce6a2c272063b3eeff35dee391dc268 644 <<'MESHBEAM_EOF'
IyB0aW5jLmNvbmYgb2YgczIgaW4gbmV0IG1iMCwgd3JpdHRlbiBieSBtZXNoYmVhbTogZWRpdCB0
aGUgaW52ZW50b3J5LCBub3QgdGhpcyBmaWxlCk5hbWUgPSBzMgpJbnRlcmZhY2UgPSBtYjAKTW9k
ZSA9IHJvdXRlcgpBZGRyZXNzRmFtaWx5ID0gaXB2NApQb3J0ID0gNTE4MjAKUGluZ0ludGVydmFs
ID0gMTAKUGluZ1RpbWVvdXQgPSAzCktleUV4cGlyZSA9IDMwCkNvbm5lY3RUbyA9IHMxCg==
MESHBEAM_EOF
t13=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t13" dca99bd248a66022e6a06208bb3720485361c32579a9724ea5683354e7e9f6b4 600 <<'MESHBEAM_EOF'
(secret, 1679 bytes)
MESHBEAM_EOF
t14=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t14" c5f6d8ec2354377b8ba98325d78d0d9825fe2440eaabf2381dbb6421c1c55f9a 755 <<'MESHBEAM_EOF'
IyEvYmluL3NoCmlwIGxpbmsgc2V0ICIkSU5URVJGQUNFIiB1cAppcCBhZGRyIGFkZCAxOTguMTgu
MC4yLzI0IGRldiAiJElOVEVSRkFDRSIK
MESHBEAM_EOF
t15=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t15" 6e208ab9a7faf8a13aef9a3c2d90de92d5000dda5534ccd26c29d2bdafddbe78 755 <<'MESHBEAM_EOF'
IyEvYmluL3NoCmlwIGFkZHIgZGVsIDE5OC4xOC4wLjIvMjQgZGV2ICIkSU5URVJGQUNFIgppcCBs
aW5rIHNldCAiJElOVEVSRkFDRSIgZG93bgo=
MESHBEAM_EOF
stage_dir root /etc/tinc/mb0/hosts
t10=$(as_user root mktemp -- /etc/tinc/mb0/hosts/.meshbeam.XXXXXXXX)
fill root "$t10" 3843e2727164b32350a8b15e5ecab60efeb4044020290b3050e7491c6a038bff 644 <<'MESHBEAM_EOF'
IyBob3N0cy9sYXB0b3Agb2YgbWVtYmVyIGxhcHRvcCwgd3JpdHRlbiBieSBtZXNoYmVhbTogZWRp
dCB0aGUgaW52ZW50b3J5LCBub3QgdGhpcyBmaWxlClN1Ym5ldCA9IDE5OC4xOC4wLjMvMzIKCi0t
LS0tQkVHSU4gUlNBIFBVQkxJQyBLRVktLS0tLQpNSUlCQ2dLQ0FRRUF5N29hQ3Z1UWdKTHZ6Rjd6
N3JmK3FKcjVwNDlXK2N6RGVnKzlsZ1Z6SFpPWk9Obmd6R241CjNMaFEwNjZHdzZ5dEs3UWxKQUtS
TFBKdU9TS2x1elBFcFByYUtnS0hoRnF1V1NzeFRCTFlXVUY4Z3A1WkFMc3AKc2ZidGxCSjByNVYz
VFNwa1BFNzYxditKUCtlckN6TGt1V1JzQWlnNjQ4bnNrSldDWVN5T0FLbGhwZ1lidnM5aworbWV2
akJtZnE1UjZNaUc3NnJsOFA2L1NzbEtqUzJtTjdJaFJhUXE3R2VXRmNVSjZkazdWb29qQW0vT3cw
VE1FCnF6Z0dTbXliTTI0aW9SSWtXa1JPQm5icEdZRjJTcFBDcW5LZjkvU0UzMjNxc3g5ejE1NjZD
R01rYjcwMkh5MzAKYjhETzdMdm81UEtxd0Fna21uODFFME1zMGRUdWV1K2NzUUlEQVFBQgotLS0t
LUVORCBSU0EgUFVCTElDIEtFWS0tLS0tCg==
MESHBEAM_EOF
t11=$(as_user root mktemp -- /etc/tinc/mb0/hosts/.meshbeam.XXXXXXXX)
fill root "$t11" 1c41c76d82efe9116fc9ae09fad0096a996ef793611f328265500261e9aaa9f5 644 <<'MESHBEAM_EOF'
IyBob3N0cy9zMSBvZiBtZW1iZXIgczEsIHdyaXR0ZW4gYnkgbWVzaGJlYW06IGVkaXQgdGhlIGlu
dmVudG9yeSwgbm90IHRoaXMgZmlsZQpBZGRyZXNzID0gMTk4LjUxLjEwMC4xMSA1MTgyMApTdWJu
ZXQgPSAxOTguMTguMC4xLzMyCgotLS0tLUJFR0lOIFJTQSBQVUJMSUMgS0VZLS0tLS0KTUlJQkNn
S0NBUUVBcGVxWmFNR05taUdXUitEbG5wdjRvd0JuVEROQ3V4M3Q4NHMwRjNJS0ZWUkI0cUg1VDNG
eAo1aXlXUUF4WXpTREdySU9kekwrQU5wN0FIdWRpU05NMEFrdStHRDhpZU1JdHpxUjN5bUpDVVdP
WThLc0swWlpwCkpMeTNDVFVWU2lDVVVNT1RtKzVVOE5FVDNUYndRZmxWZ2xFNGw3OUNUWHBVY1Bk
RVdHYTZFTDVoSmtNVVpZNTkKSHZsZHBHOGxObHN1RStabkl6cnpoTGQwYnZGaVQvUDNrdHg0OTFu
VUh2ODF0QUltaTM3ZTU1SzArczhWaVYvUQpWbjh5QTgrZGlYVEdsbmFKWXpkRWdxYUFZVnJYVFFl
NnhtS1dRNDFkb2w1VTJpdXFUZ1hDMlVqNk5pR241QTZaCk53dEh6Snh6VWJnYTRiWW1DZlBWd210
dVFPUmNUcm1JQVFJREFRQUIKLS0tLS1FTkQgUlNBIFBVQkxJQyBLRVktLS0tLQo=
MESHBEAM_EOF
t12=$(as_user root mktemp -- /etc/tinc/mb0/hosts/.meshbeam.XXXXXXXX)
fill root "$t12" d0e64052b82c65154b769e142f64dc03d192a349c3b4681048b97a9b1b334876 644 <<'MESHBEAM_EOF'
IyBob3N0cy9zMiBvZiBtZW1iZXIgczIsIHdyaXR0ZW4gYnkgbWVzaGJlYW06IGVkaXQgdGhlIGlu
dmVudG9yeSwgbm90IHRoaXMgZmlsZQpBZGRyZXNzID0gMTk4LjUxLjEwMC4xMiA1MTgyMApTdWJu
ZXQgPSAxOTguMTguMC4yLzMyCgotLS0tLUJFR0lOIFJTQSBQVUJMSUMgS0VZLS0tLS0KTUlJQkNn
S0NBUUVBcjgvcHMzMzZObGRiUkNGZEpIZHNObXhVNTZENHByWWE4ZytmOElCaXdGcGtONy9XRnhE
WgpldU9YVWluSjZYVTBzVExTNE9EMW9ScFQ2SEdKK0NZT1grVkJodW43a2l5MU5qbXpFSDRYR3Vt
ZmtjOUhhdURSCldsQlVCeHpza2lERFhKNGJTb0Z6cklzUDQ2NiszOHQ4K3J0NDNGZnZPcmhoemdI
NVQzQ1BaVGxybi9IVGF0R24KTVU0UjhLRm1zSzF2NmNKMWR4Z3VZVUQ0WHZoeG5abEVkckRBaSs1
VUk5NlR6WWlCVE8xZkUxczZ0Mkt3VDhGSAoxUG1CUmdpOXN0bExGZlhMYnVBbGE1eDVGdzlNTUUv
aHRCRU1PbUpSYlN2eUUvdHJ3V0NKTlNEVE82cEtuUkg2Cll6TkRNOGtEbis0WkJYU2lkWmU0aEdh
cHhTd01IUldJUHdJREFRQUIKLS0tLS1FTkQgUlNBIFBVQkxJQyBLRVktLS0tLQo=
MESHBEAM_EOF
stage_dir root /srv/app/releases/1.0
t16=$(as_user root mktemp -- /srv/app/releases/1.0/.meshbeam.XXXXXXXX)
fill root "$t16" bd7e63537921bc8ca383ff76cb6d5b9d4916211028018fea6184afa6a5a5a699 644 <<'MESHBEAM_EOF'
IyMgbWVzaGJlYW06YmVnaW4gKG1hbmFnZWQgYnkgbWVzaGJlYW07IGVkaXRzIGluc2lkZSBhcmUg
b3ZlcndyaXR0ZW4pCi1uYW1lIHdlYkAxOTguMTguMC4yCi1rZXJuZWwgaW5ldF9kaXN0X3VzZV9p
bnRlcmZhY2UgezE5OCwxOCwwLDJ9Ci1rZXJuZWwgaW5ldF9kaXN0X2xpc3Rlbl9taW4gOTEwMCBp
bmV0X2Rpc3RfbGlzdGVuX21heCA5MTAwCi1lbnYgRVJMX0VQTURfQUREUkVTUyAxOTguMTguMC4y
Ci1wcm90b19kaXN0IG1lc2hiZWFtCi1wYSAvZXRjL21lc2hiZWFtL2ViaW4KLWV2YWwgIm9rID0g
bmV0X2tlcm5lbDphbGxvdyhbJ2FwcEAxOTguMTguMC4xJywnd2ViQDE5OC4xOC4wLjInLCdsYXB0
b3BAMTk4LjE4LjAuMycsJ21lc2hiZWFtX2N0bEAxOTguMTguMC4yJ10pIgojIyBtZXNoYmVhbTpl
bmQK
MESHBEAM_EOF
stage_dir root /srv/mbapp-home
t17=$(as_user root mktemp -- /srv/mbapp-home/.meshbeam.XXXXXXXX)
fill root "$t17" 942014af03195c97fc8a6121a03e1660b89027a538325a101eba426dacd7e587 400 <<'MESHBEAM_EOF'
(secret, 43 bytes)
MESHBEAM_EOF
stage_dir root /etc/meshbeam
t18=$(as_user root mktemp -- /etc/meshbeam/.meshbeam.XXXXXXXX)
fill root "$t18" a479e4b302f8a20357da4ae9ab21f847b8b7a9d09ff414bd2e4dc33f6b42dd80 644 <<'MESHBEAM_EOF'
dGFibGUgaW5ldCBtZXNoYmVhbSB7fQpkZWxldGUgdGFibGUgaW5ldCBtZXNoYmVhbQp0YWJsZSBp
bmV0IG1lc2hiZWFtIHsKCWNoYWluIGlucHV0IHsKCQl0eXBlIGZpbHRlciBob29rIGlucHV0IHBy
aW9yaXR5IDA7IHBvbGljeSBhY2NlcHQ7CgkJaWlmICJsbyIgYWNjZXB0CgkJaWlmbmFtZSAibWIw
IiBpcCBzYWRkciAxOTguMTguMC4wLzI0IHRjcCBkcG9ydCB7IDQzNjksIDkxMDAgfSBhY2NlcHQK
CQl0Y3AgZHBvcnQgeyA0MzY5LCA5MTAwIH0gZHJvcAoJCXVkcCBkcG9ydCA1MTgyMCBhY2NlcHQK
CX0KfQo=
MESHBEAM_EOF
t19=$(as_user root mktemp -- /etc/meshbeam/.meshbeam.XXXXXXXX)
fill root "$t19" e7a84bb0cd93aa62d73b03a8f30f437880463ad6ec84411e9c2eb39468eab3cd 644 <<'MESHBEAM_EOF'
JSUgbWVzaGJlYW1fZGlzdDogRXJsYW5nIGRpc3RyaWJ1dGlvbiBvdmVyIFRDUCAoaW5ldF90Y3Bf
ZGlzdCkgdGhhdCBiaW5kcyBhIG5vZGUncyBuYW1lCiUlIHRvIHRoZSBhZGRyZXNzIGl0cyBjb25u
ZWN0aW9uIGNvbWVzIGZyb20uCiUlCiUlIFN0YXJ0ZWQgd2l0aCBgLXByb3RvX2Rpc3QgbWVzaGJl
YW0gLXBhIERJUmAgKE9UUCBtYXBzIHRoZSBwcm90b2NvbCBgbWVzaGJlYW1gIHRvIHRoZQolJSBt
b2R1bGUgYG1lc2hiZWFtX2Rpc3RgKS4gRXZlcnkgY2FsbGJhY2sgaXMgaW5ldF90Y3BfZGlzdCdz
LCBleGNlcHQgYWNjZXB0X2Nvbm5lY3Rpb24vNS4KJSUKJSUgV2h5OiBkaXN0X3V0aWwgY2hlY2tz
IHRoZSBuYW1lIGEgcGVlciBjbGFpbXMgYWdhaW5zdCB0aGUgYWxsb3cgbGlzdCwgbmV2ZXIgdGhl
IGFkZHJlc3MKJSUgdGhlIGNvbm5lY3Rpb24gY29tZXMgZnJvbSwgc28gYW55b25lIGhvbGRpbmcg
dGhlIGNvb2tpZSBjYW4gY2xhaW0gYSBsaXN0ZWQgbmFtZTsgYW5kIGFuCiUlIGFsbG93IGxpc3Qg
c2V0IGJ5IGAtZXZhbCAibmV0X2tlcm5lbDphbGxvdyguLi4pImAgb25seSBhcHBsaWVzIG9uY2Ug
dGhhdCBleHByZXNzaW9uIGhhcwolJSBydW4sIGFmdGVyIGRpc3RyaWJ1dGlvbiBpcyBhbHJlYWR5
IGxpc3RlbmluZy4gT24gYSBXaXJlR3VhcmQgbWVzaCBlYWNoIHBlZXIgb3ducyBvbmUKJSUgLzMy
IGFuZCB0aGUgdHVubmVsIGF1dGhlbnRpY2F0ZXMgdGhlIHNvdXJjZSBhZGRyZXNzIG9mIGV2ZXJ5
IHBhY2tldCwgc28gcmVxdWlyaW5nIHRoZQolJSBob3N0IHBhcnQgb2YgdGhlIGNsYWltZWQgbmFt
ZSB0byBiZSB0aGUgY29ubmVjdGlvbidzIHNvdXJjZSBhZGRyZXNzIGJpbmRzIHRoZSBuYW1lIHRv
CiUlIHRoYXQgcGVlcidzIGtleS4gVGhlIGFsbG93ZWQgbmFtZXMgYXJlIHJlYWQgZnJvbSBhIGZp
bGUgYXQgZXZlcnkgYWNjZXB0ZWQgY29ubmVjdGlvbiwKJSUgc28gdGhleSBhcHBseSBmcm9tIHRo
ZSBmaXJzdCBjb25uZWN0aW9uIGF0IGJvb3QsIGFuZCBhIG1lbWJlciByZW1vdmVkIGZyb20gdGhl
IGZpbGUgaXMKJSUgcmVmdXNlZCBmcm9tIGl0cyBuZXh0IGNvbm5lY3Rpb24gb24sIHdpdGhvdXQg
YSByZXN0YXJ0LgolJQolJSBUaGUgYWxsb3dlZCBmaWxlIChkZWZhdWx0IC9ldGMvbWVzaGJlYW0v
YWxsb3dlZCwgb3IgYC1tZXNoYmVhbSBhbGxvd2VkX2ZpbGUgUEFUSGApIGhvbGRzCiUlIG9uZSBm
dWxsIG5vZGUgbmFtZSBwZXIgbGluZSwgTkFNRUBJUEFERFJFU1MsIHRoZSBhZGRyZXNzIHdyaXR0
ZW4gYXMgaW5ldDpudG9hLzEgd3JpdGVzCiUlIGl0LiBCbGFuayBsaW5lcyBhbmQgbGluZXMgc3Rh
cnRpbmcgd2l0aCAjIGFyZSBpZ25vcmVkOyBhIG5hbWUgd2hvc2UgaG9zdCBwYXJ0IGlzIG5vdCBh
bgolJSBhZGRyZXNzIG5ldmVyIG1hdGNoZXMgKGEgRE5TIG5hbWUgaXMgbm90IGJvdW5kIHRvIGEg
a2V5KS4gQSBtaXNzaW5nIG9yIHVucmVhZGFibGUgZmlsZQolJSByZWZ1c2VzIGV2ZXJ5IGluY29t
aW5nIGNvbm5lY3Rpb24uCiUlCiUlIE91dGdvaW5nIGNvbm5lY3Rpb25zLCBFUE1ELWxlc3MgbW9k
ZSAoLXN0YXJ0X2VwbWQgZmFsc2UgLWVybF9lcG1kX3BvcnQgUCksIGhpZGRlbiBub2RlcwolJSBh
bmQgLWRpc3RfbGlzdGVuIGZhbHNlIG5vZGVzIGJlaGF2ZSBleGFjdGx5IGFzIHdpdGggaW5ldF90
Y3BfZGlzdC4KJSUKJSUgbWVzaGJlYW1fZGlzdDpyZWZ1c2VkKCkgbGlzdHMgcmVmdXNlZCBjb25u
ZWN0aW9uIGF0dGVtcHRzIGFzIHtDbGFpbWVkTmFtZSwgU291cmNlSVAsIENvdW50fS4KLW1vZHVs
ZShtZXNoYmVhbV9kaXN0KS4KCiUlIERpc3RyaWJ1dGlvbiBjYWxsYmFja3MgKHRoZSBwdWJsaWMg
QVBJIG9mIGluZXRfdGNwX2Rpc3Qgb24gT1RQIDI1IHRvIDI3KS4KLWV4cG9ydChbbGlzdGVuLzEs
IGxpc3Rlbi8yLCBhY2NlcHQvMSwgYWNjZXB0X2Nvbm5lY3Rpb24vNSwgc2V0dXAvNSwgY2xvc2Uv
MSwKICAgICAgICAgc2VsZWN0LzEsIGFkZHJlc3MvMCwgaXNfbm9kZV9uYW1lLzEsIHNldG9wdHMv
MiwgZ2V0b3B0cy8yXSkuCi1leHBvcnQoW3JlZnVzZWQvMF0pLgolJSBBIGxvZ2dlciBoYW5kbGVy
OiB0aGUgb25seSBwbGFjZSB3aGVyZSB0aGUgbmFtZSBhIHJlZnVzZWQgcGVlciBjbGFpbWVkIGNh
biBiZSBzZWVuLgotZXhwb3J0KFtsb2cvMl0pLgolJSBUaGUgcHJvY2VzcyB0aGF0IG93bnMgdGhl
IHRhYmxlIG9mIHBlbmRpbmcgYW5kIHJlZnVzZWQgY29ubmVjdGlvbnMuCi1leHBvcnQoW2hvbGRl
ci8yXSkuCgotZGVmaW5lKFRBQkxFLCBtZXNoYmVhbV9kaXN0KS4KLWRlZmluZShIT0xERVIsIG1l
c2hiZWFtX2Rpc3QpLgotZGVmaW5lKERFRkFVTFRfRklMRSwgIi9ldGMvbWVzaGJlYW0vYWxsb3dl
ZCIpLgolJSBBbiBhbGxvdyBsaXN0IGVudHJ5IHRoYXQgYWRtaXRzIG5vYm9keTogJ0AnIHNwbGl0
cyBpbnRvIGFuIGVtcHR5IG5hbWUgYW5kIGFuIGVtcHR5IGhvc3QsCiUlIHNvIGRpc3RfdXRpbCBt
YXRjaGVzIGl0IGFnYWluc3Qgbm8gbmFtZSwgYW5kIGEgcGVlciBjYW5ub3QgY2xhaW0gaXQgKGRp
c3RfdXRpbCByZWZ1c2VzIGEKJSUgY2xhaW1lZCBuYW1lIHdpdGggYW4gZW1wdHkgcGFydCkuIEFu
IGVtcHR5IGxpc3Qgd291bGQgYWxsb3cgZXZlcnlvbmUuCi1kZWZpbmUoTk9CT0RZLCAnQCcpLgol
JSBSZWZ1c2VkIG5hbWVzIGFyZSBhdHRhY2tlci1jaG9zZW46IGJvdW5kIHdoYXQgb25lIHBlZXIg
Y2FuIG1ha2UgdGhpcyBub2RlIHN0b3JlLgotZGVmaW5lKE1BWF9ST1dTLCAxMDAwKS4KJSUgVGhl
IGxvbmdlc3Qgbm9kZSBuYW1lIGtlcHQgb3IgbG9nZ2VkIChhbiBhdG9tIGhvbGRzIGF0IG1vc3Qg
MjU1IGNoYXJhY3RlcnMpLgotZGVmaW5lKE1BWF9OQU1FLCAyNTUpLgoKbGlzdGVuKE5hbWUpIC0+
IGluZXRfdGNwX2Rpc3Q6bGlzdGVuKE5hbWUpLgpsaXN0ZW4oTmFtZSwgSG9zdCkgLT4gaW5ldF90
Y3BfZGlzdDpsaXN0ZW4oTmFtZSwgSG9zdCkuCmFjY2VwdChMaXN0ZW4pIC0+IGluZXRfdGNwX2Rp
c3Q6YWNjZXB0KExpc3RlbikuCnNldHVwKE5vZGUsIFR5cGUsIE15Tm9kZSwgTG9uZ09yU2hvcnRO
YW1lcywgU2V0dXBUaW1lKSAtPgogICAgaW5ldF90Y3BfZGlzdDpzZXR1cChOb2RlLCBUeXBlLCBN
eU5vZGUsIExvbmdPclNob3J0TmFtZXMsIFNldHVwVGltZSkuCmNsb3NlKFNvY2tldCkgLT4gaW5l
dF90Y3BfZGlzdDpjbG9zZShTb2NrZXQpLgpzZWxlY3QoTm9kZSkgLT4gaW5ldF90Y3BfZGlzdDpz
ZWxlY3QoTm9kZSkuCmFkZHJlc3MoKSAtPiBpbmV0X3RjcF9kaXN0OmFkZHJlc3MoKS4KaXNfbm9k
ZV9uYW1lKE5vZGUpIC0+IGluZXRfdGNwX2Rpc3Q6aXNfbm9kZV9uYW1lKE5vZGUpLgpzZXRvcHRz
KFMsIE9wdHMpIC0+IGluZXRfdGNwX2Rpc3Q6c2V0b3B0cyhTLCBPcHRzKS4KZ2V0b3B0cyhTLCBP
cHRzKSAtPiBpbmV0X3RjcF9kaXN0OmdldG9wdHMoUywgT3B0cykuCgolJSBSdW5zIGluIHRoZSBu
ZXRfa2VybmVsIHByb2Nlc3MsIGZvciBldmVyeSBpbmNvbWluZyBjb25uZWN0aW9uOiBrZWVwIGl0
IHNtYWxsIGFuZCBuZXZlcgolJSBsZXQgaXQgY3Jhc2ggKGEgY3Jhc2ggaGVyZSB3b3VsZCB0YWtl
IGRpc3RyaWJ1dGlvbiBkb3duKS4KJSUKJSUgbmV0X2tlcm5lbCdzIG93biBsaXN0IChBbGxvd2Vk
LCBmcm9tIG5ldF9rZXJuZWw6YWxsb3cvMSkgaXMgaW50ZXJzZWN0ZWQgd2l0aCB0aGUgZmlsZSdz
LAolJSBub3QgaWdub3JlZDogYSBuYW1lIG11c3QgYmUgb24gYm90aCB0byBiZSBsZXQgaW4uIFdo
b2V2ZXIgc2V0IHRoYXQgbGlzdCBtZWFudCB0byBuYXJyb3cKJSUgd2hvIG1heSBjb25uZWN0OyBk
cm9wcGluZyBpdCB3b3VsZCB3aWRlbiBhY2Nlc3MgYmVoaW5kIHRoZWlyIGJhY2suIE5hbWVzIGFy
ZSBjb21wYXJlZAolJSBleGFjdGx5IHRoZXJlIChkaXN0X3V0aWwgd291bGQgYWxzbyBhY2NlcHQg
aG9zdC1vbmx5IGVudHJpZXMpOiBzdHJpY3RlciwgbmV2ZXIgd2lkZXIuCmFjY2VwdF9jb25uZWN0
aW9uKEFjY2VwdFBpZCwgU29ja2V0LCBNeU5vZGUsIEFsbG93ZWQsIFNldHVwVGltZSkgLT4KICAg
IGVuc3VyZV9ob2xkZXIoKSwKICAgIHtJUCwgTmFtZXN9ID0gdHJ5IGFsbG93ZWRfZm9yKFNvY2tl
dCwgQWxsb3dlZCkKICAgICAgICAgICAgICAgICAgY2F0Y2ggQ2xhc3M6UmVhc29uIC0+CiAgICAg
ICAgICAgICAgICAgICAgICAgICAgbG9nZ2VyOmVycm9yKCJtZXNoYmVhbV9kaXN0OiByZWZ1c2lu
ZyBhIGNvbm5lY3Rpb246IH5wOn5wIiwgW0NsYXNzLCBSZWFzb25dKSwKICAgICAgICAgICAgICAg
ICAgICAgICAgICB7dW5kZWZpbmVkLCBbP05PQk9EWV19CiAgICAgICAgICAgICAgICAgIGVuZCwK
ICAgIFBpZCA9IGluZXRfdGNwX2Rpc3Q6YWNjZXB0X2Nvbm5lY3Rpb24oQWNjZXB0UGlkLCBTb2Nr
ZXQsIE15Tm9kZSwgTmFtZXMsIFNldHVwVGltZSksCiAgICB3YXRjaChQaWQsIElQLCBOYW1lcyks
CiAgICBQaWQuCgolJSBbe0NsYWltZWROYW1lLCBTb3VyY2VJUCwgQ291bnR9XSBvZiByZWZ1c2Vk
IGNvbm5lY3Rpb24gYXR0ZW1wdHMgc2luY2UgdGhlIGZpcnN0CiUlIGNvbm5lY3Rpb24gdGhpcyBu
b2RlIGFjY2VwdGVkLgotc3BlYyByZWZ1c2VkKCkgLT4gW3tiaW5hcnkoKSwgaW5ldDppcF9hZGRy
ZXNzKCksIHBvc19pbnRlZ2VyKCl9XS4KcmVmdXNlZCgpIC0+CiAgICB0cnkgZXRzOm1hdGNoKD9U
QUJMRSwge3tyZWZ1c2VkLCAnJDEnLCAnJDInfSwgJyQzJ30pIG9mCiAgICAgICAgUm93cyAtPiBs
aXN0czpzb3J0KFt7TmFtZSwgSVAsIENvdW50fSB8fCBbTmFtZSwgSVAsIENvdW50XSA8LSBSb3dz
XSkKICAgIGNhdGNoIGVycm9yOmJhZGFyZyAtPiBbXQogICAgZW5kLgoKJSUgLS0tIHRoZSBhbGxv
dyBsaXN0IGZvciBvbmUgY29ubmVjdGlvbiAtLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0t
LS0tLS0tLS0tLS0tLS0tLS0tCgphbGxvd2VkX2ZvcihTb2NrZXQsIEtlcm5lbEFsbG93ZWQpIC0+
CiAgICBjYXNlIGluZXQ6cGVlcm5hbWUoU29ja2V0KSBvZgogICAgICAgIHtvaywge0lQLCBfUG9y
dH19IC0+IHtJUCwgbmFycm93KElQLCByZWFkX2xpbmVzKCksIEtlcm5lbEFsbG93ZWQpfTsKICAg
ICAgICB7ZXJyb3IsIF99IC0+IHt1bmRlZmluZWQsIFs/Tk9CT0RZXX0KICAgIGVuZC4KCm5hcnJv
dyhJUCwgTGluZXMsIEtlcm5lbEFsbG93ZWQpIC0+CiAgICAlJSBUaGUgaG9zdCBwYXJ0IGlzIGNv
bXBhcmVkIGFzIHRleHQgd2l0aCB0aGUgYWRkcmVzcydzIGNhbm9uaWNhbCBmb3JtICh3aGF0IG1l
c2hiZWFtCiAgICAlJSB3cml0ZXMpOiBjaGVhcGVyIHRoYW4gcGFyc2luZyBldmVyeSBsaW5lLCBh
bmQgYSBkaWZmZXJlbnRseSB3cml0dGVuIGFkZHJlc3Mgb25seQogICAgJSUgZmFpbHMgdG8gbWF0
Y2guCiAgICBIb3N0ID0gbGlzdF90b19iaW5hcnkoaW5ldDpudG9hKElQKSksCiAgICBOYW1lcyA9
IFtiaW5hcnlfdG9fYXRvbShMLCBsYXRpbjEpIHx8IEwgPC0gTGluZXMsIGhvc3RfaXMoTCwgSG9z
dCldLAogICAgY2FzZSBbTiB8fCBOIDwtIE5hbWVzLCBLZXJuZWxBbGxvd2VkID06PSBbXSBvcmVs
c2UgbGlzdHM6bWVtYmVyKE4sIEtlcm5lbEFsbG93ZWQpXSBvZgogICAgICAgIFtdIC0+IFs/Tk9C
T0RZXTsKICAgICAgICBNaW5lIC0+IE1pbmUKICAgIGVuZC4KCmhvc3RfaXMoTGluZSwgSG9zdCkg
LT4KICAgIGNhc2UgYmluYXJ5OnNwbGl0KExpbmUsIDw8IkAiPj4sIFtnbG9iYWxdKSBvZgogICAg
ICAgIFtOYW1lLCBIb3N0XSAtPiBOYW1lID0vPSA8PD4+OwogICAgICAgIF8gLT4gZmFsc2UKICAg
IGVuZC4KCiUlIFRoZSBuYW1lcyBvZiB0aGUgYWxsb3dlZCBmaWxlLCBvbmUgYSBsaW5lOyBhIGxp
bmUgb2Ygc2V2ZXJhbCB3b3JkcyBpcyBpZ25vcmVkLgpyZWFkX2xpbmVzKCkgLT4KICAgIEZpbGUg
PSBhbGxvd2VkX2ZpbGUoKSwKICAgIGNhc2UgZmlsZTpyZWFkX2ZpbGUoRmlsZSkgb2YKICAgICAg
ICB7b2ssIEJpbn0gLT4KICAgICAgICAgICAgdGFibGVfb3AoZnVuKCkgLT4gZXRzOmRlbGV0ZSg/
VEFCTEUsIGZpbGVfZXJyb3IpIGVuZCksCiAgICAgICAgICAgIFtOYW1lIHx8IExpbmUgPC0gYmlu
YXJ5OnNwbGl0KEJpbiwgPDwiXG4iPj4sIFtnbG9iYWxdKSwKICAgICAgICAgICAgICAgICAgICAg
W05hbWVdIDwtIFtiaW5hcnk6c3BsaXQoTGluZSwgWzw8IiAiPj4sIDw8Ilx0Ij4+LCA8PCJcciI+
Pl0sIFtnbG9iYWwsIHRyaW1fYWxsXSldLAogICAgICAgICAgICAgICAgICAgICBiaW5hcnk6Zmly
c3QoTmFtZSkgPS89ICQjLCBieXRlX3NpemUoTmFtZSkgPTwgP01BWF9OQU1FXTsKICAgICAgICB7
ZXJyb3IsIFJlYXNvbn0gLT4KICAgICAgICAgICAgJSUgTG9nZ2VkIG9uY2UgdW50aWwgdGhlIGZp
bGUgaXMgcmVhZGFibGUgYWdhaW46IGEgY29ubmVjdGlvbiBsb29wIG11c3Qgbm90CiAgICAgICAg
ICAgICUlIGZsb29kIHRoZSBsb2cuCiAgICAgICAgICAgIGNhc2UgdGFibGVfb3AoZnVuKCkgLT4g
ZXRzOmluc2VydF9uZXcoP1RBQkxFLCB7ZmlsZV9lcnJvciwgUmVhc29ufSkgZW5kKSBvZgogICAg
ICAgICAgICAgICAgZmFsc2UgLT4gb2s7CiAgICAgICAgICAgICAgICBfIC0+IGxvZ2dlcjplcnJv
cigibWVzaGJlYW1fZGlzdDogY2Fubm90IHJlYWQgfnRzICh+cCk6IHJlZnVzaW5nIGV2ZXJ5ICIK
ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICJpbmNvbWluZyBjb25uZWN0aW9uIiwg
W0ZpbGUsIFJlYXNvbl0pCiAgICAgICAgICAgIGVuZCwKICAgICAgICAgICAgW10KICAgIGVuZC4K
CmFsbG93ZWRfZmlsZSgpIC0+CiAgICBjYXNlIGluaXQ6Z2V0X2FyZ3VtZW50KG1lc2hiZWFtKSBv
ZgogICAgICAgIHtvaywgQXJnc30gLT4KICAgICAgICAgICAgY2FzZSBbUGF0aCB8fCBbImFsbG93
ZWRfZmlsZSIsIFBhdGggfCBfXSA8LSBBcmdzXSBvZgogICAgICAgICAgICAgICAgW1BhdGggfCBf
XSAtPiBQYXRoOwogICAgICAgICAgICAgICAgW10gLT4gP0RFRkFVTFRfRklMRQogICAgICAgICAg
ICBlbmQ7CiAgICAgICAgZXJyb3IgLT4gP0RFRkFVTFRfRklMRQogICAgZW5kLgoKJSUgLS0tIHJl
ZnVzYWxzOiBjb3VudGVkIGFuZCBsb2dnZWQgd2l0aCB0aGUgY2xhaW1lZCBuYW1lIGFuZCB0aGUg
cmVhbCBzb3VyY2UgLS0tLS0tLS0tLS0tCiUlCiUlIFRoZSBjbGFpbWVkIG5hbWUgaXMgb25seSBr
bm93biBpbnNpZGUgZGlzdF91dGlsJ3MgaGFuZHNoYWtlLCB3aGljaCBsb2dzIGl0IHdoZW4gaXQK
JSUgcmVmdXNlcyAoIkNvbm5lY3Rpb24gYXR0ZW1wdCBmcm9tIGRpc2FsbG93ZWQgbm9kZSBOQU1F
IikuIFRoZSBoYW5kbGVyIGJlbG93IHNlZXMgdGhhdAolJSBldmVudCBpbiB0aGUgaGFuZHNoYWtl
IHByb2Nlc3MgaXRzZWxmLCBzbyBpdCBjYW4gdGVsbCB3aGljaCBjb25uZWN0aW9uIGl0IGJlbG9u
Z3MgdG8uCgolJSBUaGUgdGFibGUgYW5kIGl0cyBvd25lciBtdXN0IG91dGxpdmUgbmV0X2tlcm5l
bCAod2hpY2ggbWF5IHJlc3RhcnQpOiB0aGUgb3duZXIgaXMgYQolJSBwbGFpbiBwcm9jZXNzLCBz
dGFydGVkIHVubGlua2VkIGZyb20gdGhlIGZpcnN0IGFjY2VwdF9jb25uZWN0aW9uLgplbnN1cmVf
aG9sZGVyKCkgLT4KICAgIGNhc2Ugd2hlcmVpcyg/SE9MREVSKSBvZgogICAgICAgIHVuZGVmaW5l
ZCAtPgogICAgICAgICAgICBSZWYgPSBtYWtlX3JlZigpLAogICAgICAgICAgICBQaWQgPSBzcGF3
big/TU9EVUxFLCBob2xkZXIsIFtzZWxmKCksIFJlZl0pLAogICAgICAgICAgICBNUmVmID0gbW9u
aXRvcihwcm9jZXNzLCBQaWQpLAogICAgICAgICAgICByZWNlaXZlCiAgICAgICAgICAgICAgICB7
UmVmLCByZWFkeX0gLT4gZGVtb25pdG9yKE1SZWYsIFtmbHVzaF0pOwogICAgICAgICAgICAgICAg
eydET1dOJywgTVJlZiwgcHJvY2VzcywgUGlkLCBffSAtPiBvawogICAgICAgICAgICBlbmQ7CiAg
ICAgICAgXyAtPiBvawogICAgZW5kLgoKJSUgUmVwbGllcyBvbmNlIHRoZSB0YWJsZSBhbmQgdGhl
IGhhbmRsZXIgYXJlIGluIHBsYWNlLCBzbyB0aGF0IGV2ZW4gdGhlIGZpcnN0IGNvbm5lY3Rpb24n
cwolJSByZWZ1c2FsIGlzIGNvdW50ZWQ7IGl0IGVpdGhlciBnZXRzIHRoZXJlIGF0IG9uY2Ugb3Ig
Y3Jhc2hlcyAoYSAnRE9XTicgZm9yIHRoZSB3YWl0ZXIpLgpob2xkZXIoUGFyZW50LCBSZWYpIC0+
CiAgICB0cnVlID0gcmVnaXN0ZXIoP0hPTERFUiwgc2VsZigpKSwKICAgID9UQUJMRSA9IGV0czpu
ZXcoP1RBQkxFLCBbbmFtZWRfdGFibGUsIHB1YmxpYywgc2V0XSksCiAgICBfID0gbG9nZ2VyOmFk
ZF9oYW5kbGVyKD9NT0RVTEUsID9NT0RVTEUsICN7bGV2ZWwgPT4gZXJyb3J9KSwKICAgIFBhcmVu
dCAhIHtSZWYsIHJlYWR5fSwKICAgIGhvbGRlcl9sb29wKCkuCgpob2xkZXJfbG9vcCgpIC0+CiAg
ICByZWNlaXZlCiAgICAgICAge3dhdGNoLCBQaWR9IC0+CiAgICAgICAgICAgIF8gPSBtb25pdG9y
KHByb2Nlc3MsIFBpZCk7CiAgICAgICAgeydET1dOJywgXywgcHJvY2VzcywgUGlkLCBffSAtPgog
ICAgICAgICAgICBldHM6ZGVsZXRlKD9UQUJMRSwge3BlbmRpbmcsIFBpZH0pOwogICAgICAgIHty
ZWZ1c2VkLCBOYW1lLCBJUH0gLT4KICAgICAgICAgICAgbG9nZ2VyOndhcm5pbmcoIm1lc2hiZWFt
X2Rpc3Q6IHJlZnVzZWQgfnRzIGZyb20gfnRzIiwgW05hbWUsIGluZXQ6bnRvYShJUCldKTsKICAg
ICAgICBfIC0+CiAgICAgICAgICAgIG9rCiAgICBlbmQsCiAgICBob2xkZXJfbG9vcCgpLgoKJSUg
UmVtZW1iZXIgd2hpY2ggc291cmNlIGFkZHJlc3MgYW5kIG5hbWVzIHRoZSBoYW5kc2hha2UgUGlk
IHdhcyBnaXZlbiwgdW50aWwgaXQgZW5kcy4KJSUgVGhlIGVudHJ5IGlzIGluIHRoZSB0YWJsZSBi
ZWZvcmUgdGhlIGhhbmRzaGFrZSBjYW4gc3RhcnQ6IG5ldF9rZXJuZWwgaGFuZHMgdGhlIHNvY2tl
dAolJSBvdmVyIG9ubHkgYWZ0ZXIgYWNjZXB0X2Nvbm5lY3Rpb24vNSByZXR1cm5zLgp3YXRjaChf
UGlkLCB1bmRlZmluZWQsIF9OYW1lcykgLT4gb2s7CndhdGNoKFBpZCwgSVAsIE5hbWVzKSAtPgog
ICAgdGFibGVfb3AoZnVuKCkgLT4gZXRzOmluc2VydCg/VEFCTEUsIHt7cGVuZGluZywgUGlkfSwg
SVAsIE5hbWVzfSkgZW5kKSwKICAgIGNhc2Ugd2hlcmVpcyg/SE9MREVSKSBvZgogICAgICAgIHVu
ZGVmaW5lZCAtPiBvazsKICAgICAgICBIb2xkZXIgLT4gSG9sZGVyICEge3dhdGNoLCBQaWR9CiAg
ICBlbmQuCgolJSBMb2dnZXIgaGFuZGxlciBjYWxsYmFjazsgcnVucyBpbiB0aGUgcHJvY2VzcyB0
aGF0IGxvZ3MsIGZvciBldmVyeSBldmVudCBhdCBsZXZlbCBlcnJvcgolJSBvciBhYm92ZS4gSXQg
bXVzdCBiZSBjaGVhcCBhbmQgbXVzdCBuZXZlciBjcmFzaCAobG9nZ2VyIHdvdWxkIHJlbW92ZSBp
dCkuCmxvZygje21zZyA6PSBNc2d9LCBfQ29uZmlnKSAtPgogICAgdHJ5CiAgICAgICAgY2FzZSBl
dHM6bG9va3VwKD9UQUJMRSwge3BlbmRpbmcsIHNlbGYoKX0pIG9mCiAgICAgICAgICAgIFt7Xywg
SVAsIE5hbWVzfV0gLT4gbm90ZShjbGFpbWVkX25hbWUoTXNnKSwgSVAsIE5hbWVzKTsKICAgICAg
ICAgICAgW10gLT4gb2sKICAgICAgICBlbmQKICAgIGNhdGNoIF86XyAtPiBvawogICAgZW5kOwps
b2coXywgXykgLT4gb2suCgpjbGFpbWVkX25hbWUoe3JlcG9ydCwgI3tmb3JtYXQgOj0gRm9ybWF0
LCBhcmdzIDo9IFtOYW1lXX19KSAtPiBjbGFpbWVkX25hbWUoe0Zvcm1hdCwgW05hbWVdfSk7CmNs
YWltZWRfbmFtZSh7Rm9ybWF0LCBbTmFtZV19KSB3aGVuIGlzX2xpc3QoRm9ybWF0KSAtPgogICAg
Y2FzZSBzdHJpbmc6ZmluZChGb3JtYXQsICJkaXNhbGxvd2VkIG5vZGUiKSBvZgogICAgICAgIG5v
bWF0Y2ggLT4gbm9uZTsKICAgICAgICBfIHdoZW4gaXNfYXRvbShOYW1lKSAtPiBhdG9tX3RvX2Jp
bmFyeShOYW1lLCBsYXRpbjEpOwogICAgICAgIF8gd2hlbiBpc19saXN0KE5hbWUpIC0+IGxpc3Rf
dG9fYmluYXJ5KE5hbWUpCiAgICBlbmQ7CmNsYWltZWRfbmFtZShfKSAtPiBub25lLgoKJSUgQSBu
YW1lIHRoYXQgd2FzIG9uIHRoaXMgY29ubmVjdGlvbidzIGxpc3Qgd2FzIG5vdCByZWZ1c2VkIGZv
ciBpdHMgbmFtZSAoZGlzdF91dGlsIGFsc28KJSUgc2F5cyAiZGlzYWxsb3dlZCBub2RlIiBmb3Ig
YSB3cm9uZyBjb29raWUpOiBvbmx5IHRoZSBvdGhlcnMgY291bnQuCm5vdGUobm9uZSwgX0lQLCBf
TmFtZXMpIC0+IG9rOwpub3RlKENsYWltZWQsIElQLCBOYW1lcykgLT4KICAgIGNhc2UgbGlzdHM6
bWVtYmVyKENsYWltZWQsIFthdG9tX3RvX2JpbmFyeShOLCBsYXRpbjEpIHx8IE4gPC0gTmFtZXNd
KSBvZgogICAgICAgIHRydWUgLT4gb2s7CiAgICAgICAgZmFsc2UgLT4KICAgICAgICAgICAgTmFt
ZSA9IHByaW50YWJsZShDbGFpbWVkKSwKICAgICAgICAgICAgS2V5ID0gY2FzZSBldHM6bWVtYmVy
KD9UQUJMRSwge3JlZnVzZWQsIE5hbWUsIElQfSkKICAgICAgICAgICAgICAgICAgICAgIG9yZWxz
ZSBldHM6aW5mbyg/VEFCTEUsIHNpemUpIDwgP01BWF9ST1dTIG9mCiAgICAgICAgICAgICAgICAg
ICAgICB0cnVlIC0+IHtyZWZ1c2VkLCBOYW1lLCBJUH07CiAgICAgICAgICAgICAgICAgICAgICBm
YWxzZSAtPiB7cmVmdXNlZCwgPDwiKG90aGVyIG5hbWVzKSI+PiwgSVB9CiAgICAgICAgICAgICAg
ICAgIGVuZCwKICAgICAgICAgICAgXyA9IGV0czp1cGRhdGVfY291bnRlcig/VEFCTEUsIEtleSwg
MSwge0tleSwgMH0pLAogICAgICAgICAgICA/SE9MREVSICEge3JlZnVzZWQsIE5hbWUsIElQfSwK
ICAgICAgICAgICAgb2sKICAgIGVuZC4KCiUlIFRoZSBjbGFpbWVkIG5hbWUgZ29lcyBpbnRvIGxv
Z3M6IG5vIGNvbnRyb2wgY2hhcmFjdGVycywgYm91bmRlZCBsZW5ndGguCnByaW50YWJsZShCaW4p
IC0+CiAgICBTaG9ydCA9IGJpbmFyeTpwYXJ0KEJpbiwgMCwgbWluKGJ5dGVfc2l6ZShCaW4pLCA/
TUFYX05BTUUpKSwKICAgIDw8IDw8KGlmIEMgPiAzMiwgQyA8IDEyNyAtPiBDOyB0cnVlIC0+ICQ/
IGVuZCk+PiB8fCA8PEM+PiA8PSBTaG9ydCA+Pi4KCiUlIFRoZSB0YWJsZSBpcyBnb25lIG9ubHkg
aWYgaXRzIG93bmVyIGRpZWQ7IGNvdW50aW5nIGlzIGJlc3QgZWZmb3J0LCB0aGUgY2hlY2sgaXMg
bm90Lgp0YWJsZV9vcChGdW4pIC0+CiAgICB0cnkgRnVuKCkgY2F0Y2ggZXJyb3I6YmFkYXJnIC0+
IHVuZGVmaW5lZCBlbmQuCg==
MESHBEAM_EOF
t20=$(as_user root mktemp -- /etc/meshbeam/.meshbeam.XXXXXXXX)
fill root "$t20" decbab684e6b85f3e6d84147ac4d6032830bb851042271dcb813f9b2595000fb 644 <<'MESHBEAM_EOF'
IyBtZXNoYmVhbTogbm9kZSBuYW1lcyBhbGxvd2VkIHRvIGNvbm5lY3QgKE5BTUVATUVTSF9BRERS
RVNTKTsgbWFuYWdlZCwgb3ZlcndyaXR0ZW4gYnkgYHVwYAphcHBAMTk4LjE4LjAuMQpsYXB0b3BA
MTk4LjE4LjAuMwptZXNoYmVhbV9jdGxAMTk4LjE4LjAuMgp3ZWJAMTk4LjE4LjAuMgo=
MESHBEAM_EOF
commit root "$t0" /etc/meshbeam/backup/14a3896d7c95bc2deb6ab0cdd3036c06f241cee488c0cf6a8bc482cd512c9cee ''
t0=
commit root "$t1" /etc/meshbeam/backup/a4acad43475eb6d388c02fc7bc3798d2628dae559c399411e9e299246668eba3 ''
t1=
commit root "$t2" /etc/meshbeam/backup/5bea8eb7d7f014337063a771b944f29624538def45dea1e78c7dbb7393f77e35 ''
t2=
commit root "$t3" /etc/meshbeam/backup/d954146218b64039de9e6af2577bc39b5e7b5526e8d172644536b57c386f31b8 ''
t3=
commit root "$t4" /etc/meshbeam/backup/4e0703bfff0f75a9409c93c4ab83d3fce2bc2e5e441e256910c626525ec5a3b7 ''
t4=
commit root "$t5" /etc/meshbeam/backup/fd2f64478a6a398a571f67829f824648b45a547bf60d23aabf7976a32ae45ce1 ''
t5=
commit root "$t6" /etc/meshbeam/backup/3251bf1ba9a474901c8da7bcac0c4c9d86077caeb1ed8dd41d217837444f06dd ''
t6=
commit root "$t7" /etc/meshbeam/backup/603c2ac7908f47465423afa933ba1a49db8865bf17523add05120dc945f3df10 ''
t7=
commit root "$t8" /etc/meshbeam/backup/edc02a6abcf3daf7e615018adb6a7e317bdc5414b2ac209e449542b2a176a908 ''
t8=
commit root "$t9" /etc/tinc/mb0/tinc.conf ''
t9=
commit root "$t10" /etc/tinc/mb0/hosts/laptop ''
t10=
commit root "$t11" /etc/tinc/mb0/hosts/s1 ''
t11=
commit root "$t12" /etc/tinc/mb0/hosts/s2 ''
t12=
commit root "$t13" /etc/tinc/mb0/rsa_key.priv ''
t13=
commit root "$t14" /etc/tinc/mb0/tinc-up ''
t14=
commit root "$t15" /etc/tinc/mb0/tinc-down ''
t15=
commit root "$t16" /srv/app/releases/1.0/vm.args mbapp
t16=
commit root "$t17" /srv/mbapp-home/.erlang.cookie mbapp
t17=
commit root "$t18" /etc/meshbeam/nftables.nft ''
t18=
commit root "$t19" /etc/meshbeam/meshbeam_dist.erl ''
t19=
commit root "$t20" /etc/meshbeam/allowed ''
t20=
remove /etc/tinc/mb0/hosts/gone
tincd -n mb0 -k; i=0; while [ -f /run/tinc.mb0.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; run_logged tincd -n mb0
nft -f /etc/meshbeam/nftables.nft
mkdir -- "$work/ebin"
run_logged erlc -o "$work/ebin" /etc/meshbeam/meshbeam_dist.erl
mkdir -p -- /etc/meshbeam/ebin
chmod 755 -- /etc/meshbeam /etc/meshbeam/ebin
install -m 644 -- "$work/ebin/meshbeam_dist.beam" /etc/meshbeam/ebin/meshbeam_dist.beam
printf '%s\n' e7a84bb0cd93aa62d73b03a8f30f437880463ad6ec84411e9c2eb39468eab3cd | install -m 644 /dev/stdin /etc/meshbeam/ebin/meshbeam_dist.sha256
mkdir -p "$work/home"
read_owned /srv/mbapp-home/.erlang.cookie > "$work/home/.erlang.cookie"
chmod 400 "$work/home/.erlang.cookie"
HOME="$work/home" run_logged erl -noshell -hidden -dist_listen false -start_epmd false -name meshbeam_ctl@198.18.0.2 -eval 'T = '"'"'web@198.18.0.2'"'"', case net_adm:ping(T) of pang -> io:format("~s not running; its next boot reads vm.args~n", [T]); pong -> {ok, Cur} = rpc:call(T, net_kernel, allowed, []), New = ['"'"'app@198.18.0.1'"'"','"'"'web@198.18.0.2'"'"','"'"'laptop@198.18.0.3'"'"','"'"'meshbeam_ctl@198.18.0.2'"'"'] -- Cur, ok = rpc:call(T, net_kernel, allow, [New]), io:format("allowed ~p on ~s~n", [New, T]) end, halt().'
cat "$work/log"
}
main
