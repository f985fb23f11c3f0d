"""Drawing random programs with hypothesis.

A program grows one op at a time. Each op is evaluated by the reference as soon as it is
drawn, so the generator knows every variable's values: it keeps log and sqrt in their domain
most of the time (and sometimes not, to test nan), refuses int32 overflow and float -> int of
nan, and prefers recent variables so that subexpressions get reused (diamonds, a value read
by several consumers, a matmul operand read again by its epilogue).

Shapes come from a small fixed set, so the number of distinct kernels, and of OpenCL
compiles, stays small; inputs are also built as views (permuted, sliced, expanded, flipped).
"""
from __future__ import annotations

import math
import random

import numpy as np
import torch
from hypothesis import strategies as st

from fuzz_ops import ALL, OPS, Skip, matmul_shape
from fuzz_program import GradSpec, Input, Instr, Program
from fuzz_ref import FLOATS, INT_MAX, INT_MIN, RV, Ref, Reject

SHAPES = [(), (1,), (3,), (2, 3), (3, 1), (2, 3, 4), (1, 3, 1)]
LAYOUTS = ["contiguous", "contiguous", "contiguous", "permuted", "sliced", "expanded", "flipped"]
FLOAT_PROFILES = ["normal", "normal", "normal", "positive", "kinks", "kinks", "large", "tiny", "special", "logits", "nan"]
INT_PROFILES = ["small", "small", "extreme", "nonneg"]
FLOAT_CONSTS = [0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 2.5, -2.5, 3.0, -3.0, 0.1, -0.1, 1e-3, 100.0,
                -1e30, 1e30, math.inf, -math.inf, math.nan, -0.0]
INT_CONSTS = [0, 1, -1, 2, -2, 3, -3, 7, -100, INT_MAX, INT_MIN]
NP_CONSTS = [np.float64(0.1), np.float32(-2.0), np.int32(3), np.float64(-1.5), np.int64(-2), np.bool_(True)]
GROUP_WEIGHTS = {"unary": 4, "const": 4, "binary": 2.5, "ndarray": 0.6, "compare": 1.2, "where": 1, "cast": 1, "reduce": 3,
                 "movement": 3, "matmul": 1.5, "creation": 0.2, "gradient": 0.8}
EPILOGUES = ["add", "add_const", "relu", "tanh", "sigmoid", "gelu", "gt_const", "lt_const", "cast", "mul", "sum",
             "maximum_const", "where", "exp", "softmax"]


class Var:
    __slots__ = ("name", "value", "grad")

    def __init__(self, name: str, value: RV, grad: bool):
        self.name, self.value, self.grad = name, value, grad

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self):
        return len(self.value.shape)

    @property
    def size(self):
        return math.prod(self.value.shape)


