import os
import re
import shutil
import subprocess

import pytest

from meshbeam.firewall import delete_ruleset, ruleset

KW = dict(interface="wg0", cidr="198.18.0.0/24", dist_port=9100, listen_port=51820)


def test_ruleset_touches_only_its_table():
    text = ruleset(**KW)
    assert "policy drop" not in text and "ssh" not in text and " 22" not in text
    assert set(re.findall(r"table (\S+ \S+)", text)) == {"inet meshbeam"}


def test_ipv6_mesh_and_other_table_name():
    text = ruleset(**(KW | dict(cidr="fd00:18::/64", dist_port=4370)), table="mb_test")
    assert 'iifname "wg0" ip6 saddr fd00:18::/64 tcp dport { 4369, 4370 } accept' in text
    assert text.startswith("table inet mb_test {}\ndelete table inet mb_test\n")


@pytest.mark.parametrize("kw", [
    dict(interface=""), dict(interface="wg0; flush ruleset"), dict(interface="a" * 16),
    dict(interface='wg"0'), dict(cidr="198.18.0.1/24"), dict(cidr="mesh"), dict(cidr=None),
    dict(dist_port=0), dict(dist_port=65536), dict(dist_port=4369), dict(dist_port="9100"),
    dict(dist_port=True), dict(listen_port=-1), dict(table="x y"), dict(table="1abc"),
])
def test_bad_input_is_one_line_value_error(kw):
    with pytest.raises(ValueError) as e:
        ruleset(**(KW | kw))
    assert "\n" not in str(e.value)


def test_delete_ruleset_text():
    assert delete_ruleset() == "table inet meshbeam {}\ndelete table inet meshbeam\n"
    with pytest.raises(ValueError):
        delete_ruleset("bad name")


def _nft_in_netns(script: str, tmp_path) -> subprocess.CompletedProcess:
    # A throwaway network namespace, so the host's ruleset is never read or changed.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])  # a user's PATH may lack sbin
    if shutil.which("nft", path=path) is None or shutil.which("unshare", path=path) is None:
        pytest.fail("nft and unshare are needed to check the ruleset (apt-get install nftables)")
    (tmp_path / "rules.nft").write_text(ruleset(**KW))
    (tmp_path / "delete.nft").write_text(delete_ruleset())
    # As root of a new user namespace: nft may change the new network namespace, and only that.
    return subprocess.run(["unshare", "--map-root-user", "--net", "sh", "-ec", script], cwd=tmp_path,
                          env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=60)


def test_nft_accepts_the_ruleset_and_replaces_it_idempotently(tmp_path):
    r = _nft_in_netns(
        "nft -c -f rules.nft; nft -c -f delete.nft\n"
        "nft -f rules.nft; nft -f rules.nft; nft list ruleset\n"
        "nft -f delete.nft; nft -f delete.nft; echo tables=$(nft list tables | wc -l)\n",
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    listed = r.stdout
    assert listed.count("table inet meshbeam {") == 1 and listed.count("chain input") == 1
    assert 'iifname "wg0" ip saddr 198.18.0.0/24 tcp dport { 4369, 9100 } accept' in listed
    assert "policy accept" in listed and listed.rstrip().endswith("tables=0")
