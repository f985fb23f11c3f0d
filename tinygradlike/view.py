"""Views: how a tensor's shape maps onto its buffer, so that movement ops never copy.

A View is shape + strides + offset + mask. Element (i0, i1, ...) lives at buffer index
`offset + i0*strides[0] + i1*strides[1] + ...` and reads as 0 when some i_k lies outside
`mask[k] = [lo, hi)`. Every movement op is a rewrite of these numbers:

  permute  reorders shape, strides and mask       expand   grows a size-1 dim, stride 0
  shrink   moves the offset, cuts the shape        pad      moves the offset back, adds a mask
  flip     negates a stride                        stride   multiplies a stride (a[::k])
  reshape  regroups dims when their strides chain; otherwise a *new* View is pushed

A ShapeTracker is a stack of Views. `views[-1]` is what the user sees; its index is not a
buffer position but a row-major position in `views[-2].shape`, and so on down to `views[0]`,
which indexes the buffer. Most stacks are one View: a new one is pushed only when a reshape
cannot be expressed on the last (flattening a transpose, say), and `simplify()` merges
adjacent views whenever that is provably correct.

`render` turns a tracker into C index arithmetic with every number baked in. It builds
expressions with tinygradlike/symbolic.py, which knows each expression's range, so `x%N`
vanishes when x < N, `(a*N+b)/N` becomes `a` when 0 <= b < N, and constants fold. The expressions only ever divide values
that are non-negative at valid positions, so C's truncating `/` and `%` agree with floor
division; at masked positions the index may be anything and must not be dereferenced.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from tinygradlike.symbolic import Expr, Num, Var, add, clamp, div, mod, mul

if TYPE_CHECKING:
    import numpy as np

Shape = tuple[int, ...]
Mask = tuple[tuple[int, int], ...]


def _prod(xs) -> int:
    return math.prod(xs)


def _contiguous_strides(shape: Shape) -> tuple[int, ...]:
    """Row-major strides; size-1 (and size-0) dims get stride 0, the canonical form."""
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc if s > 1 else 0)
        acc *= s
    return tuple(reversed(strides))


def _as_shape(shape, op: str) -> Shape:
    try:
        out = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise ValueError(f"{op}: a shape must be a sequence of ints, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"{op}: sizes must be >= 0, got {out}")
    return out


def _as_ints(values, op: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(operator.index(v) for v in values)
    except TypeError:
        raise ValueError(f"{op}: {what} must be a sequence of ints, got {values!r}") from None


def _as_pairs(pairs, op: str, shape: Shape, what: str) -> tuple[tuple[int, int], ...]:
    try:
        out = tuple((operator.index(a), operator.index(b)) for a, b in pairs)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {what} must be a sequence of (int, int) pairs, got {pairs!r}") from None
    if len(out) != len(shape):
        raise ValueError(f"{op}: expected {len(shape)} {what} for shape {shape}, got {len(out)}: {out}")
    return out


# ---------------------------------------------------------------------------------------
# View: one affine map from coordinates to buffer positions, plus a validity box


@dataclass(frozen=True)
class View:
    """shape/strides/offset/mask; always stored in canonical form, so equal maps compare equal.

    Canonical: size-1 dims have stride 0; a mask that covers everything is None; a view with
    nothing valid has every mask dim (0, 0), strides 0 and offset 0; an empty view (size 0)
    has strides 0, offset 0 and no mask.
    """

    shape: Shape
    strides: tuple[int, ...]
    offset: int = 0
    mask: Mask | None = None

    def __post_init__(self):
        shape = _as_shape(self.shape, "View")
        strides = _as_ints(self.strides, "View", "strides")
        if len(strides) != len(shape):
            raise ValueError(f"View: {len(strides)} strides {strides} for {len(shape)}-d shape {shape}")
        offset = operator.index(self.offset)
        mask = self.mask
        if mask is not None:
            mask = _as_pairs(mask, "View", shape, "mask pairs")
            mask = tuple((max(lo, 0), min(hi, s)) for (lo, hi), s in zip(mask, shape))
        strides = tuple(0 if s <= 1 else st for s, st in zip(shape, strides))
        if 0 in shape:
            strides, offset, mask = (0,) * len(shape), 0, None
        elif mask is not None:
            if any(lo >= hi for lo, hi in mask):
                strides, offset, mask = (0,) * len(shape), 0, ((0, 0),) * len(shape)
            elif all(m == (0, s) for m, s in zip(mask, shape)):
                mask = None
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "strides", strides)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "mask", mask)

    @staticmethod
    def contiguous(shape: Sequence[int]) -> View:
        """The row-major view of a buffer of this shape."""
        shape = _as_shape(shape, "View.contiguous")
        return View(shape, _contiguous_strides(shape), 0, None)

    @property
    def size(self) -> int:
        return _prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_contiguous(self) -> bool:
        return self.offset == 0 and self.mask is None and self.strides == _contiguous_strides(self.shape)

    @property
    def is_all_masked(self) -> bool:
        """True when the view has elements but none of them is valid."""
        return self.mask is not None and self.mask[:1] == ((0, 0),) and self.size > 0

    def full_mask(self) -> Mask:
        return self.mask if self.mask is not None else tuple((0, s) for s in self.shape)

    def __repr__(self) -> str:
        mask = "" if self.mask is None else f", mask={self.mask}"
        return f"View({self.shape}, strides={self.strides}, offset={self.offset}{mask})"

    # movement ops on one view; arguments are validated by ShapeTracker

    def permute(self, order: tuple[int, ...]) -> View:
        mask = None if self.mask is None else tuple(self.mask[i] for i in order)
        return View(tuple(self.shape[i] for i in order), tuple(self.strides[i] for i in order), self.offset, mask)

    def expand(self, new_shape: Shape) -> View:
        mask = None
        if self.mask is not None:  # a size-1 dim's mask is (0, 1) or, if nothing is valid, (0, 0)
            mask = tuple(m if s == n else (0, n if m[1] > m[0] else 0)
                         for m, s, n in zip(self.mask, self.shape, new_shape))
        strides = tuple(st if s == n else 0 for st, s, n in zip(self.strides, self.shape, new_shape))
        return View(new_shape, strides, self.offset, mask)

    def pad(self, pads: tuple[tuple[int, int], ...]) -> View:
        shape = tuple(b + s + a for s, (b, a) in zip(self.shape, pads))
        offset = self.offset - sum(b * st for (b, _), st in zip(pads, self.strides))
        mask = tuple((lo + b, hi + b) for (lo, hi), (b, _) in zip(self.full_mask(), pads))
        return View(shape, self.strides, offset, mask)

    def shrink(self, bounds: tuple[tuple[int, int], ...]) -> View:
        shape = tuple(e - b for b, e in bounds)
        offset = self.offset + sum(b * st for (b, _), st in zip(bounds, self.strides))
        mask = None
        if self.mask is not None:
            mask = tuple((lo - b, hi - b) for (lo, hi), (b, _) in zip(self.mask, bounds))
        return View(shape, self.strides, offset, mask)

    def flip(self, axes: tuple[int, ...]) -> View:
        strides, offset, mask = list(self.strides), self.offset, list(self.full_mask())
        for ax in axes:
            s = self.shape[ax]
            offset += (s - 1) * strides[ax]
            strides[ax] = -strides[ax]
            lo, hi = mask[ax]
            mask[ax] = (s - hi, s - lo)
        return View(self.shape, tuple(strides), offset, tuple(mask))

    def stride(self, steps: tuple[int, ...]) -> View:
        """Every k-th element along each dim (k >= 1), starting at the first."""
        shape = tuple((s + k - 1) // k for s, k in zip(self.shape, steps))
        strides = tuple(st * k for st, k in zip(self.strides, steps))
        # element i is old element i*k: valid iff lo <= i*k < hi iff ceil(lo/k) <= i < ceil(hi/k)
        mask = tuple((-(-lo // k), -(-hi // k)) for (lo, hi), k in zip(self.full_mask(), steps))
        return View(shape, strides, self.offset, mask)

    def reshape(self, new_shape: Shape) -> View | None:
        """This view reshaped, or None when no single view can express it (then push one)."""
        if new_shape == self.shape:
            return self
        if self.size == 0:
            return View(new_shape, (0,) * len(new_shape))
        if self.is_all_masked:
            return View(new_shape, (0,) * len(new_shape), 0, ((0, 0),) * len(new_shape)) if new_shape else None
        old = [(s, st, m) for s, st, m in zip(self.shape, self.strides, self.full_mask()) if s != 1]
        new_axes = [i for i, s in enumerate(new_shape) if s != 1]
        strides, mask = [0] * len(new_shape), [(0, s) for s in new_shape]
        i = j = 0
        while i < len(old):
            # grow one group of old dims and one of new dims until their sizes agree
            group_old, group_new = [old[i]], [new_axes[j]]
            size_old, size_new = old[i][0], new_shape[new_axes[j]]
            while size_old != size_new:
                if size_old < size_new:
                    i += 1
                    group_old.append(old[i])
                    size_old *= old[i][0]
                else:
                    j += 1
                    group_new.append(new_axes[j])
                    size_new *= new_shape[new_axes[j]]
            i, j = i + 1, j + 1
            if not _split_group(group_old, [new_shape[a] for a in group_new], group_new, strides, mask):
                return None
        return View(new_shape, tuple(strides), self.offset, tuple(mask))


def _split_group(old: list[tuple[int, int, tuple[int, int]]], sizes: list[int], axes: list[int],
                 strides: list[int], mask: list[tuple[int, int]]) -> bool:
    """Write strides/mask for new `axes` (of `sizes`) covering the old dims `old`, if they chain."""
    for (_, st_a, _), (s_b, st_b, _) in zip(old, old[1:]):
        if st_a != st_b * s_b:  # the old dims are not one run of memory
            return False
    span = _box_as_range([s for s, _, _ in old], [m for _, _, m in old])
    if span is None:
        return False
    ranges = _range_as_box(span, sizes)
    if ranges is None:
        return False
    stride = old[-1][1]
    for axis, size, rng in zip(reversed(axes), reversed(sizes), reversed(ranges)):
        strides[axis], mask[axis] = stride, rng
        stride *= size
    return True


def _box_as_range(sizes: list[int], box: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The row-major positions of a box, as one range [L, R), or None if they are not one range.

    They are one range when some leading dims are fixed to one value, then one dim has any
    range, then every remaining dim is full."""
    k = len(sizes)
    while k > 0 and box[k - 1] == (0, sizes[k - 1]):
        k -= 1
    if k == 0:
        return 0, _prod(sizes)
    if any(hi - lo != 1 for lo, hi in box[:k - 1]):
        return None
    lo_pos = hi_pos = 0
    for size, (lo, hi) in zip(sizes, box):
        lo_pos, hi_pos = lo_pos * size + lo, hi_pos * size + hi - 1
    return lo_pos, hi_pos + 1


