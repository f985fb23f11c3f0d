"""Ordinary expressions that were wrong, each pinned against an independent oracle (numpy or
PyTorch in float64), never against our own output. One behaviour per test."""
import gc

import math

import numpy as np
import pytest
import torch

from tinygradlike import Tensor, nn, optim
from tinygradlike.dtypes import dtypes

rng = np.random.default_rng(7)
X = np.array([-3.0, -1.0, 0.0, 2.0], np.float32)


def close(got, expected, rtol=1e-5, atol=1e-6):
    got = got.numpy() if isinstance(got, Tensor) else got
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol)


# --- literals: one renderer for every constant ------------------------------------------------

@pytest.mark.parametrize("expr, expected", [
    (lambda x: x - (-2.5), lambda x: x + 2.5),
    (lambda x: x.minimum(-1), lambda x: np.minimum(x, -1)),
    (lambda x: x.clip(max_=-0.5), lambda x: np.minimum(x, -0.5)),
    (lambda x: -(-3) * x, lambda x: 3 * x),
    (lambda x: x * -0.0, lambda x: x * -0.0),
    (lambda x: (x < -1e30).where(-np.inf, x), lambda x: x),
])
def test_negative_constants_compile_and_compute(expr, expected):
    close(expr(Tensor(X)), expected(X.astype(np.float64)))


def test_negative_constant_tensor_abs():
    close(Tensor.full((3,), -1.0).abs(), np.ones(3))


def test_int_min_constant_is_an_int():
    x = Tensor(np.array([0, 5, -7], np.int32))
    out = x.maximum(-(2**31))
    assert out.dtype == dtypes.int32
    np.testing.assert_array_equal(out.numpy(), [0, 5, -7])
    np.testing.assert_array_equal((x * 0 + (-(2**31))).numpy(), np.full(3, -(2**31), np.int32))


def test_int_constant_outside_int32_is_refused_when_built():
    with pytest.raises(ValueError, match="does not fit in int32"):
        Tensor(np.array([1, 2], np.int32)) + 2**40


def test_float32_constant_is_rounded_like_the_kernel_computes():
    # 0.1 as a float32 literal, not 0.1 as a double silently narrowed differently per compiler
    np.testing.assert_array_equal((Tensor(np.zeros(2, np.float32)) + 0.1).numpy(), np.float32(0.1))


# --- matmul epilogues are typed by their own result --------------------------------------------

A = rng.standard_normal((5, 7)).astype(np.float32)
B = rng.standard_normal((7, 6)).astype(np.float32)


def test_matmul_then_comparison_gives_bools():
    out = (Tensor(A) @ Tensor(B)) > 0
    assert out.dtype == dtypes.bool
    np.testing.assert_array_equal(out.numpy(), (A.astype(np.float64) @ B) > 0)


def test_matmul_then_int_cast_converts_values():
    out = (Tensor(A) @ Tensor(B) * 3).int()
    expected = torch.from_numpy(A).double().matmul(torch.from_numpy(B).double()).mul(3).int().numpy()
    # float32 vs float64 accumulation can flip the truncation of values within 1e-5 of an integer
    assert np.abs(out.numpy() - expected).max() <= 1


def test_matmul_epilogue_may_read_the_matmuls_own_operands():
    w_np = rng.standard_normal((6, 6)).astype(np.float32)
    x_np = rng.standard_normal((6, 6)).astype(np.float32)
    x, w = Tensor(x_np), Tensor(w_np)
    c = x @ w
    close((c @ w) + c, (x_np.astype(np.float64) @ w_np) @ w_np + x_np.astype(np.float64) @ w_np, rtol=1e-4, atol=1e-4)
    close((x @ w) + x, x_np.astype(np.float64) @ w_np + x_np, rtol=1e-4, atol=1e-4)


# --- gradients at kinks, as PyTorch ----------------------------------------------------------

def torch_grad(fn, values):
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    fn(t).sum().backward()
    return t.grad.numpy()


def our_grad(fn, values):
    t = Tensor(np.asarray(values, np.float32), requires_grad=True)
    fn(t).sum().backward()
    return t.grad.numpy()


KINKS = [-1.0, 0.0, 1.0, -0.5, 0.5, 2.0]


@pytest.mark.parametrize("name, ours, theirs", [
    ("relu", Tensor.relu, torch.relu),
    ("leaky_relu", Tensor.leaky_relu, torch.nn.functional.leaky_relu),
    ("abs", Tensor.abs, torch.abs),
    ("clip", lambda t: t.clip(-0.5, 0.5), lambda t: t.clamp(-0.5, 0.5)),
    ("max_tie", lambda t: t.maximum(t * 0), lambda t: torch.maximum(t, t * 0)),
])
def test_gradient_at_kinks_matches_torch(name, ours, theirs):
    close(our_grad(ours, KINKS), torch_grad(theirs, KINKS))


