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
# # 10 · Your own op: `CustomOp`, `grad_check` and hypothesis strategies
# <!-- needs: device -->
#
# Sometimes you want an op whose gradient is not what autograd would derive: a gradient you know
# in closed form (cheaper or more stable), or a gradient that is *deliberately* different. This
# tutorial registers both kinds, then tests them the way the library tests its own ops: every
# element of every input against central differences, and on many inputs drawn by hypothesis,
# including views that are not contiguous memory. Along the way we catch a wrong gradient.

# %%
import numpy as np
from hypothesis import given, settings

import checks
from tinygradlike import CustomOp, Tensor
from tinygradlike.testing import grad_check, tensor_pairs

# %% [markdown]
# ## A gradient that is deliberately different
#
# Gradient reversal (used in domain-adversarial training) is the identity going forward and
# flips the gradient's sign going back. A `CustomOp` takes a forward and a backward, both
# written with tensor ops, so it runs on any device and fuses like everything else. `backward`
# receives the output's gradient and the inputs, and returns one gradient per input.

# %%
negate_gradient = CustomOp("negate_gradient", forward=lambda x: x, backward=lambda g, x: [-g])
x = Tensor([1.0, 2.0], requires_grad=True)
(negate_gradient(x) * 3).sum().backward()
assert np.allclose(x.grad.numpy(), [-3.0, -3.0])

# %% [markdown]
# ## A gradient in closed form, checked
#
# softplus(x) = log(1 + eᵡ) has the derivative sigmoid(x). When the registered gradient *should*
# be the true derivative, test it: `grad_check` compares it with central differences for every
# element of every input, in float64 on the device where the device has it.

# %%
softplus = CustomOp("softplus", forward=lambda x: (1 + x.exp()).log(), backward=lambda g, x: [g * x.sigmoid()])
grad_check(lambda x: softplus(x), np.array([[-1.0, 0.5], [2.0, -0.3]]))

# %% [markdown]
# ## Catching a wrong gradient
#
# A classic slip: the derivative of tanh written as `1 - x²` instead of `1 - tanh(x)²`. Near 0
# the two agree to first order, so a quick look at a plot would not notice; `grad_check` does,
# and says which element is off and by how much.

# %%
wrong_tanh = CustomOp("wrong_tanh", forward=lambda x: x.tanh(), backward=lambda g, x: [g * (1 - x * x)])
try:
    grad_check(lambda x: wrong_tanh(x), np.array([0.1, -0.8, 1.5]))
    raise RuntimeError("grad_check should have caught the wrong gradient")
except AssertionError as error:
    print(str(error).splitlines()[0])

# %% [markdown]
# ## Many inputs, many layouts: hypothesis
#
# One input is one example. `tinygradlike.testing.tensor_pairs()` is a hypothesis strategy that
# draws a Tensor and the numpy array it equals, with shapes from a small set (so few kernels
# compile) and *layouts*: contiguous memory, a permuted view, a slice with gaps, a broadcast
# (stride 0), a flip (negative strides). An op that only works on fresh memory fails here.

# %%
@settings(max_examples=15, deadline=None)
@given(pair=tensor_pairs())
def test_softplus_matches_numpy(pair):
    t, expected = pair
    np.testing.assert_allclose(softplus(t).numpy(), np.log1p(np.exp(expected)), rtol=1e-5, atol=1e-6)


test_softplus_matches_numpy()

# %% [markdown]
# In your own test files, the same functions become tests that pytest runs
# (`docs/testing.md` shows a whole file, with second-order checks).
#
# ## Exercise
#
# **10.1 `make_softsign()`**: return a `CustomOp` computing softsign(x) = x / (1 + |x|) with its
# true derivative registered as the backward. The checker runs `grad_check` on it.
#
# Solution: `tutorials/solutions/s10.py`.

# %%
def make_softsign():
    raise NotImplementedError


print(checks.custom_softsign(make_softsign))
