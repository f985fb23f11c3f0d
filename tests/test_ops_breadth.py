"""The ops a PyTorch user reaches for beyond the basics (issue 11): clone, elu, selu, hardtanh,
cumsum, prod, any, all, masked_fill, one_hot, gather, scatter_add, indexing with integer tensors
and boolean masks, split/chunk, tril/triu. Each is checked against PyTorch, forward and
gradient, on non-contiguous views of its input (the leaf is the storage, the op sees a permuted,
sliced, flipped or expanded view). Example counts are low: every new shape compiles kernels.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygradlike import Tensor, reset_stats, stats
from tinygradlike.dtypes import dtypes
from tinygradlike.testing import random_values
from torch_compare import compare_with_torch

RTOL, ATOL = 1e-4, 1e-5
LAYOUTS = ["contiguous", "permuted", "sliced", "flipped", "expanded"]


@st.composite
def leaves(draw, shape, low=-2.0, high=2.0, away_from=()):
    """(storage array, view function) where view(storage) has `shape`, for our Tensors and
    torch tensors alike."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    layout = draw(st.sampled_from(LAYOUTS))
    x = random_values(rng, shape, np.float32, low, high, away_from)
    if layout == "permuted":
        order = tuple(int(i) for i in reversed(range(len(shape))))
        return np.ascontiguousarray(np.transpose(x, np.argsort(order))), lambda t: t.permute(order)
    if layout == "sliced":
        storage = random_values(rng, tuple(2 * s + 1 for s in shape), np.float32, low, high, away_from)
        key = tuple(slice(1, 2 * s + 1, 2) for s in shape)
        storage[key] = x
        return storage, lambda t: t[key]
    if layout == "flipped":
        return np.flip(x, 0).copy(), lambda t: t.flip(0)
    if layout == "expanded":
        return x[:1].copy(), lambda t: t.expand(shape)
    return x, lambda t: t


def plain(x: np.ndarray):
    return x, lambda t: t


def compare(fn_ours, fn_torch, *specs, rtol=RTOL, atol=ATOL):
    """Build the result both ways from the same storages; compare it and every leaf's gradient
    of sum(result * r) for a fixed random r."""
    compare_with_torch(fn_ours, fn_torch, *specs, rtol=rtol, atol=atol)


def long(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.int64)


# ------------------------------------------------------------------------------ elementwise

ACTIVATIONS = {
    "clone": (Tensor.clone, torch.clone),
    "elu": (lambda t: t.elu(), F.elu),
    "elu_alpha": (lambda t: t.elu(0.3), lambda t: F.elu(t, 0.3)),
    "selu": (Tensor.selu, F.selu),
    "hardtanh": (lambda t: t.hardtanh(-0.5, 1.5), lambda t: F.hardtanh(t, -0.5, 1.5)),
}


@settings(max_examples=6)
@given(name=st.sampled_from(sorted(ACTIVATIONS)), data=st.data())
def test_activations_match_torch(name, data):
    ours, theirs = ACTIVATIONS[name]
    compare(ours, theirs, data.draw(leaves((3, 4), low=-3, high=3, away_from=(0.0, -0.5, 1.5))))


def test_hardtanh_gradient_is_zero_at_the_bounds_as_torch():
    compare(lambda t: t.hardtanh(), F.hardtanh, plain(np.array([-1.0, 1.0, 0.5, 2.0], np.float32)))


def test_elu_gradient_is_finite_for_large_inputs():
    compare(lambda t: t.elu(), F.elu, plain(np.array([100.0, -100.0], np.float32)))


def test_clone_keeps_its_values_when_the_original_is_assigned():
    x = Tensor([1.0, 2.0])
    y = x.clone()
    x.assign(Tensor([5.0, 6.0]))
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])


# ------------------------------------------------------------------------------ reductions

@settings(max_examples=5)
@given(dim=st.sampled_from([0, 1, -1]), data=st.data())
def test_cumsum_matches_torch(dim, data):
    compare(lambda t: t.cumsum(dim), lambda t: t.cumsum(dim), data.draw(leaves((3, 5))))


