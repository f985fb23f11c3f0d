"""grad_check, the helper users write gradient tests with, finds right gradients right and
wrong ones wrong (a deliberately broken rule must be caught)."""
import numpy as np
import pytest

from tinygradlike import gradients
from tinygradlike.graph import Op
from tinygradlike.testing import grad_check

rng = np.random.default_rng(0)
X = rng.uniform(-1, 1, (3, 4))
W = rng.uniform(-1, 1, (4, 2))


def test_right_gradients_pass():
    grad_check(lambda x, w: (x @ w).tanh(), X, W)
    grad_check(lambda x: x.softmax(-1).log(), X)
    grad_check(lambda x: (x[:, ::2].exp() * 3).sum(axis=0), X)


def test_a_wrong_rule_is_caught(monkeypatch):
    right = gradients.RULES[Op.EXP]

    def wrong(node, out, g):  # off by a factor of two
        return [r * 2 for r in right(node, out, g)]

    monkeypatch.setitem(gradients.RULES, Op.EXP, wrong)
    with pytest.raises(AssertionError, match="gradient of input 0.*wrong at 12 of 12"):
        grad_check(lambda x: x.exp(), X)


def test_a_second_derivative_is_checked_through_a_function_returning_a_gradient():
    def first_derivative(x):
        g, = (x * x * x).sin().sum().gradient(x)
        return g

    grad_check(first_derivative, X[0])
    with pytest.raises(AssertionError, match=r"worst at index \(\d+,\): autograd -?\d"):  # plain numbers
        grad_check(lambda x: first_derivative(x) + (x * 0.1).detach(), X[0])  # a slope autograd cannot see
