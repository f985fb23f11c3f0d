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
# # 09 · Tensor autograd: gradient rules as graphs
# <!-- needs: device -->
#
# Tutorial 02's rules worked on numbers: `a.grad += out.grad * b.data`. On tensors the same rules
# are written with tensor ops, so a gradient is one more lazy graph. Three things follow for free:
# the backward pass fuses into kernels like the forward pass; a gradient can be differentiated
# again; and a Hessian-vector product costs two backward passes, never a Hessian.

# %%
import numpy as np

import checks
from tinygradlike import Tensor, reset_stats, stats

# %% [markdown]
# ## A gradient is a lazy tensor
#
# `loss.gradient(x)` returns the gradients as tensors that are not computed yet (`backward()`
# does the same and stores them in `.grad`). Each primitive op has one rule, written with tensor
# ops: for `y = a * b`, `grad_a = g * b`; for `y = exp(x)`, `grad_x = g * y`; for a sum over an
# axis, the gradient is broadcast back (an expand: a view, no copy); for a matmul `a @ b`,
# `grad_a = g @ b.T`, another matmul.

# %%
x = Tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], np.float32), requires_grad=True)
w = Tensor(np.array([[1.0], [2.0], [-1.0]], np.float32), requires_grad=True)
loss = (x @ w).tanh().sum()
gx, gw = loss.gradient(x, w)
assert gx.lazy and gw.lazy and gx.shape == x.shape

t = np.tanh(x.numpy() @ w.numpy())
assert np.allclose(gx.numpy(), (1 - t ** 2) @ w.numpy().T, rtol=1e-5)   # dL/dx = (1 - tanh^2) w^T
assert np.allclose(gw.numpy(), x.numpy().T @ (1 - t ** 2), rtol=1e-5)   # dL/dw = x^T (1 - tanh^2)

# %% [markdown]
# ## The backward pass fuses too
#
# Because the rules produce ordinary graph nodes, the scheduler (tutorial 06) fuses them. The
# gradient of a chain of elementwise ops, `exp`, `*`, `+`, `relu`, is itself elementwise, and
# runs as one kernel however long the chain:

# %%
z = Tensor(np.linspace(-2, 2, 16, dtype=np.float32), requires_grad=True)
chain = ((z * 1.5 + 0.25).exp() * z).relu().sum()
gz, = chain.gradient(z)
reset_stats()
gz.numpy()
assert stats()["kernels_launched"] == 1

# %% [markdown]
# ## The gradient of a gradient
#
# A gradient is a tensor built from differentiable ops, so it has a gradient too. Here
# d/dx sum(x³) = 3x², and the gradient of sum(3x²) is 6x.

# %%
v = Tensor([0.5, -1.0, 2.0], requires_grad=True)
g, = (v ** 3).sum().gradient(v)
h, = g.sum().gradient(v)
assert np.allclose(g.numpy(), [0.75, 3.0, 12.0]) and np.allclose(h.numpy(), [3.0, -6.0, 12.0])

# %% [markdown]
# ## Hessian-vector products
#
# The Hessian H of f: Rⁿ → R has n² entries: for a network with a million parameters, far too
# many to form. But many methods (Newton-CG, curvature estimates, influence functions) only
# need H v for some vector v. Since H v is the gradient of (∇f · v), two backward passes give it,
# at about twice the cost of one gradient. We check it against central differences of the
# gradient, in float64.

# %%
def f(x):
    return (x * x * x).sum() + (x[:-1] * x[1:]).sum()     # couples neighbours: H is not diagonal


x0 = np.array([0.3, -1.2, 0.8, 2.0])
v0 = np.array([1.0, 0.5, -1.0, 0.25])
xt = Tensor(x0, requires_grad=True)
grad, = f(xt).gradient(xt)
hv, = (grad * Tensor(v0)).sum().gradient(xt)


def gradient_at(p):
    pt = Tensor(p, requires_grad=True)
    gp, = f(pt).gradient(pt)
    return gp.numpy()


eps = 1e-6
numeric = (gradient_at(x0 + eps * v0) - gradient_at(x0 - eps * v0)) / (2 * eps)
assert np.allclose(hv.numpy(), numeric, rtol=1e-6)
print("H v =", hv.numpy())

# %% [markdown]
# ## Exercises
#
# **09.1 `hvp(f, x, v)`**: H(x) v for a function `f` from a Tensor to a scalar Tensor, with `x` and
# `v` numpy arrays; return a numpy array. Two gradients, no Hessian.
#
# **09.2 `log_softmax_backward(x, g)`**: the gradient rule of `y = log_softmax(x)` along the last
# axis, as tensor ops: given `g = dL/dy`, return `dL/dx`. (Write y = x - logsumexp(x) and
# differentiate by hand first.)
#
# Solutions: `tutorials/solutions/s09.py`.

# %%
def hvp(f, x, v):
    raise NotImplementedError


def log_softmax_backward(x, g):
    raise NotImplementedError


print(checks.hvp(hvp))
print(checks.log_softmax_backward(log_softmax_backward))
