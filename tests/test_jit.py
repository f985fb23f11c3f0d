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