class Gen:
    """The state of one program being drawn; op rows call back into it (fuzz_ops).

    Hypothesis draws the program's seed; every choice after that comes from a random.Random
    seeded with it. (Drawn one by one through hypothesis, the choices lean hard toward the first
    option of every list, so one op would dominate; the fuzzer shrinks failures itself.)"""

    def __init__(self, data):
        seed = data.draw(st.integers(0, 2**64 - 1), label="program seed")
        self.seed = seed
        self.rand = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.use_grad = self.chance(0.6)
        self.ref = Ref(strict=True)
        self.inputs: list[Input] = []
        self.instrs: list[Instr] = []
        self.vars: list[Var] = []
        self.focus: Var | None = None  # an epilogue's operand
        self.counter = 0

    # -- drawing --------------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return self.rand.random() < p

    def choice(self, seq):
        return self.rand.choice(list(seq))

    def integer(self, lo: int, hi: int) -> int:
        return self.rand.randint(lo, hi)

    def draw_subset(self, seq, k: int) -> list:
        return self.rand.sample(list(seq), self.rand.randint(1, min(k, len(seq))))

    def draw_permutation(self, n: int) -> list[int]:
        order = list(range(n))
        self.rand.shuffle(order)
        return order

    # -- variables ------------------------------------------------------------------------
    def candidates(self, dtypes=ALL, ndim_min: int = 0, grad: bool = False) -> list[Var]:
        return [v for v in self.vars if v.dtype in dtypes and v.ndim >= ndim_min and (v.grad or not grad)]

    def has(self, **kw) -> bool:
        return bool(self.candidates(**kw))

    def pick(self, dtypes=ALL, ndim_min: int = 0, grad: bool = False) -> Var:
        if self.focus is not None:
            v, self.focus = self.focus, None
            if v.dtype in dtypes and v.ndim >= ndim_min and (v.grad or not grad):
                return v
        found = self.candidates(dtypes, ndim_min, grad)
        if not found:
            if grad:
                raise Skip("no variable with a gradient")
            shape = self.choice([s for s in SHAPES if len(s) >= ndim_min])
            dtype = self.choice([d for d in dtypes if d != "float64"] or dtypes)
            return self.new_input(shape, dtype)
        recent = found[::-1]  # recent variables are likelier: subexpressions get reused
        return recent[min(self.integer(0, len(recent) - 1), self.integer(0, len(recent) - 1))]

    def pick_in_domain(self, domain=None, p_fix: float = 0.8) -> Var:
        """A variable the op is defined on (domain: a predicate on the values); now and then one
        outside it, to check nan and inf where they belong."""
        if domain is None:
            return self.pick()
        if self.focus is not None:
            x = self.pick()
        else:
            inside = [v for v in self.candidates() if bool(domain(v.value.t.detach().double()).all())]
            if inside and self.chance(0.85):
                return self.choice(inside[::-1][:4])
            x = self.pick()
        if x.dtype != "bool" and not bool(domain(x.value.t.detach().double()).all()) and self.chance(p_fix):
            x = self.emit("abs", [x], {})
            x = self.emit("add_const", [x], {"c": self.choice([0.5, 1, 0.25]), "side": "right"})
        return x

    def existing_or_new(self, shape, dtypes=ALL) -> Var:
        found = [v for v in self.candidates(dtypes) if v.shape == tuple(shape)]
        if found and self.chance(0.5):
            return self.choice(found[::-1][:4])
        return self.new_input(tuple(shape))

    def partner(self, shape) -> Var:
        """A variable whose shape broadcasts with `shape` (an existing one or a new input)."""
        def fits(s):
            try:
                return math.prod(np.broadcast_shapes(tuple(shape), s)) <= 64
            except ValueError:
                return False
        found = [v for v in self.vars if fits(v.shape)]
        if found and self.chance(0.6):
            return self.choice(found[::-1][:5])
        shapes = [s for s in SHAPES if fits(s)]
        if not shapes:
            raise Skip("nothing broadcasts with this shape")
        return self.new_input(self.choice(shapes))

    def new_array(self, shape) -> np.ndarray:
        """A numpy array (not a Tensor) whose shape broadcasts with `shape`."""
        def fits(s):
            try:
                return math.prod(np.broadcast_shapes(tuple(shape), s)) <= 64
            except ValueError:
                return False
        s = self.choice([s for s in SHAPES if fits(s)] or [()])
        kind = self.choice(["float32", "float32", "float64", "int32", "int64", "bool"])
        if kind in FLOATS:
            return float_values(self.rng, s, self.choice(["normal", "kinks", "positive"])).astype(kind)
        if kind == "bool":
            return self.rng.random(s) < 0.5
        return int_values(self.rng, s, "small").astype(kind)

    def grad_leaves(self) -> list[Var]:
        names = {i.name for i in self.inputs if i.requires_grad}
        return [v for v in self.vars if v.name in names]

    def const_for(self, dtype: str, same_kind: bool = False, positive: bool = False):
        """A Python (or numpy) scalar to combine with a tensor of this dtype."""
        kind = dtype if same_kind else self.choice([dtype, dtype, dtype, "bool", "int32", "float32", "numpy"])
        if kind == "numpy":
            c = self.choice(NP_CONSTS)
        elif kind == "bool":
            c = self.choice([True, False])
        elif kind == "int32":
            c = self.choice(INT_CONSTS)
        else:
            c = self.choice(FLOAT_CONSTS)
        if positive:
            c = self.choice([2, 2.5, 0.5, 3, 10.0, 1.5])
        return c

    # -- building -------------------------------------------------------------------------
    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, op: str, args: list[Var], params: dict) -> Var:
        """Append one op call, evaluating it on the reference (Reject if undefined there)."""
        value = OPS[op].ref(self.ref, [a.value for a in args], params)
        if math.prod(value.shape) > 64 or len(value.shape) > 4:
            raise Reject("too big")
        if 0 in value.shape:
            raise Reject("empty")
        # a gradient flows through float results only: an int or bool one (argmax, a
        # comparison, a cast) cuts it, and a loss made from it is not differentiable (torch
        # raises on its backward, and so do we where the graph shows it, as for argmax of a
        # 0-d tensor, which is the constant 0)
        grad = any(a.grad for a in args) and op not in ("detach", "like") and value.dtype in FLOATS
        if op == "gradient":  # a gradient depends on the inputs only if the function is not linear
            grad = bool(value.t.requires_grad)
        var = Var(self.fresh(), value, grad)
        self.instrs.append(Instr(var.name, op, tuple(a.name for a in args), params))
        self.vars.append(var)
        return var

    def new_input(self, shape, dtype: str | None = None) -> Var:
        shape = tuple(shape)
        if dtype is None:
            dtype = self.choice(["float32"] * 7 + ["int32", "int32", "bool", "float64"])
        if dtype == "float32" or dtype == "float64":
            values = float_values(self.rng, shape, self.choice(FLOAT_PROFILES)).astype(dtype)
        elif dtype == "int32":
            values = int_values(self.rng, shape, self.choice(INT_PROFILES))
        else:
            values = self.rng.random(shape) < 0.5
        layout = self.choice(LAYOUTS) if shape else "contiguous"
        requires_grad = dtype in FLOATS and self.use_grad and self.chance(0.85)
        return self._place(values, layout, requires_grad)

    def _place(self, values: np.ndarray, layout: str, requires_grad: bool) -> Var:
        """An input holding `values`, built as the given kind of view of its memory."""
        shape = values.shape
        steps = []  # (op, params) turning the stored array into `values`
        stored = values
        if layout == "permuted" and len(shape) >= 2:
            order = tuple(int(i) for i in self.rng.permutation(len(shape)))
            stored = np.ascontiguousarray(np.transpose(values, np.argsort(order)))
            steps.append(("permute", {"order": order}))
        elif layout == "sliced":
            stored = np.round(self.rng.standard_normal(tuple(2 * s + 1 for s in shape)), 2).astype(values.dtype)
            stored[tuple(slice(1, None, 2) for _ in shape)] = values
            steps.append(("getitem", {"key": tuple(slice(1, None, 2) for _ in shape)}))
        elif layout == "expanded" and any(s > 1 for s in shape):
            small = tuple(1 if s > 1 and i % 2 == 0 else s for i, s in enumerate(shape))
            if small == shape:
                small = (1,) + shape[1:]
            stored = np.ascontiguousarray(values[tuple(slice(0, n) for n in small)])
            steps.append(("expand", {"shape": shape}))
        elif layout == "flipped":
            axes = tuple(i for i in range(len(shape)) if self.rng.random() < 0.6) or (0,)
            stored = np.ascontiguousarray(np.flip(values, axes))
            steps.append(("flip", {"axis": axes if len(axes) > 1 else axes[0]}))
        name = f"x{len(self.inputs)}"
        self.inputs.append(Input(name, stored, requires_grad))
        var = Var(name, self.ref.leaf(stored, requires_grad), requires_grad)
        self.vars.append(var)
        for op, params in steps:
            var = self.emit(op, [var], params)
        return var

    def program(self, outputs: list[str], grad: GradSpec | None, together: bool) -> Program:
        return Program(list(self.inputs), list(self.instrs), outputs, grad, together)


