# cython: language_level=3
"""The compiled core: topological sorts, and the scalar engine's forward pass and reverse sweep.

Everything that walks a whole graph lives here, in C loops with explicit stacks, so a graph of a
million nodes needs neither Python recursion (micrograd's RecursionError at depth ~1000) nor a
Python object per visit. Sections:

1. Scalar graphs: `ScalarNode` (the C half of `tinygradlike.Value`), `apply`, realize, backward.
2. Generic `toposort(roots)` over any objects with a `srcs` tuple (the tensor graph uses it).
3. The tensor graph's `Node`, an extension type.
4. Kernel grouping of tensor graphs (`group_kernels`, the rules in schedule.py).
5. Structural keys of tensor graphs (`structure`, `gradient_structure`), under which
   realize.py caches schedules and gradients.py copies backward passes.
"""
cimport cython
from cpython.ref cimport PyObject
from libc.math cimport cos, exp, log, pow, sin, sqrt, tanh
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport free, malloc, realloc

from numbers import Real


# =============================================================================================
# 1. Scalar graphs
# =============================================================================================

# The op codes of scalar nodes. A C enum, so the evaluation and gradient loops compile to a
# switch. Ops with one source come first, then ops with two.
cdef enum:
    OP_LEAF = 0
    OP_NEG
    OP_RELU
    OP_TANH
    OP_SIGMOID
    OP_EXP
    OP_LOG
    OP_SQRT
    OP_SIN
    OP_COS
    OP_ADD
    OP_SUB
    OP_MUL
    OP_DIV
    OP_POW

# Display names, indexed by op code ("" for a leaf, as micrograd's `_op`).
OP_NAMES = ("", "neg", "relu", "tanh", "sigmoid", "exp", "log", "sqrt", "sin", "cos",
            "+", "-", "*", "/", "**")
# name -> code, for scalar.py to build nodes with.
OP_CODES = {"leaf": OP_LEAF, "neg": OP_NEG, "relu": OP_RELU, "tanh": OP_TANH,
            "sigmoid": OP_SIGMOID, "exp": OP_EXP, "log": OP_LOG, "sqrt": OP_SQRT, "sin": OP_SIN,
            "cos": OP_COS, "add": OP_ADD, "sub": OP_SUB, "mul": OP_MUL, "div": OP_DIV,
            "pow": OP_POW}

# Forward values are cached in the nodes. A node's value is valid while its `epoch` equals
# `_epoch`; every write to a leaf's data bumps `_epoch`, which invalidates every cached value at
# once, in O(1), without knowing which graphs use that leaf.
cdef unsigned long long _epoch = 1
# Each walk marks the nodes it visits with a fresh stamp, so "visited?" is one compare and no
# set has to be built or cleared.
cdef unsigned long long _stamp = 0


# Freeing a 1M-long chain recurses through tp_dealloc and overflows the C stack. The trashcan
# defers deep deallocations. (Value instances get the same from CPython's subclass dealloc, which
# needs the GC header that object fields give us: so no @cython.no_gc here.)
@cython.trashcan(True)
cdef class ScalarNode:
    """One scalar in a lazy graph: an op, up to two sources, its value and its gradient.

    `tinygradlike.Value` subclasses this and adds the operators. A leaf (made from a number)
    holds its value; any other node computes its value when `.data` is read or `backward()` runs.
    """
    # Field order matters for speed: the walk and the sweep touch these in this order, and a
    # node's cache misses dominate a backward pass.
    cdef unsigned long long mark  # stamp of the last walk that visited this node
    cdef unsigned long long epoch # the _epoch in which `value` was computed
    cdef int op
    cdef ScalarNode a, b          # sources; None where the op has fewer
    cdef double value             # forward value (valid for a leaf, or while epoch == _epoch)
    cdef double g                 # scratch: d(root)/d(self) during one backward sweep
    cdef double grad              # what .grad shows

    def __init__(self, object data=0.0) -> None:  # object: our check gives the error message
        if not _is_real(data):
            raise TypeError(f"{type(self).__name__}({_short_repr(data)}): expected a real number, "
                            f"got {type(data).__name__} {_short_repr(data)}")
        self.value = data

    @property
    def data(self) -> float:
        """The forward value. Reading it computes (and caches) the lazy graph below this node."""
        if self.op != OP_LEAF and self.epoch != _epoch:
            _realize(self)
        return self.value

    @data.setter
    def data(self, object value) -> None:
        global _epoch
        if self.op != OP_LEAF:
            raise AttributeError(f"can only set .data on a leaf (a Value made from a number); "
                                 f"this one is the result of {OP_NAMES[self.op]!r}")
        if not _is_real(value):
            raise TypeError(f"{type(self).__name__}.data = {_short_repr(value)}: expected a real "
                            f"number, got {type(value).__name__} {_short_repr(value)}")
        self.value = value
        _epoch += 1  # every cached value may depend on this leaf

    @property
    def grad(self) -> float:
        """d(root)/d(self) from backward(): accumulated over calls on a leaf, the latest on others."""
        return self.grad

    @grad.setter
    def grad(self, value: float) -> None:
        self.grad = value

    @property
    def op(self) -> str:
        """The op that made this node ('+', '*', 'tanh', ...), '' for a leaf."""
        return OP_NAMES[self.op]

    @property
    def srcs(self) -> tuple:
        """The nodes this one is computed from (empty for a leaf)."""
        if self.a is None:
            return ()
        if self.b is None:
            return (self.a,)
        return (self.a, self.b)

    @property
    def is_leaf(self) -> bool:
        """True for a Value made from a number (its grad accumulates over backward() calls)."""
        return self.op == OP_LEAF

    @property
    def realized(self) -> bool:
        """True when `.data` can be read without computing anything."""
        return _is_fresh(self)

    def backward(self, gradient: float = 1.0) -> None:
        """Compute d(self)/d(node) for every node this one depends on.

        Promises: forward values are computed first where stale; the graph is walked once in
        topological order by an iterative walk (any depth works at the default recursion limit);
        a node used in several places receives the sum of its contributions. Then every *leaf*
        (a Value made from a number) ADDS its gradient to `.grad`, like a PyTorch leaf, so calling
        backward() twice doubles leaf gradients; every *interior* node's `.grad` is SET to this
        call's gradient. `gradient` seeds d(self)/d(self) (1.0 by default). Use zero_grad()
        between steps. Math follows IEEE floats: no exceptions, nan/inf where they arise.
        """
        cdef double seed = gradient
        cdef NodeArray order
        _init(&order)
        try:
            _walk(self, False, &order)
            _sweep(&order, self, seed)
        finally:
            free(order.items)

    def zero_grad(self) -> None:
        """Set `.grad` to 0.0 on every node this one depends on (leaves and interior nodes)."""
        cdef NodeArray order
        cdef Py_ssize_t i
        _init(&order)
        try:
            _walk(self, False, &order)
            for i in range(order.n):
                (<ScalarNode>order.items[i]).grad = 0.0
        finally:
            free(order.items)


