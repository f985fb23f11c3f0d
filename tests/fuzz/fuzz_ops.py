"""The op table of the differential fuzzer: one row per public Tensor op.

A row says three things about an op:
- `draw(g)`: which operands and parameters make a valid call (g is the program generator,
  fuzz_generate.Gen; it knows the variables built so far and their reference values);
- `code(names, params)`: the Python source of the call on tinygradlike. This source is what
  runs, and it is also the printed repro, so a failure is reproduced by copy-paste;
- `ref(R, values, params)`: what the call means, computed by fuzz_ref.Ref in float64 torch.
Adding an op to the fuzzer is adding a row.
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from fuzz_ref import FLOATS, RV, OutputDerivative, Ref, _Round, Reject, floaty, promote, promote_values, scalar_kind, scalar_value, sum_is_exact, ulp32, with_scalar


class Skip(Exception):
    """The op cannot be drawn in the current program (no operand fits)."""


@dataclass(frozen=True)
class OpDef:
    name: str
    group: str
    draw: Callable
    code: Callable[[list[str], dict], str]
    ref: Callable[[Ref, list[RV], dict], RV]
    weight: float = 1.0


OPS: dict[str, OpDef] = {}


def op(name: str, group: str, draw, code, ref, weight: float = 1.0) -> None:
    OPS[name] = OpDef(name, group, draw, code, ref, weight)


ALL = ("bool", "int32", "float32", "float64")
NUMERIC = ("int32", "float32", "float64")


# --------------------------------------------------------------------------- rendering

def lit(c, bare: bool = False) -> str:
    """A Python literal for the constant c; negative ones in parentheses unless bare."""
    if isinstance(c, np.generic):
        return f"np.{type(c).__name__}({c.item()!r})"
    if isinstance(c, float):
        if math.isnan(c):
            return "float('nan')"
        if math.isinf(c):
            return "float('inf')" if c > 0 else "float('-inf')"
    text = repr(c)
    negative = not isinstance(c, bool) and (c < 0 or (c == 0 and math.copysign(1, c) < 0))
    return f"({text})" if negative and not bare else text


def axis_text(axis) -> str:
    return repr(axis) if not isinstance(axis, tuple) else "(" + ", ".join(map(str, axis)) + ("," if len(axis) == 1 else "") + ")"


# --------------------------------------------------------------------------- helpers (ref)

def norm_dims(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % max(ndim, 1) for a in axes)) if ndim else ()


def reduce_view(t: torch.Tensor, axis, keepdim: bool):
    """(tensor, dims, keepdim) to hand to a torch reduction, with 0-d tensors as one element."""
    if t.dim() == 0:
        return t.reshape(1), (0,), False
    return t, norm_dims(axis, t.dim()), keepdim


def count_of(shape, axis) -> int:
    return math.prod(shape[a] for a in norm_dims(axis, len(shape))) if shape else 1


def fl(R: Ref, rv: RV) -> RV:
    """The float operand an op like exp() works on (ints and bools become float32)."""
    return R.convert(rv, floaty(rv.dtype))


# --------------------------------------------------------------------------- unary, float results

# composites whose formula uses -x or abs(x), refused on bool tensors (softplus(bool) raises)
COMPOSITE = ("softplus", "gelu", "gelu_exact", "silu", "log1p", "exp2", "log2", "tan", "rsqrt")


def _unary_float(name: str, fn, ulps: float, domain=None, scale=None, code=None, weight=1.0):
    def draw(g):
        x = g.pick_in_domain(domain)
        if name in COMPOSITE and x.dtype == "bool":
            raise Skip(f"{name} of a bool tensor")
        return [x], {}

    def ref(R, a, p):
        x = fl(R, a[0])
        v = fn(x.t, R, x.dtype == "float32")
        # a few ulps off on the device even where the exact result is a float32 (tanh(-300) may
        # be -0.99999994): never exact, except the correctly rounded sqrt and 1/x (and those
        # that OutputDerivative has jittered already)
        exact = None if name in ("sqrt", "reciprocal") else name in ("exp", "exp2", "tanh", "sigmoid")  # jittered already
        return R.out(v, x.dtype, ulps, scale(x.t.detach(), v.detach()) if scale else None, exact)

    op(name, "unary", draw, code or (lambda n, p: f"{n[0]}.{name}()"), ref, weight)


def _by_output(name: str, ulps: float):
    return lambda x, R, fp32: OutputDerivative.apply(x, R, fp32, name, ulps)


_unary_float("exp", _by_output("exp", 4), 4, scale=lambda x, v: v.abs() * torch.clamp(x.abs(), min=1))
_unary_float("log", lambda x, R, fp32: torch.log(x), 4, domain=lambda v: v > 0)
_unary_float("sqrt", lambda x, R, fp32: torch.sqrt(x), 3, domain=lambda v: v >= 0)
_unary_float("rsqrt", lambda x, R, fp32: torch.rsqrt(x), 6, domain=lambda v: v > 0, weight=0.5)
_unary_float("sin", lambda x, R, fp32: torch.sin(x), 4, scale=lambda x, v: torch.clamp(x.abs(), min=1))
_unary_float("cos", lambda x, R, fp32: torch.cos(x), 4, scale=lambda x, v: torch.clamp(x.abs(), min=1))
_unary_float("tan", lambda x, R, fp32: torch.tan(x), 8, scale=lambda x, v: (1 + v * v) * torch.clamp(x.abs(), min=1), weight=0.4)
_unary_float("tanh", _by_output("tanh", 6), 6)
_unary_float("sigmoid", _by_output("sigmoid", 8), 8)
_unary_float("reciprocal", lambda x, R, fp32: torch.reciprocal(x), 3)
_unary_float("log1p", lambda x, R, fp32: torch.log1p(x), 4, domain=lambda v: v > -1)
_unary_float("exp2", lambda x, R, fp32: _by_output("exp", 4)(x * math.log(2), R, fp32), 4,
             scale=lambda x, v: v.abs() * torch.clamp(x.abs(), min=1), weight=0.5)
_unary_float("log2", lambda x, R, fp32: torch.log2(x), 6, domain=lambda v: v > 0, weight=0.5)
_unary_float("softplus", lambda x, R, fp32: F.softplus(x), 8)
_unary_float("gelu", lambda x, R, fp32: F.gelu(x, approximate="tanh"), 8, scale=lambda x, v: v.abs() + x.abs())
# the exact gelu by its formula (torch's own kernel gives nan at +inf, the formula inf)
_unary_float("gelu_exact", lambda x, R, fp32: 0.5 * x * (1 + torch.erf(x * (1 / math.sqrt(2)))), 20,
             scale=lambda x, v: v.abs() + x.abs(), code=lambda n, p: f"{n[0]}.gelu('none')", weight=0.5)
_unary_float("erf", lambda x, R, fp32: torch.erf(x), 16, weight=0.5)
_unary_float("silu", lambda x, R, fp32: F.silu(x), 10, scale=lambda x, v: v.abs() + x.abs() * 1e-3)


# --------------------------------------------------------------------------- unary, same dtype

def _draw_numeric(g):
    return [g.pick(dtypes=NUMERIC)], {}


def _ref_neg(R, a, p):
    return R.out(-a[0].t, a[0].dtype, exact=True)


def _ref_abs(R, a, p):
    return R.out(torch.abs(a[0].t), a[0].dtype, exact=True)


def _ref_sign(R, a, p):
    # piecewise constant: no gradient path at all, as in tinygradlike (torch sends 0 * upstream,
    # which turns a nan derivative upstream, e.g. rsqrt(-0.5), into a nan gradient)
    return R.out(torch.sign(a[0].t).detach(), a[0].dtype, exact=True)


def _ref_square(R, a, p):
    return R.out(a[0].t * a[0].t, a[0].dtype)


def _ref_relu(R, a, p):
    # torch.relu's values and first derivative, written as the `where` it is (see README:
    # second derivatives of masks)
    x = a[0].t
    return R.out(torch.where(x <= 0, torch.zeros_like(x), x), a[0].dtype, exact=True)


op("neg", "unary", _draw_numeric, lambda n, p: f"-{n[0]}", _ref_neg)
op("abs", "unary", _draw_numeric, lambda n, p: f"{n[0]}.abs()", _ref_abs)
op("sign", "unary", _draw_numeric, lambda n, p: f"{n[0]}.sign()", _ref_sign, 0.6)
op("square", "unary", _draw_numeric, lambda n, p: f"{n[0]}.square()", _ref_square, 0.6)
op("relu", "unary", _draw_numeric, lambda n, p: f"{n[0]}.relu()", _ref_relu, 1.5)


def _draw_leaky(g):
    return [g.pick(dtypes=NUMERIC)], {"slope": g.choice([None, None, 0.2, 0.5])}


def _ref_leaky(R, a, p):
    x = fl(R, a[0])
    slope = 0.01 if p["slope"] is None else p["slope"]
    return R.out(torch.where(x.t > 0, x.t, x.t * slope), x.dtype, 3)  # F.leaky_relu, as a where


op("leaky_relu", "unary", _draw_leaky,
   lambda n, p: f"{n[0]}.leaky_relu({'' if p['slope'] is None else lit(p['slope'], True)})", _ref_leaky)


def _draw_clip(g):
    x = g.pick(dtypes=NUMERIC)
    lo = g.const_for(x.dtype) if g.chance(0.7) else None
    hi = g.const_for(x.dtype) if lo is None or g.chance(0.5) else None
    for c in (lo, hi):
        if c is not None and (isinstance(c, (bool, np.bool_)) or isinstance(c, float) and math.isnan(c)):
            raise Skip("clip bounds are numbers")
    return [x], {"lo": lo, "hi": hi, "name": g.choice(["clip", "clip", "clamp"])}


def _code_clip(n, p):
    lo, hi = p["lo"], p["hi"]
    if lo is not None and hi is not None:
        args = f"{lit(lo, True)}, {lit(hi, True)}"
    elif lo is not None:
        args = f"min_={lit(lo, True)}"
    else:
        args = f"max_={lit(hi, True)}"
    return f"{n[0]}.{p['name']}({args})"


def _ref_clip(R, a, p):
    dt = a[0].dtype
    for c in (p["lo"], p["hi"]):
        if c is not None:
            dt = with_scalar(dt, c)
    x = R.convert(a[0], dt)
    lo = None if p["lo"] is None else scalar_value(p["lo"], dt)
    hi = None if p["hi"] is None else scalar_value(p["hi"], dt)
    return R.out(_clamp(x.t, lo, hi), dt, exact=True)


def _clamp(x: torch.Tensor, lo, hi) -> torch.Tensor:
    """torch.clamp's values and first derivatives (x's gradient where lo <= x <= hi, 0 at NaN;
    a tensor bound's where it is taken), written with `where` (see README: second derivatives
    of masks)."""
    held = x.detach()
    if lo is not None:
        held = torch.where(held < lo, lo, held)
    if hi is not None:
        held = torch.where(held > hi, hi, held)
    inside = torch.ones_like(x, dtype=torch.bool)
    if lo is not None:
        inside = inside & (x >= lo)
    if hi is not None:
        inside = inside & (x <= hi)
    return torch.where(inside, x, held)


op("clip", "unary", _draw_clip, _code_clip, _ref_clip, 1.5)


def _draw_any(g):
    return [g.pick()], {}


op("logical_not", "unary", _draw_any, lambda n, p: f"{n[0]}.logical_not()",
   lambda R, a, p: RV(~R.convert(a[0], "bool").t, "bool"), 0.4)
op("contiguous", "unary", _draw_any, lambda n, p: f"{n[0]}.contiguous()",
   lambda R, a, p: R.out(a[0].t, a[0].dtype, exact=True), 0.4)
op("detach", "unary", _draw_any, lambda n, p: f"{n[0]}.detach()",
   lambda R, a, p: RV(a[0].t.detach(), a[0].dtype), 0.3)


# --------------------------------------------------------------------------- binary arithmetic

def _arith(kind: str, R: Ref, a: RV, b: RV, dt: str) -> RV:
    """a (kind) b, both already of dtype dt."""
    if kind == "div":  # true division: ints give float32
        fdt = floaty(dt)
        x, y = R.convert(a, fdt), R.convert(b, fdt)
        return R.out(x.t / y.t, fdt, 3)
    if kind == "pow":
        if dt in FLOATS:
            # at base 0 with exponent >= 0, x**y is constant in y (0, or 1 at y = 0), so every
            # derivative in y is 0; torch masks the first, but its second is 0 * log(0) = nan.
            # There the exponent is detached, and the base elsewhere replaced by 1, not 0.
            # x**0 (x != 0) is torch's own pow: its x-derivative y*x**(y-1) is masked to 0 at
            # y = 0, while its y-derivative x**y*log(x) still depends on x (d/dx = 1/x there:
            # detaching x, as this reference once did, dropped that term, which central
            # differences confirm). Each branch sees (1, 1) where it is not taken, so no nan
            # from an untaken branch leaks into a gradient.
            x, y = a.t, b.t
            flat_y, flat_x = (x == 0) & (y >= 0), y == 0
            both, only_x, only_y = flat_x & flat_y, flat_x & ~flat_y, flat_y & ~flat_x
            neither = ~(flat_x | flat_y)

            def branch(mask, base, exponent):
                return torch.pow(torch.where(mask, base, 1.0), torch.where(mask, exponent, 1.0))

            v = torch.where(both, torch.ones_like(x), torch.where(
                only_x, branch(only_x, x, y), torch.where(
                    only_y, branch(only_y, x, y.detach()), branch(neither, x, y))))
            return R.out(v, dt, 16, exact=False)
        # integer ** integer stays an integer, as in torch: exact, and 1 / base**k truncated
        # toward zero for a negative exponent (0 ** -k gives 0, as torch does)
        v = torch.pow(a.t.double(), b.t.double())
        v = torch.where(torch.isinf(v), 0.0, torch.trunc(v))
        return R.out(v, dt)
    if kind in COMPARE:
        cmp = {"lt": torch.lt, "gt": torch.gt, "le": torch.le, "ge": torch.ge, "eq": torch.eq, "ne": torch.ne}[kind]
        return RV(cmp(a.t, b.t), "bool")
    if dt == "bool":
        fn = {"add": torch.logical_or, "mul": torch.logical_and, "maximum": torch.logical_or,
              "minimum": torch.logical_and}[kind]
        return RV(fn(a.t, b.t), "bool")
    if kind == "add":
        return R.out(a.t + b.t, dt)
    if kind == "sub":
        return R.out(a.t - b.t, dt)
    if kind == "mul":
        return R.out(a.t * b.t, dt)
    if kind in ("maximum", "minimum"):
        # a tie (-0.0 and 0.0 included) gives the second operand, as numpy; torch's answer for
        # -0.0 against 0.0 depends on the tensor's size. Gradients split ties, as torch's.
        fn = torch.maximum if kind == "maximum" else torch.minimum
        v = fn(a.t, b.t)
        tie = (a.t == b.t) & (v == 0)
        return R.out(torch.where(tie, v + (b.t.detach() - v.detach()), v), dt, exact=True)
    raise ValueError(f"unknown binary op {kind}")


SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**",
          "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "eq": "==", "ne": "!="}
COMPARE = ("lt", "gt", "le", "ge", "eq", "ne")


def _binary_dtype_ok(kind: str, *operand_dtypes: str) -> bool:
    """torch and tinygradlike refuse subtraction with any bool operand (tensor or scalar)."""
    return not (kind == "sub" and "bool" in operand_dtypes)


def _make_tensor_binary(kind: str, weight: float):
    def draw(g):
        if kind == "pow":
            a = g.pick_in_domain(lambda v: v >= 0, p_fix=0.5)
        else:
            a = g.pick()
        b = a if g.chance(0.12) else g.partner(a.shape)
        if not _binary_dtype_ok(kind, a.dtype, b.dtype):
            raise Skip("bool - bool is not defined")
        if kind == "pow" and promote(a.dtype, b.dtype) == "bool":
            raise Skip("bool ** bool is not defined (torch has no bool pow)")
        return [a, b], {}

    def code(n, p):
        if kind in ("maximum", "minimum"):
            return f"{n[0]}.{kind}({n[1]})"
        return f"{n[0]} {SYMBOL[kind]} {n[1]}"

    def ref(R, a, p):
        dt = promote_values(a[0], a[1])
        x, y = R.convert(a[0], dt), R.convert(a[1], dt)
        return _arith(kind, R, x, y, dt)

    op(kind, "compare" if kind in COMPARE else "binary", draw, code, ref, weight)


for _kind, _w in [("add", 2), ("sub", 1.5), ("mul", 2), ("div", 1), ("pow", 0.7), ("maximum", 1), ("minimum", 1),
                  ("lt", 0.5), ("gt", 0.5), ("le", 0.4), ("ge", 0.4), ("eq", 0.4), ("ne", 0.4)]:
    _make_tensor_binary(_kind, _w)


def _make_const_binary(kind: str, weight: float):
    name = f"{kind}_const"

    def draw(g):
        if kind == "pow":
            side = g.choice(["right", "right", "left"])
            a = g.pick_in_domain(lambda v: v >= 0, p_fix=0.5) if side == "right" else g.pick()
            c = g.const_for(a.dtype, positive=side == "left" and g.chance(0.8))
            dt = with_scalar(a.dtype, c)
            if dt == "bool":
                raise Skip("bool ** bool is not defined (torch has no bool pow)")
            if dt not in FLOATS and side == "right" and c < 0:
                raise Skip("integers to negative integer powers are refused, as in torch")
        else:
            side = "right" if kind in ("maximum", "minimum") else g.choice(["right", "left"])
            a = g.pick()
            c = g.const_for(a.dtype)
        if not _binary_dtype_ok(kind, a.dtype, scalar_kind(c)):
            raise Skip("bool - bool is not defined")
        if kind == "div" and side == "right" and isinstance(c, (bool, np.bool_)):
            raise Skip("division by a bool")
        return [a], {"c": c, "side": side}

    def code(n, p):
        c, side = p["c"], p["side"]
        if kind in ("maximum", "minimum"):
            return f"{n[0]}.{kind}({lit(c, True)})"
        return f"{n[0]} {SYMBOL[kind]} {lit(c)}" if side == "right" else f"{lit(c)} {SYMBOL[kind]} {n[0]}"

    def ref(R, a, p):
        c = p["c"]
        dt = with_scalar(a[0].dtype, c)
        x, k = R.convert(a[0], dt), R.const(c, dt)
        return _arith(kind, R, *((x, k) if p["side"] == "right" else (k, x)), dt)

    op(name, "const", draw, code, ref, weight)


for _kind, _w in [("add", 2), ("sub", 2), ("mul", 2), ("div", 1.2), ("pow", 1.2), ("maximum", 1), ("minimum", 1),
                  ("lt", 0.6), ("gt", 0.6), ("le", 0.4), ("ge", 0.4), ("eq", 0.4), ("ne", 0.4)]:
    _make_const_binary(_kind, _w)


def _make_ndarray_binary(kind: str, weight: float):
    """tensor (op) numpy array, either side: the array counts as a tensor of its own dtype
    (int64 arrays narrowed to int32)."""
    def draw(g):
        a = g.pick()
        arr = g.new_array(a.shape)
        if not _binary_dtype_ok(kind, a.dtype, _array_dtype(arr)):
            raise Skip("subtraction with a bool operand")
        return [a], {"array": arr, "side": g.choice(["right", "left"])}

    def code(n, p):
        from fuzz_program import render_array
        arr = render_array(p["array"])
        return f"{n[0]} {SYMBOL[kind]} {arr}" if p["side"] == "right" else f"{arr} {SYMBOL[kind]} {n[0]}"

    def ref(R, a, p):
        arr = p["array"]
        b = R.leaf(arr.astype(np.int32) if arr.dtype == np.int64 else arr, False)
        dt = promote_values(a[0], b)
        x, y = R.convert(a[0], dt), R.convert(b, dt)
        return _arith(kind, R, *((x, y) if p["side"] == "right" else (y, x)), dt)

    op(f"{kind}_array", "ndarray", draw, code, ref, weight)


def _array_dtype(arr: np.ndarray) -> str:
    return {"b": "bool", "i": "int32"}.get(arr.dtype.kind, "float64" if arr.dtype == np.float64 else "float32")


for _kind, _w in [("add", 1), ("sub", 1), ("mul", 1), ("div", 0.7), ("lt", 0.4), ("eq", 0.3)]:
    _make_ndarray_binary(_kind, _w)


def _draw_clip_tensor(g):
    x = g.pick(dtypes=NUMERIC)
    lo = g.partner(x.shape) if g.chance(0.7) else None
    hi = g.partner(np.broadcast_shapes(x.shape, lo.shape) if lo is not None else x.shape) if lo is None or g.chance(0.5) else None
    for b in (lo, hi):
        if b is not None and b.dtype == "bool":
            raise Skip("bool bounds")
    args = [x] + [b for b in (lo, hi) if b is not None]
    return args, {"has_lo": lo is not None, "has_hi": hi is not None}


def _code_clip_tensor(n, p):
    rest = list(n[1:])
    parts = []
    if p["has_lo"]:
        parts.append(f"min_={rest.pop(0)}")
    if p["has_hi"]:
        parts.append(f"max_={rest.pop(0)}")
    return f"{n[0]}.clip({', '.join(parts)})"


def _ref_clip_tensor(R, a, p):
    # torch.clamp with tensor bounds (_clamp), in the promoted dtype of all three
    rest = list(a[1:])
    dt = promote_values(*a)
    lo = R.convert(rest.pop(0), dt).t if p["has_lo"] else None
    hi = R.convert(rest.pop(0), dt).t if p["has_hi"] else None
    return R.out(_clamp(R.convert(a[0], dt).t, lo, hi), dt, exact=True)


op("clip_tensor", "unary", _draw_clip_tensor, _code_clip_tensor, _ref_clip_tensor, 0.6)


# --------------------------------------------------------------------------- where

def _draw_where(g):
    cond = g.pick(dtypes=("bool",)) if g.chance(0.75) and g.has(dtypes=("bool",)) else g.pick()
    form = g.choice(["tt", "tc", "ct", "cc"])
    args, params = [cond], {"form": form}
    if form[0] == "t":
        x = g.partner(cond.shape)
        args.append(x)
    if form[1] == "t":
        y = g.partner(cond.shape) if form[0] == "c" else g.partner(np.broadcast_shapes(cond.shape, args[1].shape))
        args.append(y)
    ref_dt = args[1].dtype if len(args) > 1 else "float32"
    if form[0] == "c":
        params["x"] = g.const_for(ref_dt)
    if form[1] == "c":
        params["y"] = g.const_for(ref_dt)
    return args, params


def _code_where(n, p):
    form, rest = p["form"], list(n[1:])
    x = rest.pop(0) if form[0] == "t" else lit(p["x"], True)
    y = rest.pop(0) if form[1] == "t" else lit(p["y"], True)
    return f"{n[0]}.where({x}, {y})"


def _ref_where(R, a, p):
    form, rest = p["form"], list(a[1:])
    x = rest.pop(0) if form[0] == "t" else None
    y = rest.pop(0) if form[1] == "t" else None
    if x is not None and y is not None:
        dt = promote_values(x, y)
    elif x is not None:
        dt = with_scalar(x.dtype, p["y"])
    elif y is not None:
        dt = with_scalar(y.dtype, p["x"])
    else:  # two scalars: the wider kind, as for two tensors
        dt = promote(scalar_kind(p["x"]), scalar_kind(p["y"]))
    x = R.convert(x, dt) if x is not None else R.const(p["x"], dt)
    y = R.convert(y, dt) if y is not None else R.const(p["y"], dt)
    cond = R.convert(a[0], "bool").t
    return R.out(torch.where(cond, x.t, y.t), dt, exact=True)


op("where", "where", _draw_where, _code_where, _ref_where, 3)


# --------------------------------------------------------------------------- casts

CAST_CODE = {"float32": ["{}.float()", "{}.cast(dtypes.float32)"], "float64": ["{}.double()", "{}.cast(dtypes.float64)"],
             "int32": ["{}.int()", "{}.cast(dtypes.int32)"], "bool": ["{}.bool()", "{}.cast(dtypes.bool)"]}


def _draw_cast(g):
    x = g.pick()
    to = g.choice([d for d in ALL if d != x.dtype])
    if to == "int32" and x.dtype in FLOATS:
        v = x.value.t.detach()
        if not (torch.isfinite(v) & (v.abs() < 2.0**31)).all():
            raise Skip("float -> int of nan/inf is undefined")
    return [x], {"to": to, "form": g.choice([0, 0, 1])}


op("cast", "cast", _draw_cast, lambda n, p: CAST_CODE[p["to"]][p["form"]].format(n[0]),
   lambda R, a, p: R.convert(a[0], p["to"]), 3)


# --------------------------------------------------------------------------- reductions

def _draw_axis(g, x, multi: bool = True, allow_none: bool = True):
    n = x.ndim
    options = ["none"] if allow_none else []
    if n >= 1 or g.chance(0.2):
        options += ["int", "int"]
    if multi and n >= 2:
        options.append("tuple")
    if not options:
        return None
    kind = g.choice(options)
    if kind == "none":
        return None
    if kind == "int":
        return g.integer(-max(n, 1), max(n, 1) - 1)
    axes = sorted(g.draw_subset(list(range(n)), 2))
    return tuple(a - n if g.chance(0.3) else a for a in axes)


def _reduce_code(method: str, n, p, extra: str = ""):
    axis, keepdim = p["axis"], p["keepdim"]
    args = []
    if axis is not None:
        args.append(axis_text(axis))
    if keepdim:
        args.append("keepdim=True" if axis is not None else "keepdim=True")
    if extra:
        args.append(extra)
    return f"{n[0]}.{method}({', '.join(args)})"


def _make_reduce(name: str, weight: float, dtypes=ALL, multi=True):
    def draw(g):
        x = g.pick(dtypes=dtypes)
        params = {"axis": _draw_axis(g, x, multi), "keepdim": g.chance(0.35)}
        if name in ("var", "std"):
            params["correction"] = g.choice([1, 1, 0])
        return [x], params

    def code(n, p):
        extra = "" if p.get("correction", 1) == 1 else f"correction={p['correction']}"
        return _reduce_code(name, n, p, extra)

    op(name, "reduce", draw, code, REDUCE_REFS[name], weight)


def _ref_sum(R, a, p):
    x = a[0]
    dt = "int32" if x.dtype == "bool" else x.dtype
    x = R.convert(x, dt)
    t, dims, keep = reduce_view(x.t, p["axis"], p["keepdim"])
    if dt == "int32":
        return R.out(t.sum(dim=dims, keepdim=keep), dt)
    exact = sum_is_exact(t.detach(), dims)
    scale = t.detach().abs().sum(dim=dims, keepdim=keep)
    if keep:
        exact = exact.reshape(scale.shape)
    return R.out(t.sum(dim=dims, keepdim=keep), dt, max(count_of(x.shape, p["axis"]), 1), scale, exact)


def _ref_max(R, a, p, fn=torch.amax):
    x = a[0]
    if x.dtype == "bool":
        t, dims, keep = reduce_view(x.t, p["axis"], p["keepdim"])
        red = torch.any if fn is torch.amax else torch.all
        out = t
        for d in sorted(dims, reverse=True):
            out = red(out, dim=d, keepdim=keep)
        return RV(out, "bool")
    t, dims, keep = reduce_view(x.t, p["axis"], p["keepdim"])
    return R.out(fn(t, dim=dims, keepdim=keep), x.dtype, exact=True)


def _ref_mean(R, a, p):
    x = fl(R, a[0])
    t, dims, keep = reduce_view(x.t, p["axis"], p["keepdim"])
    n = max(count_of(x.shape, p["axis"]), 1)
    exact = sum_is_exact(t.detach(), dims) & ((n & (n - 1)) == 0)
    scale = t.detach().abs().mean(dim=dims, keepdim=keep)
    if keep:
        exact = exact.reshape(scale.shape)
    return R.out(t.mean(dim=dims, keepdim=keep), x.dtype, n + 2, scale, exact)


def _var(R, x: RV, p):
    t, dims, keep = reduce_view(x.t, p["axis"], p["keepdim"])
    n = max(count_of(x.shape, p["axis"]), 1)
    with warnings.catch_warnings():  # "degrees of freedom <= 0": nan, as in tinygradlike
        warnings.simplefilter("ignore")
        var = torch.var(t, dim=dims, keepdim=keep, correction=p["correction"])
    td = t.detach()
    m = td.mean(dim=dims, keepdim=True)
    spread = (td - m).abs().mean(dim=dims, keepdim=keep)
    mabs = m.abs() if keep else m.abs().squeeze(dims) if dims else m.abs()
    scale = var.detach().abs() + 2 * mabs * spread + 2.0**-20 * mabs * mabs * n
    constant = (td.amax(dim=dims, keepdim=keep) == td.amin(dim=dims, keepdim=keep)) & ((n & (n - 1)) == 0)
    return var, scale, constant, n


def _ref_var(R, a, p):
    x = fl(R, a[0])
    var, scale, constant, n = _var(R, x, p)
    return R.out(var, x.dtype, 4 * n, scale, constant)


def _ref_std(R, a, p):
    x = fl(R, a[0])
    var, scale, constant, n = _var(R, x, p)
    # std is one op, not sqrt of a float32 var: var is rounded (and jittered) divided by a
    # power of two s**2 that keeps it inside float32's range, so a std of 1e20 or 1e-30 is
    # not inf or 0 because its square is
    vd = var.detach()
    s = torch.where((vd > 0) & torch.isfinite(vd), torch.exp2(torch.floor(torch.log2(torch.where(vd > 0, vd, 1.0)) / 2)), 1.0)
    var = R.out(var / (s * s), x.dtype, 4 * n, scale / (s * s), constant).t
    zero = var == 0  # torch.std's gradient at zero variance is 0 (not 0 * inf)
    std = torch.sqrt(torch.where(zero, 1.0, var)) * (~zero) * s
    return R.out(std, x.dtype, 3)


def _ref_logsumexp(R, a, p):
    x = fl(R, a[0])
    t, dims, keep = reduce_view(x.t, p["axis"], p["keepdim"])
    v = torch.logsumexp(t, dim=dims, keepdim=keep)
    td = t.detach()
    big = torch.where(torch.isfinite(td), td.abs(), 0.0).amax(dim=dims, keepdim=keep)
    return R.out(v, x.dtype, 4 + count_of(x.shape, p["axis"]), v.detach().abs() + big)


def _ref_argmax(R, a, p, fn=torch.argmax):
    x = a[0]
    t = (R.convert(x, "int32") if x.dtype == "bool" else x).t.detach()
    axis = p["axis"]
    if t.dim() == 0:
        return R.out(torch.zeros((), dtype=torch.int64), "int32")
    return R.out(fn(t, dim=axis, keepdim=p["keepdim"]), "int32")


REDUCE_REFS = {"sum": _ref_sum, "max": _ref_max, "min": lambda R, a, p: _ref_max(R, a, p, torch.amin),
               "mean": _ref_mean, "var": _ref_var, "std": _ref_std, "logsumexp": _ref_logsumexp}
_make_reduce("sum", 2.5)
_make_reduce("max", 1.5)
_make_reduce("min", 1.2)
_make_reduce("mean", 1.2)
_make_reduce("var", 0.5, NUMERIC)
_make_reduce("std", 0.5, NUMERIC)
_make_reduce("logsumexp", 0.8, NUMERIC)


def _draw_arg(g):
    x = g.pick()
    return [x], {"axis": _draw_axis(g, x, multi=False), "keepdim": g.chance(0.3)}


op("argmax", "reduce", _draw_arg, lambda n, p: _reduce_code("argmax", n, p), _ref_argmax, 1.0)
op("argmin", "reduce", _draw_arg, lambda n, p: _reduce_code("argmin", n, p),
   lambda R, a, p: _ref_argmax(R, a, p, torch.argmin), 0.8)


class _SoftmaxFamily(torch.autograd.Function):
    """softmax / log_softmax whose backward is rounded as a composite of its terms.

    Their gradients are differences, y*(g - sum(g*y)) and g - exp(y)*sum(g), which are often
    exactly 0 (the gradient of softmax(x).sum()). The device computes them from float32 terms
    and keeps some of their rounding (1e-8, not 0); torch computes them in float64 as one op,
    so rounding the result alone leaves the noisy runs no spread where a float64 op later
    compares at 1e-12. The gradient is jittered by the size of its terms instead."""

    @staticmethod
    def forward(ctx, t, R, fp32, name, axis, ulps):
        ctx.R, ctx.fp32, ctx.name, ctx.axis, ctx.ulps = R, fp32, name, axis, ulps
        ctx.save_for_backward(t)
        return (torch.softmax if name == "softmax" else torch.log_softmax)(t, dim=axis)

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        axis = ctx.axis
        if ctx.name == "softmax":
            y = torch.softmax(t, dim=axis)
            grad = y * (g - (g * y).sum(dim=axis, keepdim=True))
            scale = (y * g).abs() + y.abs() * (g * y).abs().sum(dim=axis, keepdim=True)
        else:
            p = torch.softmax(t, dim=axis)
            grad = g - p * g.sum(dim=axis, keepdim=True)
            scale = g.abs() + p * g.abs().sum(dim=axis, keepdim=True)
        scale = torch.nan_to_num(scale.detach(), nan=0.0)
        inexact = torch.zeros((), dtype=torch.bool)
        return _Round.apply(grad, ctx.R, ctx.fp32, float(ctx.ulps), scale, inexact), None, None, None, None, None


def _make_softmax(name: str, fn, weight: float):
    def draw(g):
        x = g.pick(dtypes=NUMERIC)
        axis = None if g.chance(0.4) else g.integer(-max(x.ndim, 1), max(x.ndim, 1) - 1)
        return [x], {"axis": axis}

    def code(n, p):
        return f"{n[0]}.{name}({'' if p['axis'] is None else p['axis']})"

    def ref(R, a, p):
        x = fl(R, a[0])
        axis = -1 if p["axis"] is None else p["axis"]
        t = x.t.reshape(1) if x.t.dim() == 0 else x.t
        n = x.shape[axis] if x.shape else 1
        v = (fn(t, dim=axis) if R.native is not None else _SoftmaxFamily.apply(t, R, x.dtype == "float32", name, axis, 4 + n)).reshape(x.shape)
        td = x.t.detach()
        finite = torch.where(torch.isfinite(td), td, 0.0)
        m = finite.amax(dim=axis, keepdim=True) if td.dim() else finite
        dist = (finite - m).abs()
        vd = v.detach()
        scale = vd.abs() * (1 + dist) if name == "softmax" else vd.abs() + finite.abs() + m.abs()
        return R.out(v, x.dtype, 4 + (x.shape[axis] if x.shape else 1), scale)

    op(name, "reduce", draw, code, ref, weight)


_make_softmax("softmax", torch.softmax, 1.0)
_make_softmax("log_softmax", torch.log_softmax, 1.0)


# --------------------------------------------------------------------------- movement

def _same(R, x: RV, t: torch.Tensor) -> RV:
    return RV(t, x.dtype)


def _shapes_with_numel(n: int) -> list[tuple[int, ...]]:
    found = set()
    for ndim in range(0, 4):
        for dims in itertools.product([d for d in range(1, n + 1) if n % d == 0], repeat=ndim):
            if math.prod(dims) == n:
                found.add(dims)
    return sorted(found, key=lambda s: (len(s), s))


def _draw_reshape(g):
    x = g.pick()
    options = [s for s in _shapes_with_numel(x.size) if s != x.shape and len(s) <= 4]
    if not options:
        raise Skip("no other shape")
    shape = list(g.choice(options))
    if shape and g.chance(0.3):
        shape[g.integer(0, len(shape) - 1)] = -1
    return [x], {"shape": tuple(shape), "form": g.choice(["reshape", "reshape", "view"])}


def _code_reshape(n, p):
    s = p["shape"]
    return f"{n[0]}.{p['form']}({', '.join(map(str, s))})" if s else f"{n[0]}.{p['form']}(())"


op("reshape", "movement", _draw_reshape, _code_reshape, lambda R, a, p: _same(R, a[0], a[0].t.reshape(p["shape"])), 1.5)


def _draw_permute(g):
    x = g.pick(ndim_min=2)
    order = list(g.draw_permutation(x.ndim))
    if g.chance(0.3):
        order[0] -= x.ndim
    return [x], {"order": tuple(order)}


op("permute", "movement", _draw_permute, lambda n, p: f"{n[0]}.permute({', '.join(map(str, p['order']))})",
   lambda R, a, p: _same(R, a[0], a[0].t.permute(p["order"])), 1.2)


def _draw_transpose(g):
    x = g.pick(ndim_min=2)
    form = g.choice(["T", "default", "dims"])
    dims = (g.integer(-x.ndim, x.ndim - 1), g.integer(-x.ndim, x.ndim - 1)) if form == "dims" else None
    return [x], {"form": form, "dims": dims}


def _code_transpose(n, p):
    if p["form"] == "T":
        return f"{n[0]}.T"
    if p["form"] == "default":
        return f"{n[0]}.transpose()"
    return f"{n[0]}.transpose({p['dims'][0]}, {p['dims'][1]})"


def _ref_transpose(R, a, p):
    t = a[0].t
    if p["form"] == "T":
        return _same(R, a[0], t.permute(tuple(reversed(range(t.dim())))))
    d0, d1 = (-2, -1) if p["form"] == "default" else p["dims"]
    return _same(R, a[0], t.transpose(d0, d1))


op("transpose", "movement", _draw_transpose, _code_transpose, _ref_transpose, 1.0)


def _draw_expand(g):
    x = g.pick()
    shape = [s if s != 1 or not g.chance(0.7) else g.integer(2, 3) for s in x.shape]
    if g.chance(0.35) or shape == list(x.shape):
        shape = [g.integer(2, 3)] + shape
    if math.prod(shape) > 48:
        raise Skip("too big")
    lead = len(shape) - x.ndim
    shown = [(-1 if i >= lead and shape[i] == x.shape[i - lead] and g.chance(0.3) else shape[i]) for i in range(len(shape))]
    return [x], {"shape": tuple(shown)}


def _ref_expand(R, a, p):
    return _same(R, a[0], a[0].t.expand(p["shape"]))


op("expand", "movement", _draw_expand, lambda n, p: f"{n[0]}.expand({', '.join(map(str, p['shape']))})", _ref_expand, 1.0)


def _draw_pad(g):
    x = g.pick(ndim_min=1)
    pads = tuple(None if g.chance(0.25) else (g.integer(0, 2), g.integer(0, 2)) for _ in x.shape)
    if math.prod(s + (p[0] + p[1] if p else 0) for s, p in zip(x.shape, pads)) > 60:
        raise Skip("too big")
    value = 0 if g.chance(0.6) else g.const_for(x.dtype, same_kind=True)
    return [x], {"pads": pads, "value": value}


def _code_pad(n, p):
    pads = "(" + ", ".join("None" if q is None else f"({q[0]}, {q[1]})" for q in p["pads"]) + ("," if len(p["pads"]) == 1 else "") + ")"
    return f"{n[0]}.pad({pads})" if p["value"] == 0 and not isinstance(p["value"], bool) else f"{n[0]}.pad({pads}, {lit(p['value'], True)})"


def _ref_pad(R, a, p):
    x = a[0]
    flat = []
    for q in reversed(p["pads"]):
        flat += [0, 0] if q is None else [q[0], q[1]]
    value = scalar_value(p["value"], x.dtype)
    t = x.t.long() if x.dtype == "bool" else x.t
    out = F.pad(t, flat, value=float(value) if x.dtype in FLOATS else int(value))
    return RV(out.bool(), "bool") if x.dtype == "bool" else R.out(out, x.dtype, exact=True)


op("pad", "movement", _draw_pad, _code_pad, _ref_pad, 1.0)


def _draw_shrink(g):
    x = g.pick(ndim_min=1)
    bounds = []
    for s in x.shape:
        if g.chance(0.3):
            bounds.append(None)
        else:
            lo = g.integer(0, s - 1)
            bounds.append((lo, g.integer(lo + 1, s)))
    return [x], {"bounds": tuple(bounds)}


def _code_shrink(n, p):
    b = p["bounds"]
    return f"{n[0]}.shrink((" + ", ".join("None" if q is None else f"({q[0]}, {q[1]})" for q in b) + ("," if len(b) == 1 else "") + "))"


def _ref_shrink(R, a, p):
    t = a[0].t
    for d, q in enumerate(p["bounds"]):
        if q is not None:
            t = t.narrow(d, q[0], q[1] - q[0])
    return _same(R, a[0], t)


op("shrink", "movement", _draw_shrink, _code_shrink, _ref_shrink, 0.8)


def _draw_flip(g):
    x = g.pick(ndim_min=1)
    if g.chance(0.5):
        axis = g.integer(-x.ndim, x.ndim - 1)
    else:
        axis = tuple(g.draw_subset(list(range(x.ndim)), min(x.ndim, 2)))
    return [x], {"axis": axis}


op("flip", "movement", _draw_flip, lambda n, p: f"{n[0]}.flip({axis_text(p['axis'])})",
   lambda R, a, p: _same(R, a[0], a[0].t.flip(norm_dims(p["axis"], a[0].t.dim()))), 0.8)


def _draw_index(g, size: int):
    kind = g.choice(["int", "slice", "slice", "full"])
    if kind == "int":
        return g.integer(-size, size - 1)
    if kind == "full":
        return slice(None)
    step = g.choice([None, None, 2, -1, -2, 3])
    for _ in range(6):
        start = g.choice([None, g.integer(-size, size - 1)])
        stop = g.choice([None, g.integer(-size - 1, size)])
        if len(range(*slice(start, stop, step).indices(size))):
            return slice(start, stop, step)
    return slice(None, None, step)


def _draw_getitem(g):
    x = g.pick()
    key = [_draw_index(g, s) for s in x.shape[:g.integer(0, x.ndim)]] if x.ndim else []
    if g.chance(0.25):
        key.insert(g.integer(0, len(key)), None)
    if g.chance(0.2) and len(key) < x.ndim + 1:
        key.insert(g.integer(0, len(key)), Ellipsis)
    if not key:
        key = [Ellipsis] if not x.ndim else [slice(None, None, -1)]
    if Ellipsis in key:  # indices after it now address the last dims: each must still fit its dim
        after = [k for k in key[key.index(Ellipsis) + 1:] if k is not None]
        for k, size in zip(after, x.shape[x.ndim - len(after):]):
            if isinstance(k, int) and not -size <= k < size:
                raise Skip("an index moved past the Ellipsis onto a shorter dim")
    return [x], {"key": tuple(key)}


def _index_text(k) -> str:
    if k is None:
        return "None"
    if k is Ellipsis:
        return "..."
    if isinstance(k, int):
        return str(k)
    text = ("" if k.start is None else str(k.start)) + ":" + ("" if k.stop is None else str(k.stop))
    return text + (f":{k.step}" if k.step is not None else "")


def _ref_getitem(R, a, p):
    t = a[0].t
    key = list(p["key"])
    n_real = sum(k is not None and k is not Ellipsis for k in key)
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key[i:i + 1] = [slice(None)] * (t.dim() - n_real)
    else:
        key += [slice(None)] * (t.dim() - n_real)
    d = 0
    for k in key:
        if k is None:
            t = t.unsqueeze(d)
            d += 1
        elif isinstance(k, int):
            t = t.select(d, k)
        else:
            idx = torch.tensor(list(range(*k.indices(t.shape[d]))), dtype=torch.long)
            t = t.index_select(d, idx)
            d += 1
    return _same(R, a[0], t)


op("getitem", "movement", _draw_getitem, lambda n, p: f"{n[0]}[{', '.join(_index_text(k) for k in p['key'])}]",
   _ref_getitem, 1.5)


def _draw_cat(g):
    x = g.pick(ndim_min=1)
    dim = g.integer(-x.ndim, x.ndim - 1)
    others = []
    for _ in range(g.choice([1, 1, 2])):
        shape = list(x.shape)
        shape[dim] = g.integer(1, 3)
        others.append(g.existing_or_new(tuple(shape)))
    return [x, *others], {"dim": dim, "form": g.choice(["method", "static"])}


def _code_join(name):
    """Source of Tensor.cat / Tensor.stack, as a method of the first tensor or as a static call."""
    def code(n, p):
        if p["form"] == "method":
            return f"{n[0]}.{name}({', '.join(n[1:])}, dim={p['dim']})"
        return f"Tensor.{name}({', '.join(n)}, dim={p['dim']})"
    return code


def _ref_join(torch_fn):
    """Reference of a join: every operand promoted to the common dtype, then torch's join."""
    def ref(R, a, p):
        dt = promote(*(x.dtype for x in a))
        return R.out(torch_fn([R.convert(x, dt).t for x in a], dim=p["dim"]), dt, exact=True)
    return ref


