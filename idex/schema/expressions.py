"""Arithmetic expressions of derived fields (``derived[*].expr`` in a schema).

A schema derives quantities such as trigger times from header fields with small expressions,
e.g. ``"(blocks >> 16) & 0xF"``. They are parsed once with ``ast``, checked against a
whitelist (numbers, names, arithmetic, bitwise and comparison operators, and the function
``where(condition, if_true, if_false)``) and evaluated on NumPy arrays, so a schema can never run
arbitrary code. Comparisons give 0/1 integers, so they can be added and multiplied like numbers.

Cost is bounded before anything runs (:meth:`Expression.bound`, called by schema validation): every
integer value, intermediate ones included, is proven to fit in 63 bits (the int64 arrays expressions
run on) from the widths of the fields it reads, shifts and bitwise operators take integers only, a
divisor that is a constant is not zero and ``//`` and ``%`` divide by constants only, and parts made of
constants alone are computed once at validation and must be finite. So an expression that passes
validation evaluates in time proportional to the number of events, without an exception.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from idex.exceptions import ExpressionError

__all__ = ["Bound", "Expression", "ExpressionError"]

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
        return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id not in _FUNCTIONS)

    def bound(self, names: Mapping[str, Bound]) -> Bound:
        """What the value can be, from what the names it reads can be (see the module docstring).

        Raises
        ------
        ExpressionError
            When a value may need more than 63 bits, an operator needs integers and may get a float,
            a divisor may be zero, or a constant part is not finite.
        """
        return _bound(object.__getattribute__(self, "_tree"), names)

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
        if (
            isinstance(node.op, (ast.LShift, ast.RShift))
            and isinstance(right, int)
            and not 0 <= right <= MAX_SHIFT_OR_EXPONENT
        ):
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


MAX_INTEGER_BITS = 63
"""Integers are evaluated as int64: every integer value must stay below ``2**63`` in magnitude."""


@dataclass(frozen=True)
class Bound:
    """What validation knows of a value: a float, or an integer below ``2**bits`` in magnitude.

    ``value`` is the value itself when it depends on constants only.
    """

    is_float: bool
    bits: int = 0
    value: int | float | None = None

    @classmethod
    def of(cls, value: Any) -> Bound:
        """The bound of a known value."""
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return cls(False, int(value).bit_length(), int(value))
        return cls(True, 0, float(value))


_SHIFTS_AND_BITWISE = (ast.LShift, ast.RShift, ast.BitAnd, ast.BitOr, ast.BitXor)


def _bound(node: ast.AST, names: Mapping[str, Bound]) -> Bound:
    bounds: list[Bound] = []
    if isinstance(node, ast.Constant):
        result = Bound.of(node.value)
    elif isinstance(node, ast.Name):
        result = names.get(node.id, Bound(False, MAX_INTEGER_BITS))
    else:
        bounds = [_bound(child, names) for child in _children(node)]
        result = _combine(node, bounds)
    if not result.is_float and result.bits > MAX_INTEGER_BITS:
        raise ExpressionError(
            f"{ast.unparse(node)!r} may need {result.bits} bits; integers are evaluated as int64 "
            f"(at most {MAX_INTEGER_BITS} bits)"
        )
    if bounds and all(b.value is not None for b in bounds):  # constants only: computed once, here
        constants = {name: b.value for name, b in names.items() if b.value is not None}
        with np.errstate(all="ignore"):
            value = np.asarray(_eval(node, constants)).item()
        if not np.isfinite(value):
            raise ExpressionError(f"{ast.unparse(node)!r} is {value}")
        return Bound.of(value)
    return result


def _children(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Compare):
        return [node.left, *node.comparators]
    assert isinstance(node, ast.Call)
    return list(node.args)


def _combine(node: ast.AST, bounds: list[Bound]) -> Bound:
    """The bound of ``node`` from its operands' (before any constant folding)."""
    text = ast.unparse(node)
    if isinstance(node, ast.Compare):
        return Bound(False, 1)
    if isinstance(node, ast.Call):  # where(condition, if_true, if_false)
        return Bound(bounds[1].is_float or bounds[2].is_float, max(bounds[1].bits, bounds[2].bits))
    if isinstance(node, ast.UnaryOp):
        (operand,) = bounds
        if isinstance(node.op, ast.Invert):
            if operand.is_float:
                raise ExpressionError(f"{text!r}: ~ needs an integer")
            return Bound(False, operand.bits + 1)
        return Bound(operand.is_float, operand.bits)
    assert isinstance(node, ast.BinOp)
    left, right = bounds
    is_float = left.is_float or right.is_float
    if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
        if right.value == 0:
            raise ExpressionError(f"{text!r} divides by zero")
        if right.value is None and not isinstance(node.op, ast.Div):
            raise ExpressionError(
                f"{text!r}: // and % divide by constants only (their result on a zero divisor "
                "would be a wrong number); use / for a float quotient"
            )
    if isinstance(node.op, _SHIFTS_AND_BITWISE):
        if is_float:
            raise ExpressionError(
                f"{text!r}: shifts and bitwise operators need integers, and an operand may be a float"
            )
        if isinstance(node.op, ast.LShift):
            count = right.value if right.value is not None else (1 << right.bits) - 1
            return Bound(False, left.bits + int(count))
        if isinstance(node.op, ast.RShift):
            return Bound(False, left.bits)
        masks = [b.bits for b in bounds if isinstance(node.op, ast.BitAnd) and b.value is not None and b.value >= 0]
        return Bound(False, min(masks) if masks else max(left.bits, right.bits))  # x & c lies in 0..c
    if isinstance(node.op, (ast.Div, ast.Pow)) or is_float:  # the evaluator raises to powers in float64
        return Bound(True)
    if isinstance(node.op, ast.Mult):
        return Bound(False, left.bits + right.bits)
    if isinstance(node.op, ast.FloorDiv):
        return Bound(False, left.bits)
    if isinstance(node.op, ast.Mod):
        return Bound(False, right.bits)
    return Bound(False, max(left.bits, right.bits) + 1)  # + and -


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
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, values)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return np.asarray(result).astype(np.int64)
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return _FUNCTIONS[node.func.id](*(_eval(arg, values) for arg in node.args))
