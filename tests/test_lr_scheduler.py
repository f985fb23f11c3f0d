"""Learning-rate schedules: every schedule's rates against torch.optim.lr_scheduler's over 30
steps with two parameter groups, resuming from a state dict, and a jit-replayed training step
that follows the schedule (the rate is a device buffer, so a replay sees each new one)."""
import numpy as np
import pytest
import torch

from tinygradlike import lr_scheduler, optim, runtime
from tinygradlike.jit import jit
from tinygradlike.lr_scheduler import (CosineAnnealingLR, LambdaLR, LinearLR, OneCycleLR, SequentialLR,
                                       StepLR)
from tinygradlike.tensor import Tensor

STEPS = 30
# torch warns that its schedules step here without an optimizer step: the rates are what is compared
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
LRS = (0.1, 0.03)  # two groups with their own rates


def two_groups(lib):
    if lib is torch:
        a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
        return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": LRS[1]}], lr=LRS[0], momentum=0.9)
    a, b = Tensor.zeros(2, requires_grad=True), Tensor.zeros(3, requires_grad=True)
    return optim.SGD([{"params": [a]}, {"params": [b], "lr": LRS[1]}], lr=LRS[0], momentum=0.9)


def rates(schedule, steps=STEPS):
    """The rates of both groups before each step: what each optimizer step would use."""
    seen = []
    for _ in range(steps):
        seen.append([g["lr"] for g in schedule.optimizer.param_groups])
        schedule.step()
    return seen


def halve_every_7(epoch):
    return 0.5 ** (epoch // 7)


SCHEDULES = {
    "step": lambda m, opt: m.StepLR(opt, step_size=7, gamma=0.5),
    "cosine": lambda m, opt: m.CosineAnnealingLR(opt, T_max=12, eta_min=0.001),  # past T_max: rises again
    "linear_warmup": lambda m, opt: m.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=10),
    "linear_decay": lambda m, opt: m.LinearLR(opt, start_factor=1.0, end_factor=0.2, total_iters=20),
    "lambda": lambda m, opt: m.LambdaLR(opt, [halve_every_7, lambda e: 1 / (1 + e)]),
    "one_cycle_cos": lambda m, opt: m.OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=STEPS, cycle_momentum=False),
    "one_cycle_linear_three_phase": lambda m, opt: m.OneCycleLR(
        opt, max_lr=0.4, epochs=4, steps_per_epoch=8, anneal_strategy="linear", three_phase=True,
        cycle_momentum=False),
    "warmup_then_cosine": lambda m, opt: m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.01, total_iters=5), m.CosineAnnealingLR(opt, T_max=25)], milestones=[5]),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_rates_match_torch_over_30_steps_with_two_groups(name):
    ours = rates(SCHEDULES[name](lr_scheduler, two_groups(None)))
    theirs = rates(SCHEDULES[name](torch.optim.lr_scheduler, two_groups(torch)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", SCHEDULES)
def test_get_last_lr_is_what_the_groups_hold_as_torch_says(name):
    ours = SCHEDULES[name](lr_scheduler, two_groups(None))
    theirs = SCHEDULES[name](torch.optim.lr_scheduler, two_groups(torch))
    for _ in range(5):
        ours.step()
        theirs.step()
    np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, atol=0)


def test_the_device_buffer_holds_the_scheduled_rate():
    opt = two_groups(None)
    schedule = StepLR(opt, step_size=1, gamma=0.5)
    schedule.step()
    assert [g.lr_tensor.item() for g in opt.param_groups] == [np.float32(LRS[0] / 2), np.float32(LRS[1] / 2)]


def test_one_cycle_cycles_momentum_as_torch_when_asked():
    opt, torch_opt = two_groups(None), two_groups(torch)
    ours = OneCycleLR(opt, max_lr=1.0, total_steps=20, cycle_momentum=True)
    theirs = torch.optim.lr_scheduler.OneCycleLR(torch_opt, max_lr=1.0, total_steps=20)
    for _ in range(19):
        assert [g["momentum"] for g in opt.param_groups] == pytest.approx([g["momentum"] for g in torch_opt.param_groups],
                                                                          rel=1e-12)
        ours.step()
        theirs.step()


def test_one_cycle_cycles_adams_beta1_and_keeps_beta2():
    a = Tensor.zeros(2, requires_grad=True)
    opt = optim.Adam([a], betas=(0.9, 0.98))
    ta = torch.zeros(2, requires_grad=True)
    torch_opt = torch.optim.Adam([ta], betas=(0.9, 0.98))
    ours, theirs = (OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=True),
                    torch.optim.lr_scheduler.OneCycleLR(torch_opt, max_lr=0.1, total_steps=10))
    for _ in range(4):
        ours.step()
        theirs.step()
    assert opt.param_groups[0]["betas"] == pytest.approx(torch_opt.param_groups[0]["betas"], rel=1e-12)


