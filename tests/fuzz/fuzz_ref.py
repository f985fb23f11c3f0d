"""The reference: tinygradlike's documented semantics, computed in float64 torch.

A value is an `RV`: a torch tensor plus the *semantic* dtype it stands for. Floats live in
float64 torch tensors, int32 in int64 ones (so an overflow is seen, not wrapped), bool in bool.
Every op result passes through `Ref.out`, which makes float64 behave like the float32 device:

- a float32 result is rounded to float32 (so exp(100) is inf, as on the device);
- in a *noisy* run, a result that needed rounding is also moved by a few ulps at random (in the
  backward pass too, through the autograd Function `_Round`). The spread between noisy runs and
  the plain (center) run measures how much float32 rounding can move each output element: it
  widens the tolerance where a program cancels, and it marks elements *unstable* where a
  comparison, an int cast or an argmax sits on a knife edge. Exact results (x - x, max(x, 0),
  ties in the inputs, sums of small integers) are never moved, so kinks at exact zeros and exact
  ties are still checked bit for bit.

Semantics that differ from torch's defaults, on purpose (tinygradlike's rules):
Python float = float32, Python int = int32, int / int and int ** x give float32, sum(int32) is
int32, a Python scalar takes the tensor's dtype unless it needs a wider kind (int tensor + 0.5
is float32). Gradients at kinks follow torch: relu'(0) = 0, abs'(0) = 0, leaky_relu'(0) =
slope, clip passes the gradient on its boundary, maximum/minimum and max/min reductions split
ties evenly.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

torch.set_num_threads(1)  # tiny tensors: threads only cost
warnings.filterwarnings("ignore", message=r"var\(\): degrees of freedom", category=UserWarning)

FLOATS = ("float32", "float64")
RANK = {"bool": 0, "int32": 1, "float32": 2, "float64": 3}
INT_MIN, INT_MAX = -2**31, 2**31 - 1
STORAGE = {"bool": torch.bool, "int32": torch.int64, "float32": torch.float64, "float64": torch.float64}
NUMPY = {"bool": np.bool_, "int32": np.int32, "float32": np.float32, "float64": np.float64}


class Reject(Exception):
    """The drawn op is undefined on these values (int32 overflow, float -> int of nan/inf):
    the generator drops it and draws another."""


class RV:
    """A reference value: torch tensor `t` standing for semantic dtype `dtype`."""

    __slots__ = ("t", "dtype")

    def __init__(self, t: torch.Tensor, dtype: str):
        self.t, self.dtype = t, dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.t.shape)

    def numpy(self) -> np.ndarray:
        # force: torch may hand back a gradient as a ZeroTensor, which plain numpy() refuses
        return self.t.detach().numpy(force=True)

    def __repr__(self) -> str:
        return f"RV({self.dtype}, {self.numpy()!r})"


def promote(*dts: str) -> str:
    return max(dts, key=RANK.__getitem__)


def promote_values(*values: "RV") -> str:
    """The result dtype of an op on these tensors, by torch's rule for 0-d tensors: a 0-d
    operand widens the result only when it is of a higher kind (bool < int < float) than every
    operand with dimensions; within a kind, the dimensioned operands decide (float32 vector with
    a float64 0-d tensor: float32)."""
    dimensioned = [v.dtype for v in values if len(v.shape) > 0]
    zero_d = [v.dtype for v in values if len(v.shape) == 0]
    if not dimensioned or not zero_d:
        return promote(*(v.dtype for v in values))
    higher, lower = promote(*dimensioned), promote(*zero_d)
    if higher in FLOATS:
        return higher
    if higher == "bool" or lower in FLOATS:
        return promote(higher, lower)
    return higher


def floaty(dt: str) -> str:
    return dt if dt in FLOATS else "float32"


def scalar_kind(c) -> str:
    if isinstance(c, (bool, np.bool_)):
        return "bool"
    if isinstance(c, (int, np.integer)):
        return "int32"
    return "float32"


def with_scalar(dt: str, c) -> str:
    """Result dtype of tensor(dt) (op) Python scalar c: the tensor's, unless c needs a wider kind."""
    k = scalar_kind(c)
    return dt if dt in FLOATS or RANK[k] <= RANK[dt] else k


def scalar_value(c, dt: str):
    """The Python number c as a value of dtype dt (float32 rounds, like a 'f' literal)."""
    c = c.item() if isinstance(c, np.generic) else c
    if dt == "bool":
        return bool(c)
    if dt == "int32":
        return int(c)
    return float(np.float32(c)) if dt == "float32" else float(c)


