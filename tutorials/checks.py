"""Checkers for the tutorials' exercises.

Each checker takes your answer (a function or a class), tries it on cases whose right answers
come from an independent source (central differences, numpy, a brute-force count), and returns
a `Checked`: it prints as one line saying what passed or, for the first case that failed, what
was expected and what your answer gave. An answer that still raises NotImplementedError is
reported as not done yet, so a tutorial runs top to bottom before you have answered anything.

    checks.tanh_local_grad(my_tanh_local_grad)     # in a notebook, the result shows itself

The solutions live in tutorials/solutions/, apart from the text; tests/test_tutorials.py
proves that each one passes its checker and that an obviously wrong answer fails it.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinygradlike import Value


@dataclass
class Checked:
    """The outcome of one checker: `ok`, and a message for the learner."""

    exercise: str
    ok: bool
    message: str

    def __repr__(self) -> str:
        mark = "PASS" if self.ok else "NOT YET"
        return f"[{mark}] {self.exercise}: {self.message}"

    def __bool__(self) -> bool:
        return self.ok


def _run(exercise: str, cases: Callable[[], str | None]) -> Checked:
    """Run the cases; a case returns an error message, or None when it passed."""
    try:
        problem = cases()
    except NotImplementedError:
        return Checked(exercise, False, "not answered yet (your answer still raises NotImplementedError, or holds None)")
    except RecursionError:
        return Checked(exercise, False, "hit Python's recursion limit: walk the graph with your own stack")
    except Exception as e:  # the learner's code failed: say how, do not crash the notebook
        return Checked(exercise, False, f"your answer raised {type(e).__name__}: {e}")
    if problem is not None:
        return Checked(exercise, False, problem)
    return Checked(exercise, True, "all cases pass")


def _central_difference(f: Callable[[float], float], x: float, h: float = 1e-6) -> float:
    return (f(x + h) - f(x - h)) / (2 * h)


# ---------------------------------------------------------------- 01: a Value and its graph

def _diamond_and_chain():
    """Graphs whose node counts are known by construction."""
    a = Value(2.0)
    b = a + a          # a diamond: a is read twice, counted once
    c = b * b
    yield c, 3
    x = Value(1.0)
    y = x
    for _ in range(50):
        y = y * 1.01 + x   # each step: a constant for 1.01, a *, a +
    yield y, 1 + 50 * 3
    leaf = Value(5.0)
    yield leaf, 1


def count_nodes(fn: Callable) -> Checked:
    """Exercise 01.1: count_nodes(root) is the number of distinct nodes in root's graph."""
    def cases():
        for root, expected in _diamond_and_chain():
            got = fn(root)
            if got != expected:
                return f"expected {expected} nodes for a graph whose output is {root.op or 'a leaf'}, got {got}"
        deep = Value(0.0)
        for _ in range(5000):
            deep = deep + 1.0
        got = fn(deep)
        if got != 10001:
            return f"a chain of 5000 additions of a constant has 10001 nodes, got {got}"
        return None
    return _run("01.1 count_nodes", cases)


def sub(fn: Callable) -> Checked:
    """Exercise 01.2: sub(a, b) is a - b built only from + and * (and constants)."""
    def cases():
        for x, y in [(3.0, 1.0), (-2.5, 4.0), (0.0, -0.0), (1e10, 1.0)]:
            a, b = Value(x), Value(y)
            out = fn(a, b)
            if not isinstance(out, Value):
                return f"sub should return a Value, got {type(out).__name__}"
            if out.data != x - y:
                return f"sub({x}, {y}) gave {out.data}, expected {x - y}"
            ops = {n.op for n in _nodes(out)} - {""}
            if not ops <= {"+", "*"}:
                return f"sub used the ops {sorted(ops)}; build it from + and * only"
        return None
    return _run("01.2 sub", cases)


def _nodes(root) -> list:
    seen, stack, found = set(), [root], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found.append(node)
        stack.extend(node.srcs)
    return found


# ---------------------------------------------------------------- 02: backprop by hand

def tanh_local_grad(fn: Callable[[float], float]) -> Checked:
    """Exercise 02.1: tanh_local_grad(x) is d tanh(x) / dx."""
    def cases():
        for x in [-20.0, -3.0, -0.5, 0.0, 1e-9, 0.7, 2.0, 19.0]:
            expected = _central_difference(math.tanh, x)
            got = fn(x)
            if not math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
                return f"at x = {x}: expected {expected:.9g} (central differences), got {got!r}"
        return None
    return _run("02.1 tanh_local_grad", cases)