cdef inline bint _is_real(object x):
    # float/int first: they are nearly every operand, and the ABC check costs more
    return type(x) is float or type(x) is int or isinstance(x, Real)


def _short_repr(object x) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


def apply(int op, ScalarNode a not None, ScalarNode b=None) -> ScalarNode:
    """A new lazy node `op(a)` or `op(a, b)`, of a's type. Computes nothing."""
    cdef ScalarNode node = ScalarNode.__new__(type(a))
    node.op = op
    node.a = a
    node.b = b
    return node


# --- growable C arrays of borrowed node pointers -----------------------------------------------
# Borrowed is safe: every node in a walk is kept alive by the root, and no Python code runs
# while an array is in use.

cdef struct NodeArray:
    PyObject** items
    Py_ssize_t n
    Py_ssize_t cap

cdef struct Frame:          # a DFS stack entry
    PyObject* node
    bint sources_done       # 1: its sources are emitted, emit it; 0: expand it

cdef struct FrameStack:
    Frame* items
    Py_ssize_t n
    Py_ssize_t cap

cdef inline void _init(NodeArray* arr) noexcept:
    arr.items = NULL
    arr.n = 0
    arr.cap = 0

cdef int _grow(void** items, Py_ssize_t* cap, size_t item_size) except -1:
    cdef Py_ssize_t new_cap = cap[0] * 2 if cap[0] else 1024
    cdef void* grown = realloc(items[0], new_cap * item_size)
    if grown == NULL:
        raise MemoryError("scheduler: out of memory while walking the graph")
    items[0] = grown
    cap[0] = new_cap
    return 0

cdef inline int _append(NodeArray* arr, PyObject* item) except -1:
    if arr.n == arr.cap:
        _grow(<void**>&arr.items, &arr.cap, sizeof(PyObject*))
    arr.items[arr.n] = item
    arr.n += 1
    return 0

cdef inline int _push(FrameStack* stack, PyObject* node, bint sources_done) except -1:
    if stack.n == stack.cap:
        _grow(<void**>&stack.items, &stack.cap, sizeof(Frame))
    stack.items[stack.n].node = node
    stack.items[stack.n].sources_done = sources_done
    stack.n += 1
    return 0


cdef int _walk(ScalarNode root, bint stale_only, NodeArray* order) except -1:
    """Put the nodes `root` depends on into `order`, sources before consumers, computing forward
    values on the way and clearing the sweep's scratch gradients.

    An iterative post-order DFS: a node goes on the stack once to be expanded (its sources are
    pushed above it) and once more, below its sources, to be emitted after them. At emission every
    source already has its value, so the forward pass happens in the same walk (one pass over
    memory instead of two). With `stale_only` (plain realize), leaves and nodes whose cached value
    is valid are neither emitted nor looked behind: their sources are valid too.
    """
    global _stamp
    _stamp += 1
    cdef unsigned long long stamp = _stamp
    cdef FrameStack stack
    cdef Frame top
    cdef ScalarNode node  # only ever assigned by a cast that takes no reference (see below)
    stack.items = NULL
    stack.n = stack.cap = 0
    try:
        _push(&stack, <PyObject*>root, False)
        while stack.n:
            stack.n -= 1
            top = stack.items[stack.n]
            # Fields are read through the cast `<ScalarNode>top.node` rather than a typed local:
            # a typed local would incref/decref every node, an extra write to memory we
            # otherwise only read, in a loop whose time is all cache misses.
            if top.sources_done:
                _emit(<ScalarNode>top.node)
                _append(order, top.node)
                continue
            if (<ScalarNode>top.node).mark == stamp:  # reached earlier along another path
                continue
            (<ScalarNode>top.node).mark = stamp
            if stale_only and _is_fresh(<ScalarNode>top.node):
                continue
            _push(&stack, top.node, True)
            # push b before a, so a's side is emitted first: a deterministic order
            _push_source(&stack, <PyObject*>(<ScalarNode>top.node).b, stamp)
            _push_source(&stack, <PyObject*>(<ScalarNode>top.node).a, stamp)
    finally:
        free(stack.items)
    return 0


