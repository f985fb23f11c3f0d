"""Selection by position: gather, scatter_add, indexing with integer tensors and boolean masks,
masked_fill, one_hot, tril/triu, split/chunk.

No primitive reads memory at a computed address. Picking element idx[i] along an axis is
instead a comparison of idx with an arange, a where and a sum over that axis:

    x[idx][i, d] = sum_n (idx[i] == n ? x[n, d] : 0)

which the fusion rules make one reduce kernel, and whose gradient (a where, then the sum that
undoes the broadcast) comes from the primitive rules. It costs len(idx) * N reads instead of
len(idx): right for the embedding-sized lookups of a small model, not for huge tables.

Device index values are never read back to the host (that would synchronize): an index outside
[-N, N) selects nothing, so its result is 0 and its gradient goes nowhere. Index *host* data
(lists, numpy arrays) is checked here, and out-of-range values raise an IndexError, as torch.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from tinygradlike.dtypes import dtypes
from tinygradlike.tensor import Tensor, _normalize_axis, broadcast_shape, device_arange, expand_ellipsis


def _axis_positions(n: int, axis: int, ndim: int) -> Tensor:
    """arange(n) shaped to lie along `axis` of an ndim-dimensional tensor."""
    return device_arange(n).reshape(tuple(n if i == axis else 1 for i in range(ndim)))


def _check_index_dtype(index: Tensor, what: str) -> Tensor:
    if not index.dtype.is_int:
        raise TypeError(f"{what}: the index must hold integers, got dtype {index.dtype.name}; "
                        f"cast it with .int()")
    return index if index.dtype == dtypes.int32 else index.cast(dtypes.int32)


def _host_index(index: Any, size: int, what: str) -> Tensor:
    """A list or numpy array of indices into an axis of `size`: checked here, negatives wrapped,
    uploaded as int32."""
    array = np.asarray(index)
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
        raise TypeError(f"{what}: index {index!r} must hold integers (or bools as a mask), got {array.dtype}")
    array = array.astype(np.int64)
    bad = array[(array < -size) | (array >= size)]
    if bad.size:
        raise IndexError(f"{what}: index {int(bad.flat[0])} is out of bounds for an axis of size {size}")
    return Tensor((array % size if size else array).astype(np.int32))


# ------------------------------------------------------------------------------ gather / scatter

def _check_gather_shapes(x: Tensor, dim: int, index: Tensor, what: str) -> int:
    dim = _normalize_axis(dim, x.ndim, "dim")
    if index.ndim != x.ndim:
        raise ValueError(f"{what}: index {index.shape} must have as many dimensions as the tensor {x.shape}")
    for d, (i, s) in enumerate(zip(index.shape, x.shape)):
        if d != dim and i > s:
            raise ValueError(f"{what}: index {index.shape} is larger than {x.shape} in dimension {d}; "
                             f"outside dim {dim} it may only be smaller or equal")
    return dim


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim=0 (and so on), as torch.gather: the result
    has index's shape; index is an integer Tensor of x's rank, no larger than x outside `dim`.
    One reduce kernel. Values outside [0, x.shape[dim]) give 0 (they are not checked on the device)."""
    if not isinstance(index, Tensor):
        index = _host_index(index, x.shape[_normalize_axis(dim, x.ndim, "dim")] if x.ndim else 1, "gather")
    index = _check_index_dtype(index, "gather")
    dim = _check_gather_shapes(x, dim, index, "gather")
    n = x.shape[dim]
    # the candidates n along a new axis just after dim; index's own size along dim broadcasts
    seen = x.shrink([(0, i) if d != dim else None for d, i in enumerate(index.shape)]).unsqueeze(dim)
    picks = index.unsqueeze(dim + 1) == _axis_positions(n, dim + 1, x.ndim + 1)
    return picks.where(seen, 0).cast(x.dtype).sum(dim + 1)


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """x with src[i][j][k] added at x[index[i][j][k]][j][k] (dim=0; and so on), as torch's
    out-of-place scatter_add: repeated indices add up. index is an integer Tensor of x's rank,
    no larger than src anywhere nor than x outside `dim`; the entries of src outside index's
    shape are unused. Values outside [0, x.shape[dim]) add nothing."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a Tensor, got {type(src).__name__}")
    if not isinstance(index, Tensor):
        index = _host_index(index, x.shape[_normalize_axis(dim, x.ndim, "dim")] if x.ndim else 1, "scatter_add")
    index = _check_index_dtype(index, "scatter_add")
    dim = _check_gather_shapes(x, dim, index, "scatter_add")
    if src.ndim != index.ndim or any(i > s for i, s in zip(index.shape, src.shape)):
        raise ValueError(f"scatter_add: index {index.shape} must have src's rank and be no larger than "
                         f"src {src.shape} in any dimension")
    n = x.shape[dim]
    # the transpose of gather: sum over index's positions along dim, the targets n on a new axis
    values = src.shrink([(0, i) for i in index.shape]).cast(x.dtype).unsqueeze(dim + 1)
    hits = index.unsqueeze(dim + 1) == _axis_positions(n, dim + 1, x.ndim + 1)
    added = hits.where(values, 0).cast(x.dtype).sum(dim)
    return x + added.pad([(0, s - a) for s, a in zip(x.shape, added.shape)])


# ------------------------------------------------------------------------------ x[...] with tensors

def is_advanced(key: Any) -> bool:
    """Whether an index key (one entry or a tuple) holds a Tensor, list or numpy array: the
    cases numpy and torch call advanced indexing."""
    entries = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (Tensor, list, np.ndarray)) for k in entries)


def _bool_mask(k: Any) -> np.ndarray | None:
    """The host value of a boolean mask (a numpy array, a list of bools, or a Tensor, which is
    realized to read it), or None when k is not a mask."""
    if isinstance(k, Tensor):
        return k.numpy() if k.dtype == dtypes.bool else None
    array = np.asarray(k)
    return array if array.dtype == np.bool_ and array.ndim > 0 else None


def _expand_masks(key: tuple) -> tuple:
    """Each k-dimensional boolean mask replaced by the k integer arrays of its nonzero
    positions (numpy's rule), each entry kept where it stands."""
    out: list[Any] = []
    for k in key:
        mask = _bool_mask(k)
        out.extend(np.nonzero(mask) if mask is not None else (k,))
    return tuple(out)


def advanced_getitem(x: Tensor, key: Any) -> Tensor:
    """x[key] where key holds integer Tensors, lists or numpy arrays (and ints, slices, None,
    ...), with torch's advanced-indexing rules: the index arrays broadcast together; their
    shape replaces the indexed axes where those are adjacent once the ints have selected, else
    it comes first (numpy counts ints as index arrays there; torch does not). Negative indices
    count from the end. A boolean mask (host data, or a Tensor that is computed to read it)
    selects its nonzero positions, so the result's shape depends on its values."""
    key = expand_ellipsis(_expand_masks(key if isinstance(key, tuple) else (key,)), x.shape)

    # first the basic part (slices, ints, None) as a view; the arrays keep their axes whole.
    # An array's axis in the view: each int before it removed one, each None added one
    basic, arrays, positions = [], [], []
    view_dim = 0
    for k in key:
        is_array = isinstance(k, (Tensor, list, np.ndarray))
        basic.append(slice(None) if is_array else k)
        if is_array:
            arrays.append(k)
            positions.append(view_dim)
        if not isinstance(k, (int, np.integer)):
            view_dim += 1
    view = x[tuple(basic)]
    indices = [_as_index(k, view.shape[p], f"index {i}") for i, (k, p) in enumerate(zip(arrays, positions))]
    # torch selects with the ints first, so only the arrays' places in the view decide where the
    # result goes (numpy counts ints as index arrays: x[:, [0], :, 1] differs between the two)
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    return _take(view, indices, positions, positions[0] if adjacent else 0)


def _as_index(k: Any, size: int, what: str) -> Tensor:
    if isinstance(k, Tensor):
        k = _check_index_dtype(k, what)
        return (k < 0).where(k + size, k)  # negatives count from the end, as torch (fuses)
    return _host_index(k, size, what)


def _take(view: Tensor, indices: list[Tensor], positions: list[int], place: int) -> Tensor:
    """view with axes `positions` replaced by the broadcast shape of `indices` at `place`."""
    try:
        batch = broadcast_shape(*(i.shape for i in indices))
    except ValueError as err:
        raise IndexError(f"the index arrays do not broadcast together: {err}") from None
    rest = [d for d in range(view.ndim) if d not in positions]
    sizes = [view.shape[p] for p in positions]
    b, r, k = len(batch), len(rest), len(positions)
    # view as (1.., rest..., N_1..N_k); each index as (batch..., 1.., 1.. N_i ..1)
    source = view.permute(rest + positions).reshape((1,) * b + tuple(view.shape[d] for d in rest) + tuple(sizes))
    picks = None
    for j, (index, n) in enumerate(zip(indices, sizes)):
        index = index._expand_to(batch).reshape(batch + (1,) * (r + k))
        hit = index == _axis_positions(n, b + r + j, b + r + k)
        picks = hit if picks is None else picks * hit
    out = picks.where(source, 0).cast(view.dtype).sum(tuple(range(b + r, b + r + k)))
    # out is (batch..., rest...): move batch to `place` among the rest
    order = list(range(b, b + place)) + list(range(b)) + list(range(b + place, b + r))
    return out.permute(order)


def masked_fill(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    """x with `value` (a number or a 0-d Tensor) wherever the bool `mask` (broadcast to x's
    shape) is True, as torch's masked_fill; the dtype stays x's."""
    if not isinstance(mask, Tensor):
        mask = Tensor(np.asarray(mask))
    if mask.dtype != dtypes.bool:
        raise TypeError(f"masked_fill: the mask must be a bool tensor, got dtype {mask.dtype.name}")
    if broadcast_shape(x.shape, mask.shape) != x.shape:
        raise ValueError(f"masked_fill: the mask {mask.shape} must broadcast to the tensor's shape {x.shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d Tensor, got shape {value.shape}")
        value = value.cast(x.dtype)
    elif x.dtype.is_int and isinstance(value, float) and not value.is_integer():
        raise TypeError(f"masked_fill: {value!r} is not a value of an {x.dtype.name} tensor")
    elif x.dtype.is_int or x.dtype == dtypes.bool:
        value = Tensor.full((), value, x.dtype)
    return mask.where(value, x).cast(x.dtype)


def one_hot(index: Tensor, num_classes: int = -1) -> Tensor:
    """index's shape plus a last axis of num_classes, 1 at each index's value and 0 elsewhere, as
    int32 (torch's F.one_hot; its int64 is our int32). num_classes=-1 reads the values (a
    synchronization) and uses max + 1. Values outside [0, num_classes) give a row of zeros."""
    if not isinstance(index, Tensor):
        index = Tensor(np.asarray(index, dtype=np.int32))
    index = _check_index_dtype(index, "one_hot")
    if num_classes == -1:
        num_classes = int(index.numpy().max(initial=-1)) + 1
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be >= 0 (or -1 to infer it), got {num_classes}")
    hit = index.unsqueeze(-1) == _axis_positions(num_classes, index.ndim, index.ndim + 1)
    return hit.cast(dtypes.int32)


# ------------------------------------------------------------------------------ by position

def triangle(x: Tensor, diagonal: int, lower: bool) -> Tensor:
    """tril (lower) or triu of the last two axes of x: elements on and below (above) the
    `diagonal`-th diagonal kept, the rest 0, as torch.tril / torch.triu."""
    if x.ndim < 2:
        raise ValueError(f"{'tril' if lower else 'triu'} needs at least 2 dimensions, got shape {x.shape}")
    rows, cols = x.shape[-2:]
    offset = _axis_positions(cols, 1, 2) - _axis_positions(rows, 0, 2)  # col - row
    keep = offset <= diagonal if lower else offset >= diagonal
    return keep.where(x, 0).cast(x.dtype)


def split(x: Tensor, sizes: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Views of x along `dim`: pieces of `sizes` each (the last one smaller if it must), or
    of the listed sizes, which must add up to the dimension, as torch.split."""
    dim = _normalize_axis(dim, x.ndim, "dim")
    n = x.shape[dim]
    if isinstance(sizes, (int, np.integer)):
        if sizes <= 0:
            raise ValueError(f"split size must be positive, got {sizes}")
        sizes = [min(sizes, n - start) for start in range(0, n, sizes)] or [0]
    sizes = [int(s) for s in sizes]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise ValueError(f"split sizes {sizes} must be >= 0 and add up to {n}, the size of dim {dim} of {x.shape}")
    starts = np.cumsum([0] + sizes[:-1])
    return tuple(x.shrink([(int(a), int(a) + s) if d == dim else None for d in range(x.ndim)])
                 for a, s in zip(starts, sizes))


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """x split into `chunks` views of ceil(n / chunks) along `dim` (fewer when n is small), as
    torch.chunk."""
    if chunks <= 0:
        raise ValueError(f"chunk needs a positive number of chunks, got {chunks}")
    n = x.shape[_normalize_axis(dim, x.ndim, "dim")]
    return split(x, max(math.ceil(n / chunks), 1), dim)
