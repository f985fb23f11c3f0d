"""dtypes as a specification: float16, uint8 and int64 beside bool, int32, float32 and float64.

Promotion and casts are compared with PyTorch (torch.promote_types, torch's scalar and 0-d
rules, Tensor.to), arithmetic with torch on CPU: exactly for the integers and for casts, within
half-precision tolerances for float16 (torch rounds each op's result to half; we round once,
when a fused kernel stores). One deliberate difference: a Python int is int32 here (torch: int64),
so where torch's answer is int64 only because of a Python int, ours is int32.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from tinygradlike import Tensor, dtypes
from tinygradlike.dtypes import DType
from tinygradlike.testing import tensor_pairs

ALL = dtypes.all()
TORCH = {dtypes.bool: torch.bool, dtypes.uint8: torch.uint8, dtypes.int32: torch.int32, dtypes.int64: torch.int64,
         dtypes.float16: torch.float16, dtypes.float32: torch.float32, dtypes.float64: torch.float64}


def ones(dtype, shape=(3,)) -> Tensor:
    return Tensor(np.ones(shape, dtype.np), dtype=dtype)


def close_half(got: Tensor, expected: torch.Tensor, rtol: float = 2e-3) -> None:
    """Within ~2 half ulps of torch's float16, and an absolute slack scaled to the values."""
    assert got.dtype == dtypes.float16 and expected.dtype == torch.float16
    want = expected.double().numpy()
    scale = float(np.max(np.abs(want), initial=1.0))
    np.testing.assert_allclose(got.numpy().astype(np.float64), want, rtol=rtol, atol=1e-3 * scale)


# ------------------------------------------------------------------------------- promotion

def test_promote_matches_torch_promote_types_for_every_pair():
    wrong = [(a, b, dtypes.promote(a, b)) for a in ALL for b in ALL
             if TORCH[dtypes.promote(a, b)] != torch.promote_types(TORCH[a], TORCH[b])]
    assert not wrong


@pytest.mark.parametrize("scalar", [True, 3, 2.5], ids=["bool", "int", "float"])
def test_tensor_with_a_python_number_promotes_as_torch(scalar):
    for dt in ALL:
        expected = (torch.ones(3, dtype=TORCH[dt]) + scalar).dtype
        if expected == torch.int64 and dt != dtypes.int64:
            expected = torch.int32  # the Python int's own type: int32 here, int64 in torch
        for out in (ones(dt) + scalar, scalar * ones(dt)):
            assert TORCH[out.dtype] == expected, (dt, scalar)


def test_zero_dim_tensor_widens_only_to_a_higher_category_as_torch():
    wrong = []
    for a in ALL:
        for b in ALL:
            expected = (torch.ones(3, dtype=TORCH[a]) + torch.ones((), dtype=TORCH[b])).dtype
            for out in (ones(a) + ones(b, ()), ones(b, ()) + ones(a)):
                if TORCH[out.dtype] != expected:
                    wrong.append((a, b, out.dtype))
    assert not wrong


def test_two_zero_dim_tensors_promote_as_tensors():
    assert (ones(dtypes.int64, ()) + ones(dtypes.float16, ())).dtype == dtypes.float16
    assert (ones(dtypes.float32, ()) * ones(dtypes.float64, ())).dtype == dtypes.float64


def test_where_branches_follow_the_zero_dim_rule_as_torch():
    cond = Tensor([True, False, True])
    for a, b in [(dtypes.float16, dtypes.float64), (dtypes.int32, dtypes.int64), (dtypes.uint8, dtypes.float32)]:
        expected = torch.where(torch.tensor([True, False, True]), torch.ones(3, dtype=TORCH[a]),
                               torch.ones((), dtype=TORCH[b])).dtype
        assert TORCH[cond.where(ones(a), ones(b, ())).dtype] == expected


def test_uint8_and_int32_tensors_give_int32_values():
    got = Tensor(np.array([250, 3], np.uint8)) + Tensor([10, -5])
    assert got.dtype == dtypes.int32
    np.testing.assert_array_equal(got.numpy(), [260, -2])


def test_true_division_of_integers_gives_float32():
    for dt in (dtypes.uint8, dtypes.int64):
        out = Tensor([7, 2], dtype=dt) / 2
        assert out.dtype == dtypes.float32
        np.testing.assert_array_equal(out.numpy(), [3.5, 1.0])


# ------------------------------------------------------------------------------- host data

