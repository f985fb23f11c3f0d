"""Kernels have a bounded size (schedule rule 5), so compile time grows linearly with a graph.

The structure is checked without compiling: the schedule and the rendered source of long
chains (realize.plan + codegen.render_group, which need the device only for launch sizes).
A few chains are then run for real against numpy. Timings are benchmarks/compile_scaling.py's
job, not the tests'."""
import gc
import re
import weakref

import numpy as np
import pytest

from tinygradlike import Tensor, runtime, schedule
from tinygradlike.codegen import render_group
from tinygradlike.graph import Op
from tinygradlike.realize import plan

SSA_LINE = re.compile(r"^\s+\w+ t\d+ = ", re.M)  # one line per computed node or load


def tanh_mul_chain(n, x):
    y = x
    for i in range(n):
        y = (y * 1.0001) if i % 2 else y.tanh()
    return y


def backward_chain(n):
    """The graph of x.grad after backward through n alternating tanh / mul ops."""
    x = Tensor(np.linspace(-1, 1, 64, dtype=np.float32), requires_grad=True)
    tanh_mul_chain(n, x).sum().backward()
    return x.grad


def gradients_along_a_chain(n):
    """n weights along one chain: every weight's gradient reads the forward chain up to it and
    the gradient chain back from the end (without rule 5b, quadratic code)."""
    x = Tensor(np.linspace(-1, 1, 64, dtype=np.float32))
    ws = [Tensor(np.ones(1, np.float32), requires_grad=True) for _ in range(n)]
    y = x
    for w in ws:
        y = (y * w).tanh()
    y.sum().backward()
    return [w.grad for w in ws]


def kernels_of(*tensors):
    """[(group, rendered source)] of the schedule that would realize `tensors`; compiles nothing."""
    groups, is_load = plan([t.node for t in tensors])
    device = runtime.get_device()
    return [(g, render_group(g, is_load, device).source) for g in groups]


def computed_and_read(group, is_load_root):
    """(nodes a kernel computes, buffers it reads), each distinct node once."""
    computed, reads = set(), set()
    stack = list(group.roots)
    while stack:
        node = stack.pop()
        if node.op is Op.VIEW:
            stack.append(node.base)
        elif node.op is Op.CONST or id(node) in computed:
            continue
        elif is_load_root(node):
            reads.add(id(node))
        else:
            computed.add(id(node))
            stack.extend(node.srcs)
    return len(computed), len(reads)


def assert_bounded(kernels):
    stored = {id(r) for g, _ in kernels for r in g.roots}
    for group, source in kernels:
        roots = {id(r) for r in group.roots}
        ops, reads = computed_and_read(group, lambda n: n.buffer is not None or (id(n) in stored and id(n) not in roots))
        assert ops <= schedule.MAX_KERNEL_OPS, f"{group.kind} kernel computes {ops} nodes"
        assert reads <= schedule.MAX_KERNEL_INPUTS, f"{group.kind} kernel reads {reads} buffers"
        # a reduce renders its prologue and epilogue separately: a node in both is written twice
        lines = len(SSA_LINE.findall(source))
        assert lines <= 2 * (schedule.MAX_KERNEL_OPS + schedule.MAX_KERNEL_INPUTS), lines


@pytest.mark.parametrize("n", [300, 3000])
def test_no_kernel_of_a_long_backward_chain_exceeds_the_bounds(n):
    assert_bounded(kernels_of(backward_chain(n)))


def test_kernels_and_source_of_a_backward_chain_grow_linearly():
    small, large = kernels_of(backward_chain(300)), kernels_of(backward_chain(3000))
    assert len(large) <= 12 * len(small)
    assert sum(len(s) for _, s in large) <= 12 * sum(len(s) for _, s in small)


def test_gradients_along_a_chain_share_the_stored_forward_chain():
    small, large = kernels_of(*gradients_along_a_chain(100)), kernels_of(*gradients_along_a_chain(1000))
    assert_bounded(large)
    assert sum(len(s) for _, s in large) <= 12 * sum(len(s) for _, s in small)


def test_a_lazy_sum_of_many_tensors_reads_a_bounded_number_of_buffers():
    tensors = [Tensor(np.full(8, i, np.float32)) for i in range(1000)]
    kernels = kernels_of(sum(tensors))
    assert_bounded(kernels)
    assert len(kernels) <= 2 * 1000 // schedule.MAX_KERNEL_INPUTS


def test_a_short_chain_is_still_one_kernel():
    x = Tensor(np.ones(8, np.float32))
    assert len(kernels_of(tanh_mul_chain(schedule.MAX_KERNEL_OPS, x))) == 1
    assert len(kernels_of(tanh_mul_chain(schedule.MAX_KERNEL_OPS + 1, x))) == 2


def test_a_long_backward_chain_matches_numpy():
    n = 500
    xs = np.linspace(-1.5, 1.5, 64)
    x = Tensor(xs.astype(np.float32), requires_grad=True)
    y = tanh_mul_chain(n, x)
    y.sum().backward()
    ys, grads, g = [xs], [], np.ones_like(xs)
    for i in range(n):
        ys.append(ys[-1] * np.float32(1.0001) if i % 2 else np.tanh(ys[-1]))
    for i in reversed(range(n)):
        g = g * np.float32(1.0001) if i % 2 else g * (1 - ys[i + 1] ** 2)
    np.testing.assert_allclose(y.numpy(), ys[-1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-4, atol=1e-6)


def test_a_lazy_sum_of_many_tensors_matches_numpy():
    arrays = [np.random.default_rng(i).standard_normal(16).astype(np.float32) for i in range(300)]
    out = sum(Tensor(a) for a in arrays).numpy()
    np.testing.assert_allclose(out, np.sum(np.array(arrays, np.float64), axis=0), rtol=1e-5, atol=1e-5)


# --- the render cache keeps no graph nodes, so `del` frees device memory --------------------

def test_del_frees_a_summed_tensor():
    before = runtime.live_buffers()
    x = Tensor(np.ones((2039, 2053), np.float32))  # 4M floats, a shape no other test uses: a new kernel
    node = weakref.ref(x.node)
    assert x.sum(axis=1).numpy()[0] == 2053  # one output per row: no scratch memory is kept
    del x
    gc.collect()
    assert node() is None
    assert runtime.live_buffers() == before


def test_a_full_sum_keeps_no_reference_to_its_input():
    x = Tensor(np.ones(4_000_000, np.float32))
    node = weakref.ref(x.node)
    assert x.sum().item() == 4_000_000
    del x
    gc.collect()
    assert node() is None
