"""Fusion rules, pinned down by exact kernel counts (the rules: tinygradlike/scheduler.pyx, section 4)."""
import numpy as np
import pytest

from tinygradlike import Tensor, reset_stats, stats
from tinygradlike.schedule import group_kernels


def inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return [Tensor(a) for a in arrays], arrays


def launched(fn, *args):
    """Kernels launched and compiled while realizing fn(*args)."""
    out = fn(*args)
    reset_stats()
    result = out.numpy()
    s = stats()
    return s["kernels_launched"], s["kernels_compiled"], result


def test_elementwise_chain_is_one_kernel():
    (a, b, c, d), (x, y, z, w) = inputs((4, 5), (4, 5), (5,), (4, 1))
    n, _, out = launched(lambda: ((a * b + c).relu() - d).exp())
    assert n == 1
    np.testing.assert_allclose(out, np.exp(np.maximum(x * y + z, 0) - w), rtol=1e-5)


def test_elementwise_prologue_fuses_into_reduce():
    (a, b), (x, y) = inputs((30, 7), (30, 7))
    n, _, out = launched(lambda: (a * b).sum())
    assert n == 1
    np.testing.assert_allclose(out, (x.astype(np.float64) * y).sum(), rtol=1e-5)


def test_matmul_with_bias_and_relu_is_one_kernel():
    (x, w, b), (xa, wa, ba) = inputs((8, 16), (16, 12), (12,))
    n, _, out = launched(lambda: (x @ w + b).relu())
    assert n == 1
    np.testing.assert_allclose(out, np.maximum(xa.astype(np.float64) @ wa + ba, 0), rtol=1e-5, atol=1e-6)


