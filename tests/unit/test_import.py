"""Bulk import: `add-host --from FILE` (CSV, YAML) and `import ansible` (INI, YAML), all or nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from meshbeam import inventory, keys
from meshbeam.keys import KeyStore
from tests.conftest import invoke

CSV = """name,ssh,endpoint,vm_args,node_name,run_user,mix_release
w1,root@198.51.100.21,,/srv/app/releases/1.0.0/vm.args,app,app,true
w2,deploy@198.51.100.22:2222,198.51.100.22:51999,,,,
w3,198.51.100.23,,,web,,no
"""

YAML = """
- name: w1
  ssh: root@198.51.100.21
  vm_args: /srv/app/releases/1.0.0/vm.args
  run_user: app
  mix_release: true
- {name: w2, ssh: "deploy@198.51.100.22:2222", endpoint: "198.51.100.22:51999"}
- {name: w3, ssh: 198.51.100.23, node_name: web}
"""

INI = """
# web servers
[web]
w1 ansible_host=198.51.100.21 ansible_user=root meshbeam_vm_args=/srv/app/releases/1.0.0/vm.args
w2 ansible_host=198.51.100.22 ansible_port=2222 ansible_user=deploy

[db]
w3 ansible_host=198.51.100.23

[db:vars]
node_name=web

[prod:children]
web
db

[web:vars]
vm_args=/srv/other/vm.args
"""

ANSIBLE_YAML = """
all:
  children:
    web:
      hosts:
        w1: {ansible_host: 198.51.100.21, ansible_user: root, meshbeam_vm_args: /srv/app/releases/1.0.0/vm.args}
        w2: {ansible_host: 198.51.100.22, ansible_port: 2222, ansible_user: deploy}
      vars:
        vm_args: /srv/other/vm.args
    db:
      hosts:
        w3:
          ansible_host: 198.51.100.23
      vars:
        node_name: web
