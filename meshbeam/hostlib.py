"""The shell functions meshbeam's remote scripts start with: constants, never built from a value.

The rule they carry out: root never follows a link, nor reads or writes a file, in a directory
that someone else can change. For each path, `actor DIR` sets $who to the one user who may act in DIR:

- root, when DIR and every directory above it belong to root (and none of them is writable by
  others, unless it has the sticky bit, as /tmp does);
- the user who owns DIR or a directory above it, when every other one belongs to root: that
  user can swap names in DIR for links at any time, so meshbeam acts there as that user, with
  that user's rights, and a planted link can only reach what the user could reach anyway;
- "unsafe" otherwise (two different users, or a root directory others may write): nothing is done.

The resolved path (links followed) is walked too, so a link in the way cannot hide an owner; a
plain absolute path that crosses no link resolves to itself, and is walked once. A link is examined
as itself: its owner counts, and root's links (mode 777) make a path unsafe.

Each host runs these for every file, so they start few processes: shell builtins and arithmetic
where a builtin does the same, and no subshell whose only purpose is to return a word.

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
    actor "$p"; fact_actor=$who
  fi
  echo "actor $1 $fact_actor"
  case $fact_actor in
    unsafe) ;;
    root) eval "$fact_file" ;;
    *) as_user "$fact_actor" sh -c "$fact_file" sh "$1" "$2" ;;
  esac
}
"""))

# Staging: remote.apply_script checks and makes each directory once (`stage_dir`), just before
# staging its files. Where the actor is root, `fill` and `commit` run their text in this shell, as
# as_user root would run it in a new one. A temp file from mktemp under umask 077 is 600 already and
# root's (its group as the directory gives it, which chown USER keeps), so neither is set again.
APPLY = Cmd(Sh(r"""same_actor() {  # same_actor USER DIR: fail unless USER is still the one who may act in DIR
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
