"""Parameter groups and optimizer state dicts, against torch.optim: per-group settings train
as torch's do, state_dict() has torch's layout and torch's values, and a run stopped, saved,
loaded into fresh objects and resumed goes on exactly as the run that never stopped."""
import numpy as np
import pytest
import torch

from tinygradlike import nn, optim
from tinygradlike.tensor import Tensor

RNG = np.random.default_rng(11)
BATCHES = [(RNG.standard_normal((6, 3)).astype(np.float32), RNG.standard_normal((6, 2)).astype(np.float32))
           for _ in range(6)]


def make_model(seed=2):
    Tensor.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def torch_twin(model):
    """torch tensors with the same values as model's parameters (weight, bias, weight, bias)."""
    return [torch.tensor(p.numpy(), requires_grad=True) for p in model.parameters()]


def our_step(model, opt, batch):
    x, y = batch
    loss = (model(Tensor(x)) - Tensor(y)).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step(loss)
    return loss.item()


def torch_step(params, opt, batch):
    x, y = (torch.from_numpy(a) for a in batch)
    h = torch.tanh(x @ params[0].T + params[1]) @ params[2].T + params[3]
    loss = ((h - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def assert_close_to_torch(model, params):
    for ours, theirs in zip(model.parameters(), params):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, defaults, first_group", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"lr": 0.01, "momentum": 0.5, "nesterov": True}),
    ("Adam", {"lr": 0.05}, {"lr": 0.005, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}, {"lr": 0.002, "centered": True, "momentum": 0.5}),
])
def test_parameter_groups_with_their_own_settings_train_as_torchs(name, defaults, first_group):
    model = make_model()
    params = torch_twin(model)
    ours = getattr(optim, name)([{"params": model[0].parameters(), **first_group},
                                 {"params": model[2].parameters()}], **defaults)
    theirs = getattr(torch.optim, name)([{"params": params[:2], **first_group}, {"params": params[2:]}], **defaults)
    for batch in BATCHES[:4]:
        our_step(model, ours, batch)
        torch_step(params, theirs, batch)
    assert_close_to_torch(model, params)
    assert [len(g["params"]) for g in ours.param_groups] == [len(g["params"]) for g in theirs.param_groups]
    for group, torch_group in zip(ours.param_groups, theirs.param_groups):
        for key in ours.defaults:
            assert group[key] == pytest.approx(torch_group[key]), key