"""


def snapshot(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(d.rglob("*"))}


def ok(*args: str):
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    return r


def imported(inv: Path, text: str, filename: str, *command: str) -> inventory.Mesh:
    source = inv.parent / filename
    source.write_text(text)
    ok(*command, str(source), "--dir", str(inv))
    mesh = inventory.load(inv)
    store = KeyStore(inv)
    for m in mesh.members:
        assert keys.public_key(store.private_key(m.name)) == m.public_key
    return mesh


@pytest.mark.parametrize("text,filename", [(CSV, "hosts.csv"), (YAML, "hosts.yaml")])
def test_add_host_from_csv_and_yaml(inv, text, filename):
    mesh = imported(inv, text, filename, "add-host", "--from")
    w1, w2, w3 = (mesh.host(n) for n in ("w1", "w2", "w3"))
    assert (w1.vm_args, w1.run_user, w1.mix_release, w1.endpoint) == (
        "/srv/app/releases/1.0.0/vm.args", "app", True, "198.51.100.21:51820")
    assert (w2.ssh, w2.endpoint, w2.vm_args, w2.node_name, w2.run_user) == (
        "deploy@198.51.100.22:2222", "198.51.100.22:51999", None, "app", "root")
    assert (w3.node_name, w3.mix_release) == ("web", False)
    assert [h.address for h in mesh.hosts] == ["198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.5",
                                               "198.18.0.6", "198.18.0.7"], "after the existing members"


@pytest.mark.parametrize("text,filename", [(INI, "hosts.ini"), (ANSIBLE_YAML, "hosts.yml")])
def test_import_ansible_ini_and_yaml(inv, text, filename):
    mesh = imported(inv, text, filename, "import", "ansible")
    w1, w2, w3 = (mesh.host(n) for n in ("w1", "w2", "w3"))
    assert (w1.ssh, w1.vm_args) == ("root@198.51.100.21", "/srv/app/releases/1.0.0/vm.args"), "meshbeam_ wins"
    assert (w2.ssh, w2.vm_args) == ("deploy@198.51.100.22:2222", "/srv/other/vm.args"), "a group var applies"
    assert (w3.ssh, w3.node_name, w3.vm_args) == ("198.51.100.23", "web", None)


BAD_ROWS = [
    # (file name, content, expected error)
    ("h.csv", "name,ssh\nw1,198.51.100.21\nw2,bad host\n", "h.csv: row 2: field 'ssh': invalid ssh"),
    ("h.csv", "name,ssh\nw1,198.51.100.21\nw1,198.51.100.22\n", "h.csv: row 2: field 'name': the name 'w1' appears twice"),
    ("h.csv", "name,ssh\ns1,198.51.100.21\n", "h.csv: row 1: field 'name': the name 's1' is already used"),
    ("h.csv", "name,ssh\nbad name!,198.51.100.21\n", "h.csv: row 1: field 'name': invalid member name"),
    ("h.csv", "name,ssh,endpoint\nw1,198.51.100.21,198.51.100.21:99999\n", "row 1: field 'endpoint'"),
    ("h.csv", "name,ssh,vm_args\nw1,198.51.100.21,relative/vm.args\n", "row 1: field 'vm_args'"),
    ("h.csv", "name,ssh,vm_args\nw1,198.51.100.21,/srv/a;reboot/vm.args\n", "row 1: field 'vm_args'"),
    ("h.csv", "name,ssh,node_name\nw1,198.51.100.21,1bad\n", "row 1: field 'node_name'"),
    ("h.csv", "name,ssh,run_user\nw1,198.51.100.21,Root\n", "row 1: field 'run_user'"),
    ("h.csv", "name,ssh,vm_args,mix_release\nw1,198.51.100.21,/srv/vm.args,true\n", "row 1: field 'mix_release'"),
    ("h.csv", "name,ssh,mix_release\nw1,198.51.100.21,maybe\n", "row 1: field 'mix_release'"),
    ("h.csv", "name\nw1\n", "h.csv: row 1: field 'ssh': missing"),
    ("h.csv", "name,ssh,services\nw1,198.51.100.21,web\n", "header: unknown field 'services'"),
    ("h.csv", "name,ssh,vm_args,service\nw1,198.51.100.21,/srv/a/vm.args,web\n",
     "row 1: field 'service': invalid service 'web'"),
    ("h.csv", "name,ssh,service\nw1,198.51.100.21,web.service\n",
     "row 1: field 'service': invalid service 'web.service': names the unit that runs the node"),
    ("h.csv", "name,ssh\nw1,198.51.100.21,extra\n", "row 1: 3 cells for 2 fields"),
    ("h.csv", "", "empty"),
    ("h.yaml", "- {name: w1, ssh: 198.51.100.21}\n- {name: w2, ssh: 22}\n", "h.yaml: row 2: field 'ssh': must be a string"),
    ("h.yaml", "- {name: w1, ssh: 198.51.100.21, vm-args: /x/vm.args}\n", "row 1: unknown field 'vm-args'"),
    ("h.yaml", "name: w1\n", "expected a list of hosts"),
    ("h.yaml", "- [\n", "malformed YAML"),
    ("h.txt", "name,ssh\n", "cannot tell its format"),
]


@pytest.mark.parametrize("filename,content,error", BAD_ROWS, ids=[e for _, _, e in BAD_ROWS])
def test_a_bad_row_is_named_and_nothing_is_written(inv, filename, content, error):
    source = inv.parent / filename
    source.write_text(content)
    before = snapshot(inv)
    r = invoke("add-host", "--from", str(source), "--dir", str(inv))
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and error in lines[0], r.stderr
    assert snapshot(inv) == before


BAD_ANSIBLE = [
    ("a.ini", "[web]\nweb1.example.com ansible_host=198.51.100.21\n", "host web1.example.com: field 'name'"),
    ("a.ini", "[web]\nw1 ansible_host=198.51.100.21 ansible_port=0\n", "host w1: field 'ssh'"),
    ("a.ini", "[web\nw1\n", "line 1: malformed section header"),
    ("a.ini", "[web:weird]\n", "unknown section kind"),
    ("a.ini", "[web]\nw1 ansible_host\n", "expected NAME=VALUE"),
    ("a.ini", "# nothing\n", "no hosts found"),
    ("a.yml", "all:\n  hosts:\n    w1: {ansible_host: [1]}\n", "host w1: ansible_host: must be a string"),
    ("a.yml", "all:\n  host:\n    w1:\n", "unknown key 'host'"),
]


@pytest.mark.parametrize("filename,content,error", BAD_ANSIBLE, ids=[e for _, _, e in BAD_ANSIBLE])
def test_a_bad_ansible_inventory_is_named_and_nothing_is_written(inv, filename, content, error):
    source = inv.parent / filename
    source.write_text(content)
    before = snapshot(inv)
    r = invoke("import", "ansible", str(source), "--dir", str(inv))
    assert r.exit_code == 2 and error in r.stderr, r.output
    assert snapshot(inv) == before


def test_from_excludes_the_single_host_arguments(inv):
    (inv.parent / "h.csv").write_text(CSV)
    r = invoke("add-host", "x", "198.51.100.30", "--from", str(inv.parent / "h.csv"), "--dir", str(inv))
    assert r.exit_code == 2 and "--from FILE takes every field from the file" in r.stderr
    r = invoke("add-host", "--dir", str(inv))
    assert r.exit_code == 2 and "or --from FILE" in r.stderr