def test_pow_gradients_at_zero_match_torch():
    for base, exponent in [(0.0, 0.0), (0.0, 2.0), (0.0, 0.5), (2.0, 0.0)]:
        x = Tensor([base], requires_grad=True)
        y = Tensor([exponent], requires_grad=True)
        (x ** y).sum().backward()
        tx = torch.tensor([base], dtype=torch.float64, requires_grad=True)
        ty = torch.tensor([exponent], dtype=torch.float64, requires_grad=True)
        (tx ** ty).sum().backward()
        close(x.grad, tx.grad.numpy())
        close(y.grad, ty.grad.numpy())


@pytest.mark.parametrize("fn", [Tensor.relu, Tensor.leaky_relu, Tensor.abs, lambda t: t.clip(-1, 1)])
def test_nan_passes_through_kinked_ops(fn):
    assert np.isnan(fn(Tensor([np.nan])).numpy()).all()


# --- requires_grad, numpy operands, devices ---------------------------------------------------

def test_requires_grad_set_on_a_view_survives_reshape():
    w = Tensor([1.0, 2.0, 3.0, 4.0]).reshape(2, 2)
    w.requires_grad = True
    flat = w.reshape(4)
    assert flat.requires_grad
    (flat * Tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    close(w.grad, [[1, 2], [3, 4]])


@pytest.mark.parametrize("left", [np.ones(3), np.ones(3, np.float32), np.float64(0.1), np.float32(2), np.int64(3)])
def test_numpy_operand_on_the_left_keeps_the_graph(left):
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for out, expected in [(left + w, np.asarray(left, np.float64) + [1, 2, 3]),
                          (left * w, np.asarray(left, np.float64) * [1, 2, 3]),
                          (left - w, np.asarray(left, np.float64) - [1, 2, 3])]:
        assert isinstance(out, Tensor)
        close(out, expected)
    (left * w).sum().backward()
    close(w.grad, np.broadcast_to(np.asarray(left, np.float64), (3,)))


def test_tensor_reports_its_own_device():
    from tinygradlike import runtime

    t = Tensor([1.0])
    assert t.device == runtime.get_device().name


# --- laziness never changes meaning ---------------------------------------------------------

def test_lazy_result_read_after_assign_sees_old_values():
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = (w * 2).sum()
    w.assign(w.detach() + 1)
    assert y.item() == 6.0
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0])


