"""Forward results of every Tensor op agree with numpy, on views as well as fresh memory.

numpy computes the reference in float64 from the same float32 inputs; float32 results are
compared at rtol 1e-5. atol is only added where the reference can be ~0 while the inputs
are O(1) (sums with cancellation, sin/cos near their zeros), where relative error says nothing.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygradlike import Tensor
from tinygradlike.testing import LAYOUTS, broadcastable_to, expandable, make_layout, random_values, shapes, tensor_pairs

RTOL = 1e-5


def check(out: Tensor, expected, rtol=RTOL, atol=0.0):
    got = out.numpy()
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != numpy's {expected.shape}"
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)


# name -> (tensor fn, numpy fn, input range, points to stay away from, atol)
UNARY = {
    "neg": (lambda t: -t, np.negative, (-3, 3), (), 0),
    "exp": (Tensor.exp, np.exp, (-5, 5), (), 0),
    "log": (Tensor.log, np.log, (0.01, 10), (), 1e-6),
    "sqrt": (Tensor.sqrt, np.sqrt, (0, 10), (), 0),
    # sin/cos are ~0 near multiples of pi/2: relative error is meaningless there
    "sin": (Tensor.sin, np.sin, (-6, 6), (), 1e-6),
    "cos": (Tensor.cos, np.cos, (-6, 6), (), 1e-6),
    "tanh": (Tensor.tanh, np.tanh, (-4, 4), (), 1e-7),
    "sigmoid": (Tensor.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-6, 6), (), 0),
    "relu": (Tensor.relu, lambda x: np.maximum(x, 0), (-3, 3), (), 0),
    "abs": (Tensor.abs, np.abs, (-3, 3), (), 0),
    "reciprocal": (Tensor.reciprocal, np.reciprocal, (-3, 3), (0.0,), 0),
    "square": (Tensor.square, np.square, (-3, 3), (), 0),
    "sign": (Tensor.sign, np.sign, (-3, 3), (0.0,), 0),
    "erf": (Tensor.erf, np.vectorize(math.erf), (-4, 4), (), 1e-7),
}


@given(name=st.sampled_from(sorted(UNARY)), data=st.data())
def test_unary_ops_match_numpy(name, data):
    fn, ref, (low, high), away, atol = UNARY[name]
    t, x = data.draw(tensor_pairs(low=low, high=high, away_from=away))
    check(fn(t), ref(x.astype(np.float64)), atol=atol)


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
    "maximum": (Tensor.maximum, np.maximum),
    "minimum": (Tensor.minimum, np.minimum),
}
COMPARE = {
    "lt": (lambda a, b: a < b, np.less),
    "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
    "eq": (lambda a, b: a == b, np.equal),
    "ne": (lambda a, b: a != b, np.not_equal),
}


@st.composite
def broadcast_pairs(draw, low=-3.0, high=3.0, away_from=()):
    shape = draw(shapes())
    other = draw(broadcastable_to(shape))
    if draw(st.booleans()):
        shape, other = other, shape
    a = draw(tensor_pairs(shape=shape, low=low, high=high))
    b = draw(tensor_pairs(shape=other, low=low, high=high, away_from=away_from))
    return a, b


@given(name=st.sampled_from(sorted(BINARY)), data=st.data())
def test_binary_ops_broadcast_like_numpy(name, data):
    fn, ref = BINARY[name]
    low = 0.1 if name == "pow" else -3.0  # pow of a negative base to a fractional power is nan
    (ta, a), (tb, b) = data.draw(broadcast_pairs(low=low, away_from=(0.0,) if name == "div" else ()))
    # numpy in float64 from the float32 inputs; pow/div can be large: relative error is what counts
    check(fn(ta, tb), ref(a.astype(np.float64), b.astype(np.float64)), atol=1e-6)


@given(name=st.sampled_from(sorted(COMPARE)), data=st.data())
def test_comparisons_match_numpy(name, data):
    fn, ref = COMPARE[name]
    (ta, a), (tb, b) = data.draw(broadcast_pairs())
    a, b = np.round(a), np.round(b)  # small integers in float: plenty of ties for eq/le/ge
    out = fn(Tensor(a).reshape(ta.shape), Tensor(b).reshape(tb.shape))
    assert out.dtype.name == "bool"
    np.testing.assert_array_equal(out.numpy(), ref(a, b))


@given(data=st.data())
def test_where_broadcasts_three_ways(data):
    shape = data.draw(shapes())
    tc, c = data.draw(tensor_pairs(shape=data.draw(broadcastable_to(shape))))
    tx, x = data.draw(tensor_pairs(shape=data.draw(broadcastable_to(shape))))
    ty, y = data.draw(tensor_pairs(shape=shape))
    check((tc > 0).where(tx, ty), np.where(c > 0, x, y))


def test_scalars_on_either_side():
    x = np.array([[1.5, -2.0], [0.25, 4.0]], dtype=np.float32)
    t = Tensor(x)
    check(2 - t, 2 - x)
    check(1 / t, 1 / x)
    check(2 ** t, 2.0 ** x.astype(np.float64))
    check(t ** 3, x.astype(np.float64) ** 3)
    check(t.abs() ** 0.5, np.abs(x) ** 0.5)
    check(t * True, x)


def _axis_choices(ndim):
    singles = list(range(-ndim, ndim))
    return st.one_of(st.none(), st.sampled_from(singles) if singles else st.none(),
                     st.lists(st.integers(0, max(ndim - 1, 0)), min_size=1, max_size=ndim, unique=True).map(tuple)
                     if ndim else st.none())


REDUCE = {
    "sum": (Tensor.sum, np.sum, 1e-6),
    "max": (Tensor.max, np.max, 0),
    "min": (Tensor.min, np.min, 0),
    "mean": (Tensor.mean, np.mean, 1e-6),
}


@given(name=st.sampled_from(sorted(REDUCE)), keepdim=st.booleans(), data=st.data())
def test_reductions_over_any_axes(name, keepdim, data):
    fn, ref, atol = REDUCE[name]
    t, x = data.draw(tensor_pairs())
    axis = data.draw(_axis_choices(x.ndim))
    check(fn(t, axis, keepdim), ref(x.astype(np.float64), axis=axis, keepdims=keepdim), atol=atol)


@given(keepdim=st.booleans(), data=st.data())
def test_var_and_std_use_bessel_correction(keepdim, data):
    t, x = data.draw(tensor_pairs(shape=data.draw(st.sampled_from([(5,), (2, 3), (2, 3, 4)]))))
    axis = data.draw(st.sampled_from([None, 0, -1]))
    x64 = x.astype(np.float64)
    check(t.var(axis, keepdim), np.var(x64, axis=axis, keepdims=keepdim, ddof=1), rtol=1e-4, atol=1e-6)
    check(t.std(axis, keepdim), np.std(x64, axis=axis, keepdims=keepdim, ddof=1), rtol=1e-4, atol=1e-6)


@given(data=st.data())
def test_argmax_argmin_pick_the_first_extreme(data):
    shape = data.draw(st.sampled_from([(5,), (2, 3), (3, 1, 2)]))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    x = rng.integers(0, 3, shape).astype(np.float32)  # ties: the first index must win, as in numpy
    axis = data.draw(st.sampled_from([None] + list(range(len(shape)))))
    t = Tensor(x)
    np.testing.assert_array_equal(t.argmax(axis).numpy(), np.argmax(x, axis=axis))
    np.testing.assert_array_equal(t.argmin(axis).numpy(), np.argmin(x, axis=axis))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@given(data=st.data())
def test_softmax_log_softmax_logsumexp(data):
    t, x = data.draw(tensor_pairs(shape=data.draw(st.sampled_from([(5,), (2, 3), (2, 3, 4)])), low=-10, high=10))
    axis = data.draw(st.sampled_from([0, -1]))
    x64 = x.astype(np.float64)
    check(t.softmax(axis), _softmax(x64, axis), atol=1e-7)
    check(t.log_softmax(axis), np.log(_softmax(x64, axis)), atol=1e-5)
    m = x64.max(axis=axis, keepdims=True)
    check(t.logsumexp(axis), (np.log(np.exp(x64 - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis), atol=1e-5)


MOVES = ["reshape", "permute", "transpose", "T", "expand", "squeeze", "unsqueeze", "flatten", "pad", "flip"]


@given(move=st.sampled_from(MOVES), data=st.data())
def test_movement_ops_match_numpy(move, data):
    t, x = data.draw(tensor_pairs(shape=data.draw(st.sampled_from([(2, 3), (2, 3, 4), (3, 1, 2), (2, 1, 3, 2)]))))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    if move == "reshape":
        out, ref = t.reshape(-1, x.shape[-1]), x.reshape(-1, x.shape[-1])
    elif move == "permute":
        order = tuple(rng.permutation(x.ndim))
        out, ref = t.permute(order), np.transpose(x, order)
    elif move == "transpose":
        out, ref = t.transpose(0, -1), np.swapaxes(x, 0, -1)
    elif move == "T":
        out, ref = t.T, x.T
    elif move == "expand":
        out, ref = t.unsqueeze(0).expand(3, *x.shape), np.broadcast_to(x, (3, *x.shape))
    elif move == "squeeze":
        out, ref = t.squeeze(), np.squeeze(x)
    elif move == "unsqueeze":
        out, ref = t.unsqueeze(1), np.expand_dims(x, 1)
    elif move == "flatten":
        out, ref = t.flatten(1), x.reshape(x.shape[0], -1)
    elif move == "pad":
        pads = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in x.shape)
        out, ref = t.pad(pads), np.pad(x, pads)
    else:
        axes = tuple(i for i in range(x.ndim) if rng.random() < 0.5) or (0,)
        out, ref = t.flip(axes), np.flip(x, axes)
    check(out, ref)
    check(out * 2 + 1, ref * 2 + 1)  # and computed through, not only read


SLICES = [
    (slice(None),), (0,), (-1,), (slice(1, None),), (slice(None, None, 2),), (slice(None, None, -1),),
    (Ellipsis, 1), (None, slice(None), 1), (slice(1, 2), None, Ellipsis), (slice(None, 0),),
    (slice(-1, 0, -2),), (1, slice(None, None, -2)), (Ellipsis,), (slice(5, 1, 1),),
]


@given(key=st.sampled_from(SLICES), layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 1000))
def test_basic_slicing_matches_numpy(key, layout, seed):
    rng = np.random.default_rng(seed)
    x = random_values(rng, (3, 4, 2))
    x = expandable(x) if layout == "expanded" else x
    check(make_layout(x, layout, rng)[key], x[key])


def test_slicing_with_pad_and_pad_value():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    check(Tensor(x).pad(((1, 2), (0, 1)), value=-1.5), np.pad(x, ((1, 2), (0, 1)), constant_values=-1.5))
    check(Tensor(x).pad(((1, 0), (2, 2))).exp()[1:, 1:], np.exp(np.pad(x, ((1, 0), (2, 2))))[1:, 1:])


@given(dim=st.integers(-2, 1), data=st.data())
def test_cat_and_stack(dim, data):
    shape = (2, 3)
    parts = [data.draw(tensor_pairs(shape=shape)) for _ in range(3)]
    tensors, arrays = zip(*parts)
    check(tensors[0].cat(*tensors[1:], dim=dim), np.concatenate(arrays, axis=dim))
    check(Tensor.stack(*tensors, dim=dim), np.stack(arrays, axis=dim if dim >= 0 else dim - 0))


def test_cat_of_different_lengths():
    a, b = np.ones((2, 3), np.float32), np.arange(12, dtype=np.float32).reshape(4, 3)
    check(Tensor(a).cat(Tensor(b)), np.concatenate([a, b]))
    check(Tensor(a).repeat(2, 3), np.tile(a, (2, 3)))


@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_int_and_bool_tensors(dtype):
    rng = np.random.default_rng(0)
    x = random_values(rng, (2, 3), np.dtype(dtype), -5, 5)
    y = random_values(rng, (2, 3), np.dtype(dtype), -5, 5)
    t, u = Tensor(x), Tensor(y)
    assert t.dtype.name == dtype
    np.testing.assert_array_equal(t.numpy(), x)
    np.testing.assert_array_equal((t + u).numpy(), x + y if dtype == "int32" else x | y)
    np.testing.assert_array_equal(t.sum().numpy(), np.sum(x.astype(np.int32)))
    np.testing.assert_array_equal(t.max(axis=0).numpy(), np.max(x, axis=0))
    np.testing.assert_array_equal((t == u).numpy(), x == y)
    assert (t / 2).dtype.name == "float32"


def test_float64_tensors_compute_in_double():
    x = np.array([1.0 + 1e-12, 2.0], dtype=np.float64)
    t = Tensor(x)
    assert t.dtype.name == "float64"
    np.testing.assert_array_equal((t * 3 - 1).numpy(), x * 3 - 1)
    np.testing.assert_allclose(t.exp().sum().numpy(), np.exp(x).sum(), rtol=1e-14)


def test_creation_helpers():
    Tensor.manual_seed(3)
    a = Tensor.rand(4, 5).numpy()
    Tensor.manual_seed(3)
    assert np.array_equal(a, Tensor.rand(4, 5).numpy())
    assert 0 <= a.min() and a.max() < 1 and a.dtype == np.float32
    assert Tensor.randn(1000).numpy().std() == pytest.approx(1.0, abs=0.1)
    u = Tensor.uniform(100, low=-2, high=-1).numpy()
    assert -2 <= u.min() and u.max() < -1
    np.testing.assert_array_equal(Tensor.zeros(2, 3).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(Tensor.ones((2,)).numpy(), np.ones(2))
    np.testing.assert_array_equal(Tensor.full((2, 2), 7).numpy(), np.full((2, 2), 7))
    np.testing.assert_array_equal(Tensor.arange(5).numpy(), np.arange(5))
    np.testing.assert_allclose(Tensor.arange(1, 2, 0.25).numpy(), np.arange(1, 2, 0.25))
    np.testing.assert_array_equal(Tensor.eye(3, 4).numpy(), np.eye(3, 4))
    assert Tensor(3.5).item() == 3.5 and Tensor([[1, 2]]).tolist() == [[1, 2]]
    assert np.asarray(Tensor([1.0, 2.0])).tolist() == [1.0, 2.0]


def test_nothing_runs_until_data_is_read():
    from tinygradlike import reset_stats, stats

    t = Tensor([1.0, 2.0, 3.0])
    reset_stats()
    y = ((t * 2).exp() + 1).sum()
    assert stats()["kernels_launched"] == 0 and y.lazy
    y.realize()
    assert stats()["kernels_launched"] == 1 and not y.lazy


def test_repr_shows_values_dtype_and_device():
    text = repr(Tensor([1.0, 2.0]) * 2)
    assert "2." in text and "4." in text and "float32" in text and "device=" in text