cdef inline bint _is_fresh(ScalarNode node) noexcept:
    return node.op == OP_LEAF or node.epoch == _epoch


cdef inline int _push_source(FrameStack* stack, PyObject* src, unsigned long long stamp) except -1:
    if src != <PyObject*>None and (<ScalarNode>src).mark != stamp:
        _push(stack, src, False)
    return 0


cdef inline void _emit(ScalarNode node) noexcept:
    """A node's sources are all computed: compute it if stale, and clear its sweep scratch."""
    if not _is_fresh(node):
        node.value = _eval(node)
        node.epoch = _epoch
    node.g = 0.0


cdef inline double _eval(ScalarNode node) noexcept:
    """This node's value from its sources' values. libm + cdivision: IEEE results, no exceptions."""
    cdef double x = node.a.value
    cdef double y = node.b.value if node.b is not None else 0.0
    cdef int op = node.op
    if op == OP_NEG:
        return -x
    elif op == OP_RELU:
        return x if not x <= 0.0 else 0.0  # nan stays nan, as in numpy and torch
    elif op == OP_TANH:
        return tanh(x)
    elif op == OP_SIGMOID:
        return 1.0 / (1.0 + exp(-x))  # exp(-x) = inf for very negative x gives 0, not nan
    elif op == OP_EXP:
        return exp(x)
    elif op == OP_LOG:
        return log(x)
    elif op == OP_SQRT:
        return sqrt(x)
    elif op == OP_SIN:
        return sin(x)
    elif op == OP_COS:
        return cos(x)
    elif op == OP_ADD:
        return x + y
    elif op == OP_SUB:
        return x - y
    elif op == OP_MUL:
        return x * y
    elif op == OP_DIV:
        return x / y
    elif op == OP_POW:
        return pow(x, y)
    return node.value  # OP_LEAF


cdef int _realize(ScalarNode root) except -1:
    cdef NodeArray order
    _init(&order)
    try:
        _walk(root, True, &order)
    finally:
        free(order.items)
    return 0


cdef void _sweep(NodeArray* order, ScalarNode root, double seed) noexcept:
    """Reverse-mode sweep: each node, consumers first, passes g * (local derivative) to its sources.

    When a node's turn comes all its consumers are done, so its g is final: it is written to
    .grad right there. Contributions are not skipped when g is 0 (0 * inf = nan), so results
    match torch's IEEE math.
    """
    cdef Py_ssize_t i
    cdef ScalarNode node, a, b
    cdef double g, x, y, out
    cdef int op
    root.g = seed
    for i in range(order.n - 1, -1, -1):
        node = <ScalarNode>order.items[i]
        op = node.op
        g = node.g
        if op == OP_LEAF:
            node.grad += g  # leaves accumulate across backward() calls
            continue
        node.grad = g       # interior nodes show the latest backward's gradient
        out = node.value
        a = node.a
        x = a.value
        if op == OP_NEG:
            a.g -= g
        elif op == OP_RELU:
            if x > 0.0:
                a.g += g
        elif op == OP_TANH:
            a.g += g * (1.0 - out * out)
        elif op == OP_SIGMOID:
            a.g += g * out * (1.0 - out)
        elif op == OP_EXP:
            a.g += g * out
        elif op == OP_LOG:
            a.g += g / x
        elif op == OP_SQRT:
            a.g += g * 0.5 / out
        elif op == OP_SIN:
            a.g += g * cos(x)
        elif op == OP_COS:
            a.g -= g * sin(x)
        else:
            b = node.b
            y = b.value
            if op == OP_ADD:
                a.g += g
                b.g += g
            elif op == OP_SUB:
                a.g += g
                b.g -= g
            elif op == OP_MUL:
                a.g += g * y
                b.g += g * x
            elif op == OP_DIV:
                a.g += g / y
                b.g -= g * x / (y * y)
            elif op == OP_POW:
                # torch's conventions at the edges: an exponent of 0 has no slope in the base,
                # and 0 ** (y >= 0) has no slope in the exponent (instead of 0 * log(0) = nan)
                if y != 0.0:
                    a.g += g * y * pow(x, y - 1.0)
                if not (x == 0.0 and y >= 0.0):
                    b.g += g * out * log(x)


# =============================================================================================
# 2. Generic topological sort (tensor graphs)
# =============================================================================================

