"""Hypothesis strategies for testing tensor ops against numpy (and gradients against torch).

Draw shapes from a small set so the number of distinct kernels, and so OpenCL compiles,
stays low; draw *layouts* so ops are tested on views, not only on fresh memory:

    @given(pair=tensor_pairs())
    def test_exp(pair):
        t, x = pair                     # a Tensor and the numpy array it should equal
        np.testing.assert_allclose(t.exp().numpy(), np.exp(x), rtol=1e-5)

Layouts: "contiguous" (fresh memory), "permuted" (a permute of transposed storage, as
minitorch does), "sliced" (every other element of a bigger buffer), "expanded" (a
broadcast of a smaller buffer, stride 0) and "flipped" (negative strides).
"""
from __future__ import annotations

import numpy as np

try:
    from hypothesis import strategies as st
except ImportError as e:  # pragma: no cover - hypothesis is a dev dependency
    raise ImportError("tinygradlike.testing needs hypothesis: pip install hypothesis") from e

from tinygradlike.tensor import Tensor

SHAPES = [(), (1,), (5,), (2, 3), (3, 1), (1, 4), (2, 3, 4), (3, 1, 2), (2, 1, 3, 2), (2, 2, 1, 3)]
LAYOUTS = ["contiguous", "permuted", "sliced", "expanded", "flipped"]


def shapes(max_ndim: int = 4) -> st.SearchStrategy:
    """Shapes from SHAPES (a small set, so few kernels compile) with at most max_ndim dimensions.

    >>> from hypothesis import find
    >>> find(shapes(max_ndim=2), lambda shape: len(shape) == 2)
    (2, 3)
    """
    return st.sampled_from([s for s in SHAPES if len(s) <= max_ndim])


def broadcastable_to(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Shapes that broadcast to `shape`: a suffix of it, with some dimensions set to 1.

    >>> from hypothesis import find
    >>> find(broadcastable_to((2, 3)), lambda shape: 1 in shape)
    (1,)
    """
    @st.composite
    def draw(draw_):
        ndim = draw_(st.integers(0, len(shape)))
        suffix = shape[len(shape) - ndim:]
        ones = draw_(st.lists(st.booleans(), min_size=ndim, max_size=ndim))
        return tuple(1 if one else s for s, one in zip(suffix, ones))
    return draw()


def make_layout(x: np.ndarray, layout: str, rng: np.random.Generator) -> Tensor:
    """A Tensor equal to `x`, built as the given kind of view. For "expanded", x must
    already be constant along its even-numbered axes (expandable makes it so); an unknown
    layout is a ValueError.

    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    >>> make_layout(x, "sliced", np.random.default_rng(0)).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    if layout == "contiguous" or x.ndim == 0:
        return Tensor(x)
    if layout == "permuted":
        order = tuple(rng.permutation(x.ndim))
        storage = np.ascontiguousarray(np.transpose(x, np.argsort(order)))
        return Tensor(storage).permute(order)
    if layout == "sliced":
        storage = rng.standard_normal(tuple(2 * s + 1 for s in x.shape)).astype(x.dtype)
        storage[tuple(slice(1, 2 * s + 1, 2) for s in x.shape)] = x
        return Tensor(storage)[tuple(slice(1, 2 * s + 1, 2) for s in x.shape)]
    if layout == "flipped":
        axes = tuple(i for i in range(x.ndim) if rng.random() < 0.6) or (0,)
        return Tensor(np.ascontiguousarray(np.flip(x, axes))).flip(axes)
    if layout == "expanded":
        small = x[tuple(slice(0, 1) if s > 1 and i % 2 == 0 else slice(None) for i, s in enumerate(x.shape))]
        if not np.array_equal(np.broadcast_to(small, x.shape), x):
            raise ValueError("x is not constant along the expanded axes; build it with expandable()")
        return Tensor(np.ascontiguousarray(small)).expand(x.shape)
    raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS}")


def expandable(x: np.ndarray) -> np.ndarray:
    """x made constant along its even-numbered axes (of size > 1), so 'expanded' can build it:
    those axes repeat their first entry.

    >>> expandable(np.array([[1, 2], [3, 4]]))
    array([[1, 2],
           [1, 2]])
    """
    small = x[tuple(slice(0, 1) if s > 1 and i % 2 == 0 else slice(None) for i, s in enumerate(x.shape))]
    return np.ascontiguousarray(np.broadcast_to(small, x.shape))


