"""meshbeam.distmod: the allowed file it renders and the module source it ships."""

from __future__ import annotations

import pytest

from meshbeam import distmod
from meshbeam.errors import InputError


def test_allowed_file_golden(golden):
    golden("distmod/allowed", distmod.render_allowed(["web@198.18.0.3", "app@198.18.0.1", "laptop@198.18.0.10",
                                                      "app@198.18.0.1"]))


def test_no_names_allow_nobody():
    assert distmod.render_allowed([]) == distmod.ALLOWED_HEADER


@pytest.mark.parametrize(("node", "message"), [
    ("app", "expected NAME@IPADDRESS"),
    ("@198.18.0.1", "expected NAME@IPADDRESS"),
    ("a b@198.18.0.1", "expected NAME@IPADDRESS"),
    ("app@web1.example.com", "must be an IPv4 address"),
    ("app@198.18.0.1@x", "must be an IPv4 address"),
    ("app@198.18.0.01", "must be an IPv4 address"),
    ("app@fd00::1", "must be an IPv4 address"),
    ("app@198.18.0.1\nevil@198.18.0.9", "must be an IPv4 address"),
])
def test_a_bad_name_is_one_line_naming_it(node, message):
    with pytest.raises(InputError) as e:
        distmod.render_allowed(["ok@198.18.0.1", node])
    assert message in str(e.value) and repr(node) in str(e.value)
    assert e.value.exit_code == 2


def test_the_module_source_ships_with_the_package():
    src = distmod.source()
    assert src.startswith(b"%% meshbeam_dist:") and b"-module(meshbeam_dist)." in src
    assert distmod.BEAM_PATH == f"{distmod.EBIN_DIR}/{distmod.MODULE}.beam"