def toposort(roots, expand=None, follow=None, children=None, bint stop_at_memory=False) -> list:
    """Every node reachable from `roots` once, sources before consumers.

    Nodes are any objects with a `srcs` tuple. Iterative DFS, so depth is unlimited; the order
    is deterministic (sources in `srcs` order, roots in the given order). A single node with a
    `srcs` attribute is accepted in place of an iterable of roots. `expand(node)` false keeps a
    node's sources out (the scheduler stops at memory); `follow(src)` false skips one source
    (the gradient sweep follows only differentiable sources). `children(node)`, if given,
    replaces `node.srcs` as the edges to walk. `stop_at_memory` keeps the sources of computed
    nodes (`node.buffer` set) out without a Python call per node: the scheduler's walk.
    """
    if hasattr(roots, "srcs"):
        roots = (roots,)
    roots = list(roots)
    if expand is None and follow is None and children is None and all([type(r) is Node for r in roots]):
        return _node_order(roots, stop_at_memory, False, _new_walk())  # marks in the nodes, no id set
    cdef list order = []
    cdef set seen = set()   # ids: every node stays alive through `roots` while we sort
    cdef list todo = []     # stack of nodes to expand
    cdef list done = []     # parallel stack: True once the node's sources are emitted
    cdef object node, src
    cdef tuple srcs
    cdef Py_ssize_t i
    for root in reversed(list(roots)):  # reversed: the stack pops the first root first
        todo.append(root)
        done.append(False)
    while todo:
        node = todo.pop()
        if done.pop():
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        todo.append(node)
        done.append(True)
        if stop_at_memory and node.buffer is not None or expand is not None and not expand(node):
            continue
        srcs = tuple(node.srcs if children is None else children(node))
        for i in range(len(srcs) - 1, -1, -1):
            src = srcs[i]
            if id(src) not in seen and (follow is None or follow(src)):
                todo.append(src)
                done.append(False)
    return order


# =============================================================================================
# 3. Tensor graph nodes
# =============================================================================================

cdef class Node:
    """One vertex of the lazy tensor graph (tinygradlike.graph re-exports it).

    `srcs` are the inputs; `arg` is op-specific (the constant, the target dtype, the reduce
    axes, the ShapeTracker of a VIEW). `buffer` is set once the node has been computed.
    `requires_grad` marks nodes that depend on a tensor made with requires_grad=True: only
    those keep their sources after being computed, for backward(). `move` keeps a VIEW's one
    movement (name, parameter) for the gradient rules.

    An extension type: a training step builds hundreds of nodes, and the walks below
    (toposort, structure, gradient_structure) read their fields as C struct members.
    """

    cdef public object op, arg, dtype, shape, buffer, move
    cdef public tuple srcs
    cdef public bint requires_grad
    cdef object __weakref__
    cdef unsigned long long _walk  # the last walk (_node_walk) that visited this node
    cdef Py_ssize_t _pos           # its position in that walk's order
    cdef readonly unsigned long long serial  # creation order: templates.Template tells new nodes apart by it
    cdef long long _sig   # structure()'s id of (op, argument key, dtype, shape); 0: not made yet
    cdef long long _mem   # the same for (dtype, shape), what a key holds of a memory node

    def __cinit__(self, *args, **kwargs):
        global _node_serial
        _node_serial += 1
        self.serial = _node_serial

    def __init__(self, op, tuple srcs, arg, dtype, shape, buffer=None, requires_grad=None, move=None):
        self.op = op
        self.srcs = srcs
        self.arg = arg
        self.dtype = dtype
        self.shape = shape
        self.buffer = buffer
        self.move = move
        cdef Node src
        if requires_grad is None:  # a gradient can flow through this node (DETACH stops it)
            self.requires_grad = False
            if op is not _DETACH:
                for src in srcs:
                    if src.requires_grad:
                        self.requires_grad = True
                        break
        else:
            self.requires_grad = requires_grad

    @property
    def in_place(self):
        """A VIEW whose element i is element i of its base's memory (a reshape at most): reading
        through it costs no index math and lets a consumer fuse with the base's kernel."""
        return self.op is _VIEW and self.arg.is_contiguous and self.arg.size == self.base.size

    @property
    def grad_srcs(self):
        """Where this node's gradient flows: its sources, except for a custom op, whose
        registered backward sends it to the op's inputs instead of through its forward graph."""
        return self.arg[1] if self.op is _CUSTOM else self.srcs

    @property
    def realized(self):
        return self.buffer is not None

    @property
    def base(self):
        """The node whose memory a VIEW looks at (itself for every other op)."""
        cdef Node node = self
        while node.op is _VIEW:
            node = node.srcs[0]
        return node

    @property
    def size(self):
        cdef Py_ssize_t n = 1
        for s in self.shape:
            n *= s
        return n

    def __repr__(self):
        state = "realized" if self.buffer is not None else "lazy"
        return f"<Node {self.op.value} shape={self.shape} dtype={self.dtype.name} {state}>"


cdef unsigned long long _node_walks = 0
cdef unsigned long long _node_serial = 0


def next_serial() -> int:
    """The serial the next Node will get: nodes made from now on have serial >= it."""
    return _node_serial + 1


cdef inline unsigned long long _new_walk() noexcept:
    global _node_walks
    _node_walks += 1
    return _node_walks


