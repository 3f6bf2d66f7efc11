"""One number parser (edgeseg.config): finite_or_none reads a table cell or a sysfs reading as a
float, None when it is empty, a word, nan or inf; is_finite_number is its yes/no. No module
keeps a private parser of its own under another meaning (the three `_num`s of issue 24)."""

import ast
import math
from pathlib import Path

import pytest

from edgeseg.config import finite_or_none, is_finite_number
from edgeseg.device import power as pw
from edgeseg.device.profiles import PowerSpec

PACKAGE = Path(__file__).resolve().parents[2] / "edgeseg"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1.5", 1.5),
        (" 42 ", 42.0),
        (-3, -3.0),
        (0, 0.0),
        ("1e3", 1000.0),
        (True, 1.0),
        (None, None),
        ("", None),
        ("n/a", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-inf", None),
        (math.nan, None),
        (math.inf, None),
        ([1], None),
    ],
)
def test_finite_or_none_and_is_finite_number_agree(value, expected):
    assert finite_or_none(value) == expected
    assert is_finite_number(value) is (expected is not None)


def test_a_sysfs_nan_or_inf_reading_is_no_sample_value():
    log = pw.parse_power_log("S 1.0 nan inf 300 | 41000 nan | 1704000 inf\nS nan 250 3800 300 | |\n", PowerSpec())
    (s,) = log.samples  # the line whose time is nan is dropped
    assert s["current_ma"] is None and s["voltage_v"] is None and s["battery_c"] == 30.0
    assert s["zones_c"] == [41.0] and s["cpu_khz"] == [1704000]


def test_no_module_defines_or_imports_a_private_num():
    found = []
    for f in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if (
                isinstance(node, (ast.FunctionDef, ast.Name))
                and getattr(node, "name", getattr(node, "id", "")) == "_num"
            ):
                found.append(f"{f.relative_to(PACKAGE.parent)}:{node.lineno}")
            if isinstance(node, ast.alias) and "_num" in (node.name, node.asname):
                found.append(f"{f.relative_to(PACKAGE.parent)}:{node.lineno} (import)")
    assert not found, "a `_num` again; use edgeseg.config.finite_or_none / is_finite_number:\n" + "\n".join(found)
