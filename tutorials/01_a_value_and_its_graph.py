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
# # 01 · A Value and its graph
#
# Autograd starts with one idea: a number that remembers how it was made. In this tutorial you
# write that number yourself, in plain Python, in about twenty lines, then look at the graph it
# builds, and then meet the same thing in tinygradlike, where it is called `Value` too.
#
# Run the cells in order (in Jupyter, or `python tutorials/01_a_value_and_its_graph.py`). The
# exercises at the end are checked: `checks.some_exercise(your_function)` says what passes and
# what does not.

# %%
import math

import checks
from helpers import show_dot

# %% [markdown]
# ## A number with a history
#
# A `Value` holds its number in `data`, the Values it was computed from in `srcs`, and the name
# of the operation in `op`. Operators make new Values; a plain Python number on either side is
# wrapped into a leaf first.

# %%
class Value:
    """A number that remembers which Values it was computed from, and how."""

    def __init__(self, data, srcs=(), op="", name=""):
        self.data = float(data)
        self.srcs = srcs      # the Values this one was computed from
        self.op = op          # how: "+", "*", or "" for a leaf
        self.name = name      # a label for pictures

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), "+")

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), "*")

    __radd__ = __add__    # 2 + v: Python asks v.__radd__(2) once int.__add__ gives up
    __rmul__ = __mul__

    def __repr__(self):
        return f"Value({self.data}{', ' + repr(self.op) if self.op else ''})"


a = Value(2.0, name="a")
b = Value(-3.0, name="b")
c = Value(10.0, name="c")
d = a * b + c
d.name = "d"
print(d, "made from", d.srcs)
assert d.data == 4.0 and d.op == "+" and d.srcs[1] is c

# %% [markdown]
# `d` is not only the number 4: it is the root of a small graph. `d.srcs[0]` is the product
# `a * b`, whose sources are `a` and `b`. Nothing is copied: the graph *is* these objects,
# linked by `srcs`.
#
# ## Drawing the graph
#
# A picture helps. Graphviz's DOT language describes a graph as text: one line per node, one per
# edge. We walk the graph with our own stack (not recursion: tutorial 03 says why) and write
# each node once, however many Values read it.

# %%
def to_dot(root):
    """DOT text for the graph behind root: a box per Value (its name, op and data)."""
    lines = ["digraph G {", "  rankdir=LR;", "  node [shape=record, fontname=monospace];"]
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        label = " | ".join(part for part in (node.name, node.op, f"{node.data:.4g}") if part)
        lines.append(f'  n{id(node)} [label="{{ {label} }}"];')
        for src in node.srcs:
            lines.append(f"  n{id(src)} -> n{id(node)};")
            stack.append(src)
    return "\n".join(lines + ["}"])


dot = to_dot(d)
print(dot)
assert dot.count("->") == 4 and dot.count("label=") == 5   # a, b, a*b, c, d: five nodes, four edges
show_dot(dot)  # a picture in a notebook when Graphviz's `dot` is installed; the text above otherwise

# %% [markdown]
# ## The same graph in tinygradlike
#
# tinygradlike's `Value` builds the same graph with the same names (`srcs`, `op`), plus more
# operations (`-`, `/`, `**`, `tanh`, `exp`, `relu`, ...). Two differences show already:
#
# - it is **lazy**: operators only record the graph; the numbers are computed when you read
#   `.data`, by a compiled core that walks the whole graph at once (tutorial 03);
# - it draws itself: `to_dot(names)` labels the boxes with the names you pass, and shows each
#   operation as its own small node, and each Value's `grad` (tutorial 02).

# %%
from tinygradlike import Value as TValue

ta, tb, tc = TValue(2.0), TValue(-3.0), TValue(10.0)
td = ta * tb + tc
assert not td.realized            # recorded, not computed yet
assert td.data == d.data == 4.0   # reading it computes it
assert td.op == d.op and td.srcs[0].op == d.srcs[0].op == "*"
tdot = td.to_dot({ta: "a", tb: "b", tc: "c", td: "d"})
assert all(f'label="{{ {name} | data' in tdot for name in "abcd")   # each box carries its name
show_dot(tdot)

# %% [markdown]
# ## A node read twice
#
# A graph is not always a tree. In `e = a + a` the node `a` has two edges into `e` but is one
# node, and any walk must visit it once. That is why `to_dot` keeps a `seen` set: the number of
# *paths* through a graph can grow exponentially with its depth while the number of nodes
# grows by one per operation.

# %%
x = Value(1.0)
y = x
for _ in range(30):
    y = y + y          # each step doubles the paths from x to y
paths = 2 ** 30
assert y.data == paths                    # 2**30 copies of x summed
assert to_dot(y).count("label=") == 31    # but only 31 nodes

# %% [markdown]
# ## Exercises
#
# **01.1 `count_nodes(root)`**: the number of distinct nodes in root's graph. It must count a node
# read twice once, and work for a chain of thousands of operations.
#
# **01.2 `sub(a, b)`**: `a - b` as a Value, using only `+`, `*` and constants. (This is how
# tinygrad and micrograd get subtraction for free from the ops they already have.)
#
# Replace the `raise NotImplementedError` lines and run the checks. The checkers build graphs
# with tinygradlike's `Value`, which has the same `srcs` and `op` as yours. Solutions:
# `tutorials/solutions/s01.py`.

# %%
def count_nodes(root):
    raise NotImplementedError


def sub(a, b):
    raise NotImplementedError


print(checks.count_nodes(count_nodes))
print(checks.sub(sub))