cdef list _node_order(list roots, bint stop_at_memory, bint differentiable, unsigned long long walk):
    """toposort for Nodes, marking each visited node with `walk` and its position in the order
    (no `seen` set of ids). stop_at_memory: a computed node's sources are left out.
    differentiable: only sources a gradient can flow to (requires_grad), along grad_srcs."""
    cdef list order = [], todo = [], done = []
    cdef Node node, src
    cdef tuple srcs
    cdef Py_ssize_t i
    for i in range(len(roots) - 1, -1, -1):  # reversed: the stack pops the first root first
        todo.append(roots[i])
        done.append(False)
    while todo:
        node = <Node>todo.pop()
        if done.pop():
            node._pos = len(order)
            order.append(node)
            continue
        if node._walk == walk:
            continue
        node._walk = walk
        todo.append(node)
        done.append(True)
        if stop_at_memory and node.buffer is not None:
            continue
        srcs = node.arg[1] if differentiable and node.op is _CUSTOM else node.srcs
        for i in range(len(srcs) - 1, -1, -1):
            src = <Node?>srcs[i]
            if src._walk != walk and (not differentiable or src.requires_grad):
                todo.append(src)
                done.append(False)
    return order


def differentiable_order(Node root not None) -> list:
    """The nodes a gradient can flow through from `root` (requires_grad, along grad_srcs),
    sources first: the order of the reverse sweep (gradients.py)."""
    return _node_order([root], False, True, _new_walk())


def copy_graph(list steps, list inputs, tuple outputs, copy_rule) -> list:
    """The nodes of a templates.Template made anew on `inputs`: steps are (op, source positions,
    arg, dtype, shape, move, requires_grad, custom-op input positions or None, signature_id of
    the recorded node); a node is
    made without its constructor's argument parsing. copy_rule(rule, node, inputs) builds a
    custom op's argument (its rule object is copied per node, in Python)."""
    cdef list nodes = list(inputs)
    cdef Node node
    cdef tuple step, srcs
    cdef Py_ssize_t i, k, n
    for step in steps:
        srcs = <tuple>step[1]
        n = len(srcs)
        node = Node.__new__(Node)
        node.op = step[0]
        node.srcs = tuple([nodes[srcs[k]] for k in range(n)])
        node.dtype = step[3]
        node.shape = step[4]
        node.move = step[5]
        node.requires_grad = step[6]
        node._sig = step[8]  # the template node's signature id: the same op, arg, dtype and shape
        if step[7] is None:
            node.arg = step[2]
        else:
            node.arg = copy_rule(step[2], node, tuple([nodes[i] for i in <tuple>step[7]]))
        nodes.append(node)
    return [nodes[i] for i in outputs]


# =============================================================================================
# 4. Kernel grouping (tensor graphs)
# =============================================================================================
# The rules are written out in tinygradlike/schedule.py, which wraps this function.

from tinygradlike.graph import ELEMENTWISE, Op

cdef object _DETACH = Op.DETACH, _VIEW = Op.VIEW, _CUSTOM = Op.CUSTOM, _CONST = Op.CONST
cdef object _REDUCE = Op.REDUCE, _MATMUL = Op.MATMUL


cdef inline bint _is_memory(Node node):
    return node.buffer is not None


cdef inline Node _base(Node node):
    """The node whose memory a VIEW looks at (itself for every other op)."""
    while node.op is _VIEW:
        node = <Node>node.srcs[0]
    return node


cdef inline bint _in_place(Node view):
    """A VIEW whose element i is element i of its base's memory (Node.in_place)."""
    return view.op is _VIEW and view.arg.is_contiguous and view.arg.size == _base(view).size


cdef bint _is_identity_view(object view):
    """A use through no view, or through a view that keeps every element in place."""
    return view is None or _in_place(<Node>view)


cdef object _common_owner(list node_uses, dict owner):
    """The one stored elementwise node all these uses flow into in place, or None."""
    cdef object target = None, view, consumer_owner
    cdef Node consumer
    for consumer, view in node_uses:
        if consumer.op not in ELEMENTWISE or not _is_identity_view(view):
            return None
        consumer_owner = owner.get(id(consumer))
        if consumer_owner is None or (target is not None and consumer_owner is not target):
            return None
        target = consumer_owner
    return target


def group_kernels(list outputs, Py_ssize_t max_ops=128, Py_ssize_t max_inputs=64,
                  Py_ssize_t shared_ops=32) -> list:
    """Split the pending graph behind `outputs` into kernels: a list of (root, core) in run
    order, where `root` is the node the kernel writes and `core` its REDUCE/MATMUL (or None).

    No kernel computes more than `max_ops` nodes or reads more than `max_inputs` buffers, and an
    elementwise node of more than `shared_ops` nodes that several nodes read is stored once
    (rule 5 in tinygradlike/schedule.py)."""
    cdef list order = toposort(outputs, stop_at_memory=True)
    cdef dict uses = {}, owner, fused_core
    cdef set stored = set()
    cdef Node node, src, base, o
    cdef object view, core
    cdef list groups = []
    for node in order:  # uses[id(base)] = [(consumer, view or None)]: VIEWs are edges, not consumers
        if node.op is _VIEW or _is_memory(node):
            continue
        for src in node.srcs:
            if src.op is _VIEW:
                base, view = _base(src), src
            else:
                base, view = src, None
            uses.setdefault(id(base), []).append((node, view))
    for o in outputs:
        if not _is_memory(_base(o)):
            stored.add(id(_base(o)))
    cdef set requested = set(stored)
    owner, fused_core = _assign_owners(order, uses, stored)
    if _store_matmul_epilogues(order, uses, stored, owner, requested):
        owner, fused_core = _assign_owners(order, uses, stored)
    if _bound_kernels(order, uses, stored, max_ops, max_inputs, shared_ops):
        # new stored nodes change which kernel each inlined node and each reduce belongs to;
        # `stored` only grew, so a reduce stored before stays stored
        owner, fused_core = _assign_owners(order, uses, stored)
    for node in order:
        if id(node) in stored and not _is_memory(node):
            core = fused_core.get(id(node))
            if core is None and (node.op is _REDUCE or node.op is _MATMUL):
                core = node
            groups.append((node, core))
    return groups