@pytest.mark.parametrize("dt", [d for d in ALL if d != dtypes.int64], ids=lambda d: d.name)
def test_numpy_arrays_keep_their_dtype_and_come_back_as_it(dt):
    x = np.array([1, 0, 1], dt.np)
    t = Tensor(x)
    assert t.dtype is dt
    back = t.numpy()
    assert back.dtype == dt.np
    np.testing.assert_array_equal(back, x)


def test_numpy_int64_arrays_narrow_to_int32_unless_int64_is_asked_for():
    assert Tensor(np.arange(3)).dtype == dtypes.int32  # numpy's default int, as Python ints
    t = Tensor(np.array([2**40, -1]), dtype=dtypes.int64)
    assert t.dtype == dtypes.int64 and t.numpy().dtype == np.int64
    np.testing.assert_array_equal(t.numpy(), [2**40, -1])


def test_python_ints_stay_int32_unless_int64_is_asked_for():
    assert Tensor([1, 2]).dtype == dtypes.int32
    assert Tensor([1, 2], dtype=dtypes.int64).dtype == dtypes.int64
    with pytest.raises(ValueError, match="int64"):
        Tensor([2**40])


def test_dtype_names_are_understood_everywhere():
    assert dtypes.from_any("float16") is dtypes.float16 and dtypes.from_any(np.int64) is dtypes.int64
    assert Tensor.zeros(2, dtype="uint8").dtype is dtypes.uint8
    assert Tensor([1.0]).cast("float16").dtype is dtypes.float16


def test_torch_cast_names_give_their_dtypes():
    x = Tensor([1.0, 2.0])
    assert (x.half().dtype, x.long().dtype, x.byte().dtype) == (dtypes.float16, dtypes.int64, dtypes.uint8)


# ------------------------------------------------------------------------------- casts

FLOAT_VALUES = [-3.7, -1.0, -0.5, 0.0, 0.4, 1.0, 2.5, 3.5, 200.7, 1 + 2**-11, 1 + 3 * 2**-11, 1e-6, 7e-8, 70000.0]
INT_VALUES = [-3, -1, 0, 1, 2, 255, 256, 1000, 70000, -70000]


def _source(dt: DType) -> np.ndarray:
    if dt.is_bool:
        return np.array([True, False, True])
    if dt.is_float:
        with np.errstate(over="ignore"):
            return np.array(FLOAT_VALUES, dt.np)
    values = INT_VALUES + ([2**40 + 3, -(2**62)] if dt == dtypes.int64 else [])
    return np.array(values, np.int64).astype(dt.np)  # uint8 wraps, as torch's


def _defined(x: np.ndarray, target) -> np.ndarray:
    """Where a cast is defined in C (and so in torch on every machine): a float to an integer
    type only when it fits after truncation."""
    if x.dtype.kind != "f" or target.is_float or target.is_bool:
        return np.ones(x.shape, bool)
    low, high = target.limits
    return np.isfinite(x) & (np.trunc(x.astype(np.float64)) >= low) & (np.trunc(x.astype(np.float64)) <= high)


@pytest.mark.parametrize("src", ALL, ids=lambda d: d.name)
def test_casts_to_every_dtype_match_torch(src):
    x = _source(src)
    t = Tensor(x, dtype=src)
    outs = [t.cast(dt) for dt in ALL]
    outs[0].realize(*outs[1:])  # one schedule: the casts share a kernel
    for dt, out in zip(ALL, outs):
        want = torch.tensor(x).to(TORCH[dt]).numpy()
        got = out.numpy()
        assert got.dtype == want.dtype, dt
        keep = _defined(x, dt)
        np.testing.assert_array_equal(got[keep], want[keep], err_msg=f"{src.name} -> {dt.name}")


def test_half_rounds_to_nearest_even_and_overflows_to_inf_as_torch():
    x = np.array([1 + 2**-11, 1 + 3 * 2**-11, 65519.0, 65520.0, -1e6, 2**-25, 3 * 2**-26], np.float32)
    got = Tensor(x).half()
    np.testing.assert_array_equal(got.numpy(), torch.tensor(x).half().numpy())


def test_half_then_float_in_one_kernel_still_rounds():
    x = np.array([1 / 3, 1e-5, 1234.567], np.float32)
    got = (Tensor(x).half().float() * 3).numpy()
    np.testing.assert_array_equal(got, (torch.tensor(x).half().float() * 3).numpy())


# ------------------------------------------------------------------------------- uint8

