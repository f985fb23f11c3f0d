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
# # 06 · Laziness: the graph, the schedule, what fuses and why
# <!-- needs: device -->
#
# A tensor expression builds a graph and computes nothing. When you read a value, the scheduler
# cuts the graph into *kernels*, the code generator writes each kernel as OpenCL C, and the
# runtime compiles and launches it. This tutorial follows one expression down that path and
# reads the kernel it becomes.

# %%
import numpy as np

import checks
from helpers import show_dot
from tinygradlike import Tensor, reset_stats, runtime, stats
from tinygradlike.codegen import render_group
from tinygradlike.schedule import group_kernels

# %% [markdown]
# ## Nothing runs until you ask

# %%
a = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
b = Tensor([0.1, 0.2, 0.3])
reset_stats()
y = ((a * b + 1).relu() - 2).exp()      # five ops ... and no kernel yet
assert stats()["kernels_launched"] == 0 and y.lazy
print(y.shape, y.dtype, "lazy" if y.lazy else "computed")   # print(y) would show the values: it computes them
print(y.to_dot(names={a: "a", b: "b", y: "y"})[:300], "...")  # the graph in Graphviz's DOT text
show_dot(y.to_dot(names={a: "a", b: "b", y: "y"}))                # as a picture, with `dot` installed

# %% [markdown]
# `y` is a node in a graph: its op (`exp`), its sources, its shape and dtype. `b` (shape `(3,)`)
# was broadcast to `(2, 3)` by a view (tutorial 05): no copy.
#
# ## Why fuse?
#
# Every node could be its own kernel, each writing its result to memory for the next to read. For
# elementwise work that is slow: an add or a multiply costs far less than moving its operands
# through memory. So the scheduler **fuses**:
#
# 1. an elementwise chain becomes one kernel, which reads the inputs once and writes the result once;
# 2. an elementwise *prologue* runs inside the reduction that consumes it (`(x * x).sum()` never
#    stores `x * x`), and an elementwise *epilogue* runs after a reduce or matmul;
# 3. a node is stored to memory only when it must be: it is an output, a matmul reads it, or it
#    is needed whole before its readers can start (a row's sum before any element is divided by it).
#
# The rules live beside the code that applies them, in the compiled core
# (`tinygradlike/scheduler.pyx`, section 4), and `tests/test_fusion.py` pins them by kernel counts.

# %%
assert [g.kind for g in group_kernels([y.node])] == ["elementwise"]     # five ops, one kernel
s = (a * b).sum(axis=1).sqrt()
assert [g.kind for g in group_kernels([s.node])] == ["reduce"]          # mul inside, sqrt after
sm = a.softmax(-1)
assert [g.kind for g in group_kernels([sm.node])] == ["reduce", "reduce", "elementwise"]

# %% [markdown]
# Softmax needs three kernels: the max of each row must be known before `exp(x - max)` can be
# summed, and that sum before the division. Each result is broadcast back over its row.
# `to_dot(kernels=True)` draws the graph with a frame around each kernel's nodes:

# %%
sm_dot = sm.to_dot(names={a: "a", sm: "softmax"}, kernels=True)
assert sm_dot.count("subgraph cluster_") == 3
show_dot(sm_dot)
#
# ## Reading the generated kernel
#
# Each group becomes OpenCL C, filled into a template from `kernels/`: one line per fused node,
# then one store. Indices come from the views: `b` is read at `gid % 3`, its broadcast row.

# %%
group = group_kernels([y.node])[0]
kernel = render_group(group, lambda node: node.buffer is not None, runtime.get_device())
print(kernel.source)
assert "exp(" in kernel.source and "(gid%3)" in kernel.source

# %% [markdown]
# Sizes and strides are baked into the source as constants (the `%3`), which lets the OpenCL
# compiler fold the index math. Float constants that you choose, like the `2` above, are kernel
# arguments instead (`c0` in the parameter list; 0, 1, -1 and infinities stay in the source), so
# `a * 3 + 1` after `a * 2 + 1` runs the same program. The program cache (in memory, and on disk
# in `~/.cache/tinygradlike`) means a graph of the same shape never compiles twice, so the
# second step of a training loop compiles nothing; and a graph seen before is not even grouped
# again: its schedule is found by the graph's structure.

# %%
assert "const float c0" in kernel.source
((a * b + 1).relu() - 3).exp().numpy()     # compiled (or loaded from the disk cache) and run
reset_stats()
((a * b + 1).relu() - 5).exp().numpy()     # another constant: the same program
assert stats()["kernels_compiled"] == 0

# %%
reset_stats()
out = y.numpy()               # schedule, render, compile (or hit the cache), launch, read
assert stats()["kernels_launched"] == 1
expected = np.exp(np.maximum(np.array([[1, 2, 3], [4, 5, 6]]) * [0.1, 0.2, 0.3] + 1, 0) - 2)
assert np.allclose(out, expected, rtol=1e-5)

reset_stats()
again = ((a * b + 1).relu() - 2).exp().numpy()     # the same structure: its schedule is reused
assert stats()["schedules_reused"] == 1 and stats()["schedules_built"] == 0
assert stats()["kernels_compiled"] == 0 and np.array_equal(again, out)

# %% [markdown]
# Set `TGL_DEBUG=2` to see one line per kernel launched (time, GFLOPS, GB/s) and `TGL_DEBUG=4`
# to see each kernel's source as it compiles.
#
# ## Exercises
#
# **06.1 kernel counts**: predict how many kernels each expression in
# `checks.KERNEL_COUNT_EXPRESSIONS` runs, as a dict. Reason it out from the rules first; the
# checker runs them and says which prediction was off.
#
# **06.2 `softsign(x)`**: `x / (1 + |x|)` for a Tensor, in a single kernel.
#
# Solutions: `tutorials/solutions/s06.py`.

# %%
print(checks.KERNEL_COUNT_EXPRESSIONS)
kernel_count_predictions = {"chain": None, "sum_of_squares": None, "normalize": None, "softmax": None,
                            "two_outputs": None}


def softsign(x):
    raise NotImplementedError


print(checks.kernel_counts(kernel_count_predictions))
print(checks.fused_softsign(softsign))