cdef tuple _assign_owners(list order, dict uses, set stored):
    """Rules 1 and 2, consumers before sources: each elementwise node gets the stored node whose
    kernel computes it (None: it is inlined into several kernels); each REDUCE/MATMUL is fused
    into the one stored elementwise node its uses flow into, or stored itself (added to
    `stored`). Returns (owner, fused_core: id(stored root) -> its core)."""
    cdef dict owner = {}, fused_core = {}
    cdef Node node, src
    cdef object view, target
    cdef list node_uses
    for node in reversed(order):  # consumers before their sources
        if node.op is _VIEW or node.op is _CONST or _is_memory(node):
            continue
        node_uses = uses.get(id(node), [])
        if node.op in ELEMENTWISE:
            for src, view in node_uses:
                if src.op is _MATMUL:  # the fast matmul reads its operands from memory
                    stored.add(id(node))
            owner[id(node)] = node if id(node) in stored else _common_owner(node_uses, owner)
            continue
        target = None if id(node) in stored else _common_owner(node_uses, owner)
        if target is not None and id(target) not in fused_core:
            fused_core[id(target)] = node
            owner[id(node)] = target
        else:
            stored.add(id(node))
            owner[id(node)] = None
    return owner, fused_core


cdef bint _store_matmul_epilogues(list order, dict uses, set stored, dict owner, set requested):
    """Rule 2b: a MATMUL stored on its own whose one use is an elementwise node (the bias add
    of a linear layer, read by several kernels) stores that node instead. Its kernel is the
    same matmul kernel, writing the epilogue's value; the kernels that read it read memory
    instead of recomputing it, and a later read of it (the logits after a training step)
    needs no kernel. `requested`: the outputs, which stay stored. Returns whether anything
    changed."""
    cdef Node node, consumer
    cdef object view
    cdef list node_uses
    cdef bint changed = False
    for node in order:
        if (node.op is not _MATMUL or _is_memory(node) or owner.get(id(node)) is not None
                or id(node) in requested):
            continue
        node_uses = uses.get(id(node), [])
        if len(node_uses) != 1:
            continue
        consumer, view = node_uses[0]
        if (consumer.op in ELEMENTWISE and id(consumer) not in stored
                and (view is None or _is_identity_view(view)) and consumer.shape == node.shape):
            stored.add(id(consumer))
            stored.discard(id(node))  # rule 2 fuses it into the consumer's kernel now
            changed = True
    return changed


cdef inline bint _is_load(Node node, set stored):
    return _is_memory(node) or id(node) in stored


cdef bint _bound_kernels(list order, dict uses, set stored, Py_ssize_t max_ops,
                         Py_ssize_t max_inputs, Py_ssize_t shared_ops) except -1:
    """Rule 5, sources before consumers: store elementwise nodes (and unfuse reduces) until no
    kernel computes more than `max_ops` nodes or reads more than `max_inputs` buffers, and store
    shared nodes of more than `shared_ops` nodes. Adds to `stored`; True if it added anything.

    ops[id] and loads[id] are upper bounds on the size of a node's inlined cone: nodes computed,
    buffers read. Summing the sources' bounds costs O(1) per node but counts a shared part
    twice; only when that sum is over a limit is the cone walked to count it exactly."""
    cdef dict ops = {}, loads = {}
    cdef Node node
    cdef object victim
    cdef Py_ssize_t n_ops, n_loads, tries
    cdef bint added = False
    for node in order:
        if node.op is _VIEW or node.op is _CONST or _is_memory(node):
            continue
        for tries in range(4):  # at most 3 sources to store, then the cone is its sources' loads
            n_ops, n_loads = _summed_cone(node, stored, ops, loads)
            if n_ops > max_ops or n_loads > max_inputs:
                n_ops, n_loads = _exact_cone(node, stored, max_ops, max_inputs)
            if n_ops <= max_ops and n_loads <= max_inputs:
                break
            victim = _largest_inlined_source(node, stored, ops)
            if victim is None:
                break
            stored.add(id(victim))
            added = True
        ops[id(node)] = n_ops
        loads[id(node)] = n_loads
        if (n_ops > shared_ops and node.op in ELEMENTWISE and id(node) not in stored
                and _consumer_count(uses.get(id(node), ())) > 1):
            stored.add(id(node))
            added = True
    return added