def test_cumsum_of_ints_and_bools_stays_integer():
    np.testing.assert_array_equal(Tensor([1, 2, 3]).cumsum(0).numpy(), [1, 3, 6])
    assert Tensor([True, False, True]).cumsum(0).dtype == dtypes.int32
    np.testing.assert_array_equal(Tensor([True, False, True]).cumsum(0).numpy(), [1, 1, 2])


@settings(max_examples=5)
@given(dim=st.sampled_from([0, 1, None]), keepdim=st.booleans(), data=st.data())
def test_prod_matches_torch_with_zeros_and_negatives(dim, keepdim, data):
    storage, view = data.draw(leaves((3, 5)))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    storage = np.where(rng.random(storage.shape) < 0.15, 0.0, storage).astype(np.float32)

    def ours(t):
        return t.prod(dim, keepdim) if dim is not None else t.prod()

    def theirs(t):
        return t.prod(dim, keepdim) if dim is not None else t.prod()
    compare(ours, theirs, (storage, view))


def test_prod_gradient_with_no_one_and_two_zeros_in_a_row():
    x = np.array([[2.0, -3.0, 0.5], [2.0, 0.0, -4.0], [0.0, 3.0, 0.0]], np.float32)
    compare(lambda t: t.prod(1), lambda t: t.prod(1), plain(x))


@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_prod_over_a_long_axis_matches_torch(zeros):
    # past reductions.TREE_LIMIT the product is a sum of logs with a sign and a zero count
    rng = np.random.default_rng(zeros)
    x = (rng.uniform(0.8, 1.25, (2, 40)) * rng.choice([-1.0, 1.0], (2, 40))).astype(np.float32)
    x[0, rng.choice(40, zeros, replace=False)] = 0.0
    compare(lambda t: t.prod(1), lambda t: t.prod(1), plain(x), rtol=2e-4)


def test_prod_second_derivative_matches_torch():
    x_np = np.array([1.5, -2.0, 0.0, 3.0], np.float32)
    x = Tensor(x_np, requires_grad=True)
    g, = x.prod().gradient(x)
    h, = g.sum().gradient(x)
    xt = torch.tensor(x_np, requires_grad=True)
    gt, = torch.autograd.grad(xt.prod(), xt, create_graph=True)
    ht, = torch.autograd.grad(gt.sum(), xt)
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=RTOL)


def test_prod_of_ints_is_exact_and_of_nothing_is_one():
    assert Tensor([3, -7, 11, 13]).prod().item() == 3 * -7 * 11 * 13
    np.testing.assert_array_equal(Tensor.zeros(2, 0).prod(1).numpy(), [1.0, 1.0])


@settings(max_examples=6)
@given(name=st.sampled_from(["any", "all"]), dim=st.sampled_from([None, 0, -1]), keepdim=st.booleans(),
       seed=st.integers(0, 99))
def test_any_and_all_match_torch(name, dim, keepdim, seed):
    x = np.where(np.random.default_rng(seed).random((3, 4)) < 0.3, 0.0, 1.5).astype(np.float32)
    x[0] = 1.0  # one row all true, one column more likely all true
    ours = getattr(Tensor(x), name)(dim, keepdim) if dim is not None else getattr(Tensor(x), name)()
    theirs = getattr(torch.tensor(x), name)(dim, keepdim) if dim is not None else getattr(torch.tensor(x), name)()
    assert ours.dtype == dtypes.bool
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_any_and_all_over_an_empty_dimension_are_false_and_true():
    np.testing.assert_array_equal(Tensor.zeros(2, 0).any(1).numpy(), [False, False])
    np.testing.assert_array_equal(Tensor.zeros(2, 0).all(1).numpy(), [True, True])


# ------------------------------------------------------------------------------ selection

@settings(max_examples=5)
@given(mask_shape=st.sampled_from([(3, 4), (4,), (3, 1)]), data=st.data())
def test_masked_fill_matches_torch_with_a_broadcast_mask(mask_shape, data):
    mask = np.random.default_rng(data.draw(st.integers(0, 99))).random(mask_shape) < 0.5
    compare(lambda t: t.masked_fill(Tensor(mask), -1.5), lambda t: t.masked_fill(torch.tensor(mask), -1.5),
            data.draw(leaves((3, 4))))


def test_masked_fill_keeps_an_int_tensor_int():
    out = Tensor([1, 2, 3]).masked_fill(Tensor([False, True, False]), 7)
    assert out.dtype == dtypes.int32
    np.testing.assert_array_equal(out.numpy(), [1, 7, 3])


