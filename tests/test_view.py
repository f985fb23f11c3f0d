"""ShapeTracker specification, with numpy as the independent oracle.

Random programs of movement ops run on `np.arange(n)` (padding with -1) and on a
ShapeTracker; `to_indices()` must equal numpy's result, and the rendered C expressions,
evaluated with C semantics by the small evaluator below, must agree with `to_indices()`.
"""
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygradlike.view import ShapeTracker, View

SIZES = [1, 2, 3, 4, 5]
MANY = settings(max_examples=settings().max_examples * 8)  # cheap examples: scale the profile


# ---------------------------------------------------------------------------------------
# a C expression evaluator over numpy arrays (C precedence, truncating / and %)

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_]\w*)|(&&|\|\||>=|<=|==|!=|[-+*/%<>()!]))")
_LEVELS = [("||",), ("&&",), ("<", ">=", "<=", ">", "==", "!="), ("+", "-"), ("*", "/", "%")]


def _c_div(a, b):
    q = np.abs(a) // np.abs(b)
    return np.where((np.asarray(a) < 0) != (np.asarray(b) < 0), -q, q)


_BINARY = {
    "||": lambda a, b: np.logical_or(a, b), "&&": lambda a, b: np.logical_and(a, b),
    "<": np.less, ">=": np.greater_equal, "<=": np.less_equal, ">": np.greater,
    "==": np.equal, "!=": np.not_equal, "+": np.add, "-": np.subtract, "*": np.multiply,
    "/": _c_div, "%": lambda a, b: a - b * _c_div(a, b),
}


class CEval:
    """Evaluates a C int expression; records every `/` and `%` operand, and whether any
    binary operation was used as an operand without its own parentheses."""

    def __init__(self, text: str, env: dict):
        self.tokens, pos = [], 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            assert m and m.end() > pos, f"cannot tokenize {text[pos:]!r} in {text!r}"
            self.tokens.append(m.group(m.lastindex))
            pos = m.end()
        self.env, self.i, self.divided, self.unparenthesized = env, 0, [], False

    def evaluate(self):
        value, bare = self.binary(0)
        assert self.i == len(self.tokens), f"trailing tokens {self.tokens[self.i:]}"
        self.unparenthesized |= bare
        return value

    def binary(self, level):
        if level == len(_LEVELS):
            return self.unary(), False
        left, bare = self.binary(level + 1)
        chain = False  # a run of + and - (or of &&) reads the same in C and in any language
        while self.i < len(self.tokens) and self.tokens[self.i] in _LEVELS[level]:
            op = self.tokens[self.i]
            self.i += 1
            right, rbare = self.binary(level + 1)
            self.unparenthesized |= (bare and not chain) or rbare
            if op in "/%":
                self.divided += [left, right]
            left, bare, chain = _BINARY[op](left, right), True, op in ("+", "-", "&&")
        return left, bare

    def unary(self):
        tok = self.tokens[self.i]
        self.i += 1
        if tok == "-":
            return -self.unary()
        if tok == "!":
            return np.logical_not(self.unary())
        if tok == "(":
            value, _ = self.binary(0)
            assert self.tokens[self.i] == ")"
            self.i += 1
            return value
        return np.int64(int(tok)) if tok.isdigit() else self.env[tok]


def evaluate_render(text: str, env: dict, shape):
    ev = CEval(text, env)
    value = np.broadcast_to(ev.evaluate(), shape)
    return value, ev


def check_render(tracker: ShapeTracker, expected: np.ndarray):
    """render and render_linear agree with to_indices at every element, validity included."""
    shape = tracker.shape
    valid = expected != -1
    envs = [({"lidx": np.arange(tracker.size, dtype=np.int64).reshape(shape)}, tracker.render_linear("lidx"))]
    names = [f"i{k}" for k in range(tracker.ndim)]
    coords = np.indices(shape, dtype=np.int64)
    envs.append((dict(zip(names, coords)), tracker.render(names)))
    for env, (idx_text, valid_text) in envs:
        idx, ev = evaluate_render(idx_text, env, shape)
        operands = list(ev.divided)
        assert not ev.unparenthesized, idx_text
        if valid_text is None:
            assert valid.all(), (tracker, idx_text)
        else:
            got_valid, vev = evaluate_render(valid_text, env, shape)
            assert not vev.unparenthesized, valid_text
            operands += vev.divided
            np.testing.assert_array_equal(got_valid.astype(bool), valid, err_msg=f"{tracker} {valid_text}")
        np.testing.assert_array_equal(idx[valid], expected[valid], err_msg=f"{tracker} {idx_text}")
        for op in operands:  # C's / and % equal floor division only for non-negative operands
            assert (np.broadcast_to(op, shape)[valid] >= 0).all(), (tracker, idx_text, valid_text)


