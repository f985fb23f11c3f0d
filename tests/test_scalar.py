"""Value: the API, laziness, gradient bookkeeping, errors and IEEE domain cases.

Expected numbers come from Python floats, numpy float64 or closed forms, never from Value."""
import gc
import math
import operator

import numpy as np
import pytest

from tinygradlike import Value


def test_value_from_a_number_is_a_leaf_with_zero_grad():
    v = Value(3)
    assert v.data == 3.0 and isinstance(v.data, float)
    assert v.grad == 0.0 and v.is_leaf and v.op == "" and v.srcs == ()


def test_repr_shows_data_and_grad():
    assert repr(Value(3.0)) == "Value(data=3.0, grad=0.0)"


def test_repr_of_a_lazy_value_shows_numbers():
    y = Value(2.0) * 3
    assert not y.realized
    assert repr(y) == "Value(data=6.0, grad=0.0, op='*')"


def test_building_computes_nothing_until_data_is_read():
    x = Value(2.0)
    y = ((x * 3).exp() + 1).log()
    assert not y.realized
    assert y.data == pytest.approx(math.log(math.exp(6.0) + 1))
    assert y.realized


@pytest.mark.parametrize("a,b", [(2.5, -1.5), (-3.0, 0.25), (0.5, 4.0)])
def test_operators_with_numbers_on_either_side_match_python_floats(a, b):
    x, pos = Value(a), Value(abs(a))
    cases = [
        (x + b, a + b), (b + x, b + a), (x - b, a - b), (b - x, b - a),
        (x * b, a * b), (b * x, b * a), (x / b, a / b), (b / x, b / a),
        (pos ** b, abs(a) ** b), (abs(b) ** x, abs(b) ** a), (-x, -a),
        (pos ** Value(b), abs(a) ** b),
    ]
    for value, expected in cases:
        assert value.data == pytest.approx(expected, rel=1e-15)


def test_unary_functions_match_math():
    x = 0.7
    v = Value(x)
    assert v.relu().data == x and (-v).relu().data == 0.0
    assert v.tanh().data == pytest.approx(math.tanh(x), rel=1e-15)
    assert v.sigmoid().data == pytest.approx(1 / (1 + math.exp(-x)), rel=1e-15)
    for name in ("exp", "log", "sqrt", "sin", "cos"):
        assert getattr(v, name)().data == pytest.approx(getattr(math, name)(x), rel=1e-15)


def test_numpy_scalars_and_bools_are_real_numbers():
    assert Value(np.float32(1.5)).data == 1.5
    assert Value(np.int64(3)).data == 3.0
    assert Value(True).data == 1.0
    assert (Value(1.0) * np.float64(2.0)).data == 2.0


def test_float_of_a_value_is_its_data():
    assert float(Value(2.0) + 1) == 3.0


def test_diamond_accumulates_every_path():
    a = Value(1.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0 and b.grad == 2.0 and c.grad == 1.0


def test_a_value_used_twice_in_a_product_gets_both_contributions():
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0


def test_backward_twice_doubles_leaf_grads_and_keeps_interior_grads():
    x, w = Value(2.0), Value(-3.0)
    h = x * w
    y = h.tanh()
    y.backward()
    first = (x.grad, w.grad, h.grad, y.grad)
    y.backward()
    assert (x.grad, w.grad) == (2 * first[0], 2 * first[1])
    assert (h.grad, y.grad) == (first[2], first[3])


def test_backward_with_a_seed_scales_gradients():
    x = Value(2.0)
    (x * 5).backward(gradient=0.5)
    assert x.grad == 2.5


def test_zero_grad_resets_every_reachable_node():
    x, w = Value(2.0), Value(-3.0)
    y = (x * w).relu() + x
    y.backward()
    y.zero_grad()
    assert x.grad == 0.0 and w.grad == 0.0 and y.grad == 0.0
    y.backward()
    assert x.grad == 1.0  # relu(-6) = 0 passes nothing; the "+ x" passes 1


def test_grad_can_be_set():
    x = Value(1.0)
    x.grad = 5.0
    assert x.grad == 5.0


def test_writing_leaf_data_invalidates_cached_values():
    a = Value(2.0)
    b = a * 3
    c = b + 1
    assert c.data == 7.0
    a.data = 5.0
    assert not c.realized
    assert c.data == 16.0 and b.data == 15.0


def test_backward_after_a_leaf_write_uses_the_new_values():
    w = Value(2.0)
    y = w * w
    assert y.data == 4.0
    w.data -= 0.5  # a gradient-descent style update
    y.backward()
    assert y.data == 2.25 and w.grad == 3.0


def test_writing_data_of_an_interior_node_raises():
    y = Value(1.0) + 1
    with pytest.raises(AttributeError, match="only set .data on a leaf"):
        y.data = 3.0


@pytest.mark.parametrize("bad", ["abc", None, [1.0], 1j, {"a": 1}])
def test_value_of_a_non_number_raises_type_error_naming_it(bad):
    with pytest.raises(TypeError) as info:
        Value(bad)
    assert str(info.value) == (f"Value({bad!r}): expected a real number, "
                               f"got {type(bad).__name__} {bad!r}")


def test_operator_error_names_the_operand():
    with pytest.raises(TypeError) as info:
        Value(2.0) * "abc"
    assert str(info.value) == "Value * 'abc': expected a real number or a Value, got str 'abc'"


def test_reflected_operator_error_names_the_operand():
    with pytest.raises(TypeError) as info:
        "abc" * Value(2.0)
    assert str(info.value) == "'abc' * Value: expected a real number or a Value, got str 'abc'"


OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "**": operator.pow}