def ulp32(x: torch.Tensor) -> torch.Tensor:
    """Spacing of float32 numbers near |x| (a lower bound on x's lowest set bit), inf at 0."""
    ax = x.abs()
    return torch.where(ax > 0, torch.exp2(torch.floor(torch.log2(torch.where(ax > 0, ax, 1.0))) - 23), math.inf)


def sum_is_exact(terms: torch.Tensor, dims, q: torch.Tensor | None = None) -> torch.Tensor:
    """Whether a float32 sum of `terms` over dims is exact in *any* order: all terms are
    multiples of q and the sum of their magnitudes stays below 2**24 q."""
    q = ulp32(terms) if q is None else q
    finite = torch.isfinite(terms).all(dim=dims) if dims else torch.isfinite(terms)
    qmin = q.amin(dim=dims) if dims else q
    total = terms.abs().sum(dim=dims) if dims else terms.abs()
    return finite & (total < 2.0**24 * qmin)


class _Round(torch.autograd.Function):
    """Round to the device's precision (and, in a noisy run, jitter) in forward and backward.

    A gradient flowing back into an op whose result was nan is left unspecified: noisy runs
    replace it by nan (odd runs) or by a random number (even runs), so the elements it reaches
    count as unstable. (torch's answers there, e.g. abs'(nan) = 0 or maximum(50, nan) sending
    the gradient to 50, are conventions, not meanings.)"""

    @staticmethod
    def forward(ctx, t, ref, fp32, ulps, scale, exact):
        ctx.ref, ctx.fp32 = ref, fp32
        out = ref.round(t, fp32, ulps, scale, exact)
        ctx.nan = torch.isnan(out) if ref.gen is not None else None
        return out

    @staticmethod
    def backward(ctx, g):
        ref = ctx.ref
        if ctx.nan is not None and bool(ctx.nan.any()):
            filler = torch.full_like(g, math.nan) if ref.odd else torch.randn(g.shape, generator=ref.gen, dtype=g.dtype)
            g = torch.where(ctx.nan, filler.detach(), g)
        return _Round.apply(g, ref, ctx.fp32, 1.0, None, None), None, None, None, None, None


class _Contribution(torch.autograd.Function):
    """The identity, whose backward rounds (and, in a noisy run, jitters) the gradient one use
    of a value sends back, by that contribution's own size. The device rounds each
    contribution before they are added: x/x sends back g/x and -g*x/x^2, which cancel, and
    for x = 4e-26 each is 1e25, so the sum is 0 or a rounding error of 1e9 depending on the
    order of operations. Rounding only the sum would claim a precision of 1e-12 there."""

    @staticmethod
    def forward(ctx, t, ref, fp32):
        ctx.ref, ctx.fp32 = ref, fp32
        return t.view_as(t)

    @staticmethod
    def backward(ctx, g):
        return _Round.apply(g, ctx.ref, ctx.fp32, 1.0, None, None), None, None


class OutputDerivative(torch.autograd.Function):
    """f(x) for an f whose derivative is written with its output (exp: y, tanh: 1 - y*y,
    sigmoid: y*(1 - y)), using the device's rounded (and, in a noisy run, jittered) y in the
    backward pass as the device does. So exp(x) that overflows float32 has an inf gradient,
    and tanh's few ulps of error near +-1 reach its gradient (1 - y*y) as they do on the device."""

    @staticmethod
    def forward(ctx, x, ref, fp32, name, ulps):
        ctx.ref, ctx.fp32, ctx.name, ctx.ulps = ref, fp32, name, ulps
        ctx.save_for_backward(x)
        y = OUTPUT_FUNCTIONS[name][0](x)
        return ref.round(y, fp32, ulps, None, torch.zeros((), dtype=torch.bool)) if ref.native is None else y

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        y = OutputDerivative.apply(x, ctx.ref, ctx.fp32, ctx.name, ctx.ulps)
        return g * OUTPUT_FUNCTIONS[ctx.name][1](y), None, None, None, None


OUTPUT_FUNCTIONS = {
    "exp": (torch.exp, lambda y: y),
    "tanh": (torch.tanh, lambda y: 1 - y * y),
    "sigmoid": (torch.sigmoid, lambda y: y * (1 - y)),
}