# ---------------------------------------------------------------------------------------
# random programs of movement ops, applied to a tracker and to numpy


def _factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def reshape_target(draw, shape):
    n = math.prod(shape)
    kind = draw(st.sampled_from(["random", "merge", "split", "ones"]))
    if n == 0 or kind == "random":
        if n == 0:
            return tuple(draw(st.permutations([0] + draw(st.lists(st.sampled_from([0, 1, 2, 3]), max_size=2)))))
        factors = draw(st.permutations(_factors(n)))
        ndim = draw(st.integers(1 if factors else 0, min(4, max(1, len(factors)))))
        dims = [1] * ndim
        for f in factors:
            dims[draw(st.integers(0, ndim - 1))] *= f
        return tuple(dims)
    if kind == "merge" and len(shape) >= 2:
        k = draw(st.integers(0, len(shape) - 2))
        return shape[:k] + (shape[k] * shape[k + 1],) + shape[k + 2:]
    if kind == "split" and any(len(_factors(s)) > 1 for s in shape) and len(shape) < 4:
        k = draw(st.sampled_from([i for i, s in enumerate(shape) if len(_factors(s)) > 1]))
        f = draw(st.sampled_from(_factors(shape[k])))
        return shape[:k] + (f, shape[k] // f) + shape[k + 1:]
    if len(shape) < 4 and draw(st.booleans()):  # add a 1 somewhere
        k = draw(st.integers(0, len(shape)))
        return shape[:k] + (1,) + shape[k:]
    return tuple(s for s in shape if s != 1)


@st.composite
def movement_op(draw, shape):
    kind = draw(st.sampled_from(["reshape", "permute", "expand", "pad", "shrink", "flip", "stride"]))
    nd = len(shape)
    if kind == "reshape":
        return kind, draw(reshape_target(shape))
    if kind == "permute":
        return kind, tuple(draw(st.permutations(range(nd))))
    if kind == "expand":
        return kind, tuple(draw(st.sampled_from([1, 2, 3])) if s == 1 else s for s in shape)
    if kind == "pad":
        return kind, tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape)
    if kind == "shrink":
        bounds = []
        for s in shape:
            b = draw(st.integers(0, s))
            bounds.append((b, draw(st.integers(b, s))))
        return kind, tuple(bounds)
    if kind == "flip":
        return kind, tuple(k for k in range(nd) if draw(st.booleans()))
    return kind, tuple(draw(st.sampled_from([-3, -2, -1, 1, 2, 3])) for _ in shape)


@st.composite
def movement_program(draw, shape=None, max_ops=6):
    if shape is None:
        shape = tuple(draw(st.lists(st.sampled_from(SIZES), max_size=4)))
    ops, cur = [], shape
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(movement_op(cur))
        ops.append(op)
        cur = apply_numpy(np.zeros(cur), [op]).shape
    return shape, ops


def apply_tracker(tracker: ShapeTracker, ops) -> ShapeTracker:
    for kind, arg in ops:
        tracker = getattr(tracker, kind)(arg)
    return tracker


def apply_numpy(arr: np.ndarray, ops) -> np.ndarray:
    for kind, arg in ops:
        if kind == "reshape":
            arr = arr.reshape(arg)
        elif kind == "permute":
            arr = arr.transpose(arg)
        elif kind == "expand":
            arr = np.broadcast_to(arr, arg)
        elif kind == "pad":
            arr = np.pad(arr, arg, constant_values=-1) if arg else arr
        elif kind == "shrink":
            arr = arr[tuple(slice(b, e) for b, e in arg)]
        elif kind == "flip":
            arr = np.flip(arr, arg) if arg else arr
        else:
            arr = arr[tuple(slice(None, None, k) for k in arg)]
    return arr


def numpy_indices(shape, ops) -> np.ndarray:
    return apply_numpy(np.arange(math.prod(shape), dtype=np.int64).reshape(shape), ops)