op("cat", "movement", _draw_cat, _code_join("cat"), _ref_join(torch.cat), 1.0)


def _draw_stack(g):
    x = g.pick()
    others = [g.existing_or_new(x.shape) if not g.chance(0.15) else x for _ in range(g.choice([1, 1, 2]))]
    return [x, *others], {"dim": g.integer(-x.ndim - 1, x.ndim), "form": g.choice(["method", "static"])}


op("stack", "movement", _draw_stack, _code_join("stack"), _ref_join(torch.stack), 0.7)


def _draw_squeeze(g):
    x = g.pick()
    dim = None if g.chance(0.4) or not x.ndim else g.integer(-x.ndim, x.ndim - 1)
    return [x], {"dim": dim}


op("squeeze", "movement", _draw_squeeze, lambda n, p: f"{n[0]}.squeeze({'' if p['dim'] is None else p['dim']})",
   lambda R, a, p: _same(R, a[0], a[0].t.squeeze() if p["dim"] is None else a[0].t.squeeze(p["dim"])), 0.5)


def _draw_unsqueeze(g):
    x = g.pick()
    return [x], {"dim": g.integer(-x.ndim - 1, x.ndim)}


op("unsqueeze", "movement", _draw_unsqueeze, lambda n, p: f"{n[0]}.unsqueeze({p['dim']})",
   lambda R, a, p: _same(R, a[0], a[0].t.unsqueeze(p["dim"])), 0.5)


