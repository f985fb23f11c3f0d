"""Custom ops: the registered backward replaces autograd's, on every device, still lazy."""
import numpy as np
import pytest

from tinygradlike import Tensor
from tinygradlike.custom import CustomOp
from tinygradlike.testing import grad_check

negate_gradient = CustomOp("negate_gradient", forward=lambda x: x, backward=lambda g, x: [-g])


def test_gradient_reversal_is_identity_forward_and_negated_backward():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = negate_gradient(x * 2) * 3
    np.testing.assert_allclose(y.numpy(), [6.0, -12.0, 18.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-6.0, -6.0, -6.0])


def test_straight_through_step_function():
    # forward: a step (zero gradient almost everywhere); backward: pass the gradient straight through
    step = CustomOp("straight_through_step", forward=lambda x: (x > 0).float(), backward=lambda g, x: [g])
    x = Tensor([-1.0, 0.5], requires_grad=True)
    (step(x) * Tensor([2.0, 5.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 5.0])


def test_a_registered_gradient_checked_with_grad_check():
    softplus = CustomOp("softplus", forward=lambda x: (1 + x.exp()).log(),
                        backward=lambda g, x: [g * x.sigmoid()])
    grad_check(lambda x: softplus(x) * x, np.random.default_rng(0).uniform(-2, 2, (3, 2)))


def test_custom_op_fuses_like_any_other():
    from tinygradlike import reset_stats, stats

    x = Tensor([1.0, 2.0])
    y = (negate_gradient(x.exp()) + 1).sqrt()
    reset_stats()
    y.numpy()
    assert stats()["kernels_launched"] == 1


def test_backward_must_match_the_inputs():
    bad = CustomOp("bad", forward=lambda x: x, backward=lambda g, x: [g.sum()])
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="gradient 0 has shape"):
        bad(x).sum().backward()


def test_custom_op_kernels_are_rendered_once():
    from tinygradlike import codegen

    def run():
        x = Tensor([1.0, 2.0], requires_grad=True)
        negate_gradient(x * 2).sum().backward()
        x.grad.numpy()

    run()
    size = len(codegen._rendered)
    run()
    assert len(codegen._rendered) == size  # the second run found every kernel in the cache
