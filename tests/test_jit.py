"""jit replays recorded kernels: same results as running the function, nothing rebuilt."""
import numpy as np
import pytest
import torch

from tinygradlike import Tensor, reset_stats, stats
from tinygradlike.jit import jit

rng = np.random.default_rng(0)
W_NP = rng.standard_normal((6, 3)).astype(np.float32)
BATCHES = [rng.standard_normal((4, 6)).astype(np.float32) for _ in range(5)]


def make_step():
    w = Tensor(W_NP.copy(), requires_grad=True)

    def step(x: Tensor) -> Tensor:
        loss = ((x @ w).tanh() ** 2).mean()
        w.grad = None
        loss.backward()
        new = (w - 0.5 * w.grad).detach()
        Tensor.realize(loss, new)
        w.assign(new)
        return loss

    return w, step


def torch_losses(steps):
    w = torch.tensor(W_NP.copy(), requires_grad=True)
    out = []
    for i in range(steps):
        loss = ((torch.tensor(BATCHES[i % 5]) @ w).tanh() ** 2).mean()
        w.grad = None
        loss.backward()
        with torch.no_grad():
            w -= 0.5 * w.grad
        out.append(loss.item())
    return out, w.detach().numpy()


def test_replayed_training_steps_match_torch():
    w, step = make_step()
    jitted = jit(step)
    losses = [jitted(Tensor(BATCHES[i % 5])).item() for i in range(12)]
    expected, w_expected = torch_losses(12)
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), w_expected, rtol=1e-5, atol=1e-6)


def test_replay_builds_and_compiles_nothing():
    w, step = make_step()
    jitted = jit(step)
    for i in range(3):
        jitted(Tensor(BATCHES[i]))
    reset_stats()
    jitted(Tensor(BATCHES[3])).item()
    s = stats()
    assert s["kernels_compiled"] == 0 and s["kernels_launched"] > 0
    assert s["cache_hits_memory"] == 0  # no compile lookups at all: nothing was rendered


def test_a_new_input_shape_gets_its_own_recording():
    w, step = make_step()
    jitted = jit(step)
    small = rng.standard_normal((2, 6)).astype(np.float32)
    for x in [BATCHES[0], BATCHES[1], small, small, BATCHES[2], small]:
        jitted(Tensor(x))
    assert len(jitted.recordings) == 2


def test_host_data_made_inside_is_refused():
    w, _ = make_step()

    @jit
    def bad(x: Tensor) -> Tensor:
        return (x * Tensor(np.ones(6, np.float32))).sum()

    bad(Tensor(BATCHES[0]))
    with pytest.raises(RuntimeError, match="pass them in as arguments"):
        bad(Tensor(BATCHES[1]))


