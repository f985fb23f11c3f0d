"""Every Value op's gradient against two independent oracles: central differences of the math
functions in float64, and PyTorch float64 autograd. Inputs are drawn away from kinks (relu at 0)
and singularities (log and sqrt at 0, division by 0, pow of non-positive bases)."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tinygradlike import Value


def floats(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo: float, hi: float):
    """Magnitudes in [lo, hi] with either sign."""
    return st.tuples(floats(lo, hi), st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


def central_difference(f, args, i, h=1e-6):
    step = h * max(1.0, abs(args[i]))
    up, down = list(args), list(args)
    up[i] += step
    down[i] -= step
    return (f(*up) - f(*down)) / (2 * step)


# name: (Value function, math function, torch function, strategy per argument)
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, lambda x: -x, floats(-10, 10)),
    "relu": (lambda x: x.relu(), lambda x: max(x, 0.0), torch.relu, away_from_zero(0.01, 10)),
    "tanh": (lambda x: x.tanh(), math.tanh, torch.tanh, floats(-5, 5)),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + math.exp(-x)), torch.sigmoid,
                floats(-10, 10)),
    "exp": (lambda x: x.exp(), math.exp, torch.exp, floats(-10, 10)),
    "log": (lambda x: x.log(), math.log, torch.log, floats(0.05, 100)),
    "sqrt": (lambda x: x.sqrt(), math.sqrt, torch.sqrt, floats(0.05, 100)),
    "sin": (lambda x: x.sin(), math.sin, torch.sin, floats(-10, 10)),
    "cos": (lambda x: x.cos(), math.cos, torch.cos, floats(-10, 10)),
}

# Binary ops with both operands Values; the float functions are Python's own operators.
BINARY = {
    "add": (lambda a, b: a + b, floats(-10, 10), floats(-10, 10)),
    "sub": (lambda a, b: a - b, floats(-10, 10), floats(-10, 10)),
    "mul": (lambda a, b: a * b, floats(-10, 10), floats(-10, 10)),
    "div": (lambda a, b: a / b, floats(-10, 10), away_from_zero(0.2, 10)),
    "pow": (lambda a, b: a ** b, floats(0.2, 5), floats(-3, 3)),
}


def value_grad(fn, args):
    vals = [Value(a) for a in args]
    out = fn(*vals)
    out.backward()
    return out.data, [v.grad for v in vals]


def torch_grad(fn, args):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    out = fn(*ts)
    out.backward()
    return out.item(), [t.grad.item() for t in ts]


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradient_matches_central_differences(name):
    ours, reference, _, strategy = UNARY[name]

    @given(strategy)
    def check(x):
        _, (grad,) = value_grad(ours, [x])
        assert grad == pytest.approx(central_difference(reference, [x], 0), rel=1e-6, abs=1e-7)

    check()


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_value_and_gradient_match_torch(name):
    ours, _, oracle, strategy = UNARY[name]

    @given(strategy)
    def check(x):
        data, grads = value_grad(ours, [x])
        t_data, t_grads = torch_grad(oracle, [x])
        assert data == pytest.approx(t_data, rel=1e-14, abs=1e-300)
        assert grads == pytest.approx(t_grads, rel=1e-12, abs=1e-300)

    check()


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradient_matches_central_differences(name):
    fn, sa, sb = BINARY[name]

    @given(sa, sb)
    def check(a, b):
        _, grads = value_grad(fn, [a, b])
        for i in range(2):
            expected = central_difference(fn, [a, b], i)
            assert grads[i] == pytest.approx(expected, rel=1e-6, abs=1e-6)

    check()


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_value_and_gradient_match_torch(name):
    fn, sa, sb = BINARY[name]

    @given(sa, sb)
    def check(a, b):
        data, grads = value_grad(fn, [a, b])
        t_data, t_grads = torch_grad(fn, [a, b])
        assert data == pytest.approx(t_data, rel=1e-14, abs=1e-300)
        assert grads == pytest.approx(t_grads, rel=1e-12, abs=1e-300)

    check()


@given(floats(-10, 10), floats(0.2, 5))
def test_numbers_on_the_left_differentiate_like_torch(x, c):
    # c - x, c / x, c ** x: the Value is the right operand
    for fn in (lambda v: c - v, lambda v: c / (v * v + 1), lambda v: c ** v, lambda v: 2 * v + c):
        data, (grad,) = value_grad(fn, [x])
        t_data, (t_grad,) = torch_grad(fn, [x])
        assert data == pytest.approx(t_data, rel=1e-14)
        assert grad == pytest.approx(t_grad, rel=1e-12, abs=1e-300)


def composite(x, y, z):
    """Every op at once, with shared subexpressions; valid for Values and torch tensors alike."""
    s = x * y + z
    u = (s.tanh() * s.sigmoid() + (x - z).sin() * y.cos()) / (1 + z * z)
    w = ((x * x + 1).log() + (y * y + 0.5).sqrt() - (-z).exp() * 0.1) ** 2
    return (u * w + (s - 0.25 * w).relu() + (-u) ** 3) * x


@given(floats(-2, 2), floats(-2, 2), floats(-2, 2))
def test_composite_expression_matches_torch(x, y, z):
    data, grads = value_grad(composite, [x, y, z])
    t_data, t_grads = torch_grad(composite, [x, y, z])
    assert data == pytest.approx(t_data, rel=1e-12, abs=1e-12)
    assert grads == pytest.approx(t_grads, rel=1e-10, abs=1e-10)