class Ref:
    """One reference run. noise_seed None: the center run (rounding, no jitter). strict: raise
    Reject on undefined results (the generator's run), else wrap or zero them quietly."""

    def __init__(self, noise_seed: int | None = None, strict: bool = False, native32: bool = False):
        self.gen = None if noise_seed is None or native32 else torch.Generator().manual_seed(noise_seed)
        self.odd = noise_seed is not None and noise_seed % 2 == 1
        self.strict = strict
        # native32: float32 values live in float32 torch tensors and torch's own float32
        # arithmetic does the rounding (one more independent look at float32 cancellation)
        self.native = torch.float32 if native32 else None

    def storage(self, dt: str) -> torch.dtype:
        return self.native if dt == "float32" and self.native is not None else STORAGE[dt]

    # -- values ------------------------------------------------------------------------------
    def leaf(self, array: np.ndarray, requires_grad: bool) -> RV:
        dt = {"b": "bool", "i": "int32"}.get(array.dtype.kind, "float64" if array.dtype == np.float64 else "float32")
        t = torch.from_numpy(np.array(array)).to(self.storage(dt))
        if requires_grad:
            t.requires_grad_(True)
        return RV(t, dt)

    def use(self, rv: RV) -> RV:
        """`rv` as an op's operand: its gradient contribution rounded on its own (_Contribution)."""
        if rv.dtype in FLOATS and rv.t.requires_grad and self.native is None:
            return RV(_Contribution.apply(rv.t, self, rv.dtype == "float32"), rv.dtype)
        return rv

    def const(self, c, dt: str) -> RV:
        return RV(torch.tensor(scalar_value(c, dt), dtype=self.storage(dt)), dt)

    def convert(self, rv: RV, dt: str) -> RV:
        """A cast to dt with C/torch meaning: float -> int truncates, x -> bool is x != 0."""
        if rv.dtype == dt:
            return rv
        t = rv.t
        if dt == "bool":
            return RV(t != 0, "bool")
        if dt == "int32":
            if rv.dtype in FLOATS:
                t = t.detach()
                bad = ~torch.isfinite(t) | (t >= 2.0**31) | (t < -2.0**31)
                if bad.any():
                    if self.strict:
                        raise Reject("float -> int32 of nan, inf or an out-of-range value is undefined")
                    t = torch.where(bad, 0.0, t)
                return RV(torch.trunc(t).long(), "int32")
            return RV(t.long(), "int32")
        if dt == "float32" and self.native is None:
            return self.out(t.to(torch.float64), dt, exact=True)
        return RV(t.to(self.storage(dt)), dt)

    def out(self, t: torch.Tensor, dt: str, ulps: float = 1.0, scale: torch.Tensor | None = None,
            exact=None) -> RV:
        """An op's result as dtype dt. ulps: the error the device may make, in units of the last
        place of `scale` (default |result|). exact: True, a bool mask, or None (inexact where
        rounding to float32 changed the value)."""
        if dt == "bool":
            return RV(t if t.dtype == torch.bool else t != 0, dt)
        if dt == "int32":
            t = t.long()
            if ((t > INT_MAX) | (t < INT_MIN)).any():
                if self.strict:
                    raise Reject("int32 overflow")
                t = (t - INT_MIN) % 2**32 + INT_MIN
            return RV(t, dt)
        if self.native is not None:
            return RV(t.to(self.storage(dt)), dt)
        if exact is True or exact is False:
            exact = torch.full((), exact, dtype=torch.bool)
        if scale is not None:
            scale = scale.detach()
        return RV(_Round.apply(t.to(torch.float64), self, dt == "float32", float(ulps), scale, exact), dt)

    def round(self, t, fp32, ulps, scale, exact):
        r = t.float().double() if fp32 else t.clone()
        if self.gen is None:
            return r
        if exact is None:
            exact = (r == t) if fp32 else (r == 0)
        move = ~torch.broadcast_to(exact, r.shape) & torch.isfinite(r)
        if not move.any():
            return r
        mag = r.abs() if scale is None else torch.broadcast_to(scale, r.shape)
        unit = 2.0**-23 if fp32 else 2.0**-52
        amp = (ulps * unit) * torch.nan_to_num(mag, posinf=0.0)
        u = torch.rand(r.shape, generator=self.gen, dtype=torch.float64) * 2 - 1
        jittered = r + u * amp
        if self.odd:  # a result smaller than its error may come out as exactly 0 (1 + tiny == 1)
            jittered = torch.where(r.abs() < amp, 0.0, jittered)
        return torch.where(move, jittered, r)