def test_assign_writes_in_place_and_checks_shapes():
    t = Tensor(np.zeros(3, np.float32), requires_grad=True)
    buffer = t.node.buffer
    t.assign(Tensor([1.0, 2.0, 3.0]) * 2)
    assert t.node.buffer is buffer and t.requires_grad
    np.testing.assert_array_equal(t.numpy(), [2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match="shape"):
        t.assign(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="memory"):
        (t * 2).assign(t)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_replayed_optimizer_step_moves_no_bytes_and_matches_torch(name):
    # the update computes new values into scratch memory; a replay trades storage with the
    # parameters and their state instead of copying, and drops the copies of old values
    from tinygradlike import nn, optim

    settings = {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {"lr": 0.05}
    layer = nn.Linear(6, 3)
    weights = [p.numpy() for p in layer.parameters()]
    opt = getattr(optim, name)(layer.parameters(), **settings)

    @jit
    def step(x: Tensor) -> Tensor:
        loss = layer(x).tanh().square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step(loss)
        return loss

    reference = torch.nn.Linear(6, 3)
    with torch.no_grad():
        for p, w in zip(reference.parameters(), weights):
            p.copy_(torch.from_numpy(w))
    torch_opt = getattr(torch.optim, name)(reference.parameters(), **settings)
    for i in range(8):
        if i == 3:
            reset_stats()  # calls 1 and 2 run and record; from here on, replays
        loss = step(Tensor(BATCHES[i % 5])).item()
        torch_loss = reference(torch.from_numpy(BATCHES[i % 5])).tanh().square().mean()
        torch_opt.zero_grad()
        torch_loss.backward()
        torch_opt.step()
        assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    assert stats()["bytes_copied_on_device"] == 0
    for p, q in zip(layer.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_copy_whose_source_is_read_afterwards_is_replayed_as_a_copy():
    w = Tensor(np.array([1.0, 2.0], np.float32))

    @jit
    def double(bump: Tensor) -> tuple[Tensor, Tensor]:
        new = (w * 2).realize()
        w.assign(new)
        return new + bump, new  # both read the new values after the copy into w

    for i in range(5):
        shifted, new = double(Tensor([10.0, 20.0]))
        expected = np.array([1.0, 2.0]) * 2.0 ** (i + 1)
        np.testing.assert_array_equal(w.numpy(), expected)
        np.testing.assert_array_equal(new.numpy(), expected)
        np.testing.assert_array_equal(shifted.numpy(), expected + [10.0, 20.0])


def test_a_replay_tells_when_each_result_is_enqueued_before_the_rest_is():
    from tinygradlike import runtime

    w = Tensor(W_NP)

    @jit
    def two(x: Tensor) -> tuple[Tensor, Tensor]:
        first = (x * 3).realize()  # its own kernel, enqueued before the matmul's
        return first, x @ w

    seen = []

    def ready(i, buffer):
        seen.append((i, buffer, runtime.stats()["kernels_launched"]))

    for _ in range(3):
        before = runtime.stats()["kernels_launched"]
        first, second = two.call_notifying(ready, Tensor(BATCHES[0]))
    assert [i for i, _, _ in seen] == [0, 1]  # once each, in the order they were computed, on the replay only
    assert seen[0][1] is first.node.buffer and seen[1][1] is second.node.buffer
    assert seen[0][2] < seen[1][2] == runtime.stats()["kernels_launched"] and seen[0][2] > before
    np.testing.assert_allclose(second.numpy(), BATCHES[0] @ W_NP, rtol=1e-5)
    np.testing.assert_array_equal(first.numpy(), BATCHES[0] * 3)


# ------------------------------------------- a first call whose result is never read (a lazy one)
# (x @ w).relu().sum() over 1024 x 32 elements: the sum is split over several work-groups, a
# reduction that needs scratch memory (partials and counters) made at its kernel's first launch.
W_WIDE = rng.standard_normal((64, 32)).astype(np.float32)
WIDE_BATCHES = [rng.standard_normal((1024, 64)).astype(np.float32) for _ in range(4)]


def uses_scratch(t: Tensor) -> bool:
    """Whether realizing t launches a kernel with scratch memory (rendered, not compiled)."""
    from tinygradlike import runtime
    from tinygradlike.codegen import render_group
    from tinygradlike.realize import plan

    groups, is_load = plan([t.node])
    return any(render_group(g, is_load, runtime.get_device()).scratch for g in groups)


def relu_sum_step():
    w = Tensor(W_WIDE)

    def step(x: Tensor) -> Tensor:
        return (x @ w).relu().sum()

    assert uses_scratch(step(Tensor(WIDE_BATCHES[0])))  # else the tests below test no scratch
    return step


def test_a_reduction_with_scratch_replays_when_the_first_result_is_never_read():
    f = jit(relu_sum_step())
    f(Tensor(WIDE_BATCHES[0]))  # not read: it stays lazy unless jit computes it
    for x in WIDE_BATCHES[1:]:  # recording, then replays, each with new values
        np.testing.assert_allclose(f(Tensor(x)).numpy(), np.maximum(x @ W_WIDE, 0).sum(), rtol=1e-4)
    assert len(f.recordings) == 1


def test_a_reduction_with_scratch_replays_when_every_result_is_read():
    f = jit(relu_sum_step())
    for x in WIDE_BATCHES:
        np.testing.assert_allclose(f(Tensor(x)).numpy(), np.maximum(x @ W_WIDE, 0).sum(), rtol=1e-4)
    assert len(f.recordings) == 1


def test_a_matmul_replays_new_values_when_the_first_result_is_never_read():
    w = Tensor(W_WIDE)
    f = jit(lambda x: x @ w)
    f(Tensor(WIDE_BATCHES[0]))
    for x in WIDE_BATCHES[1:]:
        np.testing.assert_allclose(f(Tensor(x)).numpy(), x @ W_WIDE, rtol=1e-4, atol=1e-4)
    assert len(f.recordings) == 1


def test_the_first_call_computes_its_result_even_when_it_is_never_read():
    f = jit(lambda x: (x * 3).sum())
    out = f(Tensor(BATCHES[0]))
    assert not out.lazy  # so the recording call meets only kernels this call launched
    np.testing.assert_allclose(out.numpy(), (BATCHES[0] * 3).sum(), rtol=1e-5)


def test_a_reduction_first_launched_while_recording_needs_no_host_data():
    from tinygradlike import runtime

    x_np = rng.standard_normal(37_001).astype(np.float32)  # a length no other test reduces
    total = Tensor(x_np).sum()
    assert uses_scratch(total)
    with runtime.capture() as commands:
        total.realize()  # compiles, launches, and makes its scratch memory: no upload
    assert len(commands) == 1
    np.testing.assert_allclose(total.numpy(), x_np.astype(np.float64).sum(), rtol=1e-4)


def test_zeroed_device_memory_may_be_made_while_recording_and_is_zero_in_reused_memory():
    from tinygradlike import runtime

    dirty = runtime.Buffer.from_numpy(np.full(777, 5, np.int32))
    del dirty  # its memory goes to the pool, where the next Buffer of its size takes it
    hits = runtime.pool_stats()["hits"]
    with runtime.capture() as commands:
        zeros = runtime.Buffer.zeros(777 * 4)
    assert runtime.pool_stats()["hits"] == hits + 1
    assert commands == []  # made once, not replayed
    np.testing.assert_array_equal(zeros.to_numpy(np.int32, (777,)), np.zeros(777, np.int32))


def test_argmax_inside_a_jitted_step_uploads_nothing_on_replay():
    # argmax used to upload its countdown (n..1) on every call: a recording refused it
    from tinygradlike import jit as jit_decorator

    @jit_decorator
    def predict(x):
        return x.argmax(1)

    rng = np.random.default_rng(5)
    for _ in range(4):
        data = rng.standard_normal((6, 5)).astype(np.float32)
        np.testing.assert_array_equal(predict(Tensor(data)).numpy(), data.argmax(1))