def test_one_hot_matches_torch():
    labels = np.array([[0, 3], [2, 1]], np.int32)
    np.testing.assert_array_equal(Tensor(labels).one_hot(4).numpy(), F.one_hot(long(labels), 4).numpy())
    np.testing.assert_array_equal(Tensor(labels).one_hot().numpy(), F.one_hot(long(labels)).numpy())


@settings(max_examples=5)
@given(dim=st.sampled_from([0, 1, -1]), data=st.data())
def test_gather_matches_torch(dim, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    index = rng.integers(0, (3, 4)[dim], (2, 3)).astype(np.int32)  # smaller than x: torch allows it
    compare(lambda t: t.gather(dim, Tensor(index)), lambda t: t.gather(dim, long(index)), data.draw(leaves((3, 4))))


@settings(max_examples=5)
@given(dim=st.sampled_from([0, 1]), data=st.data())
def test_scatter_add_matches_torch_with_repeated_indices(dim, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    # more entries along dim than targets (so repeats), fewer elsewhere
    index_shape = [(5, 3), (2, 6)][dim]
    index = rng.integers(0, (3, 4)[dim], index_shape).astype(np.int32)
    compare(lambda t, s: t.scatter_add(dim, Tensor(index), s), lambda t, s: t.scatter_add(dim, long(index), s),
            data.draw(leaves((3, 4))), data.draw(leaves(index_shape)))


def test_scatter_add_ignores_the_part_of_src_outside_the_index():
    # forward only: torch's own backward refuses a src larger than the index
    x, src = np.zeros((3, 4), np.float32), np.arange(20, dtype=np.float32).reshape(4, 5)
    index = np.array([[2, 0, 2], [1, 1, 0]], np.int32)
    want = torch.tensor(x).scatter_add(0, long(index), torch.tensor(src)).numpy()
    np.testing.assert_array_equal(Tensor(x).scatter_add(0, Tensor(index), Tensor(src)).numpy(), want)


X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
INDEX_CASES = {  # name: key built from an array constructor (np.array for us, long for torch)
    "one axis, 1-D": lambda a: (a([1, 0, 1]),),
    "one axis, 2-D": lambda a: (slice(None), a([[2, 0], [1, 1]])),
    "negative wraps": lambda a: (slice(None), slice(None), a([-1, 0, -4])),
    "two axes broadcast": lambda a: (a([[0], [1]]), slice(None), a([3, 0, 2])),
    "adjacent after a slice": lambda a: (slice(None), a([2, 0]), a([1, 3])),
    "separated by a slice": lambda a: (a([1, 0]), slice(None), a([3, 2])),
    "with an int": lambda a: (1, a([2, 0]), slice(1, 3)),
    "with ellipsis": lambda a: (Ellipsis, a([3, 1])),
}


@pytest.mark.parametrize("name", sorted(INDEX_CASES))
def test_integer_tensor_indexing_matches_torch(name):
    key = INDEX_CASES[name]
    ours_key = tuple(Tensor(np.array(k, np.int32)) if isinstance(k, list) else k for k in key(lambda v: v))
    theirs_key = tuple(long(k) if isinstance(k, list) else k for k in key(lambda v: v))
    compare(lambda t: t.flip(0)[ours_key], lambda t: t.flip(0)[theirs_key], plain(X))


def test_indexing_with_lists_and_numpy_arrays_matches_torch():
    x = Tensor(X)
    np.testing.assert_array_equal(x[[1, 0]].numpy(), torch.tensor(X)[[1, 0]].numpy())
    np.testing.assert_array_equal(x[:, np.array([2, -1])].numpy(), torch.tensor(X)[:, [2, -1]].numpy())


def test_indexing_rows_of_a_matrix_is_one_kernel():
    table = Tensor(np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32))
    rows = Tensor(np.array([3, -1, 0, 49], np.int32))
    out = table[rows]
    reset_stats()
    got = out.numpy()
    assert stats()["kernels_launched"] == 1
    np.testing.assert_array_equal(got, table.numpy()[[3, -1, 0, 49]])


def test_a_host_index_out_of_range_is_an_index_error():
    with pytest.raises(IndexError, match="out of bounds"):
        Tensor(X)[[0, 2]]
    with pytest.raises(IndexError, match="out of bounds"):
        Tensor(X)[:, :, np.array([-5])]


def test_a_device_index_out_of_range_gives_zero():
    np.testing.assert_array_equal(Tensor([1.0, 2.0])[Tensor([5, 1])].numpy(), [0.0, 2.0])


def test_bool_mask_indexing_matches_torch_for_host_and_tensor_masks():
    mask = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]])
    theirs = torch.tensor(X)[:, torch.tensor(mask)].numpy()
    np.testing.assert_array_equal(Tensor(X)[:, mask].numpy(), theirs)
    np.testing.assert_array_equal(Tensor(X)[:, Tensor(mask)].numpy(), theirs)
    np.testing.assert_array_equal(Tensor(X)[[True, False]].numpy(), torch.tensor(X)[torch.tensor([True, False])].numpy())