def pow_local_grad(fn: Callable[[float, float], float]) -> Checked:
    """Exercise 02.2: pow_local_grad(x, n) is d (x ** n) / dx for a constant n."""
    def cases():
        for x, n in [(2.0, 3.0), (0.5, -1.0), (3.0, 0.5), (1.5, 0.0), (-2.0, 2.0), (4.0, 1.0)]:
            expected = _central_difference(lambda v: v ** n, x)
            got = fn(x, n)
            if not math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-8):
                return f"at x = {x}, n = {n}: expected {expected:.9g} (central differences), got {got!r}"
        return None
    return _run("02.2 pow_local_grad", cases)


def mul_backward(fn: Callable[[float, float, float], tuple]) -> Checked:
    """Exercise 02.3: mul_backward(a, b, g) is (dL/da, dL/db) for out = a * b, g = dL/dout."""
    def cases():
        rng = random.Random(2)
        for _ in range(20):
            a, b, g = (rng.uniform(-3, 3) for _ in range(3))
            expected = (_central_difference(lambda v: g * v * b, a), _central_difference(lambda v: g * a * v, b))
            got = fn(a, b, g)
            if len(got) != 2 or not all(math.isclose(u, v, rel_tol=1e-6, abs_tol=1e-8) for u, v in zip(got, expected)):
                return f"for a = {a:.3f}, b = {b:.3f}, g = {g:.3f}: expected {expected}, got {got!r}"
        return None
    return _run("02.3 mul_backward", cases)


# ---------------------------------------------------------------- 03: topological order

def topo_sort(fn: Callable) -> Checked:
    """Exercise 03.1: topo_sort(root) lists every node of root's graph once, sources before
    the nodes that read them, for graphs of any depth."""
    def is_order(root, order) -> str | None:
        everything = _nodes(root)
        if len(order) != len(everything) or len({id(n) for n in order}) != len(order):
            return f"the order should hold each of the {len(everything)} nodes once; it has {len(order)} entries"
        position = {id(n): i for i, n in enumerate(order)}
        for node in order:
            for src in node.srcs:
                if position.get(id(src), len(order)) > position[id(node)]:
                    return f"a {node.op or 'leaf'} node comes before its source {src.op or 'leaf'}"
        if order[-1] is not root:
            return "the root should come last (it reads everything else)"
        return None

    def cases():
        for root, _ in _diamond_and_chain():
            problem = is_order(root, list(fn(root)))
            if problem:
                return problem
        deep = Value(0.5)
        for _ in range(20000):
            deep = deep * 1.0
        return is_order(deep, list(fn(deep)))
    return _run("03.1 topo_sort", cases)


# ---------------------------------------------------------------- 04: a neural net of scalars

def hinge_loss(fn: Callable) -> Checked:
    """Exercise 04.1: hinge_loss(scores, labels) = mean(max(0, 1 - label * score)) over Values
    and labels of +1/-1, as a Value whose backward gives the right gradients."""
    def cases():
        rng = np.random.default_rng(4)
        for n in (1, 5, 12):
            s = rng.normal(size=n) * 2
            y = rng.choice([-1.0, 1.0], size=n)
            scores = [Value(float(v)) for v in s]
            loss = fn(scores, [float(v) for v in y])
            margins = 1 - y * s
            expected = np.maximum(margins, 0).mean()
            if not isinstance(loss, Value):
                return f"hinge_loss should return a Value, got {type(loss).__name__}"
            if not math.isclose(loss.data, expected, rel_tol=1e-12, abs_tol=1e-12):
                return f"for scores {np.round(s, 3).tolist()} and labels {y.tolist()}: expected {expected}, got {loss.data}"
            loss.backward()
            grads = np.where(margins > 0, -y / n, 0.0)
            got = np.array([v.grad for v in scores])
            if not np.allclose(got, grads, atol=1e-12):
                return f"gradients of the scores: expected {grads.tolist()}, got {got.tolist()}"
        return None
    return _run("04.1 hinge_loss", cases)


def count_parameters(fn: Callable[[list], int]) -> Checked:
    """Exercise 04.2: count_parameters(sizes) of an MLP with layer sizes like [2, 16, 16, 1]
    (each neuron has one weight per input and a bias)."""
    def cases():
        for sizes in ([2, 1], [2, 16, 16, 1], [3, 4, 4, 1], [10, 5]):
            expected = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
            got = fn(sizes)
            if got != expected:
                return f"an MLP of sizes {sizes} has {expected} parameters, got {got}"
        return None
    return _run("04.2 count_parameters", cases)


