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
# # 03 · Topological order without recursion, and the compiled core
#
# `backward()` must visit every node after all the nodes that read it. Tutorial 02 found that
# order with a recursive search. Here we see where recursion breaks, write the same search with
# our own stack, and then measure tinygradlike's compiled core, which does exactly this in C,
# against the pure Python sweep. Last, a test of trust: the compiled rules must agree with the
# Python ones on random expressions.

# %%
import math
import random
import sys
import time

import checks
from tinygradlike import Value as TValue

# %% [markdown]
# ## Where recursion breaks
#
# A recursive depth-first search uses one Python stack frame per level of the graph. Python
# stops at `sys.getrecursionlimit()` frames (1000 by default): a chain of a few thousand
# operations, which a recurrent network or a long loop builds in no time, raises
# RecursionError. micrograd's `backward()` has exactly this limit.

# %%
class Node:
    """The smallest thing with a graph: sources and an op name."""

    def __init__(self, srcs=(), op=""):
        self.srcs, self.op = srcs, op


def recursive_order(root):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for src in node.srcs:
                visit(src)
            order.append(node)
    visit(root)
    return order


def chain(depth):
    node = Node()
    for _ in range(depth):
        node = Node((node,), "f")
    return node


assert len(recursive_order(chain(500))) == 501
try:
    recursive_order(chain(5 * sys.getrecursionlimit()))
    raise AssertionError("expected a RecursionError")
except RecursionError:
    print("a chain of", 5 * sys.getrecursionlimit(), "nodes: RecursionError")

# %% [markdown]
# ## The same search with our own stack
#
# Keep the stack in a list. Each entry is a node and a flag: `False` means "visit its sources
# first", `True` means "its sources are done, emit it". When a node is popped the first time,
# push it back with `True`, then push its sources: they are popped (and emitted) before it.
# The list can grow to millions of entries; only memory limits the depth.

# %%
def iterative_order(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, sources_done = stack.pop()
        if sources_done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((src, False) for src in reversed(node.srcs))
    return order


deep = chain(100_000)
order = iterative_order(deep)
assert len(order) == 100_001 and order[-1] is deep and order[0].op == ""

# %% [markdown]
# ## A backward sweep in Python, and in the compiled core
#
# With an order in hand, the sweep is a loop: the output's gradient is 1, and each node, in
# reverse order, passes its gradient to its sources by its local rule. Here it is for `+`,
# `*` and `tanh` over a `PyValue` (tutorial 02's Value, with its order from the loop above).

# %%
class PyValue:
    def __init__(self, data, srcs=(), op=""):
        self.data, self.srcs, self.op, self.grad = float(data), srcs, op, 0.0

    def __add__(self, other):
        other = other if isinstance(other, PyValue) else PyValue(other)
        return PyValue(self.data + other.data, (self, other), "+")

    def __mul__(self, other):
        other = other if isinstance(other, PyValue) else PyValue(other)
        return PyValue(self.data * other.data, (self, other), "*")

    def tanh(self):
        return PyValue(math.tanh(self.data), (self,), "tanh")

    def backward(self):
        order = iterative_order(self)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):          # the local rules, one per op
            if node.op == "+":
                node.srcs[0].grad += node.grad
                node.srcs[1].grad += node.grad
            elif node.op == "*":
                a, b = node.srcs
                a.grad += node.grad * b.data
                b.grad += node.grad * a.data
            elif node.op == "tanh":
                node.srcs[0].grad += node.grad * (1 - node.data ** 2)


def layer_of_neurons(make, width=300, depth=60):
    """A deep, wide scalar graph: `depth` layers of `width` tanh neurons with two inputs each."""
    xs = [make(math.sin(i)) for i in range(width)]
    for _ in range(depth):
        xs = [(xs[i] * 0.5 + xs[i - 1] * 0.25).tanh() for i in range(width)]
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


py_out, c_out = layer_of_neurons(PyValue), layer_of_neurons(TValue)
c_out.data                                    # compute the forward values first, to time backward alone
python_sweep = best_of(3, py_out.backward)
compiled_sweep = best_of(3, c_out.backward)
print(f"{len(iterative_order(py_out)):,} nodes: Python sweep {python_sweep * 1e3:.0f} ms, "
      f"compiled core {compiled_sweep * 1e3:.1f} ms ({python_sweep / compiled_sweep:.0f}x)")
assert python_sweep > 5 * compiled_sweep      # measured as a ratio, never as an absolute time
assert math.isclose(py_out.data, c_out.data, rel_tol=1e-12)

# %% [markdown]
# The compiled core (`tinygradlike/scheduler.pyx`, section 1) stores each node as a C struct,
# keeps the walk's stack in a C array, and applies the local rules in a `switch` over op codes.
# It is the same algorithm: the same order, the same rules, the same sums. The speed comes from
# not touching a Python object per visit.
#
# ## Trust, but verify
#
# Two implementations of the same rules must agree. Build random expressions from the same
# ops in both, and compare every leaf's gradient. (The test suite runs this tutorial, so this is
# a standing test that the compiled rules match the readable ones.)

# %%
def random_expression(make, seed, n_leaves=6, n_ops=40):
    rng = random.Random(seed)
    leaves = [make(rng.uniform(-2, 2)) for _ in range(n_leaves)]
    pool = list(leaves)
    for _ in range(n_ops):
        op = rng.choice(["+", "*", "tanh", "const"])
        a, b = rng.choice(pool), rng.choice(pool)
        if op == "+":
            pool.append(a + b)
        elif op == "*":
            pool.append(a * b)
        elif op == "tanh":
            pool.append(a.tanh())
        else:
            pool.append(a * rng.uniform(-1, 1))
    out = pool[-1]
    for node in pool[-6:-1]:
        out = out + node
    return out, leaves


for seed in range(25):
    p_out, p_leaves = random_expression(PyValue, seed)
    t_out, t_leaves = random_expression(TValue, seed)
    p_out.backward()
    t_out.backward()
    assert math.isclose(p_out.data, t_out.data, rel_tol=1e-12, abs_tol=1e-12)
    for p, t in zip(p_leaves, t_leaves):
        assert math.isclose(p.grad, t.grad, rel_tol=1e-9, abs_tol=1e-12), (seed, p.grad, t.grad)

# %% [markdown]
# ## Exercises
#
# **03.1 `topo_sort(root)`**: every node of root's graph once, sources before the nodes that
# read them, root last, for graphs of any depth (the checker tries a 20,000-deep chain at the
# default recursion limit). Write it without looking back at `iterative_order`.
#
# Solution: `tutorials/solutions/s03.py`.

# %%
def topo_sort(root):
    raise NotImplementedError


print(checks.topo_sort(topo_sort))