def test_uint8_arithmetic_wraps_modulo_256_as_torch():
    a, b = np.array([0, 1, 100, 200, 255], np.uint8), np.array([255, 255, 200, 100, 3], np.uint8)
    x, y = Tensor(a), Tensor(b)
    ta, tb = torch.tensor(a), torch.tensor(b)
    outs = [x + y, x * y, x - y, -x, x.maximum(y)]
    outs[0].realize(*outs[1:])
    for got, want in zip(outs, [ta + tb, ta * tb, ta - tb, -ta, torch.maximum(ta, tb)]):
        assert got.dtype == dtypes.uint8
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_uint8_with_a_python_int_stays_uint8_and_wraps_as_torch():
    a = np.array([0, 7, 250], np.uint8)
    for got, want in [(Tensor(a) + 300, torch.tensor(a) + 300), (Tensor(a) - 1, torch.tensor(a) - 1)]:
        assert got.dtype == dtypes.uint8
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_uint8_reductions_match_torch():
    a = np.array([[3, 250, 17], [255, 0, 9]], np.uint8)
    x, ta = Tensor(a), torch.tensor(a)
    np.testing.assert_array_equal(x.max(axis=1).numpy(), ta.amax(1).numpy())
    np.testing.assert_array_equal(x.min(axis=0).numpy(), ta.amin(0).numpy())
    total = x.sum()
    assert total.dtype == dtypes.int32  # torch: int64; ours the default int
    assert total.item() == ta.sum().item()


def test_uint8_abs_is_the_identity_as_torch():
    a = np.array([0, 1, 128, 255], np.uint8)
    np.testing.assert_array_equal(Tensor(a).abs().numpy(), torch.tensor(a).abs().numpy())


def test_uint8_images_scale_to_float32_as_torch():
    a = np.arange(0, 256, 15, dtype=np.uint8)
    got = Tensor(a) / 255.0
    np.testing.assert_array_equal(got.numpy(), (torch.tensor(a) / 255.0).numpy())


# ------------------------------------------------------------------------------- int64

def test_int64_arithmetic_past_int32_matches_torch():
    a = np.array([2**40, -(2**35) + 7, 3, 2**62], np.int64)
    x, ta = Tensor(a, dtype=dtypes.int64), torch.tensor(a)
    outs = [x * 3 + 1, -x, x * x, x.maximum(Tensor([0, 0, 5, 0], dtype=dtypes.int64))]
    outs[0].realize(*outs[1:])
    wants = [ta * 3 + 1, -ta, ta * ta, torch.maximum(ta, torch.tensor([0, 0, 5, 0]))]  # x * x wraps at 2**63
    for got, want in zip(outs, wants):
        assert got.dtype == dtypes.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_int64_sum_over_many_elements_matches_numpy():
    a = np.arange(5000, dtype=np.int64) * 2**33 - 2**44
    assert Tensor(a, dtype=dtypes.int64).sum().item() == int(a.sum())


def test_int64_max_and_min_start_from_the_int64_limits():
    a = np.array([[-(2**40), -(2**41)], [2**50, 2**51]], np.int64)
    x = Tensor(a, dtype=dtypes.int64)
    np.testing.assert_array_equal(x.max(axis=1).numpy(), a.max(axis=1))
    np.testing.assert_array_equal(x.min(axis=1).numpy(), a.min(axis=1))


# ------------------------------------------------------------------------------- float16

@settings(max_examples=8)
@given(pair=tensor_pairs(dtype=np.float16, low=-2.0, high=2.0))
def test_float16_elementwise_chain_matches_torch_float16(pair):
    t, x = pair
    tx = torch.tensor(x)
    close_half((t * 1.5 - t.exp() / 3).relu() + t.tanh(), (tx * 1.5 - tx.exp() / 3).relu() + tx.tanh())


def test_float16_broadcast_and_transposed_operands_match_torch_float16():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 3)).astype(np.float16), rng.standard_normal((4,)).astype(np.float16)
    got = Tensor(a).T * Tensor(b) + 0.1
    close_half(got, torch.tensor(a).T * torch.tensor(b) + 0.1)


def test_float16_past_65504_is_inf_as_torch():
    got = Tensor(np.array([1.0, -2.0], np.float16)) * 1e5
    np.testing.assert_array_equal(got.numpy(), (torch.tensor([1.0, -2.0], dtype=torch.float16) * 1e5).numpy())