# --------------------------------------------------------------------------- values

def float_values(rng: np.random.Generator, shape, profile: str) -> np.ndarray:
    n = math.prod(shape)
    if profile == "positive":
        v = np.round(rng.uniform(0.05, 4, n), 2)
    elif profile == "kinks":  # exact zeros and ties: relu/abs/max at their kinks, argmax ties
        v = rng.choice([0.0, 0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0], n)
    elif profile == "large":  # sigmoid/exp/softplus saturation and overflow
        v = rng.choice([-1, 1], n) * rng.choice([15.0, 30.0, 50.0, 90.0, 100.0, 1e4, 1e6, 1e30, 3e38], n)
    elif profile == "tiny":
        v = np.array([float(f"{x:.2g}") for x in rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-30, -3, n)])
    else:
        v = np.round(rng.uniform(-3, 3, n), 2)
        kink = rng.random(n)  # exact zeros and ties, where relu/abs/max/clip have their kinks
        v = np.where(kink < 0.12, 0.0, np.where(kink > 0.9, v[rng.integers(0, n, n)], v))
        if profile == "special":
            v = np.where(rng.random(n) < 0.3, rng.choice([math.inf, -math.inf, math.nan], n), v)
        elif profile == "logits":  # -inf logits for softmax, logsumexp
            v = np.where(rng.random(n) < 0.35, -math.inf, v)
        elif profile == "nan":
            v[rng.integers(0, n)] = math.nan
    return v.reshape(shape)


