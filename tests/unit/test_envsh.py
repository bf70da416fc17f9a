"""envsh: the managed block in a mix release's env.sh."""

import subprocess

import pytest

from meshbeam.envsh import apply_env_sh
from meshbeam.vmargs import DISABLED, MARK_BEGIN, MARK_END, remove_block

ENV_SH = """#!/bin/sh
# export RELEASE_NODE=commented
export RELEASE_DISTRIBUTION=sname
if [ -n "$X" ]; then
  RELEASE_NODE="app@${HOST}"
fi
export RELEASE_COOKIE='abc' # keep it secret
export RELEASE_NODE=a@b; echo hi
export RELEASE_TMP=/tmp"""


def test_env_sh_block_disables_conflicts_and_stays_valid_sh():
    out = apply_env_sh(ENV_SH, "app@198.18.0.1")
    assert out.endswith(f"export RELEASE_TMP=/tmp\n{MARK_BEGIN}\nexport RELEASE_DISTRIBUTION=name\n"
                        f"export RELEASE_NODE=app@198.18.0.1\n{MARK_END}\n")
    lines = out.splitlines()
    assert lines[1] == "# export RELEASE_NODE=commented"
    assert lines[2] == ": # meshbeam: disabled, conflicts with the managed RELEASE_DISTRIBUTION: export RELEASE_DISTRIBUTION=sname"
    assert lines[4].startswith(": # meshbeam: disabled") and lines[6].startswith(": # meshbeam: disabled")
    assert lines[7] == "export RELEASE_NODE=a@b; echo hi"  # not a lone assignment: the block overrides it
    assert subprocess.run(["sh", "-n"], input=out, text=True).returncode == 0
    assert remove_block(out) == ENV_SH + "\n"


@pytest.mark.parametrize("original", ["", ENV_SH, ENV_SH + "\n", "x=1\n" + MARK_BEGIN + "\n" + MARK_END + "\ny=2\n"])
def test_env_sh_is_idempotent_and_a_new_node_only_changes_the_block(original):
    once = apply_env_sh(original, "app@198.18.0.1")
    assert apply_env_sh(once, "app@198.18.0.1") == once
    assert apply_env_sh(once, "app@198.18.0.2") == once.replace("=app@198.18.0.1", "=app@198.18.0.2")


def test_env_sh_keeps_an_existing_block_in_place_and_rejects_bad_names():
    out = apply_env_sh("x=1\n" + MARK_BEGIN + "\n" + MARK_END + "\ny=2\n", "a@b")
    assert out.startswith("x=1\n" + MARK_BEGIN) and out.endswith(MARK_END + "\ny=2\n")
    with pytest.raises(ValueError):
        apply_env_sh("", "a@b; rm -rf /")


@pytest.mark.parametrize("name, original", [("envsh/block.sh", ""), ("envsh/release-applied.sh", ENV_SH)])
def test_env_sh_golden(golden, name, original):
    golden(name, apply_env_sh(original, "app@198.18.0.1"))


def test_interactive_mode_for_meshbeam_dist_and_only_then_a_users_release_mode_is_disabled():
    original = "export RELEASE_MODE=embedded\n"
    bound = apply_env_sh(original, "app@198.18.0.1", interactive=True)
    assert bound.endswith("export RELEASE_NODE=app@198.18.0.1\nexport RELEASE_MODE=interactive\n" + MARK_END + "\n")
    assert bound.startswith(": " + DISABLED + "RELEASE_MODE: export RELEASE_MODE=embedded\n")
    assert remove_block(bound) == original
    plain = apply_env_sh(original, "app@198.18.0.1")
    assert plain.startswith(original) and "interactive" not in plain
