"""The schema expression language: what is allowed, what is refused, and numpy semantics."""

from __future__ import annotations

import numpy as np
import pytest

from idex.schema.expressions import Expression, ExpressionError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(blocks >> 16) & 0xF", [3, 3]),
        ("blocks & 0x3F", [31, 32]),
        ("where(flag & 1, a, b)", [10, 10]),
        ("-(a - b) ** 2 / 4", [-25.0, -25.0]),
        ("(a < b) + (a == 10)", [2, 0]),  # comparisons give 0/1 integers, not booleans
        ("~flag & 3", [2, 1]),
        ("a % 7 + b // 3 - 1 ^ 1", [9, 9]),  # ^ binds looser than + and -, as in Python
    ],
)
def test_evaluates_on_arrays(text, expected):
    values = {
        "blocks": np.array([0x3001F, 0x30020]),
        "flag": np.array([1, 2]),
        "a": np.array([10, 20]),
        "b": np.array([20, 10]),
    }
    np.testing.assert_allclose(Expression(text).evaluate(values), expected)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "a.real",
        "a[0]",
        "lambda: 1",
        "'text'",
        "True",
        "max(a, b)",
        "where(a, b)",
        "where(a, b, c=1)",
        "a if b else c",
        "(a, b)",
    ],
)
def test_refuses_anything_else(text):
    with pytest.raises(ExpressionError):
        Expression(text)


def test_reports_syntax_errors():
    with pytest.raises(ExpressionError, match="cannot parse"):
        Expression("a +")


def test_names():
    assert Expression("where(x & 1, y, z) + 2").names == {"x", "y", "z"}
