"""Reverse-mode differentiation on the lazy graph.

Each primitive op has one rule that maps the gradient of its output to gradients of its
inputs, written with Tensor ops, so a gradient is itself a lazy graph: it fuses into kernels
like any forward computation, and it can be differentiated again (second order, Hessian-
vector products). Only the ~25 primitive ops need rules; relu, softmax, conv2d, ... are
compositions and get their gradients for free.

The sweep visits nodes in reverse topological order (an iterative sort, no recursion), and
only the nodes through which a gradient can flow (Node.requires_grad).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np

from tinygradlike import runtime
from tinygradlike.graph import Node, Op, next_serial
from tinygradlike.scheduler import differentiable_order, gradient_structure
from tinygradlike.templates import TemplateCache

if TYPE_CHECKING:
    from tinygradlike.tensor import Tensor


def _tensor(node: Node) -> Tensor:
    from tinygradlike.tensor import Tensor

    return Tensor(node)


def toposort_differentiable(root: Node) -> list[Node]:
    """Nodes a gradient can flow through from `root`, sources first (the compiled sort)."""
    return differentiable_order(root)


# --- rules: (node, output value, upstream gradient) -> one gradient (or None) per source ---

def _src(node: Node, i: int = 0) -> Tensor:
    return _tensor(node.srcs[i])


def _cast(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    x = _src(node)
    return [g.cast(x.dtype) if x.dtype.is_float else None]


def _custom(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    custom_op, inputs = node.arg
    return custom_op.gradients(g, [_tensor(n) for n in inputs])


def _pow(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    x, y = _src(node, 0), _src(node, 1)
    # 0 ** y (y >= 0) is constant in y and x ** 0 constant in x: there the derivative is 0,
    # as torch's first one (not 0 * -inf from log(0), nor 0 * inf from 0 ** -1). The masked
    # branches compute with 1 in place of x, so no inf or nan hides in them to come out
    # in a second derivative (the where gradient selects, but the branch's own rules multiply)
    flat_y, flat_x = (x == 0) * (y >= 0), y == 0
    dx = flat_x.where(0.0, g * y * flat_x.where(1.0, x).pow(y - 1))
    dy = flat_y.where(0.0, g * out * flat_y.where(1.0, x).log())
    return [dx, dy]


def _extreme(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    x, y = _src(node, 0), _src(node, 1)
    # ties split the gradient evenly, as torch.maximum and torch.minimum do
    # selected with where, not multiplied by a 0/1 share: an infinite g times 0 would be NaN
    tie = x == y
    half = tie.where(g * 0.5, 0.0)
    x_wins = (x > y) if node.op is Op.MAX else (x < y)
    y_wins = (y > x) if node.op is Op.MAX else (y < x)
    return [x_wins.where(g, half), y_wins.where(g, half)]


def _where(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    cond = _tensor(node.srcs[0])
    return [None, cond.where(g, 0.0), cond.where(0.0, g)]


def _reduce(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    x = _tensor(node.srcs[0])
    reduce_op, _axes = node.arg
    if reduce_op is Op.ADD:
        return [g.expand(x.shape)]
    # max and min: the gradient goes to the extremes, shared evenly between ties
    # (as torch.amax/amin: a 0/1 mask times g/count, so a NaN extreme, where no element equals
    # it and count is 0, spreads NaN, and an infinite g gives inf * 0 = NaN beside the extremes)
    is_max = (x == out.expand(x.shape)).cast(g.dtype)
    count = is_max.sum(axis=_axes, keepdim=True)
    return [is_max * (g / count).expand(x.shape)]


def _is_transposed(node: Node) -> bool:
    """A view that only swaps the last two axes (Linear's weight.T)."""
    if node.op is not Op.VIEW or node.move[0] != "permute":
        return False
    order = node.move[1]
    n = len(order)
    return n >= 2 and tuple(order) == tuple(range(n - 2)) + (n - 1, n - 2)


def _matmul(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    a, b = _tensor(node.srcs[0]), _tensor(node.srcs[1])
    # For an operand that is a transposed view, compute its gradient transposed, (g^T a)^T
    # instead of a^T g: the view's own rule transposes back, the two cancel, and the gradient
    # lands in the layout of the memory it belongs to (no transposing copy kernel).
    ga = (b @ g.transpose(-1, -2)).transpose(-1, -2) if _is_transposed(node.srcs[0]) else g @ b.transpose(-1, -2)
    gb = (g.transpose(-1, -2) @ a).transpose(-1, -2) if _is_transposed(node.srcs[1]) else a.transpose(-1, -2) @ g
    return [ga, gb]


def _view(node: Node, out: Tensor, g: Tensor) -> list[Tensor | None]:
    """The inverse of one movement, applied to the gradient."""
    src = node.srcs[0]
    name, param = node.move
    if name == "reshape":
        return [g.reshape(src.shape)]
    if name == "permute":
        return [g.permute(tuple(int(i) for i in np.argsort(param)))]
    if name == "expand":
        axes = tuple(i for i, (s, n) in enumerate(zip(src.shape, param)) if s != n)
        return [g.sum(axis=axes, keepdim=True) if axes else g]
    if name == "pad":
        return [g.shrink(tuple((before, before + s) for (before, _), s in zip(param, src.shape)))]
    if name == "shrink":
        return [g.pad(tuple((lo, s - hi) for (lo, hi), s in zip(param, src.shape)))]
    if name == "flip":
        return [g.flip(param)]
    if name == "stride":
        return [_unstride(g, param, src.shape)]
    raise NotImplementedError(f"no gradient rule for movement {name}")


def _unstride(g: Tensor, steps: tuple[int, ...], shape: tuple[int, ...]) -> Tensor:
    """Scatter a strided slice's gradient back: zeros between the kept elements."""
    for dim, step in enumerate(steps):
        if step == 1:
            continue
        n = g.shape[dim]
        g = g.unsqueeze(dim + 1)
        pads = [(0, 0)] * g.ndim
        pads[dim + 1] = (0, step - 1)
        g = g.pad(pads).reshape(g.shape[:dim] + (n * step,) + g.shape[dim + 2:])
        bounds = [(0, s) for s in g.shape]
        bounds[dim] = (0, shape[dim])
        g = g.shrink(bounds)
    return g


# The op table of the gradient rules: one entry per op.
RULES: dict[Op, Callable] = {
    Op.NEG: lambda node, out, g: [-g],
    Op.EXP: lambda node, out, g: [g * out],
    Op.LOG: lambda node, out, g: [g / _src(node)],
    Op.EXP2: lambda node, out, g: [g * out * math.log(2)],
    Op.LOG2: lambda node, out, g: [g / (_src(node) * math.log(2))],
    Op.LOG1P: lambda node, out, g: [g / (_src(node) + 1)],
    Op.SQRT: lambda node, out, g: [g / (out * 2)],
    Op.SIN: lambda node, out, g: [g * _src(node).cos()],
    Op.COS: lambda node, out, g: [-(g * _src(node).sin())],
    Op.TANH: lambda node, out, g: [g * (1 - out * out)],
    Op.ERF: lambda node, out, g: [g * (2 / math.sqrt(math.pi)) * (-(_src(node) * _src(node))).exp()],
    Op.RECIP: lambda node, out, g: [-(g * out * out)],
    Op.CAST: _cast,
    Op.COPY: lambda node, out, g: [g],
    Op.DETACH: lambda node, out, g: [None],
    Op.CUSTOM: _custom,
    Op.ADD: lambda node, out, g: [g, g],
    Op.MUL: lambda node, out, g: [g * _src(node, 1), g * _src(node, 0)],
    Op.DIV: lambda node, out, g: [g / _src(node, 1), -(g * out / _src(node, 1))],
    Op.POW: _pow,
    Op.MAX: _extreme,
    Op.MIN: _extreme,
    Op.CMPLT: lambda node, out, g: [None, None],  # piecewise constant
    Op.CMPEQ: lambda node, out, g: [None, None],
    Op.WHERE: _where,
    Op.REDUCE: _reduce,
    Op.MATMUL: _matmul,
    Op.VIEW: _view,
}


# gradient_structure key -> (Template, which targets get a gradient)
_templates = TemplateCache(512)


def gradients(root: Node, seed: Tensor, targets: list[Node]) -> list[Tensor | None]:
    """d(root)/d(target) for each target, as lazy tensors (None where root does not depend on it).

    `seed` is the gradient of root itself (ones for a scalar loss).

    A backward pass seen before is not derived again: the rules build the same graph from a
    forward graph of the same structure (scheduler.gradient_structure), so the first build is
    kept as a templates.Template and copied onto the new forward graph, one node construction per
    gradient node. A training loop's backward pays the rules' Python once."""
    order = toposort_differentiable(root)
    key, inputs = gradient_structure(order, [seed.node, *targets])
    known = _templates.find(key)
    if known is not None:
        template, has = known
        runtime.count("backward_graphs_copied")
        nodes = iter(template.instantiate(inputs))
        return [_tensor(next(nodes)) if h else None for h in has]
    since = next_serial()
    grads = _derive(root, seed, targets, order)
    runtime.count("backward_graphs_derived")
    made = [g.node for g in grads if g is not None]
    _templates.record(key, inputs, made or None, since, tuple(g is not None for g in grads))
    return grads


def _derive(root: Node, seed: Tensor, targets: list[Node], order: list[Node]) -> list[Tensor | None]:
    """The gradients by the rules, node by node in reverse topological order."""
    grads: dict[int, Tensor] = {id(root): seed}
    for node in reversed(order):
        g = grads.get(id(node))
        if g is None or not node.grad_srcs:
            continue
        rule = RULES.get(node.op)
        if rule is None:
            raise NotImplementedError(f"no gradient rule for {node.op}")
        for src, contribution in zip(node.grad_srcs, rule(node, _tensor(node), g)):
            if contribution is None or not src.requires_grad:
                continue
            if contribution.dtype != src.dtype:
                contribution = contribution.cast(src.dtype)
            previous = grads.get(id(src))
            grads[id(src)] = contribution if previous is None else previous + contribution
    return [grads.get(id(t)) for t in targets]