def _draw_flatten(g):
    x = g.pick()
    if x.ndim >= 2 and g.chance(0.5):
        start = g.integer(0, x.ndim - 2)
        return [x], {"dims": (start, g.integer(start, x.ndim - 1))}
    return [x], {"dims": None}


op("flatten", "movement", _draw_flatten,
   lambda n, p: f"{n[0]}.flatten({'' if p['dims'] is None else ', '.join(map(str, p['dims']))})",
   lambda R, a, p: _same(R, a[0], a[0].t.flatten(*(p["dims"] or ()))), 0.5)


def _draw_repeat(g):
    x = g.pick()
    reps = [g.integer(1, 2) for _ in range(x.ndim + g.integer(0, 1))] or [2]
    if math.prod(reps) * x.size > 48:
        raise Skip("too big")
    return [x], {"reps": tuple(reps)}


op("repeat", "movement", _draw_repeat, lambda n, p: f"{n[0]}.repeat({', '.join(map(str, p['reps']))})",
   lambda R, a, p: _same(R, a[0], a[0].t.repeat(*p["reps"])), 0.5)


# --------------------------------------------------------------------------- matmul

def matmul_shape(a: tuple, b: tuple):
    """numpy's matmul result shape, or None."""
    if not a or not b:
        return None
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        return None
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        return None
    out = tuple(batch) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _draw_matmul(g):
    a = g.pick(ndim_min=1)
    k = a.shape[-1]
    fits = [v for v in g.candidates() if matmul_shape(a.shape, v.shape) is not None]
    if fits and g.chance(0.4):
        b = g.choice(fits)
    elif g.chance(0.3):
        n = g.integer(1, 4)
        w = g.new_input((n, k))
        b = g.emit("transpose", [w], {"form": "T", "dims": None})
    else:
        b = g.new_input(g.choice([(k,), (k, g.integer(1, 4)), (k, g.integer(1, 4)), (2, k, g.integer(1, 3))]))
    if matmul_shape(a.shape, b.shape) is None or math.prod(matmul_shape(a.shape, b.shape)) > 48:
        raise Skip("shapes do not fit")
    return [a, b], {"form": g.choice(["@", "@", "@", "matmul", "dot"])}