def test_loss_read_after_optimizer_step_is_the_loss_of_that_step():
    x_np = rng.standard_normal((8, 4)).astype(np.float32)
    y_np = rng.standard_normal((8, 1)).astype(np.float32)
    Tensor.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    weights = [p.numpy().copy() for p in model.parameters()]
    opt = optim.SGD(model.parameters(), lr=0.5)
    x, y = Tensor(x_np), Tensor(y_np)
    out = model(x)
    loss = ((out - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    # the oracle: the same model in torch with the weights from before the step
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with torch.no_grad():
        for p, w in zip(tm.parameters(), weights):
            p.copy_(torch.from_numpy(w).reshape(p.shape))
        expected_out = tm(torch.from_numpy(x_np))
        expected = ((expected_out - torch.from_numpy(y_np)) ** 2).mean().item()
    close(loss.item(), expected, rtol=1e-5)
    close(out, expected_out.numpy(), rtol=1e-5)  # logits read for accuracy after the step
    # and the parameters did move
    assert any(not np.allclose(p.numpy(), w) for p, w in zip(model.parameters(), weights))


def test_tensor_made_from_a_tensor_keeps_its_values_after_assign():
    w = Tensor([1.0, 2.0])
    alias = Tensor(w)
    w.assign(Tensor([5.0, 6.0]))
    np.testing.assert_array_equal(alias.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(w.numpy(), [5.0, 6.0])


def test_load_state_dict_writes_into_the_same_memory_and_keeps_pending_results():
    layer = nn.Linear(3, 2)
    memory = layer.weight.node.buffer
    x_np = np.array([[1.0, -2.0, 0.5]], np.float32)
    x = Tensor(x_np)
    weight, bias = layer.weight.numpy().copy(), layer.bias.numpy().copy()
    pending = layer(x)
    layer.load_state_dict({name: np.full(t.shape, 0.5, np.float32) for name, t in layer.state_dict().items()})
    assert layer.weight.node.buffer is memory  # a jit recording keeps reading the right memory
    close(pending, x_np.astype(np.float64) @ weight.T + bias)
    close(layer(x), x_np.astype(np.float64) @ np.full((3, 2), 0.5) + 0.5)


def test_assign_without_other_readers_makes_no_copy():
    from tinygradlike import runtime

    w = Tensor([1.0, 2.0])
    w.numpy()
    new = Tensor([3.0, 4.0])
    new.realize()
    before = runtime.live_buffers()
    w.assign(new)
    gc.collect()
    assert runtime.live_buffers() == before
    np.testing.assert_array_equal(w.numpy(), [3.0, 4.0])


# --- errors where PyTorch raises ----------------------------------------------------------------

def test_cross_entropy_refuses_host_labels_outside_the_classes():
    logits = Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="out of range for 3 classes"):
        nn.cross_entropy(logits, np.array([0, 5]))
    with pytest.raises(ValueError, match="out of range"):
        nn.cross_entropy(logits, [0, -1])


def test_cross_entropy_with_device_labels_outside_the_classes_is_nan_not_a_number():
    logits = Tensor(np.zeros((2, 3), np.float32))
    assert np.isnan(nn.cross_entropy(logits, Tensor(np.array([0, 5], np.int32))).item())
    close(nn.cross_entropy(logits, Tensor(np.array([0, 2], np.int32))), np.log(3))


def test_optimizer_refuses_a_non_leaf():
    p = Tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([p], lr=0.1)


# --- accuracy -----------------------------------------------------------------------------------

def test_float32_sum_of_ten_million_is_as_accurate_as_torch():
    n = 10_000_000
    ours = Tensor.full((n,), 0.1).contiguous().sum().item()
    theirs = torch.full((n,), 0.1, dtype=torch.float32).sum().item()
    exact = n * float(np.float32(0.1))
    assert abs(ours - exact) / exact <= max(2e-6, 4 * abs(theirs - exact) / exact)


def test_sum_keeps_inf_and_nan():
    assert Tensor(np.full(5000, np.inf, np.float32)).sum().item() == np.inf
    assert np.isnan(Tensor(np.array([np.inf, -np.inf] * 3000, np.float32)).sum().item())
    assert np.isnan(Tensor(np.array([1.0, np.nan] * 3000, np.float32)).sum().item())


# --- 64-bit indices where a kernel needs them ------------------------------------------------------

def test_sum_over_an_expanded_view_of_more_than_two_to_the_31_elements():
    n = 2**31 + 7
    assert Tensor.ones(1).expand(n).sum().item() == pytest.approx(n, rel=1e-6)
    rows = Tensor.ones(2, 1).expand(2, 2**30 + 3).sum(1).numpy()
    np.testing.assert_allclose(rows, [2**30 + 3] * 2, rtol=1e-6)


def test_sum_over_a_padded_view_of_more_than_two_to_the_31_elements():
    assert Tensor([1.0, 2.0, 3.0]).pad(((2**31, 5),)).sum().item() == 6.0


def test_small_kernels_keep_32_bit_indices():
    from tinygradlike import runtime
    from tinygradlike.codegen import render_group
    from tinygradlike.realize import is_memory
    from tinygradlike.schedule import group_kernels

    group = group_kernels([(Tensor([1.0, 2.0]) * 2).node])[0]
    source = render_group(group, is_memory, runtime.get_device()).source
    assert "const int gid" in source and "long" not in source


# --- extremes: NaN and INT_MIN -----------------------------------------------------------------

NAN_ROW = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 0.0, 2.0, -1.0]], np.float32)
INTS = np.array([[-(2**31), 5, 0, 2**31 - 1], [3, 3, -4, 7]], np.int32)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_and_argmin_pick_the_first_nan_as_torch(op):
    for axis in (None, 1, -1, 0):
        ours = getattr(Tensor(NAN_ROW), op)(axis).numpy()
        theirs = getattr(torch.from_numpy(NAN_ROW), op)(axis).numpy()
        np.testing.assert_array_equal(ours, theirs)


TORCH_REDUCE = {"min": lambda t, axis: t.min() if axis is None else t.amin(axis),
                "max": lambda t, axis: t.max() if axis is None else t.amax(axis),
                "argmin": lambda t, axis: t.argmin(axis), "argmax": lambda t, axis: t.argmax(axis)}


@pytest.mark.parametrize("op", sorted(TORCH_REDUCE))
def test_int32_reductions_at_the_extremes(op):
    for axis in (None, 1, 0):
        ours = getattr(Tensor(INTS), op)(axis).numpy()
        np.testing.assert_array_equal(ours, TORCH_REDUCE[op](torch.from_numpy(INTS), axis).numpy())


def test_int32_minimum_at_int_min():
    x = Tensor(INTS[0])
    np.testing.assert_array_equal(x.minimum(0).numpy(), np.minimum(INTS[0], 0))
    np.testing.assert_array_equal(x.clip(-5, 5).numpy(), np.clip(INTS[0], -5, 5))


# --- shape arguments and devices -------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: Tensor.full((2, -1), 1.0), lambda: Tensor.zeros(-2), lambda: Tensor.ones(3, -1),
                                  lambda: Tensor.randn(-1), lambda: Tensor.ones(2).repeat(-1)])
