"""Reductions that are not one primitive: cumsum, prod, any, all.

Only sum and max reduce in a kernel, so these are built from them (or from multiplies) in a
way that keeps their gradients exact where the obvious formula breaks: prod is not plain
exp(sum(log x)), which is wrong at zeros and negative values.
"""
from __future__ import annotations

import math

from tinygradlike.dtypes import dtypes
from tinygradlike.indexing import _axis_positions
from tinygradlike.tensor import Tensor, _normalize_axis


def cumsum(x: Tensor, dim: int) -> Tensor:
    """Running sums along `dim`, as torch.cumsum (a bool tensor sums as int32).

    out[..., i] = sum over j <= i of x[..., j], one reduce kernel over an (n, n) lower
    triangle: n*n additions instead of n, which is nothing at the sequence lengths of a small
    model and needs no scan primitive; its gradient (a reversed cumsum) is derived, one kernel too."""
    x = x.cast(dtypes.int32) if x.dtype == dtypes.bool else x
    if x.ndim == 0:
        _normalize_axis(dim, 0, "dim")
        return x
    dim = _normalize_axis(dim, x.ndim, "dim")
    n = x.shape[dim]
    before = _axis_positions(n, dim + 1, x.ndim + 1) <= _axis_positions(n, dim, x.ndim + 1)  # j <= i
    return before.where(x.unsqueeze(dim), 0).cast(x.dtype).sum(dim + 1)


def prod(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The product over `dim` (None: every element), as torch.prod (a bool tensor multiplies as
    int32). An empty product is 1.

    Up to TREE_LIMIT elements (and for integers) a tree of multiplies: the axis is padded with
    ones to a power of two and halved log2(n) times. Every step is a multiply, so the gradient
    (the product of the other elements) is derived exactly, with zeros and negative values, to
    any order, and the tree fuses into whatever kernel reads it. The fused tree inlines all n
    factors, so longer float axes use sums instead (see _prod_by_logs): a sign from the count of
    negative values, a magnitude exp(sum(log|x|)) over the nonzero ones, and a count of zeros,
    with the product-of-the-others gradient registered (its second derivative is derived
    where no element is zero)."""
    x = x.cast(dtypes.int32) if x.dtype == dtypes.bool else x
    if dim is None:
        out = _prod_axis(x.flatten(), 0)
        return out.reshape((1,) * x.ndim if keepdim else ())
    if x.ndim == 0:
        _normalize_axis(dim, 0, "dim")
        return x
    dim = _normalize_axis(dim, x.ndim, "dim")
    out = _prod_axis(x, dim)
    return out if keepdim else out.squeeze(dim)


TREE_LIMIT = 32  # the fused tree of a 1000-element axis took 18 s to compile, its gradient 5 minutes


def _prod_axis(x: Tensor, dim: int) -> Tensor:
    """The product along dim, kept as a size-1 axis."""
    n = x.shape[dim]
    if n == 0:
        return Tensor.full(tuple(1 if d == dim else s for d, s in enumerate(x.shape)), 1, x.dtype)
    if n > TREE_LIMIT and x.dtype.is_float:
        held = x.detach()
        return x._with_gradient_rule(_prod_by_logs(held, dim)[0], _ProdRule(dim))
    width = 1 << (n - 1).bit_length()
    x = x.pad([(0, width - n) if d == dim else None for d in range(x.ndim)], value=1)
    while width > 1:
        width //= 2
        x = (x.shrink([(0, width) if d == dim else None for d in range(x.ndim)])
             * x.shrink([(width, 2 * width) if d == dim else None for d in range(x.ndim)]))
    return x


def _prod_by_logs(x: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """(product, product of the nonzero elements, count of zeros) along dim, kept as size 1."""
    zero = x == 0
    zeros = zero.sum(dim, keepdim=True)
    negatives = (x < 0).sum(dim, keepdim=True)
    sign = ((negatives.cast(x.dtype) * math.pi).cos() > 0).where(1.0, -1.0).cast(x.dtype)  # (-1)**count
    nonzero = sign * zero.where(0.0, x.abs().log()).cast(x.dtype).sum(dim, keepdim=True).exp()
    return (zeros > 0).where(0.0, nonzero).cast(x.dtype), nonzero, zeros


class _ProdRule:
    """The gradient of a product: the product of the other elements, which is prod / x without
    zeros, the product of the nonzero ones at a single zero, and 0 with two zeros or more."""

    def __init__(self, dim: int):
        self.dim = dim

    def gradients(self, g: Tensor, inputs: list[Tensor]) -> list[Tensor | None]:
        x, = inputs
        value, nonzero, zeros = _prod_by_logs(x, self.dim)
        safe_x = (x == 0).where(1.0, x).cast(x.dtype)
        others = (zeros == 0).where(value / safe_x, ((zeros == 1) * (x == 0)).where(nonzero, 0.0))
        return [g * others.cast(x.dtype)]

    def __repr__(self) -> str:
        return f"prod(dim={self.dim})"


def any_true(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether any element over `dim` (an int, a tuple, or None for all) is nonzero, as a bool
    tensor; False over an empty dimension."""
    return x.cast(dtypes.bool).sum(dim, keepdim) > 0


def all_true(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether every element over `dim` (an int, a tuple, or None for all) is nonzero, as a bool
    tensor; True over an empty dimension."""
    return x.cast(dtypes.bool).logical_not().sum(dim, keepdim) == 0
