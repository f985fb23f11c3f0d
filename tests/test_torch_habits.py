"""PyTorch habits that mean the same here: `dim=` where `axis=` is taken, named_parameters.
Each checked against torch; where torch's meaning differs (max(dim=) returns indices too),
the habit is refused with a message that says what to write."""
import numpy as np
import pytest
import torch

from tinygradlike import Tensor, nn

X = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)


@pytest.mark.parametrize("name, torch_call", [
    ("sum", lambda t, d: t.sum(dim=d)),
    ("mean", lambda t, d: t.mean(dim=d)),
    ("var", lambda t, d: t.var(dim=d)),
    ("std", lambda t, d: t.std(dim=d)),
    ("logsumexp", lambda t, d: t.logsumexp(dim=d)),
    ("softmax", lambda t, d: t.softmax(dim=d)),
    ("log_softmax", lambda t, d: t.log_softmax(dim=d)),
    ("argmax", lambda t, d: t.argmax(dim=d)),
    ("argmin", lambda t, d: t.argmin(dim=d)),
])
@pytest.mark.parametrize("d", [0, 1, -1])
def test_dim_means_axis_as_in_torch(name, torch_call, d):
    ours = getattr(Tensor(X), name)(dim=d).numpy()
    np.testing.assert_allclose(ours, torch_call(torch.from_numpy(X), d).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours, getattr(Tensor(X), name)(axis=d).numpy())


def test_dim_with_keepdim_and_a_tuple_of_dims():
    np.testing.assert_allclose(Tensor(X).sum(dim=(0, 1), keepdim=True).numpy(),
                               torch.from_numpy(X).sum(dim=(0, 1), keepdim=True).numpy(), rtol=1e-5)


def test_dim_and_axis_together_are_refused():
    with pytest.raises(TypeError, match="both an axis and dim"):
        Tensor(X).sum(1, dim=1)
    with pytest.raises(TypeError, match="both an axis and dim"):
        Tensor(X).mean(axis=0, dim=0)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_refuse_dim_because_torch_returns_indices_too(name):
    with pytest.raises(TypeError, match=rf"x\.{name}\(axis=1\) and x\.arg{name}\(axis=1\)"):
        getattr(Tensor(X), name)(dim=1)
    np.testing.assert_array_equal(getattr(Tensor(X), name)(axis=1).numpy(), getattr(X, name)(axis=1))


def test_named_parameters_have_torchs_names_and_order():
    ours = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    theirs = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [id(p) for _, p in ours.named_parameters()] == [id(p) for p in ours.parameters()]


def test_datasets_state_and_grad_mode_are_reachable_from_the_package():
    import subprocess
    import sys

    code = ("import tinygradlike as tg; d = tg.datasets.load_digits(); "
            "print(type(tg.state.save_state).__name__, tg.no_grad.__name__, d.classes)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["function", "no_grad", "10"]


def test_clamp_takes_torchs_min_and_max_keywords():
    x = np.array([-2.0, 0.5, 3.0], np.float32)
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(Tensor(x).clamp(min=0).numpy(), t.clamp(min=0).numpy())
    np.testing.assert_array_equal(Tensor(x).clamp(max=1).numpy(), t.clamp(max=1).numpy())
    np.testing.assert_array_equal(Tensor(x).clip(min=-1, max=1).numpy(), t.clip(min=-1, max=1).numpy())
    with pytest.raises(TypeError, match="twice"):
        Tensor(x).clip(0, min=0)


def test_leaky_relu_takes_torchs_negative_slope():
    x = np.array([-2.0, 3.0], np.float32)
    np.testing.assert_array_equal(Tensor(x).leaky_relu(negative_slope=0.25).numpy(),
                                  torch.nn.functional.leaky_relu(torch.from_numpy(x), negative_slope=0.25).numpy())


def test_comparing_with_none_says_whether_it_is_missing_as_torch():
    assert (Tensor([1.0]) == None) is (torch.tensor([1.0]) == None) is False  # noqa: E711
    assert (Tensor([1.0]) != None) is (torch.tensor([1.0]) != None) is True  # noqa: E711


def test_sign_of_bools_is_the_bools_as_torch():
    np.testing.assert_array_equal(Tensor([True, False]).sign().numpy(), torch.tensor([True, False]).sign().numpy())


def test_cat_and_stack_take_a_list_as_torch():
    a, b = np.ones((2, 3), np.float32), np.zeros((1, 3), np.float32)
    np.testing.assert_array_equal(Tensor.cat([Tensor(a), Tensor(b)]).numpy(), torch.cat([torch.from_numpy(a), torch.from_numpy(b)]).numpy())
    np.testing.assert_array_equal(Tensor.stack([Tensor(a), Tensor(a)], dim=1).numpy(),
                                  torch.stack([torch.from_numpy(a), torch.from_numpy(a)], dim=1).numpy())


@pytest.mark.parametrize("bad, torch_bad, message", [
    (lambda: Tensor(1.0).cat(Tensor(2.0)), lambda: torch.cat([torch.tensor(1.0), torch.tensor(2.0)]), "0-d"),
    (lambda: Tensor.zeros(2, 3).flatten(1, 0), lambda: torch.zeros(2, 3).flatten(1, 0), "start comes after the end"),
    (lambda: Tensor([1.0]).expand(-1, 2), lambda: torch.tensor([1.0]).expand(-1, 2), "new leading dimensions"),
    (lambda: Tensor([[1.0]]).repeat(2), lambda: torch.tensor([[1.0]]).repeat(2), "a count for each of the 2"),
    (lambda: Tensor.full((2,), 2**40), lambda: torch.full((2,), 2**40, dtype=torch.int32), "does not fit in int32"),
    (lambda: Tensor.full((2,), 3e9, "int32"), lambda: torch.full((2,), 3e9, dtype=torch.int32), "does not fit in int32"),
])
def test_what_torch_refuses_is_refused_with_a_message_that_says_why(bad, torch_bad, message):
    with pytest.raises(RuntimeError):
        torch_bad()
    with pytest.raises(ValueError, match=message):
        bad()


@pytest.mark.parametrize("value", [255, -1, -128, 0])
def test_full_of_uint8_takes_what_torch_takes(value):
    np.testing.assert_array_equal(Tensor.full((2,), value, "uint8").numpy(),
                                  torch.full((2,), value, dtype=torch.uint8).numpy())


@pytest.mark.parametrize("value", [300, 256, 2**40])
def test_full_of_uint8_refuses_what_torch_refuses(value):
    with pytest.raises(RuntimeError):
        torch.full((2,), value, dtype=torch.uint8)
    with pytest.raises(ValueError, match="does not fit in uint8"):
        Tensor.full((2,), value, "uint8")