def test_negative_sizes_of_a_new_tensor_are_refused(make):
    with pytest.raises(ValueError, match=">= 0"):
        make()


@pytest.mark.parametrize("op", ["max", "min", "argmax", "argmin"])
def test_max_of_nothing_is_refused_when_built(op):
    with pytest.raises(ValueError, match="empty dimension"):
        getattr(Tensor.zeros(2, 0), op)(1)
    np.testing.assert_array_equal(Tensor.zeros(2, 0).sum(1).numpy(), [0.0, 0.0])


@pytest.fixture
def on_other_device():
    """A function making a Tensor in the memory of a second OpenCL device (skips without one)."""
    from tinygradlike import runtime

    devices = runtime.list_devices()
    if len(devices) < 2:
        pytest.skip("needs two OpenCL devices")
    default = runtime.get_device()
    other = runtime.open_device(next(d["index"] for d in devices if d["index"] != default.index))

    def make(data) -> Tensor:
        runtime.set_device(other)
        try:
            return Tensor(data)
        finally:
            runtime.set_device(default)

    return make


def test_device_is_where_the_memory_is(on_other_device):
    from tinygradlike import runtime

    t = on_other_device([1.0, 2.0])
    assert t.device != runtime.get_device().name
    assert (t * 2).device == t.device  # a lazy result: its inputs' device
    assert Tensor([1.0]).device == runtime.get_device().name


# --- integer powers and bool subtraction, as torch ------------------------------------------------

INT_BASES = np.array([-3, -1, 0, 1, 2, 5], np.int32)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, 5, np.int32(4), True])
def test_int_tensor_to_an_int_power_stays_int(exponent):
    out = Tensor(INT_BASES) ** exponent
    expected = torch.from_numpy(INT_BASES) ** (exponent.item() if isinstance(exponent, np.generic) else exponent)
    assert out.dtype == dtypes.int32
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


@pytest.mark.parametrize("base", [2, -3, 0, 1, -1])
def test_int_to_an_int_tensor_power_truncates_like_torch(base):
    exps = np.array([-3, -1, 0, 1, 4, 19], np.int32)
    out = base ** Tensor(exps)
    assert out.dtype == dtypes.int32
    np.testing.assert_array_equal(out.numpy(), (base ** torch.from_numpy(exps)).numpy())


def test_int_tensor_to_a_negative_int_power_is_refused():
    with pytest.raises(ValueError, match="negative integer powers"):
        Tensor(INT_BASES) ** -2
    with np.errstate(divide="ignore"):
        close(Tensor(INT_BASES).float() ** -2, INT_BASES.astype(np.float64) ** -2.0)


@pytest.mark.parametrize("expr", [lambda t: t - True, lambda t: True - t, lambda t: Tensor([True]) - t,
                                  lambda t: t.bool() - 1])
def test_subtraction_with_a_bool_is_refused(expr):
    with pytest.raises(ValueError, match="bool"):
        expr(Tensor([1.0, 2.0]))


def test_tensors_on_two_devices_do_not_meet_in_one_kernel(on_other_device):
    there = on_other_device([1.0, 2.0])
    here = Tensor([3.0, 4.0])
    with pytest.raises(ValueError, match="different devices"):
        here + there
    with pytest.raises(ValueError, match="on the device that runs it"):
        (there.reshape(2, 1) @ Tensor([[1.0, 2.0]])).numpy()
    np.testing.assert_array_equal((here * 2).numpy(), [6.0, 8.0])  # and the engine goes on


def test_a_cached_schedule_refuses_memory_on_another_device(on_other_device):
    weights = Tensor([[1.0, 2.0]])
    np.testing.assert_array_equal((Tensor([3.0, 4.0]).reshape(2, 1) @ weights).numpy(), [[3, 6], [4, 8]])
    there = on_other_device([1.0, 2.0])  # the same graph structure: the cached schedule's fast path
    with pytest.raises(ValueError, match="on the device that runs it"):
        (there.reshape(2, 1) @ weights).numpy()
    np.testing.assert_array_equal((Tensor([5.0, 6.0]).reshape(2, 1) @ weights).numpy(), [[5, 10], [6, 12]])


# --- found by the fuzzer ----------------------------------------------------------------------------