def test_a_group_learning_rate_set_through_param_groups_takes_effect_like_torchs():
    model = make_model()
    params = torch_twin(model)
    ours = optim.Adam([{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=0.05)
    theirs = torch.optim.Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.05)
    for step, batch in enumerate(BATCHES[:4]):
        if step == 2:
            ours.param_groups[1]["lr"] = 0.2
            theirs.param_groups[1]["lr"] = 0.2
            ours.param_groups[0].update(betas=[0.5, 0.99])  # a list, as people write it
            theirs.param_groups[0]["betas"] = (0.5, 0.99)
        our_step(model, ours, batch)
        torch_step(params, theirs, batch)
    assert_close_to_torch(model, params)
    with pytest.raises(ValueError, match="different learning rates"):
        ours.lr
    with pytest.raises(ValueError, match="learning rate is a number >= 0"):
        ours.param_groups[0]["lr"] = -1.0


def test_add_param_group_starts_training_the_new_parameters_as_torchs():
    model = make_model()
    params = torch_twin(model)
    ours = optim.SGD(model[0].parameters(), lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(params[:2], lr=0.1, momentum=0.9)
    for step, batch in enumerate(BATCHES[:4]):
        if step == 2:
            ours.add_param_group({"params": model[2].parameters(), "lr": 0.05})
            theirs.add_param_group({"params": params[2:], "lr": 0.05})
        if step < 2:  # the last layer is frozen until it joins
            model[2].weight.grad = model[2].bias.grad = None
        our_step(model, ours, batch)
        torch_step(params, theirs, batch)
        if step < 2:
            for p in params[2:]:
                p.grad = None
            with torch.no_grad():
                for ours_p, p in zip(model[2].parameters(), params[2:]):
                    p.copy_(torch.from_numpy(ours_p.numpy()))
    assert_close_to_torch(model, params)


@pytest.mark.parametrize("name, kwargs, names", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"momentum_buffer": "momentum_buffer"}),
    ("Adam", {"lr": 0.05}, {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True},
     {"square_avg": "square_avg", "grad_avg": "grad_avg", "momentum_buffer": "momentum_buffer"}),
])
def test_state_dict_has_torchs_layout_names_and_values(name, kwargs, names):
    model = make_model()
    params = torch_twin(model)
    ours = getattr(optim, name)(model.parameters(), **kwargs)
    theirs = getattr(torch.optim, name)(params, **kwargs)
    assert ours.state_dict()["state"] == {} and theirs.state_dict()["state"] == {}  # made at the first step
    for batch in BATCHES[:3]:
        our_step(model, ours, batch)
        torch_step(params, theirs, batch)
    mine, torchs = ours.state_dict(), theirs.state_dict()
    assert sorted(mine) == sorted(torchs) == ["param_groups", "state"]
    assert sorted(mine["state"]) == sorted(torchs["state"]) == [0, 1, 2, 3]
    assert [g["params"] for g in mine["param_groups"]] == [g["params"] for g in torchs["param_groups"]]
    for i in range(4):
        if name == "Adam":  # torch's step count is the third entry of ours
            assert mine["state"][i]["bias_corrections"].numpy()[2] == torchs["state"][i]["step"].item() == 3
        for ours_name, torch_name in names.items():
            np.testing.assert_allclose(mine["state"][i][ours_name].numpy(), torchs["state"][i][torch_name].numpy(),
                                       rtol=1e-4, atol=1e-6)
    for key in ours.defaults:
        assert mine["param_groups"][0][key] == pytest.approx(torchs["param_groups"][0][key])


def test_state_dict_tensors_are_snapshots_that_later_steps_leave_alone():
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.05)
    our_step(model, opt, BATCHES[0])
    saved = opt.state_dict()
    before = {i: {k: t.numpy().copy() for k, t in entries.items()} for i, entries in saved["state"].items()}
    our_step(model, opt, BATCHES[1])
    for i, entries in saved["state"].items():
        for k, t in entries.items():
            np.testing.assert_array_equal(t.numpy(), before[i][k])
    assert not np.array_equal(opt.state[0]["exp_avg"].numpy(), before[0]["exp_avg"])  # while the optimizer moved on


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("name, kwargs", [("Adam", {"lr": 0.05, "weight_decay": 0.01}),
                                          ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True})])
def test_a_resumed_run_matches_the_unbroken_one_step_for_step(tmp_path, suffix, name, kwargs):
    # the unbroken run, and torch's, as the oracle that both are right
    model = make_model()
    params = torch_twin(model)
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    ref = getattr(torch.optim, name)(params, **kwargs)
    unbroken = []
    for batch in BATCHES:
        unbroken.append(our_step(model, opt, batch))
        assert unbroken[-1] == pytest.approx(torch_step(params, ref, batch), rel=1e-4)
    final = [p.numpy() for p in model.parameters()]
    # stop after 3 steps, save both, load into fresh objects built the same way, go on
    model = make_model()
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    resumed = [our_step(model, opt, batch) for batch in BATCHES[:3]]
    model.save(tmp_path / f"model{suffix}")
    opt.save(tmp_path / f"opt{suffix}")
    model = make_model(seed=99)  # other weights: the load must bring them back
    opt = getattr(optim, name)(model.parameters(), lr=123.0)  # another rate: the load restores it
    model.load(tmp_path / f"model{suffix}")
    opt.load(tmp_path / f"opt{suffix}")
    resumed += [our_step(model, opt, batch) for batch in BATCHES[3:]]
    assert resumed == unbroken
    for ours, expected in zip(model.parameters(), final):
        np.testing.assert_array_equal(ours.numpy(), expected)


