"""Arithmetic expressions of derived fields (``derived[*].expr`` in a schema).

A schema derives quantities such as trigger times from header fields with small expressions,
e.g. ``"(blocks >> 16) & 0xF"``. They are parsed once with ``ast``, checked against a
whitelist (numbers, names, arithmetic, bitwise and comparison operators, and the function
``where(condition, if_true, if_false)``) and evaluated on NumPy arrays, so a schema can never run
arbitrary code. Comparisons give 0/1 integers, so they can be added and multiplied like numbers.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Expression", "ExpressionError"]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _where(condition: Any, if_true: Any, if_false: Any) -> Any:
    return np.where(np.asarray(condition) != 0, if_true, if_false)


_FUNCTIONS: dict[str, Callable[..., Any]] = {"where": _where}


class ExpressionError(ValueError):
    """An expression uses syntax or names outside the allowed set."""


@dataclass(frozen=True)
class Expression:
    """A parsed, validated expression.

    Parameters
    ----------
    source : str
        The expression text as written in the schema.
    """

    source: str

    def __post_init__(self) -> None:
        if len(self.source) > MAX_LENGTH:
            raise ExpressionError(f"expression too long: {len(self.source)} characters (at most {MAX_LENGTH})")
        try:
            tree = ast.parse(self.source, mode="eval")
        except (SyntaxError, RecursionError, MemoryError) as exc:
            raise ExpressionError(f"cannot parse {self.source!r}: {getattr(exc, 'msg', exc)}") from None
        _check(tree.body)
        object.__setattr__(self, "_tree", tree.body)

    @property
    def names(self) -> frozenset[str]:
        """Names of the variables the expression reads."""
        tree: ast.AST = object.__getattribute__(self, "_tree")
        return frozenset(
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and node.id not in _FUNCTIONS
        )

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Evaluate on ``values`` (arrays or scalars keyed by name)."""
        return _eval(object.__getattribute__(self, "_tree"), values)


MAX_LENGTH = 1000
"""Longest expression (characters)."""
MAX_INTEGER = 2**64
"""Largest integer constant: every field is at most 64 bits wide."""
MAX_SHIFT_OR_EXPONENT = 64
"""Largest constant shift count or exponent, so no constant can grow without bound."""


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numeric constants are allowed, found {node.value!r}")
        if isinstance(node.value, int) and abs(node.value) > MAX_INTEGER:
            raise ExpressionError(f"integer constant {node.value:.3e} is larger than 2**64")
    elif isinstance(node, ast.Name):
        return
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        right = node.right.value if isinstance(node.right, ast.Constant) else None
        if isinstance(node.op, (ast.LShift, ast.RShift)) and isinstance(right, int) \
                and not 0 <= right <= MAX_SHIFT_OR_EXPONENT:
            raise ExpressionError(f"shift count {right} is outside 0..{MAX_SHIFT_OR_EXPONENT}")
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > MAX_SHIFT_OR_EXPONENT:
            raise ExpressionError(f"exponent {right} is larger than {MAX_SHIFT_OR_EXPONENT}")
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand)
    elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        for child in (node.left, *node.comparators):
            _check(child)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            raise ExpressionError(f"only the functions {sorted(_FUNCTIONS)} may be called")
        if node.func.id == "where" and len(node.args) != 3:
            raise ExpressionError("where() takes exactly 3 arguments: condition, if_true, if_false")
        for arg in node.args:
            _check(arg)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")


def _eval(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, values), _eval(node.right, values)
        if isinstance(node.op, ast.Pow):
            left = np.asarray(left, dtype=np.float64)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, values))
    if isinstance(node, ast.Compare):
        result: Any = True
        left = _eval(node.left, values)
        for op, comparator in zip(node.ops, node.comparators):
            right = _eval(comparator, values)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return np.asarray(result).astype(np.int64)
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return _FUNCTIONS[node.func.id](*(_eval(arg, values) for arg in node.args))