# ---------------------------------------------------------------------------------------
# the oracle properties


@MANY
@given(movement_program())
def test_movement_ops_match_numpy(program):
    shape, ops = program
    tracker = apply_tracker(ShapeTracker.from_shape(shape), ops)
    expected = numpy_indices(shape, ops)
    assert tracker.shape == expected.shape
    got = tracker.to_indices()
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected, err_msg=repr(tracker))


@MANY
@given(movement_program())
def test_render_matches_indices(program):
    shape, ops = program
    tracker = apply_tracker(ShapeTracker.from_shape(shape), ops)
    check_render(tracker, numpy_indices(shape, ops))


@st.composite
def pushed_program(draw):
    """A transpose then a reshape, which usually needs a second view, then more ops."""
    shape = tuple(draw(st.lists(st.sampled_from(SIZES[1:]), min_size=2, max_size=4)))
    order = tuple(draw(st.permutations(range(len(shape)))))
    moved = tuple(shape[k] for k in order)
    ops = [("permute", order), ("reshape", draw(reshape_target(moved)))]
    _, more = draw(movement_program(shape=apply_numpy(np.zeros(shape), ops).shape, max_ops=4))
    return shape, ops + more


@MANY
@given(pushed_program())
def test_render_through_stacked_views_matches_numpy(program):
    shape, ops = program
    tracker = apply_tracker(ShapeTracker.from_shape(shape), ops)
    expected = numpy_indices(shape, ops)
    np.testing.assert_array_equal(tracker.to_indices(), expected, err_msg=repr(tracker))
    check_render(tracker, expected)


@MANY
@given(movement_program())
def test_real_size_covers_every_valid_index(program):
    shape, ops = program
    tracker = apply_tracker(ShapeTracker.from_shape(shape), ops)
    expected = numpy_indices(shape, ops)
    needed = int(expected.max()) + 1 if expected.size and expected.max() >= 0 else 0
    assert needed <= tracker.real_size() <= math.prod(shape)
    if len(tracker.views) == 1:
        assert tracker.real_size() == needed


@MANY
@given(st.data())
def test_stacked_trackers_compose_and_simplify(data):
    """Reading tracker b (built over a's shape) through tracker a, as codegen composes them."""
    a_shape, a_ops = data.draw(movement_program(max_ops=4))
    a = apply_tracker(ShapeTracker.from_shape(a_shape), a_ops)
    b_shape, b_ops = data.draw(movement_program(shape=a.shape, max_ops=4))
    b = apply_tracker(ShapeTracker.from_shape(b_shape), b_ops)
    inner = np.append(numpy_indices(a_shape, a_ops).ravel(), -1)  # position -1 reads as masked
    expected = inner[numpy_indices(b_shape, b_ops)]
    stacked = ShapeTracker(a.views + b.views)
    simple = stacked.simplify()
    assert len(simple.views) <= len(stacked.views)
    for tracker in (stacked, simple):
        np.testing.assert_array_equal(tracker.to_indices(), expected, err_msg=repr(tracker))
    check_render(simple, expected)


# ---------------------------------------------------------------------------------------
# rendered expressions are as simple as hand-written ones


def test_contiguous_renders_as_the_linear_index():
    tracker = ShapeTracker.from_shape((4, 5, 6))
    assert tracker.is_contiguous
    assert tracker.render_linear("lidx") == ("lidx", None)
    assert tracker.render(["i", "j", "k"]) == ("((i*30)+(j*6)+k)", None)


def test_broadcast_row_renders_one_mod():
    row = ShapeTracker.from_shape((7,)).reshape((1, 7)).expand((3, 7))
    assert row.views == (View((3, 7), (0, 1)),)
    assert row.render_linear("lidx") == ("(lidx%7)", None)
    assert row.render(["i", "j"]) == ("j", None)


def test_broadcast_column_renders_one_div():
    col = ShapeTracker.from_shape((3,)).reshape((3, 1)).expand((3, 7))
    assert col.render_linear("lidx") == ("(lidx/7)", None)


def test_transpose_renders_one_div_mod_pair():
    t = ShapeTracker.from_shape((3, 5)).permute((1, 0))
    assert t.render_linear("lidx") == ("((lidx/3)+((lidx%3)*5))", None)
    assert t.render(["i", "j"]) == ("(i+(j*5))", None)


