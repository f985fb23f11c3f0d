"""The lazy graph: nodes of primitive ops, with shape and dtype, built by tensor.py.

A Node is plain data. Nothing here computes: the scheduler groups nodes into kernels,
codegen turns the groups into OpenCL C, the runtime runs them. A node that has been
computed keeps its result in `buffer`; from then on the scheduler treats it as memory.

The op set is small and closed. Everything else (relu, softmax, conv2d, ...) is composed
from these in tensor.py, so gradients only need rules for these few.
"""
from __future__ import annotations

from enum import Enum
from typing import Any

from tinygradlike.dtypes import DType, dtypes


class Op(Enum):
    """The op table of the graph: each op's name and kind (source, unary, binary, ternary,
    reduce, matmul, movement). The kind sets below, and so fusion, follow from it."""

    # members are singletons: identity hashing (Enum's own hashes the name in Python, and
    # the schedule key hashes an op per node)
    __hash__ = object.__hash__

    def __new__(cls, name: str, kind: str):
        op = object.__new__(cls)
        op._value_ = name
        op.kind = kind
        return op

    BUFFER = ("buffer", "source")    # device memory (an upload or a computed result)
    CONST = ("const", "source")      # one number, shape (), broadcast by views; never merged with equal constants
    NEG = ("neg", "unary")
    EXP = ("exp", "unary")
    LOG = ("log", "unary")
    EXP2 = ("exp2", "unary")         # its own op: exp(x * ln 2) misses 2**13 = 8192 by an ulp
    LOG2 = ("log2", "unary")         # its own op: log(x) / ln 2 misses log2(8192) = 13 by an ulp
    LOG1P = ("log1p", "unary")       # its own op: log(1 + x) loses every digit of x below 1e-8
    SQRT = ("sqrt", "unary")
    SIN = ("sin", "unary")
    COS = ("cos", "unary")           # its own op (not sin(x + pi/2)): that shift loses precision for large x
    TANH = ("tanh", "unary")         # its own op: 2*sigmoid(2x)-1 cancels badly near 0
    ERF = ("erf", "unary")           # the exact GELU's; OpenCL C has it built in
    RECIP = ("recip", "unary")
    CAST = ("cast", "unary")         # arg: target DType
    COPY = ("copy", "unary")         # identity that the scheduler must materialize (contiguous(), matmul operands)
    DETACH = ("detach", "unary")     # identity for the forward pass, stops gradients
    CUSTOM = ("custom", "unary")     # identity of srcs[0] (a custom op's forward value); arg: (CustomOp, inputs)
    ADD = ("add", "binary")
    MUL = ("mul", "binary")
    DIV = ("div", "binary")
    POW = ("pow", "binary")
    MAX = ("max", "binary")
    MIN = ("min", "binary")          # its own op: -max(-a, -b) overflows at INT_MIN
    CMPLT = ("cmplt", "binary")
    CMPEQ = ("cmpeq", "binary")
    WHERE = ("where", "ternary")
    # arg is (Op.ADD, Op.MAX or Op.MIN, axes); the result keeps reduced axes as size 1
    REDUCE = ("reduce", "reduce")
    # srcs (a, b) shaped (*batch, M, K) and (*batch, K, N)
    MATMUL = ("matmul", "matmul")
    # srcs (the moved node,); arg is a ShapeTracker from the *base's* contiguous memory to this
    # node's shape, so codegen reads through one tracker however long the chain; `move` keeps
    # the single movement (name, parameter) for the gradient rules
    VIEW = ("view", "movement")


UNARY = frozenset(op for op in Op if op.kind == "unary")
BINARY = frozenset(op for op in Op if op.kind == "binary")
ELEMENTWISE = frozenset(op for op in Op if op.kind in ("unary", "binary", "ternary"))


# The Node class is an extension type in the compiled core (scheduler.pyx, "Tensor graph
# nodes"): its fields are read as C struct members by the walks there. Imported after Op and
# ELEMENTWISE exist, which the core imports from here.
from tinygradlike.scheduler import Node, next_serial  # noqa: E402


def const_node(value: Any, dtype: DType) -> Node:
    return Node(Op.CONST, (), value, dtype, ())


def buffer_node(buffer, dtype: DType, shape: tuple[int, ...], requires_grad: bool = False) -> Node:
    return Node(Op.BUFFER, (), None, dtype, shape, buffer, requires_grad=requires_grad)


def result_dtype(op: Op, srcs: tuple[Node, ...]) -> DType:
    """Comparisons give bool; WHERE takes its branches' dtype; the rest keep their inputs'."""
    if op in (Op.CMPLT, Op.CMPEQ):
        return dtypes.bool
    if op is Op.WHERE:
        return srcs[1].dtype
    return srcs[0].dtype


def to_dot(roots: list[Node], names: dict | None = None, clusters: list | None = None) -> str:
    """A Graphviz DOT picture of the graph behind `roots`: one box per node with its op, shape,
    dtype and whether it is computed (filled) or lazy. Iterative, for graphs of any depth.

    names: {node: label} puts your names on the boxes. clusters: [(title, nodes)] draws a
    frame around each group of nodes (schedule.kernel_clusters: one frame per kernel)."""
    names = {id(node): label for node, label in (names or {}).items()}
    ids: dict[int, int] = {}
    boxes: dict[int, str] = {}
    stack = list(roots)
    edges = []
    while stack:
        node = stack.pop()
        if id(node) in ids:
            continue
        ids[id(node)] = len(ids)
        label = node.op.value
        if node.op is Op.CONST:
            label += f" {node.arg!r}"
        elif node.op is Op.REDUCE:
            label += f" {node.arg[0].value} axes={node.arg[1]}"
        elif node.op is Op.VIEW and node.move is not None:
            label += f" {node.move[0]}"
        if id(node) in names:
            label = f"{_escape(names[id(node)])}: {label}"
        style = ', style=filled, fillcolor="#d8e8d8"' if node.realized else ""
        boxes[id(node)] = f'n{ids[id(node)]} [label="{label}\\n{node.shape} {node.dtype.name}"{style}];'
        for src in node.srcs:
            edges.append((src, node))
            stack.append(src)
    lines = ["digraph G {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for k, (title, members) in enumerate(clusters or []):
        inside = [boxes.pop(id(n)) for n in members if id(n) in boxes]
        if inside:
            lines += [f"  subgraph cluster_{k} {{", f'    label="{_escape(title)}"; style=rounded; color="#4060a0";']
            lines += [f"    {box}" for box in inside] + ["  }"]
    lines += [f"  {box}" for box in boxes.values()]
    lines += [f"  n{ids[id(src)]} -> n{ids[id(dst)]};" for src, dst in edges]
    lines.append("}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def memory_under(node: Node) -> list:
    """The buffers a lazy node's graph reads: its computed nodes' memory, where the walk stops
    (no recursion: graphs may be deep).

    >>> from tinygradlike import Tensor
    >>> t = Tensor([1.0]); memory_under((t * 2 + t).node) == [t.node.buffer]
    True
    """
    found, stack, seen = [], [node], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.buffer is not None:
            found.append(n.buffer)
        else:
            stack.extend(n.srcs)
    return found