cdef tuple _summed_cone(Node node, set stored, dict ops, dict loads):
    """Upper bounds (nodes computed, buffers read) of the kernel computing `node`: one plus the
    sum over its distinct sources (a source read both in place and reshuffled counts twice)."""
    cdef Py_ssize_t n_ops = 1, n_loads = 0
    cdef Node src, base
    cdef object key
    cdef list seen = []
    for src in node.srcs:
        base = _base(src)
        key = (id(base), src.op is not _VIEW or _in_place(src))
        if base.op is _CONST or key in seen:
            continue
        seen.append(key)
        if _is_load(base, stored):
            n_loads += 1
        else:
            n_ops += ops[id(base)]
            n_loads += loads[id(base)]
    return n_ops, n_loads


cdef tuple _exact_cone(Node root, set stored, Py_ssize_t max_ops, Py_ssize_t max_inputs):
    """(nodes computed, buffers read) by the kernel computing `root`. A node counts once per way
    it is read: in place, or through reshuffling views (codegen computes it once per index
    pattern, so `y + y.T` computes y twice). Stops once a limit is passed: the walk costs
    O(max_ops + max_inputs)."""
    cdef Py_ssize_t n_ops = 0
    cdef set seen = {(id(root), True)}, read = set()
    cdef list stack = [(root, True)]
    cdef Node node, src, base
    cdef object key
    cdef bint in_place
    while stack:
        node, in_place = stack.pop()
        n_ops += 1
        if n_ops > max_ops:
            break
        for src in node.srcs:
            base = _base(src)
            if base.op is _CONST:
                continue
            if _is_load(base, stored):
                read.add(id(base))
                if len(read) > max_inputs:
                    break
                continue
            key = (id(base), in_place and (src.op is not _VIEW or _in_place(src)))
            if key not in seen:
                seen.add(key)
                stack.append((base, key[1]))
        if len(read) > max_inputs:
            break
    return n_ops, len(read)


cdef object _largest_inlined_source(Node node, set stored, dict ops):
    """The computed (not stored) source of `node` with the biggest cone, or None."""
    cdef Node src, base
    cdef object best = None
    cdef Py_ssize_t best_ops = -1
    for src in node.srcs:
        base = _base(src)
        if base.op is _CONST or _is_load(base, stored):
            continue
        if ops[id(base)] > best_ops:
            best, best_ops = base, ops[id(base)]
    return best


cdef Py_ssize_t _consumer_count(object node_uses):
    cdef set consumers = set()
    cdef object consumer, view
    for consumer, view in node_uses:
        consumers.add(id(consumer))
    return len(consumers)


# =============================================================================================
# 5. Structural keys (tensor graphs)
# =============================================================================================
# tinygradlike/realize.py caches a schedule under the key of the graph it was built for.

def structure(list outputs):
    """(key, nodes) of the pending graph behind `outputs`, or (None, nodes) when nothing in it
    is pending. `nodes` are the graph's nodes sources first (the walk stops at memory), and
    `key` holds everything a schedule depends on: per node its op, argument, dtype, shape and
    the positions of its sources; a memory node is only its dtype and shape. Two graphs with
    one key get the same kernels, reading and writing the nodes at the same positions.

    The key is a bytes string of 64-bit integers: per pending node its signature id
    (signature_id), its number of sources and their positions; per memory node the negated id
    of its (dtype, shape); then the outputs' positions. A dict hashes it once (bytes keep
    their hash) and compares it with memcmp, so looking up a schedule costs microseconds for
    a graph of hundreds of nodes, where a tuple of tuples took ~20 us to hash and compare."""
    cdef unsigned long long walk = _new_walk()
    cdef list order = _node_order(outputs, True, False, walk)
    cdef Node node, src
    cdef Py_ssize_t i, k, n = len(order), used = 0, capacity = 4 * n + len(outputs) + 16, pending = 0
    cdef long long* words = <long long*>malloc(capacity * sizeof(long long))
    cdef long long* grown
    if words == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            node = <Node>order[i]
            if used + 2 + len(node.srcs) > capacity:
                capacity = 2 * capacity + len(node.srcs) + 2
                grown = <long long*>realloc(words, capacity * sizeof(long long))
                if grown == NULL:
                    raise MemoryError()
                words = grown
            if node.buffer is not None:
                if node._mem == 0:
                    node._mem = _intern((node.dtype, node.shape))
                words[used] = -node._mem
                used += 1
                continue
            pending += 1
            if node._sig == 0:
                node._sig = signature_id(node)
            words[used] = node._sig
            words[used + 1] = len(node.srcs)
            used += 2
            for k in range(len(node.srcs)):
                words[used] = (<Node>node.srcs[k])._pos
                used += 1
        if not pending:
            return None, order
        if used + len(outputs) > capacity:
            capacity = used + len(outputs)
            grown = <long long*>realloc(words, capacity * sizeof(long long))
            if grown == NULL:
                raise MemoryError()
            words = grown
        for k in range(len(outputs)):
            words[used] = (<Node>outputs[k])._pos
            used += 1
        return PyBytes_FromStringAndSize(<char*>words, used * sizeof(long long)), order
    finally:
        free(words)


cdef dict _interned = {}
cdef long long _interned_count = 0


cdef long long _intern(object value) except -1:
    """A positive int per distinct (hashable) value while the table lasts. When the table is
    cleared (it is bounded), values get new ids and ids are never reused: a stale id can only
    make a key miss (a schedule built again), never match a different graph."""
    global _interned_count
    found = _interned.get(value)
    if found is not None:
        return found
    if len(_interned) >= 1 << 20:
        _interned.clear()
    _interned_count += 1
    _interned[value] = _interned_count
    return _interned_count


