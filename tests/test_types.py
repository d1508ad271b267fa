"""echoseg.types: QC results combine."""
from __future__ import annotations

from echoseg.types import combine, make_result


def test_combine():
    a = make_result(["x"], 0.8, ["w1"])
    b = make_result([], 0.6, ["w2"])
    c = combine(a, b)
    assert (c.passed, c.reasons, c.warnings, c.confidence) == (False, ("x",), ("w1", "w2"), 0.6)