@pytest.mark.parametrize("bad", ["abc", None, [1.0], 1j])
@pytest.mark.parametrize("symbol", list(OPERATORS))
def test_every_operator_rejects_non_numbers_from_either_side(bad, symbol):
    v, apply = Value(2.0), OPERATORS[symbol]
    for left, right, text in ((v, bad, f"Value {symbol} {bad!r}"), (bad, v, f"{bad!r} {symbol} Value")):
        with pytest.raises(TypeError) as info:
            apply(left, right)
        assert str(info.value) == (f"{text}: expected a real number or a Value, "
                                   f"got {type(bad).__name__} {bad!r}")


def test_setting_data_to_a_non_number_raises_type_error():
    with pytest.raises(TypeError, match="Value.data = 'x'"):
        Value(1.0).data = "x"


# (description, Value expression, numpy float64 expression): IEEE results, never exceptions
DOMAIN_CASES = [
    ("log of a negative", lambda: Value(-1.0).log(), lambda: np.log(np.float64(-1.0))),
    ("log of zero", lambda: Value(0.0).log(), lambda: np.log(np.float64(0.0))),
    ("sqrt of -1", lambda: Value(-1.0).sqrt(), lambda: np.sqrt(np.float64(-1.0))),
    ("1 / 0", lambda: Value(1.0) / 0, lambda: np.float64(1.0) / np.float64(0.0)),
    ("-1 / 0", lambda: Value(-1.0) / 0, lambda: np.float64(-1.0) / np.float64(0.0)),
    ("0 / 0", lambda: Value(0.0) / 0, lambda: np.float64(0.0) / np.float64(0.0)),
    ("1 / -0.0", lambda: 1 / Value(-0.0), lambda: np.float64(1.0) / np.float64(-0.0)),
    ("0 ** -1", lambda: Value(0.0) ** -1, lambda: np.float64(0.0) ** np.float64(-1.0)),
    ("(-8) ** (1/3)", lambda: Value(-8.0) ** (1 / 3), lambda: np.float64(-8.0) ** np.float64(1 / 3)),
    ("exp overflow", lambda: Value(1000.0).exp(), lambda: np.exp(np.float64(1000.0))),
    ("inf - inf", lambda: Value(math.inf) - math.inf, lambda: np.float64(np.inf) - np.inf),
    ("sigmoid of -1000", lambda: Value(-1000.0).sigmoid(),
     lambda: 1 / (1 + np.exp(np.float64(1000.0)))),
    ("tanh of nan", lambda: Value(math.nan).tanh(), lambda: np.tanh(np.float64(np.nan))),
    ("relu of nan", lambda: Value(math.nan).relu(), lambda: np.maximum(np.float64(np.nan), 0.0)),
]


@pytest.mark.parametrize("name,ours,oracle", DOMAIN_CASES, ids=[c[0] for c in DOMAIN_CASES])
def test_math_domain_cases_follow_numpy_float64(name, ours, oracle):
    with np.errstate(all="ignore"):
        expected = float(oracle())
    got = ours().data
    assert (math.isnan(got) and math.isnan(expected)) or got == expected
    assert math.copysign(1.0, got) == math.copysign(1.0, expected) or math.isnan(expected)


def test_gradients_at_singularities_are_ieee_not_exceptions():
    x = Value(0.0)
    x.log().backward()
    assert x.grad == math.inf
    y = Value(-1.0)
    y.sqrt().backward()
    assert math.isnan(y.grad)


def test_to_dot_draws_every_node_with_data_and_grad():
    x, w = Value(2.0), Value(-3.0)
    y = (x * w + 1).tanh()
    y.backward()
    dot = y.to_dot(names={x: "x", w: "w"})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "x | data 2" in dot and "w | data -3" in dot
    assert 'label="*"' in dot and 'label="tanh"' in dot and 'label="+"' in dot
    assert dot.count("shape=record") == 6  # x, w, x*w, 1, x*w+1, tanh


def test_values_are_hashable_by_identity():
    a, b = Value(1.0), Value(1.0)
    assert len({a, b}) == 2


def test_dropped_graphs_are_freed_by_reference_counting():
    gc.collect()
    before = len(gc.get_objects())
    y = Value(1.0)
    for _ in range(1000):
        y = y * 1.0 + 1.0
    y.backward()
    del y
    assert len(gc.get_objects()) - before < 50
