# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Tensors: shapes, strides, views, broadcasting, no copies
# <!-- needs: device -->
#
# Tutorial 04 spent one graph node per multiplication: 70,000 nodes for a tiny network. A
# `Tensor` makes one node stand for a whole array, and then the question becomes how an array
# sits in memory. The answer, here and in numpy, PyTorch and tinygrad, is *strides*: with
# them, transposing, slicing, flipping and broadcasting move no data at all.

# %%
import numpy as np

import checks
from tinygradlike import Tensor, reset_stats, stats
from tinygradlike.view import ShapeTracker, View

# %% [markdown]
# ## Memory is a line; strides fold it
#
# A 2 x 3 array lives in 6 consecutive slots. Element (i, j) sits at `offset + i*s0 + j*s1`,
# where the strides (s0, s1) say how far one step along each axis moves in memory. Row-major
# ("C order") layout has strides (3, 1): the last axis is contiguous. numpy shows strides in
# bytes; we count elements.

# %%
base = np.arange(6.0)
a = base.reshape(2, 3)
assert tuple(s // a.itemsize for s in a.strides) == (3, 1)

view = View.contiguous((2, 3))
print(view)
assert view.strides == (3, 1) and view.offset == 0


def index_of(view, idx):
    """Where element idx of a view lives in memory."""
    return view.offset + sum(i * s for i, s in zip(idx, view.strides))


assert [index_of(view, (i, j)) for i in range(2) for j in range(3)] == list(range(6))

# %% [markdown]
# ## Movement ops rewrite the view, never the data
#
# Each movement is a small change to (shape, strides, offset, mask):
#
# | op | what changes | example on a (2, 3) view with strides (3, 1) |
# |---|---|---|
# | permute (transpose) | shape and strides reorder | (3, 2), strides (1, 3) |
# | expand (broadcast) | a size-1 axis gets any size, stride 0 | every row reads the same memory |
# | shrink (slice) | shape smaller, offset moves | `[1:, 1:]`: offset 4 |
# | flip | a stride turns negative, offset to the far end | |
# | pad | a mask says which elements exist; the rest read as 0 | |
#
# A `ShapeTracker` holds the view (or a stack of views, below), and `to_indices()` spells out
# which memory slot each element reads, -1 for padding. Reading the base through those indices
# must give what numpy gives:

# %%
def read(tracker, memory):
    """The elements a tracker sees in `memory`: zeros where it is masked (padding)."""
    idx = tracker.to_indices()
    return np.where(idx >= 0, memory[np.maximum(idx, 0)], 0.0)


st = ShapeTracker.from_shape((2, 3))
transposed = st.permute((1, 0))
assert transposed.views[-1].strides == (1, 3)
assert np.array_equal(read(transposed, base), a.T)

row = ShapeTracker.from_shape((3,)).reshape((1, 3)).expand((4, 3))
assert row.views[-1].strides == (0, 1)                  # stride 0: every row is the same memory
assert np.array_equal(read(row, base[:3]), np.broadcast_to(base[:3], (4, 3)))

sliced = st.shrink(((1, 2), (1, 3)))
assert sliced.views[-1].offset == 4 and np.array_equal(read(sliced, base), a[1:, 1:])

flipped = st.flip((1,))
assert np.array_equal(read(flipped, base), a[:, ::-1])

padded = ShapeTracker.from_shape((3,)).pad(((1, 2),))
assert padded.to_indices().tolist() == [-1, 0, 1, 2, -1, -1]
assert np.array_equal(read(padded, base[:3]), np.pad(base[:3], (1, 2)))

# %% [markdown]
# ## When one view is not enough
#
# Reshaping a *transposed* array into a flat line asks for element order 0, 3, 1, 4, 2, 5: no
# single stride reads that. numpy copies here. A ShapeTracker stacks a second view instead: the
# outer view indexes the inner one, which indexes memory. Still no copy; the kernel pays a
# division and a modulo per element to unfold the indices.

# %%
flat = transposed.reshape((6,))
print(flat)
assert len(flat.views) == 2
assert np.array_equal(read(flat, base), a.T.reshape(6))
print("index arithmetic a kernel would use:", flat.render_linear("i")[0])

# %% [markdown]
# ## Tensors do the same, lazily
#
# Tensor movement methods (`.T`, `.permute`, `.reshape`, slicing, `.flip`, `.pad`, `.expand`)
# build view nodes. Nothing runs until a value is read: the whole chain below launches no
# kernel, and reading it launches one small copy (the result is a fresh, contiguous array).

# %%
t = Tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))
reset_stats()
moved = t.T[1:, ::2].flip(0)
assert stats()["kernels_launched"] == 0
expected = np.arange(12.0).reshape(3, 4).T[1:, ::2][::-1]
assert np.array_equal(moved.numpy(), expected)

# %% [markdown]
# ## Broadcasting
#
# Binary ops between tensors of different shapes follow numpy's rule: align the shapes on the
# right; along each axis the sizes must be equal, or one of them 1, which is expanded (stride 0)
# to the other. So `(2, 3) + (3,)` adds the row to every row, and no copy of it is ever made. A
# mismatch is refused when the graph is built, naming both shapes:

# %%
m = Tensor(np.ones((2, 3), np.float32))
r = Tensor(np.array([10.0, 20.0, 30.0], np.float32))
assert np.array_equal((m + r).numpy(), np.ones((2, 3)) + [10, 20, 30])
try:
    m + Tensor(np.ones(4, np.float32))
    raise AssertionError("expected a ValueError")
except ValueError as error:
    print(error)
    assert "(2, 3)" in str(error) and "(4,)" in str(error)

# %% [markdown]
# ## Exercises
#
# **05.1 `contiguous_strides(shape)`**: the row-major strides (in elements) of a new array.
#
# **05.2 `permute_view(shape, strides, order)`**: the (shape, strides) of the view that permutes
# the axes by `order` (as `np.transpose(x, order)`), without moving data.
#
# **05.3 `broadcast_shape(a, b)`**: the shape numpy's broadcasting gives, or raise ValueError.
#
# Solutions: `tutorials/solutions/s05.py`.

# %%
def contiguous_strides(shape):
    raise NotImplementedError


def permute_view(shape, strides, order):
    raise NotImplementedError


def broadcast_shape(a, b):
    raise NotImplementedError


print(checks.contiguous_strides(contiguous_strides))
print(checks.permute_view(permute_view))
print(checks.broadcast_shape(broadcast_shape))
