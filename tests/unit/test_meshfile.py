"""meshfile's fast path gives exactly what PyYAML gives, or steps aside."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest
import yaml

from meshbeam import inventory, keys, meshfile
from meshbeam.inventory import Host, Mesh, Peer

# Values that are plain, that need quotes, or that YAML would read as another type.
TRICKY = ["app", "yes", "no", "on", "null", "123", "1.5", "0x1F", "1_000", "1:30", "+abc", "-abc", "a:b", "a: b",
          "a #b", "/srv/a+b@c/vm.args", "=", "~", "true", "True", "x" * 200, "a b", "'q'", "[::1]:51820", "é",
          "2026-12-02", "2001-12-14t21:59:43.10-05:00", "1e5", "1.0e+5", "0b101", "017", "+1", "190:20:30",
          "1.2.3.4:51820", "198.18.0.0/16", "NULL", "Null", "n", "Y", "off", "OFF", "0o17", "1_2.5", "+.inf"]


def random_mesh(rng: random.Random, n: int) -> Mesh:
    def pick() -> str:
        return rng.choice(TRICKY) if rng.random() < 0.3 else rng.choice(["web", "root", "/srv/app/vm.args"])

    hosts = tuple(Host(name=pick() + str(i), ssh=pick(), address=f"198.18.0.{i + 1}", endpoint=pick(),
                       public_key=keys.public_key(keys.generate_private()), node_name=pick(),
                       vm_args=rng.choice([None, pick()]), run_user=pick(), mix_release=rng.random() < 0.5)
                  for i in range(n))
    peers = tuple(Peer(name=pick(), address=f"198.18.1.{i + 1}", public_key=pick()) for i in range(rng.randint(0, 2)))
    return Mesh(backend=pick(), cidr=rng.choice(["198.18.0.0/16", pick()]), interface=pick(),
                port=rng.randint(1, 65535), mtu=rng.randint(1280, 9000), epmd=pick(), identity=pick(),
                hosts=hosts, peers=peers)


@pytest.mark.parametrize("seed", range(40))
def test_dump_is_inventory_dump_byte_for_byte_and_parse_is_safe_load(seed):
    mesh = random_mesh(random.Random(seed), seed % 7)
    text = inventory.dump(mesh)
    assert meshfile.dump(mesh) == text
    parsed = meshfile.parse(text)
    assert parsed is None or parsed == yaml.safe_load(text)


def test_a_plain_inventory_takes_the_fast_path(inv, monkeypatch):
    text = (inv / "mesh.yaml").read_text()
    assert meshfile.parse(text) == yaml.safe_load(text)
    mesh = inventory.load(inv)
    assert meshfile.load(inv) == mesh
    real = inventory.dump

    def members_not_dumped_by_pyyaml(m: Mesh) -> str:
        assert not m.members, "the members should not go through PyYAML"
        return real(m)

    monkeypatch.setattr(inventory, "dump", members_not_dumped_by_pyyaml)
    assert meshfile.dump(mesh) == text


HAND_EDITED = [
    "mesh:\n  backend: wireguard  # comment\n",
    "mesh:\n  backend: 'wireguard'\n",
    "mesh: {backend: wireguard}\n",
    "mesh:\n  port: 0x1F\n",
    "mesh:\n  port: 51820\n  port: 1\n",
    "mesh:\n\tport: 1\n",
    "mesh:\r\n  port: 1\r\n",
    "yes:\n  port: 1\n",
    "mesh:\n  backend: &a wireguard\n",
    "mesh:\n  backend:\n",
    "hosts:\n",
    "hosts: []\n- name: a\n",
    "hosts:\n  name: a\n- ssh: b\n",
    "hosts:\n- name: a\n    ssh: b\n",
    "---\nmesh:\n  port: 1\n",
    "hosts:\n- name: a\n  mix_release: yes\n",
    "hosts:\n- name: a\n  vm_args: ~\n",
    "hosts:\n-  name: a\n",
    "mesh:\n  cidr: 198.18.0.0/16\n# a comment\n  epmd: mesh\n",
    "",
    "\n",
    "# nothing but a comment\n",
    "mesh:\n  cidr: a:\n",
    "mesh:\n  cidr: a:\n  port: 1\n",
    "hosts:\n- name: a\n   \n",
    "hosts:\n- name: a\n- name: b\n  name: c\n",
    "hosts:\n- yes: b\n",
    "hosts:\n- name: a\n  - ssh: b\n",
    "hosts:\n- name: a\nhosts: []\n",
    "mesh:\n  port: 1\n- name: a\n",
    "hosts:\n- name: a # c\n",
    "hosts:\n- name: a\n  ssh: 1.5\n",
    "hosts:\n- name: a\n  ssh: 2001-12-14\n",
]


@pytest.mark.parametrize("text", HAND_EDITED)
def test_anything_else_is_left_to_pyyaml_or_read_the_same(text):
    parsed = meshfile.parse(text)
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        assert parsed is None
        return
    assert parsed is None or parsed == expected


READ_FAST = [
    "# header\n\nmesh:\n  port: 1\n",  # an empty line after the header
    "mesh:\n  port: 1",  # no newline at the end
    "hosts:\n# c\n- name: a\n  # c\n  ssh: b\n\n- name: c\npeers: []\n",  # comments and empty lines inside
    "peers: []\nmesh:\n  mix: true\n  port: 51820\n",  # any order; a boolean, a number
    "hosts:\n- name: 123x\n  ssh: 198.18.0.1\n  k: 1.2.3.4:5\n",  # strings of digits
]


@pytest.mark.parametrize("text", READ_FAST)
def test_the_subset_is_read_without_pyyaml(text):
    parsed = meshfile.parse(text)
    assert parsed is not None and parsed == yaml.safe_load(text)


def _mutated(rng: random.Random, text: str) -> str:
    snippets = ["# c", "  # c", "", " ", "\t", "- ", "  x: 1", "- name: a", "peers: []", "hosts:", "  port: 0x1F",
                "  name: yes", "  name: 'q'", "---", "  a: 1.5", "  a: null", "  a:", "  b: x:", "  mix_release: true"]
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i, choice = rng.randrange(len(lines)), rng.random()
        if choice < 0.4:
            lines.insert(i, rng.choice(snippets))
        elif choice < 0.6:
            del lines[i]
        elif choice < 0.8:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] += rng.choice([" ", ":", " #x", "\r", "x"])
    return "\n".join(lines)


def test_a_hand_edited_file_is_read_as_pyyaml_reads_it_or_left_to_it():
    rng, fast = random.Random(5), 0
    for seed in range(300):
        plain = Mesh(cidr="198.18.0.0/16", hosts=tuple(
            Host(name=f"h{i}", ssh=f"root@198.51.100.{i}", address=f"198.18.0.{i + 1}",
                 endpoint=f"198.51.100.{i}:51820", public_key="A" * 43 + "=",
                 vm_args=rng.choice([None, "/srv/vm.args"]), mix_release=rng.random() < 0.3)
            for i in range(rng.randint(0, 3))))
        text = _mutated(rng, inventory.dump(plain if seed % 3 else random_mesh(rng, 2)))
        parsed = meshfile.parse(text)
        try:
            expected = yaml.safe_load(text)
        except yaml.YAMLError:
            assert parsed is None, text
            continue
        assert parsed is None or parsed == expected, text
        fast += parsed is not None
    assert fast > 20  # the subset is not left to PyYAML wholesale


def test_a_string_that_reads_as_a_number_is_never_written_plain():
    """Values read from a file are trusted when written back; a number or a boolean read there
    must not vouch for the string of its digits or 'true'."""
    assert meshfile.parse("mesh:\n  port: 123\n  flag: true\n") == {"mesh": {"port": 123, "flag": True}}
    for name, written in (("123", "'123'"), ("true", "'true'")):
        mesh = Mesh(hosts=(Host(name=name, ssh="web", address="198.18.0.1", endpoint="web:1", public_key="k"),))
        assert meshfile.dump(mesh) == inventory.dump(mesh)
        assert f"- name: {written}\n" in meshfile.dump(mesh)


def test_the_copied_resolvers_are_pyyamls_own():
    """meshfile decides a plain scalar's type with PyYAML's rules, copied; they must still be PyYAML's."""
    theirs = yaml.resolver.Resolver.yaml_implicit_resolvers
    assert None not in theirs  # no resolver that applies whatever the first character
    firsts = [c for c in map(chr, range(128)) if re.fullmatch(f"[{meshfile.SAFE_FIRST}]", c)]
    assert len(firsts) == 64
    for c in firsts:
        ours = [(tag, p.pattern, p.flags) for tag, p in meshfile.resolvers().get(c, [])]
        assert ours == [(tag, p.pattern, p.flags) for tag, p in theirs.get(c, [])], c


@pytest.mark.parametrize("text", [t for t in TRICKY if meshfile._SAFE.fullmatch(t)])
def test_a_plain_scalar_reads_as_pyyaml_reads_it(text):
    assert meshfile._tag(text) == yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))


def test_reading_and_writing_mesh_yaml_imports_no_pyyaml(inv):
    """PyYAML's import is much of a small command's start-up: meshfile does without it."""
    code = ("import sys; from pathlib import Path; from meshbeam import cli, meshfile; "
            "m = meshfile.load(Path(sys.argv[1])); meshfile.dump(m); print('yaml' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(inv)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
