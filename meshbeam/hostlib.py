"""The shell functions meshbeam's remote scripts start with: constants, never built from a value.

The rule they carry out: root never follows a link, nor reads or writes a file, in a directory
that someone else can change. For each path, `actor DIR` names the one user who may act in DIR:

- root, when DIR and every directory above it belong to root (and none of them is writable by
  others, unless it has the sticky bit, as /tmp does);
- the user who owns DIR or a directory above it, when every other one belongs to root: that
  user can swap names in DIR for links at any time, so meshbeam acts there as that user, with
  that user's rights, and a planted link can only reach what the user could reach anyway;
- "unsafe" otherwise (two different users, or a root directory others may write): nothing is done.

The resolved path (links followed) is walked too, so a link in the way cannot hide an owner.

`apply_preamble` is the contract between remote.apply_script and the plan layers: what an Action's
script may use besides standard commands (ACTION_FUNCTIONS, ACTION_VARIABLES).
"""

from __future__ import annotations

from collections.abc import Iterable

from .command import Cmd, Sh, join, sh

COMMON = Cmd(Sh(r"""as_user() {  # as_user USER CMD...: run CMD as USER with its own groups (as it is for root)
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
"""))

# `fact` runs once per queried path. A query lists each directory's paths together, so the
# actor of the last directory is kept (the walk in `actor` is most of a fact's cost): the facts
# script writes nothing, and the apply script checks every actor again (`same_actor`). Where the
# actor is root, the file is examined in this shell rather than in a new one (as_user root
# would run the same text as root).
FACTS = Cmd(Sh(r"""fact_file='
  if [ -L "$2" ]; then echo "link $1"
  elif [ ! -e "$2" ]; then echo "nofile $1"
  elif [ ! -f "$2" ]; then echo "other $1"
  elif fact_data=$(base64 -w0 < "$2"); then echo "file $1 $(stat -c "%a %U" -- "$2")"; echo "$fact_data"
  else echo "unreadable $1"; fi'
fact() {  # fact INDEX FILE: one line saying what FILE is (and its contents in base64 on the next line)
  p=$2; parent
  if [ "${fact_dir+set}" != set ] || [ "$p" != "$fact_dir" ]; then
    fact_dir=$p
    fact_actor=$(actor "$p")
  fi
  echo "actor $1 $fact_actor"
  case $fact_actor in
    unsafe) ;;
    root) eval "$fact_file" ;;
    *) as_user "$fact_actor" sh -c "$fact_file" sh "$1" "$2" ;;
  esac
}
"""))

APPLY = Cmd(Sh(r"""same_actor() {  # same_actor USER DIR: fail unless USER is still the one who may act in DIR
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
"""))

# ---- the apply preamble: what an action may rely on -----------------------------------------------
#
# remote.apply_script runs, inside one function (a script cut off in transit never runs): this preamble,
# the staged writes and their renames, the removes, then each Action's script in the plan's order. An
# action may use standard commands and, from here, only:
#   set -e           a failing command ends the apply (its temp files removed, the error shown)
#   umask 077        what an action creates is its owner's alone unless the action sets a mode
#   $work            a private directory of this apply's, removed when the script ends however it ends
#   run_logged CMD   CMD with its output kept in $work/log, shown on stderr only when CMD fails
#   read_owned FILE  FILE's contents, read as the one who may act in its directory (above)
# The other functions serve the apply script's own steps (staging, renaming, removing).
# tests/unit/test_apply_contract.py checks every action script the layers can emit against this list.
ACTION_FUNCTIONS = ("run_logged", "read_owned")
ACTION_VARIABLES = ("work",)

RUN_LOGGED = Cmd(Sh('run_logged() { "$@" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; return 1; }; }'))


def apply_preamble(cleanup: Iterable[Cmd]) -> Cmd:
    """The start of the apply script's body; `cleanup` holds the EXIT trap's lines that remove its staged temp files."""
    return join([
        sh("set -e\numask 077"),
        COMMON + APPLY,
        sh('work=$(mktemp -d)\ncleanup() {'),
        *cleanup,
        sh('rm -rf "$work"\n}\ntrap cleanup EXIT\ntrap \'exit 1\' HUP INT TERM PIPE'),
        RUN_LOGGED,
    ])
