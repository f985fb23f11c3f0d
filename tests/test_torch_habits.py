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