def _code_matmul(n, p):
    return f"{n[0]} @ {n[1]}" if p["form"] == "@" else f"{n[0]}.{p['form']}({n[1]})"


def _ref_matmul(R, a, p):
    dt = promote(a[0].dtype, a[1].dtype, "float32")
    x, y = R.convert(a[0], dt), R.convert(a[1], dt)
    v = torch.matmul(x.t, y.t) + 0.0  # a sum starts at +0.0, as torch.sum and np.sum (batched torch.matmul gives -0.0)
    xd, yd = x.t.detach(), y.t.detach()
    scale = torch.matmul(xd.abs(), yd.abs())
    xs = xd.unsqueeze(0) if xd.dim() == 1 else xd
    ys = yd.unsqueeze(-1) if yd.dim() == 1 else yd
    products = xs.unsqueeze(-1) * ys.unsqueeze(-3)  # (..., M, K, N)
    q = ulp32(xs).unsqueeze(-1) * ulp32(ys).unsqueeze(-3)
    exact = sum_is_exact(products, (-2,), torch.where(products != 0, q, math.inf)).reshape(scale.shape) if dt == "float32" else None
    return R.out(v, dt, xs.shape[-1] + 1, scale, exact)


op("matmul", "matmul", _draw_matmul, _code_matmul, _ref_matmul, 3.0)


