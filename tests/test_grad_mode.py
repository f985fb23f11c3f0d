"""no_grad, enable_grad and set_grad_enabled, against torch's: the same requires_grad on the
same expressions, backward refused through what was computed without tracking, gradients
unchanged for what was, and the graphs the engine keeps and copies (composites, backward
passes, jit recordings) never carried from one mode into the other."""
import numpy as np
import pytest
import torch

import tinygradlike
from tinygradlike import Tensor, enable_grad, nn, is_grad_enabled, no_grad, set_grad_enabled
from tinygradlike.jit import jit

X = np.array([[0.5, -1.5, 2.0], [-0.25, 1.0, -3.0]], dtype=np.float32)
LABELS = np.array([2, 0])


@pytest.fixture(autouse=True)
def grad_mode_restored():
    """A failing test must not leave tracking off for the tests after it."""
    yield
    set_grad_enabled(True)


def pair():
    """The same trainable leaf in both libraries."""
    return Tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)


def test_no_grad_results_require_no_gradient_and_keep_their_values_as_torchs():
    ours, theirs = pair()
    with no_grad(), torch.no_grad():
        a, b = (ours * 2 - 1).relu().sum(1), (theirs * 2 - 1).relu().sum(1)
        leaf, torch_leaf = Tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    assert a.requires_grad is b.requires_grad is False
    assert leaf.requires_grad is torch_leaf.requires_grad is True  # a leaf made inside stays trainable
    np.testing.assert_allclose(a.numpy(), b.numpy())
    assert ours.requires_grad and is_grad_enabled()  # left as it was


def test_backward_through_a_no_grad_result_is_refused_as_in_torch():
    ours, theirs = pair()
    with no_grad(), torch.no_grad():
        a, b = (ours * ours).sum(), (theirs * theirs).sum()
    with pytest.raises(RuntimeError):
        b.backward()
    with pytest.raises(ValueError, match="does not depend on any tensor with requires_grad"):
        a.backward()


@pytest.mark.parametrize("form", ["bare", "called", "set_grad_enabled"])
def test_no_grad_as_a_decorator(form):
    decorate = {"bare": lambda: no_grad, "called": no_grad, "set_grad_enabled": lambda: set_grad_enabled(False)}[form]()

    @decorate
    def double(t):
        """Twice t."""
        assert not is_grad_enabled()
        return t * 2

    assert is_grad_enabled()  # decorating leaves the mode as it was

    @torch.no_grad()
    def torch_double(t):
        return t * 2

    ours, theirs = pair()
    assert double(ours).requires_grad is torch_double(theirs).requires_grad is False
    assert double.__name__ == "double" and double.__doc__ == "Twice t."
    assert is_grad_enabled()


def test_enable_grad_inside_no_grad_tracks_again_as_torchs():
    ours, theirs = pair()
    with no_grad(), torch.no_grad():
        with enable_grad(), torch.enable_grad():
            a, b = ours.exp().sum(), theirs.exp().sum()
        assert not is_grad_enabled()
    assert a.requires_grad is b.requires_grad is True
    b.backward()
    a.backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)


def test_set_grad_enabled_as_a_call_and_as_a_block():
    set_grad_enabled(False)
    try:
        assert not is_grad_enabled() and not (pair()[0] * 2).requires_grad
    finally:
        set_grad_enabled(True)
    with set_grad_enabled(False):
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with set_grad_enabled(True):
        assert is_grad_enabled()


def test_the_mode_comes_back_when_the_block_raises():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("x")
    assert is_grad_enabled()
    guard = no_grad()
    with guard:
        with guard:  # one object entered twice, as a decorator's is
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_a_result_computed_under_no_grad_keeps_no_graph():
    ours, _ = pair()
    with no_grad():
        kept_out = (ours * 3).exp()
    tracked = (ours * 3).exp()
    Tensor.realize(kept_out, tracked)
    assert kept_out.node.srcs == ()  # nothing held for a backward that cannot come
    assert tracked.node.srcs != ()  # held for backward()