def test_float16_with_a_float32_tensor_gives_float32():
    got = Tensor(np.array([0.1], np.float16)) + Tensor([0.1])
    assert got.dtype == dtypes.float32
    np.testing.assert_array_equal(got.numpy(), (torch.tensor([0.1], dtype=torch.float16) + torch.tensor([0.1])).numpy())


def test_float16_sum_accumulates_in_float():
    x = np.full(4096, 0.1, np.float16)  # a half accumulator would stall at 256 (its ulp there: 0.25)
    close_half(Tensor(x).sum(), torch.tensor(x).sum())


def test_float16_reductions_over_an_axis_match_torch_float16():
    x = np.random.default_rng(2).standard_normal((6, 33)).astype(np.float16)
    t, tx = Tensor(x), torch.tensor(x)
    close_half(t.mean(axis=1), tx.mean(1))
    np.testing.assert_array_equal(t.max(axis=0).numpy(), tx.amax(0).numpy())


def test_float16_var_and_std_stay_float16_with_float16_gradients_as_torch():
    x = np.random.default_rng(6).standard_normal((4, 9)).astype(np.float16)
    t, tx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, want = t.var(1).sum() + t.std(), tx.var(1).sum() + tx.std()
    out.backward()
    want.backward()
    close_half(out, want.detach())
    close_half(t.grad, tx.grad)


@pytest.mark.parametrize("transposed", [False, True])
def test_float16_matmul_matches_torch_float16(transposed):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((33, 70)).astype(np.float16)
    b = rng.standard_normal((20, 70) if transposed else (70, 20)).astype(np.float16)
    tb, torch_b = (Tensor(b).T, torch.tensor(b).T) if transposed else (Tensor(b), torch.tensor(b))
    got = Tensor(a) @ tb
    assert got.dtype == dtypes.float16
    close_half(got, torch.tensor(a) @ torch_b)


def test_float16_tensors_require_grad_and_get_float16_gradients():
    x = Tensor(np.array([1.0, -2.0], np.float16), requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == dtypes.float16
    np.testing.assert_array_equal(x.grad.numpy(), np.array([2.0, -4.0], np.float16))


def test_float16_mlp_forward_and_backward_match_torch_float16():
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s).astype(np.float16) * 0.5 for s in [(16, 8), (8, 32), (32,), (32, 4), (4,)]]
    ours = [Tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]

    def loss(x, w1, b1, w2, b2):
        return (((x @ w1 + b1).relu() @ w2 + b2) ** 2).mean()

    out, want = loss(*ours), loss(*theirs)
    out.backward()
    want.backward()
    close_half(out, want.detach())
    for p, q in zip(ours[1:], theirs[1:]):
        assert p.grad.dtype == dtypes.float16
        close_half(p.grad, q.grad)


@pytest.mark.parametrize("variant", ["cpu", "gpu", "simple"])
def test_every_matmul_kernel_reads_and_writes_half(variant):
    """The GPU and the reference kernels too (compiled here on the CPU device): half operands
    through strides (B transposed), a float accumulator, a half result rounded on store."""
    import pyopencl as cl

    from tinygradlike.matmul_kernel import MatmulSpec, cpu_blocking, render_cpu, render_gpu, render_simple
    from tinygradlike.runtime import get_device

    device = get_device()
    rng = np.random.default_rng(5)
    M, N, K = 19, 37, 41
    a = rng.standard_normal((M, K)).astype(np.float16)
    bt = rng.standard_normal((N, K)).astype(np.float16)  # B is its transpose: strides (1, K)
    spec = MatmulSpec((), M, N, K, 0, (K, 1), 0, (1, K), dtype="float", in_dtype="half", out_dtype="half")
    rendered = {"cpu": lambda: render_cpu(spec, cpu_blocking(device)), "simple": lambda: render_simple(spec),
                "gpu": lambda: render_gpu(spec, device)}[variant]()
    mf = cl.mem_flags
    bufs = [cl.Buffer(device.ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x) for x in (a, bt)]
    out = np.empty((M, N), np.float16)
    c_buf = cl.Buffer(device.ctx, mf.WRITE_ONLY, size=out.nbytes)
    program = cl.Program(device.ctx, rendered.source).build(options=list(rendered.options))
    getattr(program, rendered.name)(device.queue, rendered.global_size, rendered.local_size, c_buf, *bufs)
    cl.enqueue_copy(device.queue, out, c_buf)
    want = (torch.tensor(a).float() @ torch.tensor(bt).float().T).half()  # float sums, one rounding
    np.testing.assert_allclose(out.astype(np.float64), want.double().numpy(), rtol=2e-3, atol=2e-3)