def test_load_state_dict_checks_everything_before_changing_anything():
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.05)
    our_step(model, opt, BATCHES[0])
    good = opt.state_dict()
    before = opt.state[0]["exp_avg"].numpy().copy()
    wrong_shape = {**good, "state": {**good["state"], 3: {**good["state"][3], "exp_avg": np.zeros(5, np.float32)}}}
    wrong_name = {**good, "state": {**good["state"], 1: {"momentum_buffer": np.zeros(4, np.float32)}}}
    wrong_index = {**good, "state": {7: good["state"][0]}}
    two_groups = {**good, "param_groups": good["param_groups"] * 2}
    for bad, message in [(wrong_shape, "shape"), (wrong_name, "no state named 'momentum_buffer'"),
                         (wrong_index, "parameter 7"), (two_groups, "2 parameter groups")]:
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict({**bad, "param_groups": [{**g, "lr": 9.0} for g in bad["param_groups"]]})
        assert opt.lr == 0.05
        np.testing.assert_array_equal(opt.state[0]["exp_avg"].numpy(), before)


def test_parameter_groups_are_checked_when_made():
    a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    with pytest.raises(TypeError, match="not one Tensor"):
        optim.SGD(a)
    with pytest.raises(ValueError, match="in two parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [a, b]}])
    with pytest.raises(ValueError, match="no parameters"):
        optim.SGD([{"params": []}])
    with pytest.raises(TypeError, match="not both"):
        optim.SGD([{"params": [a]}, b])
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([{"params": [a], "nesterov": True}], momentum=0.0)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([a], betas=(0.9, 1.5))
    opt = optim.SGD([{"params": [a], "momentum": 0.5}, {"params": [b]}], lr=0.1)
    with pytest.raises(ValueError, match="different momentum"):
        opt.momentum
    with pytest.raises(ValueError, match="fixed"):
        opt.param_groups[0]["params"] = [b]


def test_zero_grad_set_to_none_false_steps_on_zeros_as_torch():
    model = make_model()
    params = torch_twin(model)
    ours, theirs = optim.Adam(model.parameters(), lr=0.05), torch.optim.Adam(params, lr=0.05)
    our_step(model, ours, BATCHES[0])
    torch_step(params, theirs, BATCHES[0])
    ours.zero_grad(set_to_none=False)
    theirs.zero_grad(set_to_none=False)
    ours.step()
    theirs.step()  # zero gradients still move the weights: the moments carry on
    assert_close_to_torch(model, params)


def test_settings_that_are_not_numbers_are_refused_when_saving(tmp_path):
    opt = optim.SGD([{"params": [Tensor([1.0], requires_grad=True)], "name": "head"}], lr=0.1)
    assert opt.param_groups[0]["name"] == "head"  # kept, as torch keeps extra keys
    with pytest.raises(ValueError, match="'name' = 'head' is not a number"):
        opt.save(tmp_path / "opt.npz")


def test_a_jitted_step_reads_each_groups_learning_rate_from_the_device():
    from tinygradlike.jit import jit

    model = make_model()
    params = torch_twin(model)
    ours = optim.Adam([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.01}], lr=0.05)
    theirs = torch.optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.01}], lr=0.05)

    @jit
    def step(x, y):
        loss = (model(x) - y).square().mean()
        ours.zero_grad()
        loss.backward()
        ours.step(loss)
        return loss

    for k, batch in enumerate(BATCHES):
        if k == 4:  # replays from the third call on: the new rates must reach them
            for group, torch_group, rate in zip(ours.param_groups, theirs.param_groups, (0.002, 0.1)):
                group["lr"] = torch_group["lr"] = rate
        loss = step(Tensor(batch[0]), Tensor(batch[1])).item()
        assert loss == pytest.approx(torch_step(params, theirs, batch), rel=1e-4)
    assert_close_to_torch(model, params)