@pytest.mark.parametrize("no_grad_first", [True, False])
def test_a_library_composite_built_in_one_mode_is_right_in_the_other(no_grad_first):
    # cross_entropy and softmax keep their first graph and copy it for inputs of the same
    # structure: a copy made in one mode must not carry the other mode's requires_grad
    def both():
        ours, theirs = pair()
        # the leaf itself is the input: it requires grad in both modes, so only the mode tells them apart
        loss = nn.cross_entropy(ours, Tensor(LABELS))
        torch_loss = torch.nn.functional.cross_entropy(theirs, torch.tensor(LABELS))
        return ours, theirs, loss, torch_loss

    def under_no_grad():
        with no_grad(), torch.no_grad():
            ours, theirs, loss, torch_loss = both()
        assert loss.requires_grad is torch_loss.requires_grad is False
        np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-6)

    def with_grad():
        ours, theirs, loss, torch_loss = both()
        assert loss.requires_grad is torch_loss.requires_grad is True
        loss.backward()
        torch_loss.backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-7)

    first, second = (under_no_grad, with_grad) if no_grad_first else (with_grad, under_no_grad)
    first(), second(), first()


def test_a_backward_pass_taken_under_no_grad_does_not_stop_a_later_second_derivative():
    # backward graphs are copied by structure too; one derived under no_grad holds nodes that
    # require no gradient, and a second derivative through such a copy would come out empty
    def second_derivative():
        ours, theirs = pair()
        (g,) = (ours.tanh() * ours).sum().gradient(ours)
        (torch_g,) = torch.autograd.grad((theirs.tanh() * theirs).sum(), theirs, create_graph=True)
        (gg,) = g.sum().gradient(ours)
        (torch_gg,) = torch.autograd.grad(torch_g.sum(), theirs)
        np.testing.assert_allclose(gg.numpy(), torch_gg.numpy(), rtol=1e-5, atol=1e-6)

    ours, theirs = pair()
    loss = (ours.tanh() * ours).sum()
    with no_grad():
        (g,) = loss.gradient(ours)
    assert not g.requires_grad
    second_derivative()


def test_a_hand_written_update_under_no_grad_as_torchs():
    ours, theirs = pair()
    for _ in range(3):
        loss, torch_loss = (ours * ours).mean(), (theirs * theirs).mean()
        loss.backward()
        torch_loss.backward()
        with no_grad(), torch.no_grad():
            ours.assign(ours - 0.5 * ours.grad)
            theirs -= 0.5 * theirs.grad
        ours.grad = None
        theirs.grad = None
    assert ours.requires_grad
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6)


def test_a_jitted_step_replayed_in_grad_mode_is_not_replayed_under_no_grad():
    # under no_grad the step means something else (its backward is refused): a recording made
    # with tracking on must not stand in for it
    ours, _ = pair()
    opt = tinygradlike.optim.SGD([ours], lr=0.1)

    @jit
    def step(x):
        loss = (ours * x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step(loss)
        return loss

    x = Tensor(np.ones_like(X))
    for _ in range(3):
        step(x)
    with no_grad(), pytest.raises(ValueError, match="does not depend on any tensor with requires_grad"):
        step(x)


def test_a_jitted_function_records_each_mode_apart():
    @jit
    def scaled(t):
        return (t * 3).relu()

    ours, _ = pair()
    for _ in range(3):  # the third call replays
        with no_grad():
            out = scaled(ours)
        tracked = scaled(ours)
        np.testing.assert_allclose(out.numpy(), np.maximum(X * 3, 0))
        np.testing.assert_allclose(tracked.numpy(), np.maximum(X * 3, 0))
        assert not out.requires_grad


def test_the_names_are_exported_where_torch_users_look():
    for name in ("no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"):
        assert getattr(tinygradlike, name) is not None