def test_contiguous_dims_merge_before_rendering():
    # (2,3,4) -> permute (2,0,1): the first two source dims stay one run of memory
    t = ShapeTracker.from_shape((2, 3, 4)).permute((2, 0, 1))
    assert t.render_linear("g") == ("((g/6)+((g%6)*4))", None)


def test_size_one_dims_vanish():
    t = ShapeTracker.from_shape((1, 5, 1))
    assert t.render(["a", "b", "c"]) == ("b", None)


def test_pad_renders_bounds_only_where_needed():
    t = ShapeTracker.from_shape((4,)).pad(((1, 2),))
    assert t.render_linear("x") == ("(x-1)", "((x>=1)&&(x<5))")
    left_only = ShapeTracker.from_shape((4,)).pad(((2, 0),))
    assert left_only.render_linear("x") == ("(x-2)", "(x>=2)")


def test_flip_renders_without_negative_division():
    t = ShapeTracker.from_shape((2, 3)).flip((0, 1))
    assert t.render_linear("x") == ("(5-x)", None)


def test_slice_with_step_renders_a_scaled_index():
    t = ShapeTracker.from_shape((10,)).stride((3,))
    assert t.shape == (4,)
    assert t.render_linear("x") == ("(x*3)", None)


def test_fully_masked_view_renders_constant_invalid():
    t = ShapeTracker.from_shape((3,)).pad(((2, 0),)).shrink(((0, 2),))
    assert t.render_linear("x") == ("0", "0")


def test_size_zero_renders_trivially():
    t = ShapeTracker.from_shape((3, 0))
    assert t.render_linear("x") == ("0", None)
    assert t.real_size() == 0


# ---------------------------------------------------------------------------------------
# reshape keeps one view when it can, and pushes one when it must


def test_reshape_of_contiguous_stays_one_contiguous_view():
    assert ShapeTracker.from_shape((2, 3, 4)).reshape((6, 4)).reshape((24,)).is_contiguous


def test_reshape_of_row_slice_stays_one_view():
    t = ShapeTracker.from_shape((4, 6)).shrink(((1, 3), (0, 6))).reshape((12,))
    assert len(t.views) == 1 and t.views[0] == View((12,), (1,), 6)


def test_reshape_of_padded_view_adding_ones_stays_one_view():
    t = ShapeTracker.from_shape((3, 4)).pad(((1, 1), (0, 0))).reshape((5, 1, 4))
    assert len(t.views) == 1
    assert t.views[0].mask == ((1, 4), (0, 1), (0, 4))


def test_reshape_of_padded_rows_merges_the_mask():
    t = ShapeTracker.from_shape((3, 4)).pad(((1, 1), (0, 0))).reshape((20,))
    assert t.views == (View((20,), (1,), -4, ((4, 16),)),)


def test_reshape_of_padded_columns_pushes_a_view():
    t = ShapeTracker.from_shape((3, 4)).pad(((0, 0), (1, 1))).reshape((18,))
    assert len(t.views) == 2


def test_flattening_a_transpose_pushes_a_view():
    t = ShapeTracker.from_shape((2, 3)).permute((1, 0)).reshape((6,))
    assert len(t.views) == 2
    assert t.views[-1] == View.contiguous((6,))
    assert not t.is_contiguous


def test_splitting_a_transposed_dim_stays_one_view():
    t = ShapeTracker.from_shape((4, 3)).permute((1, 0)).reshape((3, 2, 2))
    assert t.views == (View((3, 2, 2), (1, 6, 3)),)


def test_expanded_dims_split_into_broadcast_dims():
    t = ShapeTracker.from_shape((3, 1)).expand((3, 4)).reshape((3, 2, 2))
    assert t.views == (View((3, 2, 2), (1, 0, 0)),)


def test_reshape_back_after_push_simplifies():
    t = ShapeTracker.from_shape((2, 3)).permute((1, 0))
    assert t.reshape((6,)).reshape((3, 2)) == t


def test_shrinking_after_a_pushed_view_reads_the_right_elements():
    t = ShapeTracker.from_shape((2, 4)).permute((1, 0)).reshape((8,))  # reads 0 4 1 5 2 6 3 7
    np.testing.assert_array_equal(t.shrink(((1, 3),)).to_indices(), [4, 1])
    np.testing.assert_array_equal(t.shrink(((0, 1),)).to_indices(), [0])


