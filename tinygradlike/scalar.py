"""`Value`: a scalar with autograd, micrograd's API on top of the compiled core.

Operators only build nodes; nothing is computed until `.data` is read or `backward()` runs, and
then `tinygradlike.scheduler` sorts the graph and runs the forward and reverse sweeps in C.
tutorials/01-04 build it in plain Python first and then meet this one.
"""
from __future__ import annotations

from numbers import Real

from tinygradlike.scheduler import OP_CODES, ScalarNode, apply, toposort

_NEG, _RELU, _TANH, _SIGMOID, _EXP, _LOG, _SQRT, _SIN, _COS, _ADD, _SUB, _MUL, _DIV, _POW = (
    OP_CODES[name] for name in ("neg", "relu", "tanh", "sigmoid", "exp", "log", "sqrt", "sin",
                                "cos", "add", "sub", "mul", "div", "pow"))


def _operand(x: object, symbol: str, reflected: bool) -> Value:
    """`x` as a Value: Values pass through, real numbers become leaves, anything else is an error."""
    if isinstance(x, ScalarNode):
        return x
    if isinstance(x, Real):
        return Value(x)
    shown = repr(x) if len(repr(x)) <= 60 else repr(x)[:57] + "..."
    expr = f"{shown} {symbol} Value" if reflected else f"Value {symbol} {shown}"
    raise TypeError(f"{expr}: expected a real number or a Value, got {type(x).__name__} {shown}")


class Value(ScalarNode):
    """A scalar in a lazy computation graph. `Value(3.0)` is a leaf; operators make new nodes.

    `.data` computes the value on first read; `.backward()` fills `.grad` (see its docstring for
    what a second call does); `.zero_grad()` resets; `.to_dot()` draws the graph. Math follows
    IEEE floats like numpy float64: log(0) is -inf, 1/0 is inf, sqrt(-1) is nan, never an error.
    Operators: + - * / ** and unary -, with Python numbers on either side.

    >>> a = Value(2.0); b = a * a + a
    >>> b.realized, b.op, len(b.srcs), a.is_leaf
    (False, '+', 2, True)
    >>> b.backward(); b.data, a.grad
    (6.0, 5.0)
    >>> b.zero_grad(); a.grad
    0.0
    """
    __slots__ = ()

    def __add__(self, other): return apply(_ADD, self, _operand(other, "+", False))
    def __radd__(self, other): return apply(_ADD, _operand(other, "+", True), self)
    def __sub__(self, other): return apply(_SUB, self, _operand(other, "-", False))
    def __rsub__(self, other): return apply(_SUB, _operand(other, "-", True), self)
    def __mul__(self, other): return apply(_MUL, self, _operand(other, "*", False))
    def __rmul__(self, other): return apply(_MUL, _operand(other, "*", True), self)
    def __truediv__(self, other): return apply(_DIV, self, _operand(other, "/", False))
    def __rtruediv__(self, other): return apply(_DIV, _operand(other, "/", True), self)
    def __pow__(self, other): return apply(_POW, self, _operand(other, "**", False))
    def __rpow__(self, other): return apply(_POW, _operand(other, "**", True), self)
    def __neg__(self): return apply(_NEG, self)

    def relu(self) -> Value:
        """max(x, 0), with relu'(0) = 0.

        >>> Value(-2.0).relu().data
        0.0
        """
        return apply(_RELU, self)

    def tanh(self) -> Value:
        """The hyperbolic tangent.

        >>> Value(0.0).tanh().data
        0.0
        """
        return apply(_TANH, self)

    def sigmoid(self) -> Value:
        """1 / (1 + exp(-x)).

        >>> Value(0.0).sigmoid().data
        0.5
        """
        return apply(_SIGMOID, self)

    def exp(self) -> Value:
        """e ** x (inf past float64's range, not an error).

        >>> Value(0.0).exp().data
        1.0
        """
        return apply(_EXP, self)

    def log(self) -> Value:
        """The natural logarithm: log(0) is -inf, a negative x is nan.

        >>> Value(1.0).log().data, Value(0.0).log().data
        (0.0, -inf)
        """
        return apply(_LOG, self)

    def sqrt(self) -> Value:
        """The square root (nan below 0).

        >>> Value(4.0).sqrt().data
        2.0
        """
        return apply(_SQRT, self)

    def sin(self) -> Value:
        """The sine (radians).

        >>> Value(0.0).sin().data
        0.0
        """
        return apply(_SIN, self)

    def cos(self) -> Value:
        """The cosine (radians).

        >>> Value(0.0).cos().data
        1.0
        """
        return apply(_COS, self)

    def __float__(self) -> float:
        return self.data

    def __repr__(self) -> str:
        # reading .data realizes the graph, so a print always shows numbers
        op = f", op={self.op!r}" if self.op else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{op})"

    def to_dot(self, names: dict[Value, str] | None = None) -> str:
        """The graph below this node as Graphviz DOT text, with data and grad in every node.

        `names` optionally labels some Values. Render with `dot -Tsvg` or any online viewer.

        >>> x = Value(2.0); print((x * x).to_dot(names={x: "x"}).splitlines()[2])
          n0 [shape=record, label="{ x | data 2 | grad 0 }"];
        """
        names = names or {}
        stray = next((key for key in names if not isinstance(key, ScalarNode)), None)
        if stray is not None:  # an id(x) key would match no node and silently drop every name
            raise TypeError(f"to_dot(names=...) is keyed by the Values themselves, got a {type(stray).__name__} "
                            f"key {stray!r}: write names={{x: 'x'}}, not names={{id(x): 'x'}}")
        return render_dot(self, names)


def render_dot(root: Value, names: dict[Value, str]) -> str:
    """DOT text for `root`'s graph: a record per Value, an ellipse per op, left to right
    (Value.to_dot, once its names are checked).

    >>> render_dot(Value(2.0), {}).splitlines()[0]
    'digraph G {'
    """
    root.data  # realize once, so every node below has its value
    nodes = toposort([root])
    ids = {id(node): f"n{i}" for i, node in enumerate(nodes)}
    lines = ["digraph G {", "  rankdir=LR;"]
    for node in nodes:
        nid = ids[id(node)]
        name = _escape(names[node]) + " | " if node in names else ""
        lines.append(f'  {nid} [shape=record, label="{{ {name}data {node.data:.4g} | '
                     f'grad {node.grad:.4g} }}"];')
        if node.op:
            lines.append(f'  {nid}_op [label="{_escape(node.op)}"];')
            lines.append(f"  {nid}_op -> {nid};")
            lines.extend(f"  {ids[id(src)]} -> {nid}_op;" for src in node.srcs)
    lines.append("}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    # characters with a meaning inside a DOT record label
    for ch in '\\{}|<>"':
        text = text.replace(ch, "\\" + ch)
    return text