def random_values(rng: np.random.Generator, shape, dtype=np.float32, low: float = -3.0, high: float = 3.0,
                  away_from: tuple[float, ...] = ()) -> np.ndarray:
    """Uniform values in [low, high), nudged at least 0.05 away from the given points
    (kinks and singularities, where a finite difference or a comparison is ill-defined).
    Integer dtypes get integers in [low, high], bool a fair coin.

    >>> x = random_values(np.random.default_rng(0), (2, 3), away_from=(0.0,)); x.shape, x.dtype
    ((2, 3), dtype('float32'))
    """
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(low), int(high) + 1, shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    x = rng.uniform(low, high, shape)
    for p in away_from:
        near = np.abs(x - p) < 0.05
        x = np.where(near, p + np.where(x >= p, 0.05, -0.05), x)
    return x.astype(dtype)


@st.composite
def tensor_pairs(draw, shape=None, dtype=np.float32, low=-3.0, high=3.0, away_from=(), layouts=None):
    """(Tensor, numpy array) with equal values, in a drawn layout (layouts: any of LAYOUTS).

    >>> from hypothesis import find
    >>> t, x = find(tensor_pairs(shape=(2,)), lambda pair: True); t.shape, x.shape
    ((2,), (2,))
    """
    shape = draw(shapes()) if shape is None else shape
    layout = draw(st.sampled_from(layouts or LAYOUTS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = random_values(rng, shape, dtype, low, high, away_from)
    if layout == "expanded":
        x = expandable(x)
    return make_layout(x, layout, rng), x


def grad_check(fn, *inputs: np.ndarray, eps: float | None = None, rtol: float | None = None,
               atol: float | None = None, seed: int = 0) -> None:
    """Check the gradient of `fn` (Tensors -> Tensor) for *every* element of every input
    against central differences, computed on the device in float64 when it has cl_khr_fp64.

    The scalar under test is sum(fn(*xs) * r) for a fixed random r, so each output element
    weighs in differently. Raises AssertionError naming the input and the worst element.
    `fn` may take gradients itself, so a function returning a first derivative checks the
    second one.

        grad_check(lambda x, w: (x @ w).tanh(), x_np, w_np)

    >>> grad_check(lambda x: x * x, np.array([1.0, 2.0]))  # returns None: the gradient is right
    """
    from tinygradlike import runtime
    from tinygradlike.dtypes import dtypes

    fp64 = runtime.get_device().has_fp64
    dtype = dtypes.float64 if fp64 else dtypes.float32
    eps = eps if eps is not None else (1e-6 if fp64 else 1e-3)
    rtol = rtol if rtol is not None else (1e-5 if fp64 else 2e-2)
    atol = atol if atol is not None else (1e-8 if fp64 else 1e-3)
    xs = [np.array(x, dtype=dtype.np) for x in inputs]
    tensors = [Tensor(x, requires_grad=True) for x in xs]
    out_shape = fn(*tensors).shape
    r = Tensor(np.random.default_rng(seed).standard_normal(out_shape).astype(dtype.np))

    def scalar(*args: Tensor) -> Tensor:
        return (fn(*args) * r).sum()

    analytic = [g.numpy() for g in scalar(*tensors).gradient(*tensors)]
    for i, x in enumerate(xs):
        numeric = np.empty_like(x)
        for j in np.ndindex(x.shape) if x.ndim else [()]:
            values = []
            for step in (eps, -eps):
                moved = x.copy()
                moved[j] += step
                # requires_grad as in the analytic pass: fn may differentiate inside (a
                # second-order check passes a function that returns a gradient)
                args = [Tensor(moved if k == i else other, requires_grad=True) for k, other in enumerate(xs)]
                values.append(scalar(*args).item())
            numeric[j] = (values[0] - values[1]) / (2 * eps)
        bad = ~np.isclose(analytic[i], numeric, rtol=rtol, atol=atol)
        if bad.any():
            worst = np.unravel_index(np.argmax(np.abs(analytic[i] - numeric)), x.shape) if x.ndim else ()
            worst = tuple(int(k) for k in worst)  # plain ints and floats in the message, not np.int64(2)
            raise AssertionError(
                f"gradient of input {i} (shape {x.shape}) is wrong at {int(bad.sum())} of {x.size} elements; "
                f"worst at index {worst}: autograd {float(analytic[i][worst])!r}, "
                f"central difference {float(numeric[worst])!r}")