def _range_as_box(span: tuple[int, int], sizes: list[int]) -> list[tuple[int, int]] | None:
    """The inverse of _box_as_range: [L, R) over row-major `sizes` as per-dim ranges, or None."""
    lo, hi = span
    if (lo, hi) == (0, _prod(sizes)):
        return [(0, s) for s in sizes]
    for m in range(len(sizes)):
        inner = _prod(sizes[m + 1:])
        if lo % inner or hi % inner:
            continue
        a, b = lo // inner, hi // inner
        if a // sizes[m] != (b - 1) // sizes[m]:
            continue
        fixed, outer = [], a // sizes[m]
        for s in reversed(sizes[:m]):
            fixed.append((outer % s, outer % s + 1))
            outer //= s
        return fixed[::-1] + [(a % sizes[m], (b - 1) % sizes[m] + 1)] + [(0, s) for s in sizes[m + 1:]]
    return None


# ---------------------------------------------------------------------------------------
# merging two stacked views into one


def _merge_views(inner: View, outer: View) -> View | None:
    """One view equal to `outer` read through `inner`, or None if none is provably equal."""
    if outer.size == 0:
        return View(outer.shape, (0,) * outer.ndim)
    if inner.size == 0:
        return None
    if outer.is_all_masked or inner.is_all_masked:
        return View(outer.shape, (0,) * outer.ndim, 0, ((0, 0),) * outer.ndim) if outer.ndim else None
    if outer.is_contiguous and outer.size == inner.size:  # outer is a plain reshape of inner
        return inner.reshape(outer.shape)
    flat = inner.reshape((inner.size,))
    if flat is not None:
        return _merge_onto_flat(flat, outer)
    return _merge_per_dim(inner, outer)