def test_package_names_are_what_users_want_whatever_was_imported_first():
    import subprocess
    import sys

    code = ("import tinygradlike.jit, tinygradlike.dtypes\n"
            "from tinygradlike import Tensor, dtypes, jit\n"
            "assert dtypes.bool.name == 'bool' and callable(jit) and not isinstance(jit, type(tinygradlike))\n"
            "print(Tensor([1.5]).cast(dtypes.bool).numpy())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[ True]" in done.stdout


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_extremes_of_a_0d_tensor_and_with_keepdim(op):
    assert getattr(Tensor(3.0), op)(-1).item() == 0
    a = np.array([[1.0, 5.0, -2.0], [0.0, 5.0, 7.0]], np.float32)
    ours = getattr(Tensor(a), op)(keepdim=True).numpy()
    theirs = getattr(torch.from_numpy(a), op)(keepdim=True).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_tanh_saturates_exactly_like_torch():
    v = np.array([-np.inf, -30, -9.2, -9.0, -1, 0, 0.5, 9.0, 9.2, 30, np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(Tensor(v).tanh().numpy(), torch.from_numpy(v).tanh().numpy())
    gelu = torch.nn.functional.gelu(torch.from_numpy(v), approximate="tanh").numpy()
    np.testing.assert_allclose(Tensor(v).gelu().numpy(), gelu, rtol=1e-5, atol=1e-6)  # nan at -inf, as torch


def test_erf_and_the_exact_gelu_at_the_edges():
    v = np.array([-np.inf, -30, -5, -1, -0.0, 0.0, 1e-30, 0.5, 3, 30, np.inf, np.nan], np.float32)
    ours = Tensor(v).erf().numpy()
    np.testing.assert_allclose(ours, torch.erf(torch.from_numpy(v)).numpy(), rtol=2e-7, atol=0)
    assert np.signbit(ours[4]) and not np.signbit(ours[5])  # erf(-0.0) is -0.0
    # the exact gelu against its formula in float64: -x for large negative x cancels in
    # 1 + erf, so the error is relative to |x|; inf at inf (torch's own kernel gives nan there)
    x64 = v.astype(np.float64)
    with np.errstate(invalid="ignore"):
        exact = 0.5 * x64 * (1 + np.vectorize(math.erf)(x64 / math.sqrt(2)))
    got = Tensor(v).gelu("none").numpy()
    finite = np.isfinite(exact)
    assert np.all(np.abs(got[finite] - exact[finite]) <= 1e-6 * np.maximum(np.abs(x64[finite]), 1))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exact))
    assert got[-2] == np.inf
    with pytest.raises(ValueError, match="approximate"):
        Tensor(v).gelu("exact")


def test_std_of_a_constant_row_has_gradient_zero_as_torch():
    a = np.array([[-1.74, -1.74, -1.74], [1.0, 2.0, 4.0]], np.float32)
    for correction in (0, 1):
        x = Tensor(a, requires_grad=True)
        x.std(1, correction=correction).sum().backward()
        t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        t.std(1, correction=correction).sum().backward()
        close(x.grad, t.grad.numpy(), rtol=1e-4, atol=1e-6)
        close(Tensor(a).std(1, correction=correction), t.detach().std(1, correction=correction).numpy())
    single = Tensor(np.array([-1.74], np.float32), requires_grad=True)
    single.std(correction=0).backward()
    assert single.grad.numpy()[0] == 0.0


def test_exp_and_tanh_of_a_nan_constant_keep_the_kernel_intact():
    # PoCL folds exp/tanh of a NaN the compiler can see into poison and drops the branches
    # around it: here the softmax of a NaN row came out as the padding value
    x = Tensor(np.array([[-2.38, 0.0, -2.17], [0.5, -2.51, -0.33]], np.float32))
    nan_rows = x.where(float("nan"), float("nan"))
    got = nan_rows.softmax(1).pad((None, (0, 1)), -1e30).numpy()
    assert np.isnan(got[:, :3]).all() and (got[:, 3] == np.float32(-1e30)).all()
    got = x.where(float("nan"), 1.0).tanh().pad((None, (0, 1)), -7.0).numpy()
    np.testing.assert_array_equal(got, [[np.nan, np.tanh(np.float32(1)), np.nan, -7], [np.nan] * 3 + [-7]])


def test_max_gradient_selects_rather_than_multiplies_by_zero():
    # abs(-inf) ** abs(-inf): an infinite gradient must reach the winner, not become inf * 0 = nan
    values = np.array([-np.inf, 0.32, 2.4], np.float32)
    x = Tensor(values, requires_grad=True)
    (x.abs() ** x.abs() * Tensor([-0.5, 0.3, 0.6])).sum().backward()
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    (t.abs() ** t.abs() * torch.tensor([-0.5, 0.3, 0.6], dtype=torch.float64)).sum().backward()
    close(x.grad, t.grad.numpy(), rtol=1e-4)
    m = Tensor(np.array([[1.0, 3.0], [2.0, 2.0]], np.float32), requires_grad=True)
    (m.maximum(m.flip(1)) * Tensor([np.inf, 1.0])).sum().backward()
    tm = torch.tensor([[1.0, 3.0], [2.0, 2.0]], requires_grad=True)
    (torch.maximum(tm, tm.flip(1)) * torch.tensor([np.inf, 1.0])).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), tm.grad.numpy())


