"""A graph seen before reuses its schedule: realize() keys every graph by its structure
(scheduler.structure) and launches the cached kernels on the new graph's memory. These tests
pin down what the key must tell apart, each answer checked against numpy."""
import numpy as np
import pytest

from tinygradlike import nn, optim, runtime
from tinygradlike.tensor import Tensor

rng = np.random.default_rng(11)
A = rng.standard_normal((3, 5)).astype(np.float32)
B = rng.standard_normal((3, 5)).astype(np.float32)


def expression(x: Tensor) -> Tensor:
    return ((x * 2.5 - 1).relu() @ x.T).sum(1) + x.max()


def reference(a: np.ndarray) -> np.ndarray:
    a64 = a.astype(np.float64)
    return (np.maximum(a64 * 2.5 - 1, 0) @ a64.T).sum(1) + a64.max()


def counts() -> dict:
    s = runtime.stats()
    return {k: s[k] for k in ("schedules_built", "schedules_reused", "kernels_compiled", "cache_hits_memory")}


def test_a_repeated_graph_is_not_grouped_rendered_or_compiled_again():
    expression(Tensor(A)).numpy()  # the first time: built
    runtime.reset_stats()
    got = expression(Tensor(B)).numpy()  # a new graph of the same structure on new memory
    assert counts() == {"schedules_built": 0, "schedules_reused": 1, "kernels_compiled": 0, "cache_hits_memory": 0}
    np.testing.assert_allclose(got, reference(B), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("change, make, ref", [
    ("shape", lambda: Tensor(A[:, :4]), lambda: reference(A[:, :4])),
    ("dtype", lambda: Tensor(A.astype(np.float64)), lambda: reference(A)),
    ("view", lambda: Tensor(np.ascontiguousarray(A.T)).T, lambda: reference(A)),
    ("view", lambda: Tensor(np.concatenate([A, B], 1))[:, ::2], lambda: reference(np.concatenate([A, B], 1)[:, ::2])),
])
def test_a_change_in_shape_dtype_or_view_builds_a_new_schedule_with_the_right_answer(change, make, ref):
    expression(Tensor(A)).numpy()
    x = make()
    runtime.reset_stats()
    got = expression(x).numpy()
    assert counts()["schedules_built"] == 1, change
    np.testing.assert_allclose(got, ref(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n, first, second", [(3, 2.5, 3.5), (4, 0.0, -0.0), (5, 1.4e-45, 0.0), (6, -np.inf, np.inf)])
def test_a_changed_constant_builds_a_new_schedule_with_the_right_answer(n, first, second):
    values = np.linspace(-2, 4, n).astype(np.float32)  # n: a shape no other test case uses
    a = Tensor(values)
    (1 / (a * 0 + first)).numpy()
    runtime.reset_stats()
    got = (1 / (a * 0 + second)).numpy()
    assert counts()["schedules_built"] == 1
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(got, 1 / (values * np.float32(0) + np.float32(second)))


def test_memory_read_in_place_of_a_computed_node_builds_a_new_schedule():
    # the same expression, once with its middle computed in the same schedule and once with the
    # middle already in memory (read by the user in between)
    def chain(x, read_middle):
        middle = (x + 1).exp()
        if read_middle:
            middle.numpy()
        return middle * 2 - x

    expected = np.exp(A.astype(np.float64) + 1) * 2 - A
    np.testing.assert_allclose(chain(Tensor(A), False).numpy(), expected, rtol=1e-5)
    runtime.reset_stats()
    np.testing.assert_allclose(chain(Tensor(A), True).numpy(), expected, rtol=1e-5)
    assert counts()["schedules_built"] == 2 and counts()["schedules_reused"] == 0


def test_one_tensor_used_twice_and_two_equal_tensors_are_different_schedules():
    a, b = Tensor(A), Tensor(B)
    np.testing.assert_allclose((a * a + a).numpy(), A * A + A, rtol=1e-6)
    runtime.reset_stats()
    np.testing.assert_allclose((a * b + a).numpy(), A * B + A, rtol=1e-6)
    assert counts()["schedules_built"] == 1
    runtime.reset_stats()
    np.testing.assert_allclose((b * a + b).numpy(), B * A + B, rtol=1e-6)
    assert counts()["schedules_reused"] == 1


def test_a_training_loop_without_jit_reuses_its_schedules_from_the_second_step():
    Tensor.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for step in range(4):
        if step == 2:
            runtime.reset_stats()
        x = Tensor(rng.standard_normal((6, 5)).astype(np.float32))
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    s = counts()
    assert s["schedules_built"] == 0 and s["schedules_reused"] > 0 and s["kernels_compiled"] == 0
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_an_elementwise_kernel_of_another_size_runs_the_same_program():
    # element-for-element kernels take their size as an argument: a new length finds the
    # program in memory (no build, no disk load); a kernel that broadcasts keeps its sizes
    def f(x):
        return (x * 1.75 - 0.5).exp() / (x + 3)

    for n in (13, 29, 64):
        values = np.linspace(-1, 1, n).astype(np.float32)
        runtime.reset_stats()
        got = f(Tensor(values)).numpy()
        s = runtime.stats()
        if n != 13:
            assert s["kernels_compiled"] + s["cache_hits_disk"] == 0 and s["cache_hits_memory"] == 1, n
        v = values.astype(np.float64)
        np.testing.assert_allclose(got, np.exp(v * 1.75 - 0.5) / (v + 3), rtol=1e-5)
    a = Tensor(np.ones((3, 5), np.float32))
    runtime.reset_stats()
    np.testing.assert_allclose((a + Tensor(np.arange(5, dtype=np.float32))).numpy(), 1 + np.arange(5.0)[None].repeat(3, 0))
    s = runtime.stats()
    assert s["cache_hits_memory"] == 0  # a broadcast kernel: its own program


def test_a_kernel_reading_one_element_for_all_shares_its_program_across_sizes():
    # the Adam update reads the learning rate and bias corrections, one element each, beside
    # the parameter's own elements: one program for parameters of every size
    scale = Tensor(np.array([0.25], np.float32))
    for n in (11, 23, 47):
        values = np.linspace(-2, 2, n).astype(np.float32)
        runtime.reset_stats()
        got = (Tensor(values) * scale.expand((n,)) + 1.5).sqrt().numpy()
        s = runtime.stats()
        if n != 11:
            assert s["kernels_compiled"] + s["cache_hits_disk"] == 0 and s["cache_hits_memory"] == 1, n
        np.testing.assert_allclose(got, np.sqrt(values.astype(np.float64) * 0.25 + 1.5), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_kernels_that_differ_only_in_a_constant_run_the_same_program(dtype):
    # typing `s * 2 + 1`, then `s * 3 + 1` at a prompt: the second finds its program in memory
    # (the constants are arguments); each answer is still its own
    s = Tensor(np.linspace(-3, 3, 24).astype(dtype).reshape(4, 6))
    v = s.numpy().astype(np.float64)
    for k, (scale, shift) in enumerate([(2.0, 1.5), (3.0, 1.5), (-0.25, 7.0), (1e-3, -2.5)]):
        runtime.reset_stats()
        got = (s * scale + shift).exp().numpy()
        c = runtime.stats()
        if k:
            assert c["kernels_compiled"] + c["cache_hits_disk"] == 0 and c["cache_hits_memory"] == 1, (scale, shift)
        np.testing.assert_allclose(got, np.exp(v * scale + shift), rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("first, second", [(0.0, -0.0), (0.0, 1.0), (2.0, float("inf")), (2.0, float("nan"))])
def test_structural_constants_stay_in_the_source_and_give_their_own_answer(first, second):
    # 0, -0, 1, -1, inf and nan are folded by the compiler and never shared: -0.0 and 0.0 must
    # not meet in one program (1 / -0.0 is -inf)
    x = Tensor(np.array([1.0, -2.0, 4.0], np.float32))
    with np.errstate(all="ignore"):
        for c in (first, second):
            np.testing.assert_array_equal((1 / (x * c)).numpy(), 1 / (np.array([1.0, -2.0, 4.0], np.float32) * np.float32(c)))


def test_a_reduce_with_another_constant_still_gives_its_own_answer():
    # reduce kernels keep their constants in the source: each is compiled (or cached) apart
    x = Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    for scale in (2.5, 3.5):
        np.testing.assert_allclose((x * scale).sum(axis=1).numpy(), (np.arange(12.0).reshape(3, 4) * scale).sum(1))
