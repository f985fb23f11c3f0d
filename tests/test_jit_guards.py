"""jit's guards: a replay returns what the function would have returned, or jit records again.

Every jitted function here is called at least three times (plain, recording, replay) with new
values each time, and every result is checked against numpy."""
import threading

import numpy as np
import pytest

from tinygradlike import Tensor, nn, reset_stats, runtime, stats
from tinygradlike.jit import jit

rng = np.random.default_rng(1)
XS = [rng.standard_normal((3, 3)).astype(np.float32) for _ in range(5)]


def test_a_returned_transpose_replays_its_values():
    f = jit(lambda t: (t + 1).T)
    for x in XS:
        np.testing.assert_allclose(f(Tensor(x)).numpy(), (x + 1).T, rtol=1e-6)


def test_a_returned_slice_replays_its_values():
    f = jit(lambda t: (t * 2)[:, :2])
    for x in XS:
        np.testing.assert_allclose(f(Tensor(x)).numpy(), (x * 2)[:, :2], rtol=1e-6)


def test_an_input_returned_as_it_is_is_that_input():
    f = jit(lambda t: t)
    for x in XS:
        t = Tensor(x)
        out = f(t)
        assert out is t
        np.testing.assert_array_equal(out.numpy(), x)


def test_a_returned_view_of_an_input_reads_the_new_input():
    f = jit(lambda t: (t.T, t + 1))
    for x in XS:
        view, plus = f(Tensor(x))
        np.testing.assert_array_equal(view.numpy(), x.T)
        np.testing.assert_allclose(plus.numpy(), x + 1, rtol=1e-6)


def test_a_returned_tensor_fed_back_as_the_input_is_read_before_it_is_overwritten():
    f = jit(lambda t: t.T + 1)  # in place, element (i, j) would overwrite what (j, i) reads
    h, expected = Tensor(XS[0]), XS[0]
    for _ in range(5):
        h, expected = f(h), expected.T + 1
        np.testing.assert_allclose(h.numpy(), expected, rtol=1e-6)


def test_a_recording_belongs_to_the_thread_that_records():
    errors, results = [], []

    def other_thread_work():
        try:  # an upload and a launch while the main thread records
            results.append((Tensor(XS[4]) + 1).numpy())
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            errors.append(e)

    @jit
    def f(t: Tensor) -> Tensor:
        worker = threading.Thread(target=other_thread_work)
        worker.start()
        worker.join()
        return t + 1

    for x in XS[:3]:
        np.testing.assert_allclose(f(Tensor(x)).numpy(), x + 1, rtol=1e-6)
    assert not errors
    for result in results:
        np.testing.assert_allclose(result, XS[4] + 1, rtol=1e-6)
    reset_stats()
    f(Tensor(XS[3]))
    assert stats()["kernels_launched"] == 1  # the replay holds f's launch, not the other thread's


