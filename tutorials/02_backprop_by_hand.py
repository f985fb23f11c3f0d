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
# # 02 · Backprop by hand, then `backward()`
#
# A gradient answers: if I nudge this input, how much does the output move? In this tutorial you
# compute gradients three ways, and check each against the one before: by nudging (central
# differences), by hand with the chain rule, and by a `backward()` you add to your own `Value`.
# Then tinygradlike's `backward()` gives the same numbers, and we see why gradients *accumulate*.

# %%
import math

import checks

# %% [markdown]
# ## 1. By nudging
#
# The derivative of f at x is the slope of f there. The central difference
# `(f(x + h) - f(x - h)) / 2h` measures it with an error of order h², so h = 1e-6 gives about
# ten correct digits in float64. It costs two evaluations per input: fine for checking, far too
# slow for a network with a million inputs.

# %%
def numeric_grad(f, xs, h=1e-6):
    """df/dx_i for each input, by central differences."""
    grads = []
    for i in range(len(xs)):
        up = list(xs); up[i] += h
        down = list(xs); down[i] -= h
        grads.append((f(*up) - f(*down)) / (2 * h))
    return grads


def L(a, b, c, f):
    return (a * b + c) * f


point = (2.0, -3.0, 10.0, -2.0)
nudged = numeric_grad(L, point)
print("dL/d(a, b, c, f) by nudging:", [round(g, 6) for g in nudged])

# %% [markdown]
# ## 2. By hand, with the chain rule
#
# Name the intermediate results: `e = a * b`, `d = e + c`, `L = d * f`. Walk from the output
# back:
#
# - dL/dL = 1.
# - L = d * f, so dL/dd = f = -2 and dL/df = d = 4.
# - d = e + c: an addition passes its gradient through unchanged, dL/de = dL/dc = dL/dd = -2.
# - e = a * b: each factor gets the gradient times the *other* factor:
#   dL/da = dL/de * b = 6 and dL/db = dL/de * a = -4.
#
# That is the whole chain rule: **gradient of an input = gradient of the output x local
# derivative**, where the local derivative only looks at one operation.

# %%
by_hand = [6.0, -4.0, -2.0, 4.0]
assert all(abs(h - n) < 1e-6 for h, n in zip(by_hand, nudged))

# %% [markdown]
# ## 3. `backward()` on your own Value
#
# Now teach tutorial 01's `Value` to do that walk. Each operation stores a small function,
# `_backward`, that applies its local rule: it reads `out.grad` and adds to its sources' `grad`.
# `backward()` sets the output's gradient to 1 and calls `_backward` on every node, consumers
# before their sources (reverse topological order). Here the order comes from a recursive
# depth-first search, like micrograd's; tutorial 03 replaces it with one that cannot overflow.

# %%
class Value:
    def __init__(self, data, srcs=(), op=""):
        self.data, self.srcs, self.op = float(data), srcs, op
        self.grad = 0.0
        self._backward = lambda: None   # a leaf has nothing to pass on

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad       # += : see "why gradients accumulate" below
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += out.grad * other.data
            other.grad += out.grad * self.data
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += out.grad * (1 - t * t)
        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def backward(self):
        order, seen = [], set()

        def visit(node):                # recursive: fine for small graphs (see tutorial 03)
            if id(node) not in seen:
                seen.add(id(node))
                for src in node.srcs:
                    visit(src)
                order.append(node)
        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


a, b, c, f = (Value(v) for v in point)
loss = (a * b + c) * f
loss.backward()
assert [a.grad, b.grad, c.grad, f.grad] == by_hand

# %% [markdown]
# ## Why gradients accumulate
#
# Every rule above *adds* (`+=`) to its sources' gradients. A node read twice must receive both
# contributions: in `b = a + a`, nudging `a` moves both operands, so db/da = 2. Had the rule
# *set* the gradient (`=`), the second contribution would overwrite the first and give 1. This
# is the "diamond" bug that naive autograd code gets wrong.

# %%
a = Value(3.0)
b = a + a
b.backward()
assert a.grad == 2.0

x = Value(0.5)
y = (x * x).tanh() * x      # x is read three times
y.backward()
numeric = numeric_grad(lambda v: math.tanh(v * v) * v, [0.5])[0]
assert abs(x.grad - numeric) < 1e-8

# %% [markdown]
# ## The same in tinygradlike
#
# tinygradlike's `Value` has the same rules, written as a switch over op codes in its compiled
# core (`tinygradlike/scheduler.pyx`, the scalar section), and a few more (`-`, `/`, `**`,
# `exp`, `log`, `relu`, `sigmoid`, ...). Its `backward()` gives the numbers we computed by hand:

# %%
from tinygradlike import Value as TValue

ta, tb, tc, tf = (TValue(v) for v in point)
tloss = (ta * tb + tc) * tf
tloss.backward()
assert [ta.grad, tb.grad, tc.grad, tf.grad] == by_hand

# %% [markdown]
# Calling `backward()` twice is defined, as in PyTorch: a **leaf** (a Value made from a number)
# *adds* each call's gradient to `.grad`, so a second call doubles it, and `zero_grad()` resets
# every gradient in the graph. This is what lets a training loop sum gradients over several
# losses before a step, and why it must zero them between steps (tutorial 04).

# %%
tloss.backward()
assert ta.grad == 2 * by_hand[0]
tloss.zero_grad()
tloss.backward()
assert ta.grad == by_hand[0]

# %% [markdown]
# ## Math at the edges
#
# tinygradlike's Values follow IEEE floats, as numpy's float64 does: no exceptions, but `inf` and
# `nan` where the math has no finite answer, which keeps a long training run alive long enough to
# look at it. Something that is not a number is a mistake, and the error names the operand.

# %%
assert TValue(0.0).log().data == -math.inf
assert math.isnan(TValue(-1.0).sqrt().data)
assert (TValue(1.0) / 0).data == math.inf
try:
    TValue(2.0) * "abc"
    raise AssertionError("expected a TypeError")
except TypeError as error:
    assert "Value * 'abc'" in str(error)

# %% [markdown]
# ## Exercises
#
# **02.1 `tanh_local_grad(x)`**: the derivative of tanh at x. (Hint: write it with tanh(x)
# itself, which the forward pass has already computed.)
#
# **02.2 `pow_local_grad(x, n)`**: the derivative of x ** n in x, for a constant n. Mind n = 0.
#
# **02.3 `mul_backward(a, b, g)`**: for out = a * b and the upstream gradient g = dL/dout,
# return (dL/da, dL/db).
#
# The checkers compare your answers with central differences. Solutions:
# `tutorials/solutions/s02.py`.

# %%
def tanh_local_grad(x):
    raise NotImplementedError


def pow_local_grad(x, n):
    raise NotImplementedError


def mul_backward(a, b, g):
    raise NotImplementedError


print(checks.tanh_local_grad(tanh_local_grad))
print(checks.pow_local_grad(pow_local_grad))
print(checks.mul_backward(mul_backward))