def test_permuting_a_permuted_tracker_composes_into_one_view():
    inner = ShapeTracker.from_shape((2, 3, 4)).permute((2, 0, 1))
    outer = ShapeTracker.from_shape(inner.shape).permute((1, 2, 0))
    merged = ShapeTracker(inner.views + outer.views).simplify()
    assert merged.is_contiguous and merged.shape == (2, 3, 4)


def test_composing_onto_a_contiguous_tracker_keeps_the_outer_view():
    outer = ShapeTracker.from_shape((4, 6)).shrink(((1, 3), (2, 5))).flip((1,))
    merged = ShapeTracker(ShapeTracker.from_shape((4, 6)).views + outer.views).simplify()
    assert merged == outer


# ---------------------------------------------------------------------------------------
# views are canonical and readable


def test_size_one_strides_and_full_masks_are_canonical():
    assert View((1, 3), (7, 1), 0, ((0, 1), (0, 3))) == View.contiguous((1, 3))


def test_unit_stride_axes():
    assert ShapeTracker.from_shape((2, 3)).permute((1, 0)).unit_stride_axes() == (0,)


def test_repr_shows_shape_and_views():
    t = ShapeTracker.from_shape((2, 3)).pad(((1, 0), (0, 0)))
    assert repr(t) == "ShapeTracker((3, 3): View((3, 3), strides=(3, 1), offset=-3, mask=((1, 3), (0, 3))))"


def test_long_op_chains_do_not_recurse():
    t = ShapeTracker.from_shape((2, 3, 4))
    for k in range(3000):
        t = t.permute((1, 2, 0)).flip((k % 3,)).pad(((1, 0), (0, 0), (0, 0)))
        t = t.shrink(((1, t.shape[0]),) + tuple((0, s) for s in t.shape[1:]))
    assert len(t.views) == 1 and t.shape == (2, 3, 4)
    t.render_linear("x")


def test_many_stacked_views_still_index_correctly():
    t, ref = ShapeTracker.from_shape((2, 3)), np.arange(6).reshape(2, 3)
    for _ in range(6):  # transposing, then reading the result in the old shape, needs a new view
        t, ref = t.permute((1, 0)).reshape(t.shape), ref.T.reshape(ref.shape)
    assert len(t.views) > 2
    np.testing.assert_array_equal(t.to_indices(), ref)
    check_render(t, ref)


# ---------------------------------------------------------------------------------------
# errors name the shapes and axes


@pytest.mark.parametrize("op, arg, message", [
    ("reshape", (4, 2), r"cannot reshape \(2, 3\) \(6 elements\) to \(4, 2\) \(8 elements\)"),
    ("reshape", (-1, 6), r"sizes must be >= 0"),
    ("permute", (0, 0), r"\(0, 0\) is not a permutation of the 2 axes of \(2, 3\)"),
    ("permute", (1,), r"not a permutation"),
    ("expand", (4, 3), r"cannot expand \(2, 3\) to \(4, 3\): axis 0 has size 2"),
    ("expand", (2, 3, 1), r"number of dims differs"),
    ("pad", ((0, 1),), r"expected 2 \(before, after\) pairs for shape \(2, 3\)"),
    ("pad", ((0, -1), (0, 0)), r"padding must be >= 0"),
    ("shrink", ((0, 2), (1, 4)), r"axis 1 needs 0 <= start <= end <= 3, got \(1, 4\)"),
    ("shrink", ((2, 1), (0, 3)), r"axis 0 needs"),
    ("flip", (2,), r"axis 2 is out of range for 2-d shape \(2, 3\)"),
    ("flip", (1, -1), r"repeat an axis"),
    ("stride", (1, 0), r"steps must be non-zero"),
    ("stride", (1,), r"expected 2 steps"),
])
def test_invalid_movement_raises_clear_error(op, arg, message):
    with pytest.raises(ValueError, match=message):
        getattr(ShapeTracker.from_shape((2, 3)), op)(arg)


def test_render_needs_one_index_per_dim():
    with pytest.raises(ValueError, match=r"1 index expressions for 2-d shape \(2, 3\)"):
        ShapeTracker.from_shape((2, 3)).render(["i"])
