"""Optimizers against torch.optim on the same parameters and gradients, and the promises of
step(): one schedule, fresh leaves, nothing compiled when the learning rate changes."""
import numpy as np
import pytest
import torch

import tinygradlike.realize
from tinygradlike import nn, optim, runtime
from tinygradlike.graph import Op
from tinygradlike.jit import jit
from tinygradlike.tensor import Tensor

SHAPES = [(4, 3), (3,)]
CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(k)}" for n, k in CASES])
def test_optimizer_matches_torch_for_five_steps(name, kwargs):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours = [Tensor(a, requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt, ref = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(5):
        for p, t in zip(ours, theirs):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, t.grad = Tensor(g), torch.from_numpy(g)
        opt.step()
        ref.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


def make_problem():
    Tensor.manual_seed(0)
    model = nn.Linear(3, 2)
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32))
    return model, x


def test_step_realizes_updates_state_and_grads_in_one_schedule(monkeypatch):
    model, x = make_problem()
    opt = optim.Adam(model.parameters(), lr=0.01)
    loss = model(x).square().mean()
    loss.backward()
    schedules = []  # the kernel lists of every realize that had something to compute
    real = tinygradlike.realize.group_kernels

    def counting(nodes):
        groups = real(nodes)
        if groups:
            schedules.append(groups)
        return groups
    monkeypatch.setattr(tinygradlike.realize, "group_kernels", counting)
    opt.step(loss)
    assert len(schedules) == 1
    assert not loss.lazy
    for i, p in enumerate(model.parameters()):
        assert not p.lazy and not p.grad.lazy and not opt.state[i]["exp_avg"].lazy and not opt.state[i]["exp_avg_sq"].lazy


def test_step_updates_parameters_in_place_as_fresh_leaves():
    model, x = make_problem()
    weight = model.weight
    memory = weight.node.buffer
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        before = weight.numpy()
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
        assert not np.array_equal(weight.numpy(), before)
    assert model.weight is weight  # the same Tensor object: the model sees the update
    assert weight.node.buffer is memory  # the same memory: a jit replay sees it too
    assert weight.node.op is Op.BUFFER and weight.node.srcs == () and weight.requires_grad
    assert opt.state[0]["momentum_buffer"].node.srcs == ()  # the momentum holds no history either


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_an_eager_step_copies_no_bytes_and_a_loss_read_after_it_keeps_its_old_value(name):
    model, x = make_problem()
    memory = [p.node.buffer for p in model.parameters()]
    opt = getattr(optim, name)(model.parameters(), lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    for _ in range(3):
        weights = [p.numpy().astype(np.float64) for p in model.parameters()]
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        runtime.reset_stats()
        opt.step()
        assert runtime.stats()["bytes_copied_on_device"] == 0
        w, b = (torch.from_numpy(a) for a in weights)  # the loss of the weights before the step
        expected = ((torch.from_numpy(x.numpy().astype(np.float64)) @ w.T + b) ** 2).mean().item()
        assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert [p.node.buffer for p in model.parameters()] == memory  # the same memory objects


@pytest.mark.parametrize("name,kwargs", [("Adam", {"lr": 0.01}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
                                         ("RMSprop", {"lr": 0.001, "centered": True})])
def test_a_jit_replayed_step_trains_exactly_like_the_plain_step(name, kwargs):
    """Replays run no Python: the state (Adam's bias corrections too) must advance on the device."""
    rng = np.random.default_rng(2)
    batches = [Tensor(rng.standard_normal((4, 3)).astype(np.float32)) for _ in range(6)]
    results = []
    for use_jit in (False, True):
        model, _ = make_problem()
        opt = getattr(optim, name)(model.parameters(), **kwargs)

        def step(x):
            loss = model(x).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step(loss)
            return loss
        run = jit(step) if use_jit else step
        losses = [run(x).item() for x in batches]
        results.append((losses, model.weight.numpy()))
    (plain, w_plain), (jitted, w_jitted) = results
    np.testing.assert_allclose(jitted, plain, rtol=1e-6)
    np.testing.assert_allclose(w_jitted, w_plain, rtol=1e-6)


def test_sgd_step_moves_against_the_gradient():
    p = Tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    (p * p).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(p.grad.numpy(), [2.0, -4.0])  # the grad it used, realized


def test_changing_the_learning_rate_compiles_nothing():
    model, x = make_problem()
    opt = optim.Adam(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    step()
    runtime.reset_stats()
    for lr in (0.005, 0.001):
        opt.lr = lr
        step()
    assert runtime.stats()["kernels_compiled"] == 0 and runtime.stats()["cache_hits_disk"] == 0


def test_zero_grad_forgets_gradients():
    model, x = make_problem()
    opt = optim.SGD(model.parameters())
    model(x).sum().backward()
    assert model.weight.grad is not None
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    opt.step()  # no gradients: nothing to do, nothing breaks


def test_optimizer_rejects_tensors_without_gradients():
    with pytest.raises(ValueError, match="requires_grad=True"):
        optim.SGD([Tensor(np.ones(3, np.float32))])
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
