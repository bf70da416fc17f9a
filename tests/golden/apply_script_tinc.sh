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
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t4=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t4" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t5=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t5" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t6=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t6" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t7=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t7" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t8=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t8" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam/backup
as_user root mkdir -p -- /etc/meshbeam/backup
t9=$(as_user root mktemp -- /etc/meshbeam/backup/.meshbeam.XXXXXXXX)
fill root "$t9" e1482c831d2aa3f167f83b9a804de92d994b50ab604f9d4419f7e9636a62426c 600 <<'MESHBEAM_EOF'
(secret, 25 bytes)
MESHBEAM_EOF
same_actor root /etc/tinc/mb0
as_user root mkdir -p -- /etc/tinc/mb0
t10=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t10" ab0e95e24d38e46d936ae21d3fbd5c828ce6a2c272063b3eeff35dee391dc268 644 <<'MESHBEAM_EOF'
IyB0aW5jLmNvbmYgb2YgczIgaW4gbmV0IG1iMCwgd3JpdHRlbiBieSBtZXNoYmVhbTogZWRpdCB0
aGUgaW52ZW50b3J5LCBub3QgdGhpcyBmaWxlCk5hbWUgPSBzMgpJbnRlcmZhY2UgPSBtYjAKTW9k
ZSA9IHJvdXRlcgpBZGRyZXNzRmFtaWx5ID0gaXB2NApQb3J0ID0gNTE4MjAKUGluZ0ludGVydmFs
ID0gMTAKUGluZ1RpbWVvdXQgPSAzCktleUV4cGlyZSA9IDMwCkNvbm5lY3RUbyA9IHMxCg==
MESHBEAM_EOF
same_actor root /etc/tinc/mb0/hosts
as_user root mkdir -p -- /etc/tinc/mb0/hosts
t11=$(as_user root mktemp -- /etc/tinc/mb0/hosts/.meshbeam.XXXXXXXX)
fill root "$t11" 3843e2727164b32350a8b15e5ecab60efeb4044020290b3050e7491c6a038bff 644 <<'MESHBEAM_EOF'
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
same_actor root /etc/tinc/mb0/hosts
as_user root mkdir -p -- /etc/tinc/mb0/hosts
t12=$(as_user root mktemp -- /etc/tinc/mb0/hosts/.meshbeam.XXXXXXXX)
fill root "$t12" 1c41c76d82efe9116fc9ae09fad0096a996ef793611f328265500261e9aaa9f5 644 <<'MESHBEAM_EOF'
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
same_actor root /etc/tinc/mb0/hosts
as_user root mkdir -p -- /etc/tinc/mb0/hosts
t13=$(as_user root mktemp -- /etc/tinc/mb0/hosts/.meshbeam.XXXXXXXX)
fill root "$t13" d0e64052b82c65154b769e142f64dc03d192a349c3b4681048b97a9b1b334876 644 <<'MESHBEAM_EOF'
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
same_actor root /etc/tinc/mb0
as_user root mkdir -p -- /etc/tinc/mb0
t14=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t14" dca99bd248a66022e6a06208bb3720485361c32579a9724ea5683354e7e9f6b4 600 <<'MESHBEAM_EOF'
(secret, 1679 bytes)
MESHBEAM_EOF
same_actor root /etc/tinc/mb0
as_user root mkdir -p -- /etc/tinc/mb0
t15=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t15" c5f6d8ec2354377b8ba98325d78d0d9825fe2440eaabf2381dbb6421c1c55f9a 755 <<'MESHBEAM_EOF'
IyEvYmluL3NoCmlwIGxpbmsgc2V0ICIkSU5URVJGQUNFIiB1cAppcCBhZGRyIGFkZCAxOTguMTgu
MC4yLzI0IGRldiAiJElOVEVSRkFDRSIK
MESHBEAM_EOF
same_actor root /etc/tinc/mb0
as_user root mkdir -p -- /etc/tinc/mb0
t16=$(as_user root mktemp -- /etc/tinc/mb0/.meshbeam.XXXXXXXX)
fill root "$t16" 6e208ab9a7faf8a13aef9a3c2d90de92d5000dda5534ccd26c29d2bdafddbe78 755 <<'MESHBEAM_EOF'
IyEvYmluL3NoCmlwIGFkZHIgZGVsIDE5OC4xOC4wLjIvMjQgZGV2ICIkSU5URVJGQUNFIgppcCBs
aW5rIHNldCAiJElOVEVSRkFDRSIgZG93bgo=
MESHBEAM_EOF
same_actor root /srv/app/releases/1.0
as_user root mkdir -p -- /srv/app/releases/1.0
t17=$(as_user root mktemp -- /srv/app/releases/1.0/.meshbeam.XXXXXXXX)
fill root "$t17" 0fa82087a04d91156e6d22e2b6fb8036ffdccccc74a3b207dabbbd174918ba46 644 <<'MESHBEAM_EOF'
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
t18=$(as_user root mktemp -- /srv/mbapp-home/.meshbeam.XXXXXXXX)
fill root "$t18" 942014af03195c97fc8a6121a03e1660b89027a538325a101eba426dacd7e587 400 <<'MESHBEAM_EOF'
(secret, 43 bytes)
MESHBEAM_EOF
same_actor root /etc/meshbeam
as_user root mkdir -p -- /etc/meshbeam
t19=$(as_user root mktemp -- /etc/meshbeam/.meshbeam.XXXXXXXX)
fill root "$t19" a479e4b302f8a20357da4ae9ab21f847b8b7a9d09ff414bd2e4dc33f6b42dd80 644 <<'MESHBEAM_EOF'
dGFibGUgaW5ldCBtZXNoYmVhbSB7fQpkZWxldGUgdGFibGUgaW5ldCBtZXNoYmVhbQp0YWJsZSBp
bmV0IG1lc2hiZWFtIHsKCWNoYWluIGlucHV0IHsKCQl0eXBlIGZpbHRlciBob29rIGlucHV0IHBy
aW9yaXR5IDA7IHBvbGljeSBhY2NlcHQ7CgkJaWlmICJsbyIgYWNjZXB0CgkJaWlmbmFtZSAibWIw
IiBpcCBzYWRkciAxOTguMTguMC4wLzI0IHRjcCBkcG9ydCB7IDQzNjksIDkxMDAgfSBhY2NlcHQK
CQl0Y3AgZHBvcnQgeyA0MzY5LCA5MTAwIH0gZHJvcAoJCXVkcCBkcG9ydCA1MTgyMCBhY2NlcHQK
CX0KfQo=
MESHBEAM_EOF
commit root "$t0" /etc/meshbeam/backup/14a3896d7c95bc2deb6ab0cdd3036c06f241cee488c0cf6a8bc482cd512c9cee root
t0=
commit root "$t1" /etc/meshbeam/backup/a4acad43475eb6d388c02fc7bc3798d2628dae559c399411e9e299246668eba3 root
t1=
commit root "$t2" /etc/meshbeam/backup/5bea8eb7d7f014337063a771b944f29624538def45dea1e78c7dbb7393f77e35 root
t2=
commit root "$t3" /etc/meshbeam/backup/d954146218b64039de9e6af2577bc39b5e7b5526e8d172644536b57c386f31b8 root
t3=
commit root "$t4" /etc/meshbeam/backup/4e0703bfff0f75a9409c93c4ab83d3fce2bc2e5e441e256910c626525ec5a3b7 root
t4=
commit root "$t5" /etc/meshbeam/backup/fd2f64478a6a398a571f67829f824648b45a547bf60d23aabf7976a32ae45ce1 root
t5=
commit root "$t6" /etc/meshbeam/backup/3251bf1ba9a474901c8da7bcac0c4c9d86077caeb1ed8dd41d217837444f06dd root
t6=
commit root "$t7" /etc/meshbeam/backup/603c2ac7908f47465423afa933ba1a49db8865bf17523add05120dc945f3df10 root
t7=
commit root "$t8" /etc/meshbeam/backup/edc02a6abcf3daf7e615018adb6a7e317bdc5414b2ac209e449542b2a176a908 root
t8=
commit root "$t9" /etc/meshbeam/backup/d5951fd81283da237babc41c3deee11e0cd0e6df773b0a2c158dc53ad3266bed root
t9=
commit root "$t10" /etc/tinc/mb0/tinc.conf root
t10=
commit root "$t11" /etc/tinc/mb0/hosts/laptop root
t11=
commit root "$t12" /etc/tinc/mb0/hosts/s1 root
t12=
commit root "$t13" /etc/tinc/mb0/hosts/s2 root
t13=
commit root "$t14" /etc/tinc/mb0/rsa_key.priv root
t14=
commit root "$t15" /etc/tinc/mb0/tinc-up root
t15=
commit root "$t16" /etc/tinc/mb0/tinc-down root
t16=
commit root "$t17" /srv/app/releases/1.0/vm.args mbapp
t17=
commit root "$t18" /srv/mbapp-home/.erlang.cookie mbapp
t18=
commit root "$t19" /etc/meshbeam/nftables.nft root
t19=
remove /etc/tinc/mb0/hosts/gone
tincd -n mb0 -k; i=0; while [ -f /run/tinc.mb0.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; run_logged tincd -n mb0
nft -f /etc/meshbeam/nftables.nft
mkdir -p "$work/home"
read_owned /srv/mbapp-home/.erlang.cookie > "$work/home/.erlang.cookie"
chmod 400 "$work/home/.erlang.cookie"
HOME="$work/home" run_logged erl -noshell -hidden -dist_listen false -start_epmd false -name meshbeam_ctl@198.18.0.2 -eval 'T = '"'"'web@198.18.0.2'"'"', case net_adm:ping(T) of pang -> io:format("~s not running; its next boot reads vm.args~n", [T]); pong -> {ok, Cur} = rpc:call(T, net_kernel, allowed, []), New = ['"'"'app@198.18.0.1'"'"','"'"'web@198.18.0.2'"'"','"'"'laptop@198.18.0.3'"'"','"'"'meshbeam_ctl@198.18.0.2'"'"'] -- Cur, ok = rpc:call(T, net_kernel, allow, [New]), io:format("allowed ~p on ~s~n", [New, T]) end, halt().'
cat "$work/log"
}
main
