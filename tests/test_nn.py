"""nn layers and losses against torch (forward, and backward where the layer is composed in a
non-obvious way), plus the Module bookkeeping: parameters, buffers, state dicts, modes.

Shapes are few and small: each distinct shape is an OpenCL compile."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinygradlike import nn, optim
from tinygradlike.jit import jit
from tinygradlike.tensor import Tensor

RTOL, ATOL = 1e-5, 1e-5


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def close(ours, theirs, rtol=RTOL, atol=ATOL):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours.numpy() if isinstance(ours, Tensor) else ours, theirs, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------ layers

def test_linear_matches_torch_in_forward_and_backward():
    layer = nn.Linear(6, 4)
    ref = torch.nn.Linear(6, 4)
    ref.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in layer.state_dict().items()})
    x = rand(3, 6)
    out, ref_out = layer(Tensor(x)), ref(torch.from_numpy(x))
    close(out, ref_out)
    out.square().sum().backward()
    ref_out.square().sum().backward()
    close(layer.weight.grad, ref.weight.grad)
    close(layer.bias.grad, ref.bias.grad)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (2, 0)])
def test_conv2d_matches_torch_with_stride_and_padding(stride, padding):
    x, w, b = rand(2, 3, 7, 7), rand(4, 3, 3, 3, seed=1), rand(4, seed=2)
    out = nn.conv2d(Tensor(x), Tensor(w), Tensor(b), stride=stride, padding=padding)
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding)
    assert out.shape == tuple(ref.shape)
    close(out, ref, rtol=1e-4, atol=1e-5)


def test_conv2d_gradients_match_torch():
    """im2col is built from movement ops, so its gradient comes from their rules: check it."""
    x, w = rand(2, 3, 7, 7), rand(4, 3, 3, 3, seed=1)
    tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    rx, rw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    weights = rand(2, 4, 4, 4, seed=3)  # a non-uniform upstream gradient
    (nn.conv2d(tx, tw, stride=2, padding=1) * Tensor(weights)).sum().backward()
    (F.conv2d(rx, rw, stride=2, padding=1) * torch.from_numpy(weights)).sum().backward()
    close(tw.grad, rw.grad, rtol=1e-4, atol=1e-4)
    close(tx.grad, rx.grad, rtol=1e-4, atol=1e-4)


def test_conv2d_module_has_torch_layout_and_init_bounds():
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    assert conv.weight.shape == (4, 3, 3, 3) and conv.bias.shape == (4,)
    assert np.abs(conv.weight.numpy()).max() <= 1 / np.sqrt(27)
    assert conv(Tensor(rand(2, 3, 7, 7))).shape == (2, 4, 4, 4)


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2)])
def test_max_pool2d_matches_torch(kernel, stride):
    x = rand(2, 3, 7, 7)
    tx, rx = Tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    out, ref = nn.MaxPool2d(kernel, stride)(tx), F.max_pool2d(rx, kernel, stride)
    close(out, ref)
    weights = rand(*ref.shape, seed=4)
    (out * Tensor(weights)).sum().backward()
    (ref * torch.from_numpy(weights)).sum().backward()
    close(tx.grad, rx.grad)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 2, 2)])
def test_batchnorm_matches_torch_in_train_and_eval_mode(shape):
    bn = nn.BatchNorm(3)
    ref = torch.nn.BatchNorm1d(3) if len(shape) == 2 else torch.nn.BatchNorm2d(3)
    for step in range(2):  # two steps: the running statistics move twice
        x = rand(*shape, seed=step) * 2 + 1
        close(bn(Tensor(x)), ref(torch.from_numpy(x)), rtol=1e-4, atol=1e-5)
    close(bn.running_mean, ref.running_mean)
    close(bn.running_var, ref.running_var)
    bn.eval(), ref.eval()
    x = rand(*shape, seed=9)
    close(bn(Tensor(x)), ref(torch.from_numpy(x)), rtol=1e-4, atol=1e-5)


def test_batchnorm_running_statistics_advance_under_jit_replay():
    """A replay runs no Python: the running statistics must be updated in their own memory."""
    results = []
    for use_jit in (False, True):
        Tensor.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm(4))
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            loss = model(x).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step(loss)
            return loss
        run = jit(step) if use_jit else step
        for i in range(5):
            run(Tensor(rand(8, 3, seed=i))).item()
        results.append([t.numpy() for t in model.state_dict().values()])
    for plain, replayed in zip(*results):
        np.testing.assert_allclose(replayed, plain, rtol=1e-6)


def test_batchnorm_running_statistics_are_buffers_not_parameters():
    bn = nn.BatchNorm(3)
    assert [p.shape for p in bn.parameters()] == [(3,), (3,)]
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var"}
    assert {id(t) for t in bn.buffers()} == {id(bn.running_mean), id(bn.running_var)}


def test_dropout_is_identity_in_eval_mode_and_scales_what_it_keeps():
    x = np.ones((64, 64), np.float32)
    drop = nn.Dropout(0.25)
    Tensor.manual_seed(1)
    out = drop(Tensor(x)).numpy()
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (out == 0).mean() < 0.3
    Tensor.manual_seed(1)
    np.testing.assert_array_equal(drop(Tensor(x)).numpy(), out)  # same seed, same mask
    drop.eval()
    np.testing.assert_array_equal(drop(Tensor(x)).numpy(), x)


@pytest.mark.parametrize("ours,theirs", [
    (nn.ReLU(), torch.nn.ReLU()), (nn.Tanh(), torch.nn.Tanh()), (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)), (nn.SiLU(), torch.nn.SiLU()),
    (nn.GELU(), torch.nn.GELU(approximate="tanh")), (nn.LogSoftmax(1), torch.nn.LogSoftmax(1)),
])
def test_activations_match_torch(ours, theirs):
    x = rand(3, 6)
    close(ours(Tensor(x)), theirs(torch.from_numpy(x)), rtol=1e-5, atol=1e-6)


def test_sequential_flatten_and_names_follow_torch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
    ref = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    assert list(model.state_dict()) == list(ref.state_dict())
    ref.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()})
    x = rand(2, 3, 4)
    close(model(Tensor(x)), ref(torch.from_numpy(x)))
    assert len(model.parameters()) == 4
    assert "Linear(in_features=12, out_features=5" in repr(model)


def test_nested_modules_are_found_without_recursion_limits():
    class Block(nn.Module):
        def __init__(self):
            self.inner = nn.Linear(2, 2)
    model = nn.Sequential(*[Block() for _ in range(3)])
    assert list(model.state_dict()) == [f"{i}.inner.{n}" for i in range(3) for n in ("weight", "bias")]
    deep = nn.Linear(2, 2)
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = nn.Sequential(deep)
    assert len(deep.parameters()) == 2


def test_train_and_eval_switch_every_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm(2)))
    model.eval()
    assert all(not m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())


# ------------------------------------------------------------------------------ state dicts

def test_load_state_dict_replaces_values_and_keeps_parameters_trainable():
    model = nn.Sequential(nn.Linear(3, 2))
    state = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].weight.numpy(), state["0.weight"])
    assert model[0].weight.requires_grad and len(model.parameters()) == 2


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    model = nn.Sequential(nn.Linear(3, 2))
    before = model[0].bias.numpy()
    with pytest.raises(ValueError, match=r"missing keys: \['0.bias'\].*unexpected keys: \['0.extra'\]"):
        model.load_state_dict({"0.weight": np.ones((2, 3), np.float32), "0.extra": np.ones(1, np.float32)})
    with pytest.raises(ValueError, match=r"0.weight: expected \(2, 3\), got \(3, 2\)"):
        model.load_state_dict({"0.weight": np.ones((3, 2), np.float32), "0.bias": np.ones(2, np.float32)})
    np.testing.assert_array_equal(model[0].bias.numpy(), before)  # a failed load changes nothing


# ------------------------------------------------------------------------------ losses

def test_cross_entropy_matches_torch_with_gradient():
    logits, labels = rand(5, 4) * 3, np.array([0, 3, 1, 1, 2])
    t = Tensor(logits, requires_grad=True)
    r = torch.from_numpy(logits).requires_grad_()
    loss, ref = nn.cross_entropy(t, labels), F.cross_entropy(r, torch.from_numpy(labels))
    close(loss, ref)
    loss.backward()
    ref.backward()
    close(t.grad, r.grad)


def test_cross_entropy_reductions_and_label_smoothing_match_torch():
    logits, labels = rand(5, 4) * 3, np.array([0, 3, 1, 1, 2])
    for kwargs in ({"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1}):
        close(nn.cross_entropy(Tensor(logits), Tensor(labels.astype(np.int32)), **kwargs),
              F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels), **kwargs))


def test_cross_entropy_rejects_float_labels_with_both_shapes():
    with pytest.raises(ValueError, match=r"integer labels.*float32\(5,\)"):
        nn.cross_entropy(Tensor(rand(5, 4)), Tensor(rand(5)))


def test_mse_matches_torch():
    a, b = rand(5, 4), rand(5, 4, seed=1)
    close(nn.mse(Tensor(a), Tensor(b)), F.mse_loss(torch.from_numpy(a), torch.from_numpy(b)))


def test_binary_cross_entropy_matches_torch_including_saturated_probabilities():
    p = 1 / (1 + np.exp(-rand(5, 4)))
    p[0, 0], p[1, 1] = 0.0, 1.0  # torch clamps the logs at -100
    t = (rand(5, 4, seed=1) > 0).astype(np.float32)
    close(nn.binary_cross_entropy(Tensor(p), Tensor(t)), F.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(t)))
    z = rand(5, 4) * 4
    close(nn.binary_cross_entropy_with_logits(Tensor(z), Tensor(t)),
          F.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.from_numpy(t)))


def test_accuracy_counts_rows_whose_argmax_is_the_label():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], np.float32)
    assert nn.accuracy(Tensor(logits), Tensor(np.array([1, 1, 1], np.int32))).item() == pytest.approx(2 / 3)
