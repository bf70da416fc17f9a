"""What commands print: `list` in whole values, whatever the terminal's width; what removal leaves behind."""

from __future__ import annotations

from tests.conftest import invoke


def test_list_prints_every_value_whole_in_aligned_columns(inv):
    long_ssh = "deploy@a-rather-long-host-name.eu-west.example.net:2222"
    assert invoke("add-host", "far-away-server", long_ssh, "--endpoint", "198.51.100.14:51820",
                  "--dir", str(inv)).exit_code == 0
    r = invoke("list", "--dir", str(inv))  # CliRunner's terminal is 80 columns wide
    assert r.exit_code == 0, r.output
    title, header, *rows = r.stdout.splitlines()
    assert title == "wireguard mesh 198.18.0.0/24 on mb0, port 51820"
    assert header.split() == ["name", "kind", "mesh", "address", "endpoint", "ssh", "node"]
    assert [row.split()[0] for row in rows] == ["s1", "s2", "s3", "far-away-server", "laptop"]
    far = next(row.split() for row in rows if row.startswith("far-away-server"))
    assert far == ["far-away-server", "host", "198.18.0.5", "198.51.100.14:51820", long_ssh, "app@198.18.0.5"]
    assert rows[-1].split() == ["laptop", "peer", "198.18.0.4", "(roaming)", "-", "laptop@198.18.0.4"]
    starts = {line.index(word) for line, word in zip([header, *rows], ["kind", "host", "host", "host", "host", "peer"])}
    assert len(starts) == 1, "the kind column starts at one offset on every line"


def test_remove_host_says_the_host_itself_is_not_cleaned(inv):
    r = invoke("remove-host", "s2", "--dir", str(inv))
    assert r.exit_code == 0, r.output
    assert "s2 itself still has meshbeam's interface, files and firewall table" in r.output
    assert "`meshbeam down --only s2` before `remove-host` cleans a host" in r.output
    r = invoke("remove-peer", "laptop", "--dir", str(inv))
    assert r.exit_code == 0 and "itself still has" not in r.output, r.output


def test_lint_follows_args_file_and_names_the_included_line(tmp_path):
    extra = tmp_path / "extra.args"
    extra.write_text("+sbwt none\n-name app@198.51.100.1\n")
    vm = tmp_path / "vm.args"
    vm.write_text(f"+K true\n-args_file {extra}\n")
    r = invoke("lint", str(vm))
    assert r.exit_code == 1
    assert r.stdout == (f"{vm}:2: args-file: -args_file {extra} line 2: sets -name, which meshbeam manages in "
                        "vm.args; remove it there\n")
    extra.write_text("+sbwt none\n")
    r = invoke("lint", str(vm))
    assert (r.exit_code, r.stdout) == (0, f"{vm}: no findings\n")


def test_add_peer_says_the_name_is_bound_and_export_prints_the_module(inv):
    r = invoke("add-peer", "phone", "--dir", str(inv))
    assert r.exit_code == 0, r.output
    assert "the servers accept it only as phone@198.18.0.5: its name is bound to its mesh key" in r.stdout
    r = invoke("export", "dist-module")
    assert r.exit_code == 0 and r.stdout.startswith("%% meshbeam_dist:") and "-module(meshbeam_dist)." in r.stdout