def test_max_and_min_reductions_have_torch_amax_gradients_nan_included():
    a = np.array([[1.55, -1.54, np.nan], [1.0, 3.0, 3.0]], np.float32)
    for op in ("max", "min"):
        x = Tensor(a, requires_grad=True)
        getattr(x, op)(1).sum().backward()
        t = torch.tensor(a, requires_grad=True)
        getattr(t, "a" + op)(1).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_sigmoid_gradient_at_the_float32_extremes_is_zero_as_torch():
    v = np.array([3e38, 1e4, -100.0, -3e38, 0.0, -0.0, -90.0], np.float32)
    x = Tensor(v, requires_grad=True)
    x.sigmoid().sum().backward()
    t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    t.sigmoid().sum().backward()
    close(x.grad, t.grad.numpy(), rtol=1e-5, atol=1e-38)  # denormals: within their spacing
    close(x.sigmoid(), t.detach().sigmoid().numpy(), rtol=1e-5, atol=1e-38)


def test_log1p_keeps_the_digits_of_small_arguments():
    v = np.array([1e-10, 1e-5, -1e-7, -0.0, 0.5, -0.999], np.float32)
    x = Tensor(v, requires_grad=True)
    close(x.log1p(), np.log1p(v.astype(np.float64)), rtol=1e-6, atol=0)
    assert np.signbit(Tensor([-0.0]).log1p().numpy()[0])  # -0.0 stays -0.0, as torch
    x.log1p().sum().backward()
    close(x.grad, 1 / (1 + v.astype(np.float64)), rtol=1e-5)
    close(Tensor([True, False]).softplus(), torch.nn.functional.softplus(torch.tensor([1.0, 0.0])).numpy())


def test_softplus_gradient_is_sigmoid_everywhere_as_torch():
    v = np.array([np.nan, -3e38, -100.0, -1.0, 0.0, -0.0, 1.0, 100.0, 3e38], np.float32)
    x = Tensor(v, requires_grad=True)
    x.softplus().sum().backward()
    t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.softplus(t).sum().backward()
    close(x.grad, t.grad.numpy(), rtol=1e-5, atol=1e-38)
    close(x.softplus(), torch.nn.functional.softplus(t.detach()).numpy(), rtol=1e-5, atol=1e-38)


def test_abs_of_either_zero_is_positive_zero():
    out = Tensor(np.array([0.0, -0.0, -2.0, np.nan], np.float32)).abs().numpy()
    assert not np.signbit(out[:2]).any()
    np.testing.assert_array_equal((1 / Tensor([0.0, -0.0]).abs()).numpy(), [np.inf, np.inf])


@pytest.mark.parametrize("values", [
    [1e20, -1e20, 3e19],     # a variance of 1e40 is past float32; the std of 1e20 is not
    [1e-30, -2e-30, 0.0],    # the squares underflow; the std of 1.5e-30 does not
    [1e30, 1e30, 1.0],
    [-2.0, 0.5, 3.25],
])
def test_std_neither_overflows_nor_underflows_where_the_result_fits(values):
    a = np.array([values, values[::-1]], np.float32)
    for axis in (1, None):
        x = Tensor(a, requires_grad=True)
        x.std(axis).sum().backward()
        t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        (t.std(axis) if axis is not None else t.std()).sum().backward()
        close(x.std(axis), (t.std(axis) if axis is not None else t.std()).detach().numpy(), rtol=1e-5, atol=0)
        close(x.grad, t.grad.numpy(), rtol=1e-4, atol=1e-6)
    expected_var = torch.tensor(a, dtype=torch.float64).var(1).float().numpy()  # inf where past float32
    close(Tensor(a).var(1), expected_var, rtol=1e-5, atol=0)


@pytest.mark.parametrize("lo, hi", [(1.0, None), (None, 1.0), (0.5, 2.0), (2.0, 0.5), (-1, 1)])
def test_clip_values_and_gradients_are_torch_clamps_nan_and_crossed_bounds_included(lo, hi):
    v = np.array([-2.3, 0.71, np.nan, 1.0, 3.0, -0.0, 0.5, 2.0], np.float32)
    weights = np.arange(1, 9, dtype=np.float32)
    x = Tensor(v, requires_grad=True)
    y = x.clip(lo, hi)
    (y * Tensor(weights)).sum().backward()
    t = torch.tensor(v, requires_grad=True)
    ty = torch.clamp(t, lo, hi)
    (ty * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())  # 0 at NaN, as torch


