"""Symbolic integer index expressions, simplified as they are built.

The codegen's index math (tinygradlike/view.py renders views with it) is made of sums,
products by constants, and division/modulo by positive constants. Each expression knows its
C text and its range [min, max], so `x%N` vanishes when 0 <= x < N, `(a*N+b)/N` becomes `a`
when 0 <= b < N, like terms combine and constants fold. Division and modulo are only built on
values that are non-negative wherever the result matters, so C's truncating `/` and `%` agree
with floor division.
"""
from __future__ import annotations

import copy
import math



class Expr:
    __slots__ = ("s", "min", "max")

    def __repr__(self) -> str:
        return f"<{self.s} in [{self.min}, {self.max}]>"


class Num(Expr):
    __slots__ = ("value",)

    def __init__(self, value: int):
        self.value, self.min, self.max = value, value, value
        self.s = str(value) if value >= 0 else f"({value})"


class Var(Expr):
    __slots__ = ()

    def __init__(self, name: str, lo: int, hi: int):
        self.s = name if name.isidentifier() or name.isdigit() else f"({name})"
        self.min, self.max = lo, hi


class Mul(Expr):
    __slots__ = ("a", "b")

    def __init__(self, a: Expr, b: int):
        self.a, self.b, self.s = a, b, f"({a.s}*{b})"
        self.min, self.max = sorted((a.min * b, a.max * b))


class Div(Expr):
    __slots__ = ("a", "b")

    def __init__(self, a: Expr, b: int):
        self.a, self.b, self.s = a, b, f"({a.s}/{b})"
        self.min, self.max = a.min // b, a.max // b


class Mod(Expr):
    __slots__ = ("a", "b")

    def __init__(self, a: Expr, b: int):
        self.a, self.b, self.s = a, b, f"({a.s}%{b})"
        self.min, self.max = 0, (min(b - 1, a.max) if a.min >= 0 else b - 1)


class Sum(Expr):
    __slots__ = ("terms", "const")

    def __init__(self, terms: tuple[Expr, ...], const: int):
        self.terms, self.const = terms, const
        self.min = const + sum(t.min for t in terms)
        self.max = const + sum(t.max for t in terms)
        pos = [t.s for t in terms if not (isinstance(t, Mul) and t.b < 0)]
        neg = [mul(t.a, -t.b).s for t in terms if isinstance(t, Mul) and t.b < 0]
        text = "+".join(pos)
        if not pos and const > 0:
            text, const = str(const), 0
        text += "".join("-" + n for n in neg)
        if const:
            text += f"+{const}" if const > 0 else str(const)
        self.s = f"({text})"


def _split_coeff(node: Expr) -> tuple[Expr, int]:
    return (node.a, node.b) if isinstance(node, Mul) else (node, 1)


def mul(x: Expr, c: int) -> Expr:
    if c == 0:
        return Num(0)
    if c == 1:
        return x
    if isinstance(x, Num):
        return Num(x.value * c)
    if isinstance(x, Mul):  # x.a is never a Mul, so this goes one level deep
        return mul(x.a, x.b * c)
    if isinstance(x, Sum):
        return add([mul(t, c) for t in x.terms] + [Num(x.const * c)])
    return Mul(x, c)


def add(nodes: list[Expr]) -> Expr:
    """A flat sum with like terms combined (keyed by their text) and constants folded."""
    const, coeffs = 0, {}
    for n in nodes:
        parts = n.terms if isinstance(n, Sum) else (n,)
        const += n.const if isinstance(n, Sum) else 0
        for p in parts:
            if isinstance(p, Num):
                const += p.value
                continue
            base, c = _split_coeff(p)
            coeffs.setdefault(base.s, [base, 0])[1] += c
    terms = tuple(mul(b, c) for b, c in coeffs.values() if c != 0)
    if not terms:
        return Num(const)
    if len(terms) == 1 and const == 0:
        return terms[0]
    return Sum(terms, const)


def div(x: Expr, c: int) -> Expr:
    """x / c for c > 0, assuming x >= 0 wherever the result matters."""
    if c == 1:
        return x
    if isinstance(x, Num):
        return Num(x.value // c)
    if x.min >= 0 and x.min // c == x.max // c:
        return Num(x.min // c)
    if isinstance(x, Mul):
        if x.b % c == 0:
            return mul(x.a, x.b // c)
        if x.b > 0 and c % x.b == 0 and x.a.min >= 0:
            return div(x.a, c // x.b)
    if isinstance(x, Div):
        return div(x.a, x.b * c)
    if isinstance(x, Sum):
        g = math.gcd(c, x.const, *(_split_coeff(t)[1] for t in x.terms))
        if g > 1:  # (2a + 4b)/6 == (a + 2b)/3, exactly, for any sign
            return div(add(_scale_down(x, g)), c // g)
        whole = [mul(_split_coeff(t)[0], _split_coeff(t)[1] // c) for t in x.terms if _split_coeff(t)[1] % c == 0]
        rest = [t for t in x.terms if _split_coeff(t)[1] % c != 0] + [Num(x.const % c)]
        if whole or x.const // c:
            r = add(rest)
            if r.min >= 0:  # keep every divided operand non-negative
                return add(whole + [Num(x.const // c), div(r, c)])
        for big, small, g in _big_and_small(x):
            if c % g == 0:  # (g*q + r)/c == q/(c/g) when 0 <= r < g
                return div(big, c // g)
    return Div(x, c)


def _big_and_small(x: Sum):
    """Ways to write x as g*big + small with 0 <= small < g (g > 1), small terms first."""
    terms = sorted(x.terms, key=lambda t: abs(_split_coeff(t)[1]))
    for k in range(len(terms)):
        g = math.gcd(*(_split_coeff(t)[1] for t in terms[k:]))
        small = add(terms[:k] + [Num(x.const)])
        if g > 1 and small.min >= 0 and small.max < g:
            yield add([mul(_split_coeff(t)[0], _split_coeff(t)[1] // g) for t in terms[k:]]), small, g


def _scale_down(x: Sum, g: int) -> list[Expr]:
    return [mul(_split_coeff(t)[0], _split_coeff(t)[1] // g) for t in x.terms] + [Num(x.const // g)]


def mod(x: Expr, c: int) -> Expr:
    """x % c for c > 0, assuming x >= 0 wherever the result matters."""
    if c == 1:
        return Num(0)
    if isinstance(x, Num):
        return Num(x.value % c)
    if x.min >= 0 and x.min // c == x.max // c:
        return add([x, Num(-(x.min // c) * c)])
    if isinstance(x, Mul) and x.b % c == 0:
        return Num(0)
    if isinstance(x, Mod) and x.b % c == 0:
        return mod(x.a, c)
    if isinstance(x, Sum):
        rest = [t for t in x.terms if _split_coeff(t)[1] % c != 0]
        if len(rest) < len(x.terms) or x.const % c != x.const:
            r = add(rest + [Num(x.const % c)])
            if r.min >= 0:
                return mod(r, c)
        for big, small, g in _big_and_small(x):
            if c % g == 0 and big.min >= 0:  # (g*q + r)%c == (q%(c/g))*g + r when 0 <= r < g
                return add([mul(mod(big, c // g), g), small])
    return Mod(x, c)


def clamp(x: Expr, lo: int, hi: int) -> Expr:
    """x, known to lie in [lo, hi] wherever it matters (at valid positions)."""
    if isinstance(x, Num) or (x.min >= lo and x.max <= hi):
        return x
    x = copy.copy(x)
    x.min, x.max = max(x.min, lo), min(x.max, hi)
    return x