def test_stepping_one_cycle_past_its_total_steps_is_an_error():
    schedule = OneCycleLR(two_groups(None), max_lr=1.0, total_steps=3)
    schedule.step()
    schedule.step()
    schedule.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        schedule.step()


@pytest.mark.parametrize("make", [lambda m, o: m.StepLR(o, 4, 0.5), lambda m, o: m.CosineAnnealingLR(o, 10),
                                  lambda m, o: m.LinearLR(o, 0.2, total_iters=8)], ids=["step", "cosine", "linear"])
def test_step_with_an_epoch_jumps_by_torchs_closed_form(make):
    ours, theirs = make(lr_scheduler, two_groups(None)), make(torch.optim.lr_scheduler, two_groups(torch))
    ours.step(6)
    with pytest.warns(UserWarning):  # torch deprecates the argument; it still computes the same rates
        theirs.step(6)
    np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, atol=0)


def test_a_schedule_resumed_from_its_state_dict_continues_the_unbroken_sequence():
    def fresh():
        opt = two_groups(None)
        return SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=4), CosineAnnealingLR(opt, T_max=16)], milestones=[4])

    unbroken = rates(fresh(), 20)
    first = fresh()
    head = rates(first, 9)
    opt_state, schedule_state = first.optimizer.state_dict(), first.state_dict()
    resumed = fresh()
    resumed.optimizer.load_state_dict(opt_state)
    resumed.load_state_dict(schedule_state)
    assert head + rates(resumed, 11) == unbroken


def test_lambda_state_dict_keeps_a_callable_objects_attributes_and_not_a_functions():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    opt = two_groups(None)
    saved = LambdaLR(opt, [Decay(0.5), halve_every_7]).state_dict()["lr_lambdas"]
    assert saved == [{"rate": 0.5}, None]
    restored = LambdaLR(two_groups(None), [Decay(0.9), halve_every_7])
    restored.load_state_dict({"lr_lambdas": saved, "last_epoch": 0})
    assert restored.lr_lambdas[0].rate == 0.5


def test_a_schedule_refuses_what_is_not_one_of_our_optimizers():
    with pytest.raises(TypeError, match="tinygradlike optimizer"):
        StepLR(two_groups(torch), step_size=1)


def test_sequential_refuses_schedules_of_another_optimizer():
    opt, other = two_groups(None), two_groups(None)
    with pytest.raises(ValueError, match="same one"):
        SequentialLR(opt, [StepLR(opt, 1), StepLR(other, 1)], milestones=[2])


def test_a_jit_replayed_step_follows_the_schedule_as_torch_trains():
    """Six SGD steps under jit (recorded at the second, replayed from the third) with a cosine
    schedule land on torch's weights; from the second step on nothing compiles."""
    rng = np.random.default_rng(0)
    w0, xs = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal((6, 4, 3)).astype(np.float32)
    w = Tensor(w0.copy(), requires_grad=True)
    opt = optim.SGD([w], lr=0.5, momentum=0.5)
    schedule = CosineAnnealingLR(opt, T_max=5)
    traced = []

    @jit
    def step(x):
        traced.append(x)  # runs only when the function runs: not on a replay
        loss = (x @ w).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step(loss)
        return loss

    tw = torch.tensor(w0.copy(), requires_grad=True)
    torch_opt = torch.optim.SGD([tw], lr=0.5, momentum=0.5)
    torch_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max=5)
    for i, x in enumerate(xs):
        if i == 1:
            compiled = runtime.stats()["kernels_compiled"]
        step(Tensor(x))
        schedule.step()
        loss = (torch.from_numpy(x) @ tw).square().mean()
        torch_opt.zero_grad()
        loss.backward()
        torch_opt.step()
        torch_schedule.step()
    assert len(traced) == 2  # steps 3-6 were replays
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert runtime.stats()["kernels_compiled"] == compiled