# --------------------------------------------------------------------------- creation from a tensor

def _draw_like(g):
    x = g.pick()
    kind = g.choice(["zeros_like", "ones_like", "full_like"])
    return [x], {"kind": kind, "value": g.const_for(x.dtype, same_kind=True) if kind == "full_like" else None}


def _code_like(n, p):
    return f"{n[0]}.{p['kind']}()" if p["kind"] != "full_like" else f"{n[0]}.full_like({lit(p['value'], True)})"


def _ref_like(R, a, p):
    value = {"zeros_like": 0, "ones_like": 1}.get(p["kind"], p["value"])
    x = a[0]
    return RV(torch.full(x.shape, scalar_value(value, x.dtype), dtype=x.t.dtype), x.dtype)


op("like", "creation", _draw_like, _code_like, _ref_like, 0.4)


# --------------------------------------------------------------------------- gradient inside a program

def _draw_gradient(g):
    leaves = g.grad_leaves()
    if not leaves:
        raise Skip("no input requires grad")
    y = g.pick(dtypes=FLOATS, grad=True)
    return [y, g.choice(leaves)], {}


def _ref_gradient(R, a, p):
    y, x = a
    loss = _ref_sum(R, [y], {"axis": None, "keepdim": False})
    if not loss.t.requires_grad:
        return RV(torch.zeros(x.shape, dtype=x.t.dtype), x.dtype)
    (gx,) = torch.autograd.grad(loss.t, [x.t], create_graph=True, allow_unused=True)
    return RV(torch.zeros(x.shape, dtype=x.t.dtype), x.dtype) if gx is None else R.out(gx, x.dtype)


op("gradient", "gradient", _draw_gradient, lambda n, p: f"{n[0]}.sum().gradient({n[1]})[0]", _ref_gradient, 1.5)