# ---------------------------------------------------------------- 05: tensors and views

_SHAPES = [(), (5,), (2, 3), (4, 1, 3), (2, 3, 4, 5), (1, 1), (7, 0, 2)]


def contiguous_strides(fn: Callable) -> Checked:
    """Exercise 05.1: contiguous_strides(shape), in elements, as numpy lays out a new array."""
    def cases():
        for shape in _SHAPES:
            expected = tuple(s // 8 for s in np.zeros(shape).strides) if 0 not in shape else None
            got = tuple(fn(shape))
            if expected is not None and got != expected:
                return f"shape {shape}: expected strides {expected} (numpy's, in elements), got {got}"
            if len(got) != len(shape):
                return f"shape {shape} needs {len(shape)} strides, got {got}"
        return None
    return _run("05.1 contiguous_strides", cases)


def permute_view(fn: Callable) -> Checked:
    """Exercise 05.2: permute_view(shape, strides, order) -> (shape, strides) of the permuted view."""
    def cases():
        rng = np.random.default_rng(5)
        for shape in [(2, 3), (4, 1, 3), (2, 3, 4, 5)]:
            base = np.arange(int(np.prod(shape))).reshape(shape)
            for _ in range(4):
                order = tuple(int(k) for k in rng.permutation(len(shape)))
                strides = tuple(s // base.itemsize for s in base.strides)
                new_shape, new_strides = fn(shape, strides, order)
                view = np.lib.stride_tricks.as_strided(base, tuple(new_shape),
                                                       tuple(s * base.itemsize for s in new_strides))
                if not np.array_equal(view, base.transpose(order)):
                    return (f"permuting shape {shape} (strides {strides}) by {order}: your view "
                            f"{tuple(new_shape)}/{tuple(new_strides)} does not read base.transpose({order})")
        return None
    return _run("05.2 permute_view", cases)


def broadcast_shape(fn: Callable) -> Checked:
    """Exercise 05.3: broadcast_shape(a, b): numpy's broadcast result, or ValueError."""
    def cases():
        pairs = [((2, 3), (3,)), ((4, 1), (1, 5)), ((), (2, 2)), ((3, 1, 2), (4, 2)), ((1,), (7,)),
                 ((2, 3), (4,)), ((2, 1), (3, 2, 2)), ((5, 4), (5, 1, 4)), ((0, 3), (1, 3))]
        for a, b in pairs:
            try:
                expected = np.broadcast_shapes(a, b)
            except ValueError:
                expected = ValueError
            try:
                got = tuple(fn(a, b))
            except ValueError:
                got = ValueError
            if got != expected:
                what = "a ValueError" if expected is ValueError else expected
                return f"broadcast_shape({a}, {b}): expected {what}, got {'a ValueError' if got is ValueError else got}"
        return None
    return _run("05.3 broadcast_shape", cases)


# ---------------------------------------------------------------- 06: laziness and fusion

def _kernel_count_expressions():
    from tinygradlike import Tensor

    rng = np.random.default_rng(6)
    x = Tensor(rng.normal(size=(4, 8)).astype(np.float32))
    return {
        "chain": lambda: [((x * 2 + 1).relu() - 3).exp()],
        "sum_of_squares": lambda: [(x * x).sum()],
        "normalize": lambda: [x / x.sum()],
        "softmax": lambda: [x.softmax(-1)],
        "two_outputs": lambda: [x * 2, x + 1],
    }


KERNEL_COUNT_EXPRESSIONS = """\
x is a (4, 8) float32 tensor in memory. How many kernels does each of these run?
  chain:           ((x * 2 + 1).relu() - 3).exp()
  sum_of_squares:  (x * x).sum()
  normalize:       x / x.sum()
  softmax:         x.softmax(-1)
  two_outputs:     a = x * 2; b = x + 1; a.realize(b)   (both computed together)"""


def kernel_counts(predictions: dict) -> Checked:
    """Exercise 06.1: a dict name -> predicted kernel count for KERNEL_COUNT_EXPRESSIONS."""
    from tinygradlike import reset_stats, stats

    def cases():
        expressions = _kernel_count_expressions()
        if set(predictions) != set(expressions):
            return f"predict every one of {sorted(expressions)}; got {sorted(predictions)}"
        if any(p is None for p in predictions.values()):
            raise NotImplementedError
        wrong = []
        for name, build in expressions.items():
            outputs = build()
            reset_stats()
            outputs[0].realize(*outputs[1:])
            if predictions[name] != stats()["kernels_launched"]:
                wrong.append(name)
        if wrong:  # which ones, not the answers: reason again from the rules
            return f"{len(wrong)} of {len(expressions)} predictions are off: {', '.join(wrong)}"
        return None
    return _run("06.1 kernel_counts", cases)


def fused_softsign(fn: Callable) -> Checked:
    """Exercise 06.2: softsign(x) = x / (1 + |x|) for a Tensor, computed in one kernel."""
    from tinygradlike import Tensor, reset_stats, stats

    def cases():
        for shape in [(5,), (3, 7)]:
            data = np.random.default_rng(7).normal(size=shape).astype(np.float32) * 4
            x = Tensor(data)
            reset_stats()
            out = fn(x)
            got = out.numpy()
            if not np.allclose(got, data / (1 + np.abs(data)), rtol=1e-6, atol=1e-7):
                return f"softsign of {np.round(data.ravel()[:3], 3)}...: got {np.round(got.ravel()[:3], 3)}..."
            if stats()["kernels_launched"] != 1:
                return f"it ran {stats()['kernels_launched']} kernels; elementwise ops alone fuse into one"
        return None
    return _run("06.2 fused_softsign", cases)


# ---------------------------------------------------------------- 09: tensor autograd

def hvp(fn: Callable) -> Checked:
    """Exercise 09.1: hvp(f, x, v) = H(x) v for a scalar function f of a tensor x."""
    def cases():
        rng = np.random.default_rng(9)
        A = rng.normal(size=(4, 3))

        def quadratic_exp(x):  # 0.5 |A x|^2 + sum(exp(x)): H = A^T A + diag(exp(x))
            from tinygradlike import Tensor
            ax = Tensor(A) @ x
            return (ax * ax).sum() * 0.5 + x.exp().sum()

        def quartic(x):  # sum(x^4) / 4: H = diag(3 x^2)
            return (x * x * x * x).sum() * 0.25

        for f, hessian in ((quadratic_exp, lambda x: A.T @ A + np.diag(np.exp(x[:, 0]))),
                           (quartic, lambda x: np.diag(3 * x[:, 0] ** 2))):
            x = rng.normal(size=(3, 1))
            v = rng.normal(size=(3, 1))
            expected = hessian(x) @ v
            got = np.asarray(fn(f, x, v), dtype=np.float64).reshape(expected.shape)
            if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
                return f"{f.__name__} at x = {np.round(x.ravel(), 3)}: expected H v = {np.round(expected.ravel(), 4)}, got {np.round(got.ravel(), 4)}"
        return None
    return _run("09.1 hvp", cases)


def log_softmax_backward(fn: Callable) -> Checked:
    """Exercise 09.2: the gradient rule of log_softmax along the last axis, as tensor ops:
    log_softmax_backward(x, g) = dL/dx given g = dL/dy."""
    from tinygradlike import Tensor

    def log_softmax(x):
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    def cases():
        rng = np.random.default_rng(10)
        for shape in [(5,), (3, 4)]:
            x = rng.normal(size=shape) * 2
            g = rng.normal(size=shape)
            expected = np.zeros_like(x)
            for i in np.ndindex(shape):
                up, down = x.copy(), x.copy()
                up[i] += 1e-6
                down[i] -= 1e-6
                expected[i] = ((log_softmax(up) - log_softmax(down)) * g).sum() / 2e-6
            out = fn(Tensor(x), Tensor(g))
            if not isinstance(out, Tensor):
                return f"return a Tensor built from x and g, got {type(out).__name__}"
            got = out.numpy()
            if got.shape != shape or not np.allclose(got, expected, rtol=1e-5, atol=1e-7):
                return f"for x of shape {shape}: expected {np.round(expected.ravel()[:4], 5)}..., got {np.round(got.ravel()[:4], 5)}..."
        return None
    return _run("09.2 log_softmax_backward", cases)


# ---------------------------------------------------------------- 10: your own op

def custom_softsign(make: Callable) -> Checked:
    """Exercise 10.1: make() returns a CustomOp computing softsign(x) = x / (1 + |x|) whose
    registered backward is its true derivative (held to central differences by grad_check)."""
    from tinygradlike import CustomOp, Tensor
    from tinygradlike.testing import grad_check

    def cases():
        op = make()
        if not isinstance(op, CustomOp):
            return f"make() should return a CustomOp, got {type(op).__name__}"
        data = np.array([[-3.0, -0.4, 0.2], [0.9, 2.5, -1.1]])
        forward = op(Tensor(data.astype(np.float32))).numpy()
        if not np.allclose(forward, data / (1 + np.abs(data)), rtol=1e-6):
            return f"forward: expected {np.round(data / (1 + np.abs(data)), 4).tolist()}, got {np.round(forward, 4).tolist()}"
        try:
            grad_check(lambda x: op(x), data)
        except AssertionError as e:
            return f"grad_check found the registered backward wrong: {str(e).splitlines()[0]}"
        return None
    return _run("10.1 custom_softsign", cases)


# ---------------------------------------------------------------- 07: reductions on a device

def _compile(source, name):
    """The learner's kernel, or a message saying why it is not one (None, bad source)."""
    from tinygradlike import runtime

    if source is None:
        raise NotImplementedError
    try:
        return runtime.compile_kernel(source, name), None
    except runtime.CompileError as e:
        return None, f"the source does not compile:\n{e.log.strip()[:800]}"
    except ValueError as e:
        return None, str(e)


def chunk_max(source: str) -> Checked:
    """Exercise 07.1: OpenCL C source of `chunk_max(x, out, n, chunk)`: work-item i writes the
    largest of x[i*chunk : min((i+1)*chunk, n)] to out[i]."""
    from tinygradlike import runtime

    def cases():
        kernel, problem = _compile(source, "chunk_max")
        if problem:
            return problem
        rng = np.random.default_rng(11)
        for n, chunk, shift in [(1000, 64, 0.0), (777, 100, 0.0), (300, 50, -10.0), (5, 8, 0.0)]:
            x = (rng.normal(size=n) + shift).astype(np.float32)   # shift -10: every value negative
            groups = -(-n // chunk)
            out = runtime.Buffer(groups * 4)
            kernel((groups,), None, runtime.Buffer.from_numpy(x), out, np.int32(n), np.int32(chunk))
            got = out.to_numpy(np.float32, (groups,))
            expected = np.array([x[i * chunk:(i + 1) * chunk].max() for i in range(groups)])
            if not np.array_equal(got, expected):
                bad = int(np.argmax(got != expected))
                return f"n = {n}, chunk = {chunk}: out[{bad}] is {got[bad]:.5f}, expected {expected[bad]:.5f}"
        return None
    return _run("07.1 chunk_max", cases)


def bandwidth_gbps(fn: Callable) -> Checked:
    """Exercise 07.2: bandwidth_gbps(n_elements, itemsize, seconds) of a reduction, in GB/s."""
    def cases():
        for n, size, seconds in [(1 << 20, 4, 1e-3), (10**6, 8, 2e-3), (1, 4, 1.0)]:
            expected = n * size / seconds / 1e9
            got = fn(n, size, seconds)
            if not math.isclose(got, expected, rel_tol=1e-9):
                return f"{n} elements of {size} bytes in {seconds} s: expected {expected} GB/s, got {got}"
        return None
    return _run("07.2 bandwidth_gbps", cases)


# ---------------------------------------------------------------- 08: matmul

def matmul_bt(source: str) -> Checked:
    """Exercise 08.1: OpenCL C source of `matmul_bt(A, B, C, M, N, K)`, run with the global size
    (M, N): C = A @ B^T for row-major A (M x K) and B (N x K)."""
    from tinygradlike import runtime

    def cases():
        kernel, problem = _compile(source, "matmul_bt")
        if problem:
            return problem
        rng = np.random.default_rng(12)
        for m, k, n in [(3, 5, 7), (16, 16, 16), (1, 9, 4), (8, 1, 2)]:
            a = rng.normal(size=(m, k)).astype(np.float32)
            b = rng.normal(size=(n, k)).astype(np.float32)
            c = runtime.Buffer(m * n * 4)
            kernel((m, n), None, runtime.Buffer.from_numpy(a), runtime.Buffer.from_numpy(b), c,
                   np.int32(m), np.int32(n), np.int32(k))
            got = c.to_numpy(np.float32, (m, n))
            if not np.allclose(got, a @ b.T, rtol=1e-4, atol=1e-5):
                row = [round(float(v), 4) for v in got[0]]
                return f"A {m}x{k}, B {n}x{k}: row 0 of C is {row}, expected {[round(float(v), 4) for v in (a @ b.T)[0]]}"
        return None
    return _run("08.1 matmul_bt", cases)


def matmul_gflops(fn: Callable) -> Checked:
    """Exercise 08.2: matmul_gflops(m, k, n, seconds) of an (m x k) @ (k x n) product."""
    def cases():
        for m, k, n, seconds in [(512, 512, 512, 0.01), (3, 5, 7, 1e-6), (1, 1, 1, 1.0)]:
            expected = 2 * m * k * n / seconds / 1e9
            got = fn(m, k, n, seconds)
            if not math.isclose(got, expected, rel_tol=1e-9):
                return f"({m} x {k}) @ ({k} x {n}) in {seconds} s: expected {expected} GFLOPS, got {got}"
        return None
    return _run("08.2 matmul_gflops", cases)


# ---------------------------------------------------------------- 11: training

def accuracy(fn: Callable) -> Checked:
    """Exercise 11.1: accuracy(logits, labels) for numpy logits (N, classes) and int labels (N,)."""
    def cases():
        rng = np.random.default_rng(13)
        for n, classes in [(1, 3), (32, 10), (7, 2)]:
            logits = rng.normal(size=(n, classes))
            labels = rng.integers(0, classes, n)
            expected = sum(int(np.argmax(row) == label) for row, label in zip(logits, labels)) / n
            got = fn(logits, labels)
            if not math.isclose(got, expected):
                return f"{n} rows of {classes} classes: expected {expected}, got {got}"
        return None
    return _run("11.1 accuracy", cases)


def momentum_step(fn: Callable) -> Checked:
    """Exercise 11.2: momentum_step(p, g, buf, lr, momentum) -> (new p, new buf), torch's SGD."""
    def cases():
        rng = np.random.default_rng(14)
        p, buf = rng.normal(size=5), np.zeros(5)
        expected_p, expected_buf = p.copy(), buf.copy()
        for step in range(4):  # several steps: the buffer must carry over
            g = rng.normal(size=5)
            expected_buf = 0.9 * expected_buf + g
            expected_p = expected_p - 0.1 * expected_buf
            p, buf = fn(p, g, buf, 0.1, 0.9)
            if not (np.allclose(p, expected_p) and np.allclose(buf, expected_buf)):
                return f"after step {step + 1}: expected p {np.round(expected_p, 4).tolist()}, got {np.round(p, 4).tolist()}"
        return None
    return _run("11.2 momentum_step", cases)


# ---------------------------------------------------------------- 12: devices and profiling

def share_of_time(fn: Callable) -> Checked:
    """Exercise 12.1: share_of_time(report, prefix) from a tinygradlike.profile() report."""
    from tinygradlike import Tensor, profile

    def cases():
        x = Tensor(np.random.default_rng(15).normal(size=(64, 64)).astype(np.float32))
        with profile() as report:
            for _ in range(3):
                (x @ x).relu().sum().realize()
        total = sum(row[2] for row in report.rows)
        for prefix in ("matmul", "R", "E", "nothing"):
            expected = sum(row[2] for row in report.rows if row[0].startswith(prefix)) / total
            got = fn(report, prefix)
            if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
                return f"prefix {prefix!r}: expected {expected:.4f} of the time, got {got!r}"
        return None
    return _run("12.1 share_of_time", cases)


def fused_scale_shift(fn: Callable) -> Checked:
    """Exercise 12.2: fused_scale_shift(x, mean, std) = (x - mean) / std * 2 + 1 in one kernel."""
    from tinygradlike import Tensor, reset_stats, stats

    def cases():
        rng = np.random.default_rng(16)
        data = rng.normal(size=(8, 16)).astype(np.float32)
        mean, std = data.mean(axis=0), data.std(axis=0) + 1e-3
        x, m, s = Tensor(data), Tensor(mean), Tensor(std)
        reset_stats()
        got = fn(x, m, s).numpy()
        if not np.allclose(got, (data - mean) / std * 2 + 1, rtol=1e-5, atol=1e-5):
            return "the values differ from (x - mean) / std * 2 + 1"
        if stats()["kernels_launched"] != 1:
            return f"it ran {stats()['kernels_launched']} kernels; an elementwise chain read once at the end is one"
        return None
    return _run("12.2 fused_scale_shift", cases)