def test_bool_mask_indexing_gradient_matches_torch():
    mask = np.array([True, False, True])
    compare(lambda t: t[:, mask], lambda t: t[:, torch.tensor(mask)], plain(X))


# ------------------------------------------------------------------------------ by position

def test_split_and_chunk_match_torch_shapes_and_gradients():
    for ours, theirs in [(lambda t: t.split(3, -1), lambda t: t.split(3, -1)),
                         (lambda t: t.split([1, 2], 1), lambda t: t.split([1, 2], 1)),
                         (lambda t: t.chunk(3, 2), lambda t: t.chunk(3, 2))]:
        assert [p.shape for p in ours(Tensor(X))] == [tuple(p.shape) for p in theirs(torch.tensor(X))]
    compare(lambda t: Tensor.cat(*[p * (i + 1) for i, p in enumerate(t.split(3, -1))], dim=-1),
            lambda t: torch.cat([p * (i + 1) for i, p in enumerate(t.split(3, -1))], -1), plain(X))


@settings(max_examples=5)
@given(name=st.sampled_from(["tril", "triu"]), diagonal=st.integers(-2, 2), data=st.data())
def test_tril_and_triu_match_torch(name, diagonal, data):
    compare(lambda t: getattr(t, name)(diagonal), lambda t: getattr(t, name)(diagonal), data.draw(leaves((2, 3, 4))))


# ------------------------------------------------------------------------------ errors at build time

ERRORS = [
    (lambda: Tensor(X).gather(0, Tensor(np.zeros((1, 1, 1), np.float32))), TypeError, "integers"),
    (lambda: Tensor(X).gather(0, Tensor(np.zeros((1, 1), np.int32))), ValueError, "as many dimensions"),
    (lambda: Tensor(X).gather(0, Tensor(np.zeros((1, 4, 1), np.int32))), ValueError, "larger than"),
    (lambda: Tensor(X).gather(3, Tensor(np.zeros((1, 1, 1), np.int32))), ValueError, "out of range"),
    (lambda: Tensor(X).scatter_add(0, Tensor(np.zeros((2, 2, 2), np.int32)), Tensor.ones(1, 2, 2)), ValueError,
     "no larger than src"),
    (lambda: Tensor(X).masked_fill(Tensor(np.ones((2, 3, 4), np.float32)), 0.0), TypeError, "bool"),
    (lambda: Tensor(X).masked_fill(Tensor(np.ones((5,), bool)), 0.0), ValueError, "broadcast"),
    (lambda: Tensor(X)[Tensor([0.5])], TypeError, "integers"),
    (lambda: Tensor(X)[Tensor([0, 1]), Tensor([0, 1, 2])], IndexError, "broadcast"),
    (lambda: Tensor(X).split([1, 1], 1), ValueError, "add up to 3"),
    (lambda: Tensor(X).chunk(0), ValueError, "positive"),
    (lambda: Tensor(X).cumsum(3), ValueError, "out of range"),
    (lambda: Tensor([1.0]).tril(), ValueError, "2 dimensions"),
    (lambda: Tensor([0, 1]).one_hot(-3), ValueError, "num_classes"),
    (lambda: Tensor([1.0]).hardtanh(1.0, -1.0), ValueError, "larger than"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_misuse_is_refused_when_the_op_is_built(case):
    build, error, message = ERRORS[case]
    with pytest.raises(error, match=message):
        build()