def int_values(rng: np.random.Generator, shape, profile: str) -> np.ndarray:
    n = math.prod(shape)
    if profile == "extreme":  # INT_MIN for min/argmin/clip (whose -x overflows)
        v = rng.choice([INT_MIN, INT_MAX, INT_MIN + 1, 0, -1, 1, 5], n)
    elif profile == "nonneg":
        v = rng.integers(0, 5, n)
    else:
        v = rng.integers(-4, 5, n)
    return v.astype(np.int32).reshape(shape)


# --------------------------------------------------------------------------- programs

def _draw_op_name(g: Gen) -> str:
    groups = [k for k in GROUP_WEIGHTS if k != "gradient" or g.grad_leaves()]
    weights = np.array([GROUP_WEIGHTS[k] for k in groups], dtype=float)
    group = groups[_weighted(g, weights)]
    names = [o.name for o in OPS.values() if o.group == group]
    return names[_weighted(g, np.array([OPS[n].weight for n in names]))]


def _weighted(g: Gen, weights: np.ndarray) -> int:
    return g.rand.choices(range(len(weights)), weights=list(weights))[0]


def _try_op(g: Gen, name: str, focus: Var | None = None) -> Var | None:
    n_instrs, n_inputs, n_vars = len(g.instrs), len(g.inputs), len(g.vars)
    g.focus = focus
    try:
        args, params = OPS[name].draw(g)
        return g.emit(name, args, params)
    except (Skip, Reject):
        # roll back whatever the failed draw added (new inputs, domain fixes)
        del g.instrs[n_instrs:], g.inputs[n_inputs:], g.vars[n_vars:]
        return None
    finally:
        g.focus = None


def draw_program(data, max_ops: int = 8) -> Program:
    g = Gen(data)
    for _ in range(g.integer(1, 2)):
        g.new_input(g.choice(SHAPES))
    n_ops = g.integer(1, max_ops)
    made = 0
    for _ in range(n_ops * 4):
        if made >= n_ops:
            break
        name = _draw_op_name(g)
        var = _try_op(g, name)
        if var is None:
            continue
        made += 1
        if name == "matmul" and g.chance(0.7):  # an epilogue on the matmul result
            epilogue = g.choice(EPILOGUES)
            if epilogue == "add" and g.chance(0.5):
                a_name = g.instrs[-1].args[0]
                operand = next(v for v in g.vars if v.name == a_name)
                try:
                    np.broadcast_shapes(var.shape, operand.shape)
                    g.emit("add", [var, operand], {})  # the epilogue reads a matmul operand again
                    continue
                except (ValueError, Reject):
                    pass
            _try_op(g, epilogue, focus=var)
    if not g.instrs:
        _try_op(g, "cast") or _try_op(g, "contiguous")
    return finish_program(g)


def finish_program(g: Gen) -> Program:
    used = {a for i in g.instrs for a in i.args}
    input_names = {i.name for i in g.inputs}
    layout_only = {i.out for i in g.instrs if i.args and i.args[0] in input_names and i.op in ("permute", "getitem", "expand", "flip")}
    sinks = [v for v in g.vars if v.name not in used and v.name not in input_names]
    outputs = [v.name for v in sinks if v.name not in layout_only or len(sinks) == 1] or [g.vars[-1].name]
    extra = [v.name for v in g.vars if v.name in used and v.name not in input_names]
    if extra and g.chance(0.25):
        outputs.append(g.choice(extra))  # an intermediate read by a consumer and by the user
    outputs = outputs[-4:]
    grad = None
    leaves = [i.name for i in g.inputs if i.requires_grad]
    losses = [v for v in g.vars if v.name in outputs and v.dtype in FLOATS and v.grad]
    if leaves and losses and g.chance(0.85):
        loss = losses[-1] if g.chance(0.7) else g.choice(losses)
        mode = g.choice(["gradient", "gradient", "backward", "backward2", "second", "second"])
        weight = np.round(g.rng.standard_normal(loss.shape), 1).astype(loss.dtype)
        targets = tuple(leaves)
        weights2 = tuple(np.round(g.rng.standard_normal(next(i.value for i in g.inputs if i.name == t).shape), 1)
                         .astype(next(i.value for i in g.inputs if i.name == t).dtype) for t in targets)
        grad = GradSpec(mode, loss.name, weight, targets, weights2 if mode == "second" else ())
    return g.program(outputs, grad, together=g.chance(0.7))