def _merge_onto_flat(flat: View, outer: View) -> View | None:
    """inner is one strided run (with at most one masked range): scale outer's strides."""
    (st,), (lo, hi) = flat.strides, flat.full_mask()[0]
    mask = list(outer.full_mask())
    if (lo, hi) != (0, flat.size):  # outer's position must land in [lo, hi)
        moving = [k for k, s in enumerate(outer.strides) if s != 0]
        if len(moving) > 1:
            return None
        if moving:
            k = moving[0]
            a, b = _solve_range(outer.offset, outer.strides[k], lo, hi)
            mask[k] = (max(mask[k][0], a), min(mask[k][1], b))
        elif not lo <= outer.offset < hi:  # outer reads one position, and it is masked
            if not outer.ndim:
                return None
            mask = [(0, 0)] * outer.ndim
    return View(outer.shape, tuple(s * st for s in outer.strides), flat.offset + outer.offset * st, tuple(mask))


def _solve_range(offset: int, stride: int, lo: int, hi: int) -> tuple[int, int]:
    """The x range [a, b) with lo <= offset + x*stride < hi (stride != 0)."""
    if stride > 0:
        return -((offset - lo) // stride), -((offset - hi) // stride)
    t = -stride
    return (offset - hi) // t + 1, (offset - lo) // t + 1


def _merge_per_dim(inner: View, outer: View) -> View | None:
    """Each outer dim moves along exactly one inner dim and never carries into the next.

    Writing outer's position in inner's row-major order as sum_j c_j * C_j (C_j = inner's
    row-major strides), each inner coordinate c_j is then an affine function of the outer
    dims that land on it; if every c_j stays within [0, S_j) over outer's valid box, the
    position unravels exactly to those c_j and the two views compose into one."""
    ishape, cstrides = inner.shape, _contiguous_strides(inner.shape)
    box = outer.full_mask()
    target: list[tuple[int, int]] = []  # per outer dim: (inner dim, multiplier), or (-1, 0)
    for st in outer.strides:
        if st == 0:
            target.append((-1, 0))
            continue
        hits = [(j, st // c) for j, c in enumerate(cstrides) if c and st % c == 0 and abs(st // c) < ishape[j]]
        if len(hits) != 1:
            return None
        target.append(hits[0])
    # unravel a valid reference point, then each c_j moves linearly from it
    x0 = [lo for lo, _ in box]
    pos0 = outer.offset + sum(x * st for x, st in zip(x0, outer.strides))
    if not 0 <= pos0 < inner.size:
        return None
    base = [(pos0 // c) % s if c else 0 for c, s in zip(cstrides, ishape)]  # c_j at x0 ...
    for k, (j, m) in enumerate(target):
        if j >= 0:
            base[j] -= x0[k] * m  # ... moved back to x = 0
    lo_c, hi_c = list(base), list(base)  # range of each c_j over the valid box
    for k, (j, m) in enumerate(target):
        if j >= 0:
            ends = (box[k][0] * m, (box[k][1] - 1) * m)
            lo_c[j] += min(ends)
            hi_c[j] += max(ends)
    if any(lo < 0 or hi >= s for lo, hi, s in zip(lo_c, hi_c, ishape)):
        return None
    strides = tuple(0 if j < 0 else m * inner.strides[j] for j, m in target)
    offset = inner.offset + sum(b * st for b, st in zip(base, inner.strides))
    mask = list(box)
    for j, (ilo, ihi) in enumerate(inner.full_mask()):
        if (ilo, ihi) == (0, ishape[j]) or (lo_c[j] >= ilo and hi_c[j] < ihi):
            continue
        movers = [k for k, (t, _) in enumerate(target) if t == j]
        if len(movers) > 1:
            return None
        if not movers:  # c_j is the constant base[j]
            if not ilo <= base[j] < ihi:
                if not outer.ndim:
                    return None
                mask = [(0, 0)] * outer.ndim
            continue
        k = movers[0]
        a, b = _solve_range(base[j], target[k][1], ilo, ihi)
        mask[k] = (max(mask[k][0], a), min(mask[k][1], b))
    return View(outer.shape, strides, offset, tuple(mask))


# rendering one view; conditions is a list of C comparisons, or None when never valid

def _render_view(view: View, coords: list[Expr]) -> tuple[Expr, list[str] | None]:
    idx = add([Num(view.offset)] + [mul(c, st) for c, st in zip(coords, view.strides) if st])
    return idx, _conditions(coords, view.full_mask())


def _conditions(coords: list[Expr], box) -> list[str] | None:
    conds = []
    for c, (lo, hi) in zip(coords, box):
        if lo >= hi or c.max < lo or c.min >= hi:
            return None
        if c.min < lo:
            conds.append(f"({c.s}>={lo})")
        if c.max >= hi:
            conds.append(f"({c.s}<{hi})")
    return conds


def _merged_dims(view: View) -> list[tuple[int, int, tuple[int, int]]]:
    """(size, stride, mask range) per dim, size-1 dims dropped, runs of memory joined.

    Joining does not change row-major order, so a linear index over the view is also a
    linear index over these dims; fewer dims means fewer div/mod in the kernel."""
    dims: list[tuple[int, int, tuple[int, int]]] = []
    for s, st, (lo, hi) in zip(view.shape, view.strides, view.full_mask()):
        if s == 1:
            continue
        if dims and dims[-1][1] == st * s and (lo, hi) == (0, s):
            ps, _, (plo, phi) = dims[-1]
            dims[-1] = (ps * s, st, (plo * s, phi * s))
        else:
            dims.append((s, st, (lo, hi)))
    return dims


def _render_linear_view(view: View, lin: Expr) -> tuple[Expr, list[str] | None]:
    if view.is_all_masked:
        return Num(0), None
    lin = clamp(lin, 0, view.size - 1)
    dims = _merged_dims(view)
    inner = _prod(s for s, _, _ in dims)
    coords, strides, box = [], [], []
    for size, stride, rng in dims:
        inner //= size
        if stride == 0 and rng == (0, size):
            continue  # a broadcast dim: its coordinate is never needed
        coords.append(mod(div(lin, inner), size))
        strides.append(stride)
        box.append(rng)
    idx = add([Num(view.offset)] + [mul(c, st) for c, st in zip(coords, strides)])
    return idx, _conditions(coords, box)


# ---------------------------------------------------------------------------------------
# ShapeTracker


@dataclass(frozen=True)
class ShapeTracker:
    """A stack of Views; views[-1] is the shape the user sees, views[0] indexes the buffer."""

    views: tuple[View, ...]

    def __post_init__(self):
        views = tuple(self.views)
        if not views or not all(isinstance(v, View) for v in views):
            raise ValueError(f"ShapeTracker needs a non-empty sequence of Views, got {self.views!r}")
        object.__setattr__(self, "views", views)

    def __hash__(self) -> int:
        # trackers key the schedule, render and movement caches, which hash them on every
        # lookup; immutable, so the hash is computed once (equality stays the fields')
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(self.views)
            object.__setattr__(self, "_hash", h)
        return h

    @staticmethod
    def from_shape(shape: Sequence[int]) -> ShapeTracker:
        return ShapeTracker((View.contiguous(_as_shape(shape, "from_shape")),))

    @property
    def shape(self) -> Shape:
        return self.views[-1].shape

    @property
    def size(self) -> int:
        return self.views[-1].size

    @property
    def ndim(self) -> int:
        return len(self.views[-1].shape)

    @property
    def is_contiguous(self) -> bool:
        """True when this is the buffer itself: one row-major view, no offset, no mask."""
        return len(self.views) == 1 and self.views[0].is_contiguous

    def __repr__(self) -> str:
        return f"ShapeTracker({self.shape}: {' -> '.join(map(repr, self.views))})"

    def _replace_last(self, view: View) -> ShapeTracker:
        return ShapeTracker(self.views[:-1] + (view,)).simplify()

    def simplify(self) -> ShapeTracker:
        """Merge adjacent views wherever one view provably does the same job."""
        views = list(self.views)
        i = len(views) - 1
        while i >= 1:
            merged = _merge_views(views[i - 1], views[i])
            if merged is None:
                i -= 1
            else:
                views[i - 1:i + 1] = [merged]
                i = min(i, len(views) - 1)
        return self if len(views) == len(self.views) and tuple(views) == self.views else ShapeTracker(tuple(views))

    # movement ops

    def reshape(self, new_shape: Sequence[int]) -> ShapeTracker:
        new_shape = _as_shape(new_shape, "reshape")
        if _prod(new_shape) != self.size:
            raise ValueError(f"reshape: cannot reshape {self.shape} ({self.size} elements) to "
                             f"{new_shape} ({_prod(new_shape)} elements)")
        view = self.views[-1].reshape(new_shape)
        if view is not None:
            return self._replace_last(view)
        return ShapeTracker(self.views + (View.contiguous(new_shape),)).simplify()

    def permute(self, order: Sequence[int]) -> ShapeTracker:
        order = _as_ints(order, "permute", "order")
        if sorted(order) != list(range(self.ndim)):
            raise ValueError(f"permute: {order} is not a permutation of the {self.ndim} axes of {self.shape}")
        return self._replace_last(self.views[-1].permute(order))

    def expand(self, new_shape: Sequence[int]) -> ShapeTracker:
        new_shape = _as_shape(new_shape, "expand")
        if len(new_shape) != self.ndim:
            raise ValueError(f"expand: cannot expand {self.shape} to {new_shape}: "
                             f"the number of dims differs ({self.ndim} vs {len(new_shape)}); reshape first")
        for ax, (s, n) in enumerate(zip(self.shape, new_shape)):
            if s != n and s != 1:
                raise ValueError(f"expand: cannot expand {self.shape} to {new_shape}: axis {ax} has size {s}, "
                                 f"only size-1 axes can grow")
        return self._replace_last(self.views[-1].expand(new_shape))

    def pad(self, pads: Sequence[tuple[int, int]]) -> ShapeTracker:
        pads = _as_pairs(pads, "pad", self.shape, "(before, after) pairs")
        if any(b < 0 or a < 0 for b, a in pads):
            raise ValueError(f"pad: padding must be >= 0, got {pads} for shape {self.shape}; use shrink to cut")
        if all(p == (0, 0) for p in pads):
            return self
        return self._replace_last(self.views[-1].pad(pads))

    def shrink(self, bounds: Sequence[tuple[int, int]]) -> ShapeTracker:
        bounds = _as_pairs(bounds, "shrink", self.shape, "(start, end) pairs")
        for ax, ((b, e), s) in enumerate(zip(bounds, self.shape)):
            if not 0 <= b <= e <= s:
                raise ValueError(f"shrink: bounds {bounds} out of range for shape {self.shape}: "
                                 f"axis {ax} needs 0 <= start <= end <= {s}, got ({b}, {e})")
        if all(be == (0, s) for be, s in zip(bounds, self.shape)):
            return self
        return self._replace_last(self.views[-1].shrink(bounds))

    def flip(self, axes: Sequence[int]) -> ShapeTracker:
        axes = _as_ints(axes, "flip", "axes")
        for ax in axes:
            if not -self.ndim <= ax < self.ndim:
                raise ValueError(f"flip: axis {ax} is out of range for {self.ndim}-d shape {self.shape}")
        norm = tuple(ax % self.ndim for ax in axes)
        if len(set(norm)) != len(norm):
            raise ValueError(f"flip: axes {axes} repeat an axis of shape {self.shape}")
        return self._replace_last(self.views[-1].flip(norm)) if norm else self

    def stride(self, steps: Sequence[int]) -> ShapeTracker:
        """Keep every k-th element per dim, like a[::k]; a negative k flips first, like a[::-k]."""
        steps = _as_ints(steps, "stride", "steps")
        if len(steps) != self.ndim:
            raise ValueError(f"stride: expected {self.ndim} steps for shape {self.shape}, got {len(steps)}: {steps}")
        if 0 in steps:
            raise ValueError(f"stride: steps must be non-zero, got {steps} for shape {self.shape}")
        view = self.views[-1]
        flips = tuple(ax for ax, k in enumerate(steps) if k < 0)
        if flips:
            view = view.flip(flips)
        return self._replace_last(view.stride(tuple(abs(k) for k in steps)))

    # rendering

    def render(self, idxs: Sequence[str]) -> tuple[str, str | None]:
        """(buffer index, validity or None) as C int expressions in per-dim coordinates `idxs`."""
        if len(idxs) != self.ndim:
            raise ValueError(f"render: {len(idxs)} index expressions for {self.ndim}-d shape {self.shape}")
        if self.size == 0:
            return "0", None
        coords = [Num(0) if s == 1 else Var(name, 0, s - 1) for name, s in zip(idxs, self.shape)]
        return self._render_down(*_render_view(self.views[-1], coords))

    def render_linear(self, lidx: str) -> tuple[str, str | None]:
        """(buffer index, validity or None) from `lidx`, a row-major position in self.shape."""
        if self.size == 0:
            return "0", None
        return self._render_down(*_render_linear_view(self.views[-1], Var(lidx, 0, self.size - 1)))

    def _render_down(self, idx: Expr, conds: list[str] | None) -> tuple[str, str | None]:
        for view in reversed(self.views[:-1]):
            if conds is None:
                break
            idx, more = _render_linear_view(view, idx)
            conds = None if more is None else conds + more
        if conds is None:
            return "0", "0"
        conds = list(dict.fromkeys(conds))
        valid = None if not conds else conds[0] if len(conds) == 1 else f"({'&&'.join(conds)})"
        return idx.s, valid

    def unit_stride_axes(self) -> tuple[int, ...]:
        """Axes along which consecutive elements are consecutive in the buffer (single view only)."""
        if len(self.views) != 1:
            return ()
        return tuple(ax for ax, st in enumerate(self.views[0].strides) if st == 1)

    def real_size(self) -> int:
        """How many elements the buffer must hold: the largest valid index + 1 (0 if none)."""
        base = self.views[0]
        if base.size == 0 or base.is_all_masked:
            return 0
        top = base.offset + sum(max(st * lo, st * (hi - 1)) for st, (lo, hi) in zip(base.strides, base.full_mask()))
        return top + 1

    def to_indices(self) -> np.ndarray:
        """Brute force, for tests: the buffer index of every element, -1 where masked."""
        import numpy as np

        idx, valid = _view_indices(self.views[-1], np.indices(self.shape, dtype=np.int64), self.shape)
        for view in reversed(self.views[:-1]):
            if view.size == 0:  # nothing to read through an empty view
                valid[...] = False
                continue
            coords = np.unravel_index(np.where(valid, idx, 0), view.shape) if view.shape else ()
            idx, more = _view_indices(view, coords, self.shape)
            valid &= more
        return np.where(valid, idx, -1).astype(np.int64)


def _view_indices(view: View, coords, shape: Shape):
    import numpy as np

    idx = np.full(shape, view.offset, dtype=np.int64)
    valid = np.ones(shape, dtype=bool)
    for c, st, (lo, hi) in zip(coords, view.strides, view.full_mask()):
        idx += np.asarray(c, dtype=np.int64) * st
        valid &= (c >= lo) & (c < hi)
    return idx, valid