def test_int_min_to_the_power_one_is_int_min():
    values = np.array([-2**31, -2**31 + 1, -1, 0, 2**31 - 1], np.int32)
    for exponent in (True, 1, np.int32(1)):
        np.testing.assert_array_equal((Tensor(values) ** exponent).numpy(),
                                      (torch.from_numpy(values) ** exponent).numpy())


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_and_std_gradients_stay_finite_where_the_variance_overflows(op):
    # var of (90, -1e30, -30) is 3e59, past float32: var is inf, but its gradient
    # 2 (x - mean) / (n - 1) is ~1e30, and std's is finite too; second derivatives as torch
    a = np.array([[90.0, 1.0], [-1e30, 2.0], [-30.0, 4.0]], np.float32)
    x = Tensor(a, requires_grad=True)
    t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    d, = (getattr(x, op)(0) * Tensor([0.4, 0.4])).sum().gradient(x)
    td, = torch.autograd.grad((getattr(t, op)(0) * 0.4).sum(), t, create_graph=True)
    close(d, td.detach().numpy(), rtol=1e-5, atol=1e-6)
    dd, = (d * Tensor(np.ones_like(a))).sum().gradient(x)
    tdd, = torch.autograd.grad(td.sum(), t)
    close(dd, tdd.numpy(), rtol=1e-3, atol=1e-6)


def test_pow_second_derivatives_where_it_is_flat_are_zero_not_nan():
    # 0 ** y (y >= 0) is constant in y and x ** 0 constant in x, so those derivatives are 0;
    # the masks of the first derivative used to hide 0 * inf in their untaken branch, which the
    # second derivative multiplied out to nan (x0 ** x0 at 0)
    x = Tensor(np.array([0.0, 1.73, 0.0, 2.0], np.float32), requires_grad=True)
    y = Tensor(np.array([0.0, 1.73, 2.0, 0.0], np.float32), requires_grad=True)
    dx, dy = (x ** y).sum().gradient(x, y)
    ddx, = dx.sum().gradient(x)
    ddy, = dy.sum().gradient(y)
    expected_dx = [0.0, 1.73 * 1.73 ** 0.73, 0.0, 0.0]
    expected_dy = [0.0, 1.73 ** 1.73 * np.log(1.73), 0.0, np.log(2.0)]
    close(dx, expected_dx, rtol=1e-5)
    close(dy, expected_dy, rtol=1e-5)
    close(ddx, [0.0, 1.73 * 0.73 * 1.73 ** -0.27, 2.0, 0.0], rtol=1e-5)  # d/dx of 2x at x = 0 is 2
    close(ddy, [0.0, 1.73 ** 1.73 * np.log(1.73) ** 2, 0.0, np.log(2.0) ** 2], rtol=1e-5)
    same = Tensor(np.array([0.0, 1.73], np.float32), requires_grad=True)
    d, = (same ** same).sum().gradient(same)
    dd, = d.sum().gradient(same)
    assert np.isfinite(dd.numpy()).all() and dd.numpy()[0] == 0.0


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_of_a_0d_tensor_have_torch_amax_gradients(op):
    for v in (np.nan, -2.5):
        x = Tensor(np.array(v, np.float32), requires_grad=True)
        d, = (getattr(x, op)() * 0.9).gradient(x)
        t = torch.tensor(v, requires_grad=True)
        td, = torch.autograd.grad(getattr(t, "a" + op)() * 0.9, t)
        np.testing.assert_array_equal(d.numpy(), td.numpy())  # nan at nan, as torch
        assert getattr(x, op)(-1, keepdim=True).shape == ()