def test_a_linear_layer_read_by_several_kernels_is_written_by_its_matmul():
    # rule 2b: the bias add of logits read by two reductions is the matmul's epilogue and is
    # stored, so the reductions read it and a later read of the logits runs no kernel
    (x, w, b), (xa, wa, ba) = inputs((8, 16), (5, 16), (5,))
    logits = x.linear(w.T, b)
    top, total = logits.max(1), (logits * 2).sum(1)
    reset_stats()
    top.realize(total)
    assert stats()["kernels_launched"] == 3
    reset_stats()
    got = logits.numpy()
    assert stats()["kernels_launched"] == 0
    want = xa.astype(np.float64) @ wa.T + ba
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(top.numpy(), want.max(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(total.numpy(), 2 * want.sum(1), rtol=1e-5, atol=1e-5)


def test_softmax_is_at_most_three_kernels():
    (x,), (xa,) = inputs((6, 10))
    n, _, out = launched(lambda: x.softmax(-1))
    assert n <= 3
    e = np.exp(xa - xa.max(-1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(-1, keepdims=True), rtol=1e-5)


def test_reduce_epilogue_fuses_after_the_reduce():
    (x,), (xa,) = inputs((6, 10))
    n, _, out = launched(lambda: (x.sum(axis=1) * 0.5 + 1).exp())
    assert n == 1
    np.testing.assert_allclose(out, np.exp(xa.astype(np.float64).sum(1) * 0.5 + 1), rtol=1e-5)


def test_reduce_expanded_back_is_materialized():
    (x,), (xa,) = inputs((6, 10))
    n, _, out = launched(lambda: x - x.mean(axis=1, keepdim=True))
    assert n == 2
    np.testing.assert_allclose(out, xa - xa.mean(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_shared_subexpression_is_computed_once_per_kernel():
    (x,), (xa,) = inputs((5, 5))
    n, _, out = launched(lambda: (lambda e: e * e + e)(x.exp()))
    assert n == 1
    e = np.exp(xa.astype(np.float64))
    np.testing.assert_allclose(out, e * e + e, rtol=1e-5)


@pytest.mark.parametrize("build", [
    lambda a, b, c, d: ((a * b + c).relu() - d).exp(),
    lambda a, b, c, d: (a * b).sum(),
    lambda a, b, c, d: (a @ b.T + c).relu(),
    lambda a, b, c, d: a.softmax(-1),
], ids=["chain", "sum", "matmul", "softmax"])
def test_running_again_compiles_nothing(build):
    rng = np.random.default_rng(1)
    make = lambda: [Tensor(rng.standard_normal((4, 4)).astype(np.float32)) for _ in range(4)]  # noqa: E731
    build(*make()).numpy()
    reset_stats()
    build(*make()).numpy()
    assert stats()["kernels_compiled"] == 0 and stats()["kernels_launched"] >= 1


def test_schedule_is_pure_data():
    """group_kernels needs no device: it only reads the graph."""
    (a, b), _ = inputs((3, 3), (3, 3))
    y = (a * b).sum(axis=0).exp()
    groups = group_kernels([y.node])
    assert [g.kind for g in groups] == ["reduce"]
    assert groups[0].root is y.node.base


def test_same_shape_outputs_share_one_kernel():
    """An optimizer-like update: m, v and the new value, one kernel writing three outputs."""
    (p, g, m, v), (pa, ga, ma, va) = inputs((6, 5), (6, 5), (6, 5), (6, 5))
    m2 = m * 0.9 + g * 0.1
    v2 = v * 0.99 + g * g * 0.01
    p2 = p - 0.01 * m2 / (v2.abs().sqrt() + 1e-8)
    reset_stats()
    m2.realize(v2, p2)
    assert stats()["kernels_launched"] == 1
    ma2, va2 = ma * 0.9 + ga * 0.1, va * 0.99 + ga * ga * 0.01
    np.testing.assert_allclose(m2.numpy(), ma2, rtol=1e-5)
    np.testing.assert_allclose(v2.numpy(), va2, rtol=1e-5)
    np.testing.assert_allclose(p2.numpy(), pa - 0.01 * ma2 / (np.sqrt(np.abs(va2)) + 1e-8), rtol=1e-5)


def test_an_output_read_reshuffled_waits_for_its_own_kernel():
    (a,), (aa,) = inputs((5, 5))
    b = a.exp()
    c = b.T + 1  # reads b through a transpose: b must be in memory first
    reset_stats()
    b.realize(c)
    assert stats()["kernels_launched"] == 2
    np.testing.assert_allclose(c.numpy(), np.exp(aa).T + 1, rtol=1e-5)


# --- rule 5: bounded kernels (tests/test_kernel_size.py checks the structure of long chains)

def tanh_mul_chain(x, n):
    for i in range(n):
        x = (x * 1.0001) if i % 2 else x.tanh()
    return x


def test_a_long_elementwise_chain_is_cut_into_bounded_kernels():
    from tinygradlike.realize import plan
    from tinygradlike.schedule import MAX_KERNEL_OPS

    (x,), _ = inputs((8,))
    assert len(plan([tanh_mul_chain(x, MAX_KERNEL_OPS).node])[0]) == 1
    groups, _ = plan([tanh_mul_chain(x, 300).node])
    assert [g.kind for g in groups] == ["elementwise"] * 3  # 128 + 128 + 44 nodes


def test_a_lazy_sum_of_many_tensors_is_cut_by_the_input_bound():
    from tinygradlike.realize import plan

    tensors = [Tensor(np.full(4, i, np.float32)) for i in range(130)]
    assert len(plan([sum(tensors).node])[0]) == 3  # 64 + 63 + 3 buffers read


def sin_add_chain(x, n, sin=lambda t: t.sin()):
    for i in range(n):
        x = sin(x * 1.01) if i % 2 else x + 0.5
    return x


@pytest.mark.parametrize("length, kernels", [(10, 2), (40, 3)], ids=["cheap", "expensive"])
def test_a_shared_node_is_recomputed_when_cheap_and_stored_when_expensive(length, kernels):
    (x,), (xa,) = inputs((6, 10))
    e = sin_add_chain(x, length)
    total, biggest = e.sum(axis=1), e.max(axis=1)
    reset_stats()
    total.realize(biggest)
    assert stats()["kernels_launched"] == kernels
    ea = sin_add_chain(xa.astype(np.float64), length, np.sin)
    np.testing.assert_allclose(total.numpy(), ea.sum(1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(biggest.numpy(), ea.max(1), rtol=1e-4, atol=1e-5)
