"""The compiled core: the generic toposort, and scalar graphs of a million nodes differentiated,
freed and garbage-collected at Python's default recursion limit."""
import gc
import sys

import pytest

from tinygradlike import Value
from tinygradlike.scheduler import OP_CODES, ScalarNode, apply, toposort


class Node:
    __slots__ = ("name", "srcs")

    def __init__(self, name, *srcs):
        self.name, self.srcs = name, srcs


@pytest.fixture
def default_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # CPython's default
    yield
    sys.setrecursionlimit(old)


def names(nodes):
    return [n.name for n in nodes]


def test_toposort_visits_a_diamond_once_sources_first():
    a = Node("a")
    b, c = Node("b", a), Node("c", a)
    d = Node("d", b, c)
    assert names(toposort([d])) == ["a", "b", "c", "d"]


def test_toposort_follows_srcs_order_deterministically():
    x, y = Node("x"), Node("y")
    assert names(toposort([Node("f", y, x)])) == ["y", "x", "f"]
    assert names(toposort([Node("f", x, y)])) == ["x", "y", "f"]


def test_toposort_of_several_roots_shares_their_common_part():
    a = Node("a")
    r1, r2 = Node("r1", a), Node("r2", a, Node("b"))
    assert names(toposort([r1, r2])) == ["a", "r1", "b", "r2"]


def test_toposort_accepts_a_single_node():
    a = Node("a")
    assert names(toposort(Node("r", a, a))) == ["a", "r"]


def test_toposort_orders_a_random_dag_sources_first():
    import random
    rng = random.Random(0)
    nodes = [Node(0)]
    for i in range(1, 2000):
        nodes.append(Node(i, *rng.sample(nodes, min(len(nodes), rng.randint(0, 3)))))
    order = toposort(nodes[-5:])
    position = {id(n): i for i, n in enumerate(order)}
    assert len(position) == len(order)  # each node once
    for n in order:
        assert all(position[id(s)] < position[id(n)] for s in n.srcs)


def test_toposort_of_a_million_deep_chain(default_recursion_limit):
    node = Node(0)
    for i in range(1, 1_000_000):
        node = Node(i, node)
    order = toposort([node])
    assert len(order) == 1_000_000 and order[0].name == 0 and order[-1].name == 999_999
    del order, node  # Python objects with __slots__: CPython's own trashcan frees the chain


def test_toposort_of_values_uses_their_srcs():
    x = Value(1.0)
    y = x * x + x
    assert toposort([y])[0] is x and toposort([y])[-1] is y and len(toposort([y])) == 3


def test_million_op_chain_differentiates_frees_and_collects(default_recursion_limit):
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y + x
    y.backward()
    assert y.data == 1_000_001.0 and x.grad == 1_000_001.0
    del y  # a million nested deallocations: must unwind without a C stack overflow
    gc.collect()
    assert x.grad == 1_000_001.0


def test_million_deep_chain_of_bare_scalar_nodes_frees(default_recursion_limit):
    # ScalarNode itself (not the Value subclass) deallocates through Cython's trashcan
    x = ScalarNode(1.0)
    y = x
    for _ in range(1_000_000):
        y = apply(OP_CODES["add"], y, x)
    y.backward()
    assert type(y) is ScalarNode and x.grad == 1_000_001.0
    del y
    gc.collect()


def test_million_node_graph_with_shared_subexpressions(default_recursion_limit):
    # y <- (y + y) * half, 500,000 times: every step is a diamond, so a walk that does not
    # share visits would take 2**500000 paths; the exact answers are known in closed form
    x, half = Value(1.0), Value(0.5)
    y = x
    for _ in range(500_000):
        y = (y + y) * half
    y.backward()
    assert y.data == 1.0
    assert x.grad == 1.0              # d/dx of (x + x) * 0.5, composed: 1 at every step
    assert half.grad == 1_000_000.0   # each step contributes (y + y) * 1 = 2
    del y
    gc.collect()


def test_reading_data_of_a_million_deep_lazy_chain(default_recursion_limit):
    x, one = Value(0.5), Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y * one
    assert y.data == 0.5
    x.data = 0.25
    assert y.data == 0.25


def test_reading_data_along_a_chain_computes_each_node_once():
    # each read realizes only what is stale, so this loop is linear, not quadratic
    y = Value(1.0)
    for _ in range(200_000):
        y = y + 1.0
        assert y.data > 0  # a read after every step
    assert y.data == 200_001.0