cdef dict _tracker_keys = {}
cdef unsigned long long _tracker_count = 0


cdef object _tracker_key(object tracker):
    """A small int per distinct ShapeTracker, kept in the tracker: the schedule key then hashes
    and compares ints, not trackers (whose __hash__ and __eq__ run in Python). Equal trackers
    get one int while the table lasts; when it is cleared (it is bounded), a new int only
    costs a schedule built again, never a wrong one."""
    global _tracker_count
    cdef dict d = tracker.__dict__
    key = d.get("_key")
    if key is None:
        key = _tracker_keys.get(tracker)
        if key is None:
            if len(_tracker_keys) >= 65536:
                _tracker_keys.clear()
            _tracker_count += 1
            key = _tracker_keys[tracker] = _tracker_count
        d["_key"] = key
    return key


cpdef long long signature_id(Node node) except -1:
    """The id (_intern) of what the schedule depends on in one pending node, apart from its
    sources: op, argument, dtype, shape. A constant is keyed by repr, so 0.0 and -0.0 (equal
    in Python, not in a kernel) differ; a custom op's argument holds graph nodes, and its
    forward is the identity, so it is left out."""
    if node._sig != 0:
        return node._sig
    op = node.op
    if op is _CONST:
        arg = repr(node.arg)
    elif op is _CUSTOM:
        arg = None
    elif op is _VIEW:
        arg = _tracker_key(node.arg)
    else:
        arg = node.arg
    node._sig = _intern((op, arg, node.dtype, node.shape))
    return node._sig


def gradient_structure(list order, list extra):
    """(key, inputs) of a backward pass: `order` is the differentiable graph sources first
    (gradients.toposort_differentiable), `extra` the seed and target nodes. `inputs` are the
    nodes the gradient rules can read: those of `order`, their sources, and `extra`, each once;
    `key` holds what the rules build from them (op, argument, dtype, shape, movement,
    requires_grad, sources by position; a source outside `order` by op, dtype, shape and
    view). Two backward passes with one key build the same gradient graph on their inputs, so
    gradients.py copies the first one (templates.Template). key is None where a rule could build
    something else: a custom op whose rule has no `replay_key` (a user's backward may read
    Python state that changes between calls)."""
    cdef unsigned long long walk = _new_walk()
    cdef list inputs = [], entries = []
    cdef Node node, src
    cdef object op, arg, rule
    cdef tuple srcs, grad_srcs
    cdef Py_ssize_t i, j
    for i in range(len(order)):
        node = <Node?>order[i]
        op = node.op
        srcs = node.srcs
        grad_srcs = srcs
        if op is _CUSTOM:
            rule = node.arg[0]
            arg = getattr(rule, "replay_key", None)
            if arg is None:
                return None, inputs
            grad_srcs = node.arg[1]
        elif op is _CONST:
            arg = repr(node.arg)
        elif op is _VIEW:
            arg = _tracker_key(node.arg)
        else:
            arg = node.arg
        for src in srcs + grad_srcs if grad_srcs is not srcs else srcs:
            if src._walk != walk:
                _gradient_leaf(src, walk, inputs, entries)
        if node._walk == walk:  # already a source of an earlier node: not possible sources-first
            return None, inputs
        node._walk, node._pos = walk, len(inputs)
        inputs.append(node)
        entries.append((op, arg, node.dtype, node.shape, node.move, node.requires_grad,
                        tuple([(<Node>src)._pos for src in srcs]),
                        tuple([(<Node>src)._pos for src in grad_srcs]) if grad_srcs is not srcs else None))
    for j in range(len(extra)):
        src = <Node?>extra[j]
        if src._walk != walk:
            _gradient_leaf(src, walk, inputs, entries)
    return (tuple(entries), tuple([(<Node>src)._pos for src in extra])), inputs


cdef void _gradient_leaf(Node node, unsigned long long walk, list inputs, list entries) except *:
    node._walk, node._pos = walk, len(inputs)
    inputs.append(node)
    entries.append(_input_entry(node))


cdef tuple _input_entry(Node node):
    """What a graph built on `node` can depend on, without looking behind it: op, dtype,
    shape, requires_grad, and for a view its tracker, movement and base shape (a movement
    that undoes the view gives the base back), for a constant its value."""
    op = node.op
    if op is _VIEW:
        return (op, _tracker_key(node.arg), node.move, node.dtype, node.shape, node.requires_grad,
                _base(node).shape)
    if op is _CONST:
        return (op, repr(node.arg), node.dtype, node.shape, node.requires_grad)
    return (op, node.dtype, node.shape, node.requires_grad)


def inputs_key(list nodes) -> tuple:
    """The structural key of a graph's inputs (templates.TemplateCache): per node its
    _input_entry and the position of its first occurrence, so one tensor passed twice and two
    equal tensors are told apart."""
    cdef unsigned long long walk = _new_walk()
    cdef list entries = []
    cdef Node node
    cdef Py_ssize_t i
    for i in range(len(nodes)):
        node = <Node?>nodes[i]
        if node._walk != walk:
            node._walk, node._pos = walk, i
        entries.append((_input_entry(node), node._pos))
    return tuple(entries)
