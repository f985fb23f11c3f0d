"""Matmul and reductions at awkward sizes: edge blocks, vectors, broadcast batches, and
reductions that span many work-groups with sizes that are not powers of two."""
import numpy as np
import pytest

from tinygradlike import Tensor

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def assert_matmul_close(got, a, b):
    """float32 accumulation error grows like sqrt(K): compare against float64, scaled."""
    ref = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.sqrt(np.abs(a).astype(np.float64) ** 2 @ np.abs(b).astype(np.float64) ** 2)
    assert got.shape == ref.shape
    assert np.all(np.abs(got - ref) <= 1e-5 * scale + 1e-6), np.max(np.abs(got - ref) / (scale + 1e-30))


@pytest.mark.parametrize("shapes", [
    ((1, 1), (1, 1)),
    ((1000, 999), (999, 1001)),
    ((7,), (7,)),            # vector . vector -> scalar
    ((7,), (7, 3)),          # vector @ matrix
    ((4, 7), (7,)),          # matrix @ vector
    ((2, 1, 5, 6), (3, 6, 4)),   # broadcast batches
    ((5, 6), (2, 6, 3)),     # a matrix against a batch
], ids=["1x1x1", "1000x999x1001", "dot", "vecmat", "matvec", "batch-broadcast", "matrix-vs-batch"])
def test_matmul_shapes(shapes):
    a, b = randn(*shapes[0]), randn(*shapes[1])
    assert_matmul_close((Tensor(a) @ Tensor(b)).numpy(), a, b)


def test_matmul_of_transposed_and_computed_operands():
    a, b = randn(33, 17), randn(33, 9)
    assert_matmul_close((Tensor(a).T @ Tensor(b)).numpy(), a.T, b)
    assert_matmul_close(((Tensor(a) * 2).T @ Tensor(b).exp()).numpy(), (a * 2).T, np.exp(b))
    c = randn(40, 16)
    assert_matmul_close((Tensor(a)[::2, 1:] @ Tensor(c)[::-3].T).numpy(), a[::2, 1:], c[::-3].T)


def test_sum_of_16_million_and_7_elements():
    x = rng.random(16_000_007, dtype=np.float32)
    got = Tensor(x).sum().item()
    ref = x.astype(np.float64).sum()
    # float32 partial sums: error bound ~ eps * sqrt(n) * sum, far above observed, far below a bug
    assert abs(got - ref) <= 1e-5 * ref
    assert Tensor(x).max().item() == x.max()


@pytest.mark.parametrize("shape,axis", [((3, 1_000_003), 1), ((1_000_003, 3), 0), ((999, 1001), None), ((7, 5, 300_007), (0, 2))])
def test_reductions_spanning_many_work_groups(shape, axis):
    x = rng.standard_normal(shape).astype(np.float32)
    got = Tensor(x).sum(axis=axis).numpy()
    ref = x.astype(np.float64).sum(axis=axis)
    bound = 1e-5 * np.abs(x).astype(np.float64).sum(axis=axis) + 1e-6
    assert np.all(np.abs(got - ref) <= bound)
    np.testing.assert_array_equal(Tensor(x).max(axis=axis).numpy(), x.max(axis=axis))


def test_reduction_results_are_deterministic():
    x = rng.standard_normal(2_000_003).astype(np.float32)
    t = Tensor(x)
    assert len({t.sum().item() for _ in range(3)}) == 1


def test_empty_tensors():
    z = Tensor(np.zeros((0, 3), np.float32))
    assert (z + 1).numpy().shape == (0, 3)
    np.testing.assert_array_equal(z.sum(axis=0).numpy(), np.zeros(3))
    assert z.sum().item() == 0