def test_a_jit_inside_a_jitted_function_runs_plainly_while_the_outer_one_records():
    inner = jit(lambda t: t * 2)
    outer = jit(lambda t: inner(t + 1) + 1)
    for x in XS[:3]:  # the inner one records and replays on its own first
        np.testing.assert_allclose(inner(Tensor(x)).numpy(), x * 2, rtol=1e-6)
    for x in XS:
        np.testing.assert_allclose(outer(Tensor(x)).numpy(), (x + 1) * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(inner(Tensor(XS[4])).numpy(), XS[4] * 2, rtol=1e-6)


def test_a_number_argument_records_per_value():
    f = jit(lambda t, s: t * s)
    x = Tensor(XS[0])
    for s in [0.5, 0.5, 0.5, 2.0, 2.0, 2.0, 0.5]:
        np.testing.assert_allclose(f(x, s).numpy(), XS[0] * s, rtol=1e-6)
    assert len(f.recordings) == 2


def test_an_argument_that_is_neither_a_tensor_nor_a_number_is_refused():
    f = jit(lambda t, scale: t * scale[0])
    with pytest.raises(TypeError, match="numbers, strings or None"):
        f(Tensor(XS[0]), [2.0])


def test_an_input_of_another_dtype_gets_its_own_recording():
    f = jit(lambda t: t + 1)
    for x in XS[:3] + [x.astype(np.int32) for x in XS[:3]] + XS[3:]:
        out = f(Tensor(x))
        assert out.dtype.np == x.dtype
        np.testing.assert_allclose(out.numpy(), x + 1, rtol=1e-6)
    assert len(f.recordings) == 2


def test_the_same_tensor_passed_twice_gets_its_own_recording():
    f = jit(lambda a, b: a - b)
    x = Tensor(XS[0])
    for _ in range(3):
        np.testing.assert_array_equal(f(x, x).numpy(), np.zeros((3, 3), np.float32))
    for a, b in zip(XS, XS[1:]):
        np.testing.assert_allclose(f(Tensor(a), Tensor(b)).numpy(), a - b, rtol=1e-6)


def a_second_device() -> runtime.Device:
    """Another Device (its own context, queue and memory) on the same OpenCL device as the
    default one: every machine that runs the tests has that one."""
    first = runtime.get_device()
    info = next(d for d in runtime.list_devices() if d["index"] == first.index)
    return runtime.Device({**info, "index": first.index + "-second"}, first.cl_device)


def test_another_device_gets_its_own_recording():
    f = jit(lambda t: t + 1)
    first, second = runtime.get_device(), a_second_device()
    try:
        for device in [first, second, first]:
            runtime.set_device(device)
            for x in XS[:3]:
                np.testing.assert_allclose(f(Tensor(x)).numpy(), x + 1, rtol=1e-6)
    finally:
        runtime.set_device(first)
    assert len(f.recordings) == 2


def test_view_and_lazy_inputs_are_computed_into_memory_first():
    f = jit(lambda t: t + 1)
    for x in XS:
        np.testing.assert_allclose(f(Tensor(x).T).numpy(), x.T + 1, rtol=1e-6)
        np.testing.assert_allclose(f(Tensor(x) * 2).numpy(), x * 2 + 1, rtol=1e-6)


class Scaled(nn.Module):
    """y = x @ w * scale, with the weight a parameter and the scale a tensor built at init."""

    def __init__(self, w: np.ndarray, scale: Tensor):
        self.w = Tensor(w, requires_grad=True)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return (x @ self.w) * self.scale


def numpy_step(w: np.ndarray, scale: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """loss = mean((x @ w * scale)^2) and w after one SGD step of 0.1, by hand."""
    y = x @ w * scale
    grad = x.T @ (2 * y * scale / y.size)
    return float((y ** 2).mean()), w - 0.1 * grad


def make_jitted_step(model: Scaled):
    @jit
    def step(x: Tensor) -> Tensor:
        loss = (model(x) ** 2).mean()
        model.w.grad = None
        loss.backward()
        new = (model.w - 0.1 * model.w.grad).detach()
        Tensor.realize(loss, new)
        model.w.assign(new)
        return loss

    return step


@pytest.mark.parametrize("scale", ["memory", "computed", "lazy"])
def test_a_jitted_step_after_load_state_dict_uses_the_loaded_values(scale):
    s0, s1 = np.float32([1.5, -1.0, 2.0]), np.float32([0.5, 1.0, -2.0])
    made = {"memory": lambda: Tensor(s0),  # written in place by load_state_dict
            "computed": lambda: (Tensor(s0 / 3) * 3).realize(),  # given new memory
            "lazy": lambda: Tensor(s0 / 3) * 3}[scale]()  # given a new graph
    w = XS[0].copy()
    model = Scaled(w, made)
    step = make_jitted_step(model)
    for x in XS[1:4]:
        loss, w = numpy_step(w, s0, x)
        np.testing.assert_allclose(step(Tensor(x)).item(), loss, rtol=1e-5)
    w = XS[4].copy()
    model.load_state_dict({"w": w, "scale": s1})
    for x in XS[1:4]:
        loss, w = numpy_step(w, s1, x)
        np.testing.assert_allclose(step(Tensor(x)).item(), loss, rtol=1e-5)
    np.testing.assert_allclose(model.w.numpy(), w, rtol=1e-5, atol=1e-6)