def test_float_to_the_power_zero_keeps_a_zero_gradient():
    v = np.array([[1.0, np.nan], [3e38, -2.0]], np.float32)
    x = Tensor(v, requires_grad=True)
    y = x ** 0.0
    y.sum().backward()  # was: "does not depend on any tensor with requires_grad"
    t = torch.tensor(v, requires_grad=True)
    (t ** 0.0).sum().backward()
    np.testing.assert_array_equal(y.numpy(), (t ** 0.0).detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_logsumexp_gradient_is_zero_beside_an_infinite_element_as_torch():
    # the gradient derived through the max shift was inf / inf = nan everywhere in such a row
    a = np.array([[np.inf, 1.0], [1.8446744e19, 2.0], [np.inf, -1.0]], np.float32)
    x = Tensor(a, requires_grad=True)
    t = torch.tensor(a.astype(np.float64), requires_grad=True)
    for axis in (0, 1, (0, 1)):
        d, = (x.logsumexp(axis) * 0.7).sum().gradient(x)
        td, = torch.autograd.grad((torch.logsumexp(t, axis if isinstance(axis, int) else list(axis)) * 0.7).sum(), t)
        np.testing.assert_allclose(d.numpy(), td.numpy(), rtol=1e-5, atol=1e-7)  # nan where torch's is


def test_int32_arithmetic_wraps_as_torch():
    # x - INT_MIN (built as x + -INT_MIN) gave x: signed overflow is undefined in C
    v = np.array([-4, 5, -2**31, 2**31 - 1], np.int32)
    x, t = Tensor(v), torch.from_numpy(v)
    for ours, theirs in [(x - (-2**31), t - (-2**31)), (x + (2**31 - 1), t + (2**31 - 1)), (x * 3, t * 3), (-x, -t)]:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_std_of_rows_whose_sum_overflows():
    a = np.array([[3e38, -90.0], [3e38, 100.0]], np.float32)  # the sum of the first column is inf
    x = Tensor(a, requires_grad=True)
    t = torch.tensor(a.astype(np.float64), requires_grad=True)
    close(x.std(0), t.std(0).detach().numpy(), rtol=1e-5, atol=0)
    d, = x.std(0).sum().gradient(x)
    td, = torch.autograd.grad(t.std(0).sum(), t)
    close(d, td.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_gradients_where_it_saturates_are_zero_not_nan_under_a_huge_upstream_gradient(approximate):
    # fuzz seed 1202: d/dx of gelu(x) / y**2 at x = -30 and y = -6.9e-20. The upstream gradient
    # -1/y**2 = -2.1e38 is finite and gelu'(-30) is 0 in float32; derived through gelu's
    # composition, the upstream met 0.5 * x * k * (1 + 3 * 0.044715 * x**2) first and overflowed
    # to inf before tanh's 1 - t**2 = 0 (inf * 0 = nan). Oracle: torch in float64.
    x_np = np.array([-30.0, -12.0, 0.5, 3.0], np.float32)
    y_np = np.array([-6.9e-20, 1e-19, 2.0, -1.5], np.float32)
    w_np = np.array([0.8, 0.5, 1.0, 1.0], np.float32)
    x, y = Tensor(x_np, requires_grad=True), Tensor(y_np, requires_grad=True)
    gx, gy = (x.gelu(approximate) / (y * y)).sum().gradient(x, y)
    hx, = (gx * Tensor(w_np)).sum().gradient(x)

    xt, yt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x_np, y_np))
    tx, ty = torch.autograd.grad((torch.nn.functional.gelu(xt, approximate=approximate) / (yt * yt)).sum(),
                                 (xt, yt), create_graph=True)
    thx, = torch.autograd.grad((tx * torch.tensor(w_np, dtype=torch.float64)).sum(), xt)
    for ours, oracle in ((gx, tx), (gy, ty), (hx, thx)):
        got = ours.numpy()
        assert np.isfinite(got).all(), got
        np.testing.assert_allclose(got, oracle.detach().numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("values", [[3.2677116], [-1.74, -1.74, -1.74]])
def test_second_derivative_of_sqrt_of_std_at_a_constant_row_is_zero_not_nan(values):
    # fuzz seed 1203: d2/dx2 of sqrt(std(x)) for one element (correction 0). std' is 0 at a
    # constant row and sqrt' of 0 is inf; the masked branch of std's gradient met that inf
    # as 0 * inf = nan in the second derivative. Oracle: torch in float64.
    x = Tensor(np.array(values, np.float32), requires_grad=True)
    d, = (x.std(keepdim=True, correction=0).sqrt() * 0.8).sum().gradient(x)
    dd, = d.sum().gradient(x)
    xt = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    dt, = torch.autograd.grad((xt.std(correction=0, keepdim=True).sqrt() * 0.8).sum(), xt, create_graph=True)
    ddt, = torch.autograd.grad(dt.sum(), xt)
    np.testing.assert_array_equal(d.numpy(), dt.detach().numpy())
    np.testing.assert_array_equal(dd.numpy(), ddt.numpy())


def test_exp2_and_log2_are_exact_at_integers_as_torchs():
    # computed as exp(x * ln 2) and log(x) / ln 2 they missed 2**13 = 8192 and log2(8192) = 13
    # by an ulp (and most exponents from 17 to 39); now their own ops, as OpenCL C has them
    k = np.arange(-126, 128, dtype=np.float32)
    np.testing.assert_array_equal(Tensor(k).exp2().numpy(), torch.exp2(torch.from_numpy(k)).numpy())
    np.testing.assert_array_equal(Tensor(np.exp2(k)).log2().numpy(), k)
    x = Tensor(np.array([0.5, 3.0], np.float32), requires_grad=True)
    t = torch.tensor([0.5, 3.0], dtype=torch.float64, requires_grad=True)
    (x.exp2() * x.log2()).sum().backward()
    (torch.exp2(t) * torch.log2(t)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("data", [[1.0, 2.0], [1.0, 1.0], [3.0]])
@pytest.mark.parametrize("correction", [1, 2, 3])
@pytest.mark.parametrize("kind", ["var", "std"])
def test_var_and_std_past_their_degrees_of_freedom_divide_by_zero_as_torch(data, correction, kind):
    # torch divides by max(0, n - correction): inf, or nan for equal values (we gave nan always)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the degrees of freedom are <= 0
        expected = getattr(torch.tensor(data), kind)(correction=correction).item()
    got = getattr(Tensor(np.array(data, np.float32)), kind)(correction=correction).item()
    np.testing.assert_equal(got, expected)
