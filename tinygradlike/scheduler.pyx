# cython: language_level=3
"""The compiled core: topological sorts, and the scalar engine's forward pass and reverse sweep.

Everything that walks a whole graph lives here, in C loops with explicit stacks, so a graph of a
million nodes needs neither Python recursion (micrograd's RecursionError at depth ~1000) nor a
Python object per visit. Sections:

1. Scalar graphs: `ScalarNode` (the C half of `tinygradlike.Value`), `apply`, realize, backward.
2. Generic `toposort(roots)` over any objects with a `srcs` tuple (the tensor graph uses it).
3. The tensor graph's `Node`, an extension type.
4. Kernel grouping of tensor graphs (`group_kernels`, `merge_siblings`, with the rules).
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
            if _grad_enabled and op is not _DETACH:
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
# grad mode (tinygradlike.grad_mode.no_grad): while off, a new node requires no gradient
# whatever its sources, so it keeps no sources once computed and backward() never reaches it.
# A flag here, not in Python, because every Node constructor reads it
cdef bint _grad_enabled = True


def set_grad_enabled(bint mode) -> bool:
    """Turn grad mode on or off for every node made from now on; returns the previous mode."""
    global _grad_enabled
    cdef bint previous = _grad_enabled
    _grad_enabled = mode
    return previous


def is_grad_enabled() -> bool:
    """Whether nodes made now derive requires_grad from their sources (the default)."""
    return _grad_enabled


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
# Which nodes of a pending graph get their own memory, and which are fused into the kernel
# that reads them. tests/test_fusion.py pins the rules down by kernel counts; each rule is
# applied by the function named beside it:
#
# 1. Elementwise nodes are inlined into every kernel that reads them (recomputed, never
#    stored), unless they are an output or a matmul operand, or rule 5 stores them.
#                                                                        (_assign_owners)
# 2. A REDUCE or MATMUL node is stored, unless all its uses flow, through identity views and
#    inlined elementwise nodes, into exactly one stored elementwise node: then that node's
#    kernel *is* the reduce/matmul kernel, with the elementwise chain as its epilogue.
#                                                                        (_assign_owners)
#    b. A MATMUL stored on its own whose one use is an elementwise node (a linear layer's
#       bias add) stores that node instead.                    (_store_matmul_epilogues)
# 3. Everything a kernel reads that is not inlined is memory: a realized buffer, or a node
#    stored by an earlier kernel of the same schedule.
# 4. Stored elementwise nodes of one shape share a kernel when the later one's inputs are all
#    ready by the time the earlier one runs: one kernel writes several outputs, like an
#    optimizer's m, v and new weights.                                    (merge_siblings)
# 5. Kernels have a bounded size, so a long lazy chain costs compile time linear in its
#    length (PoCL's compile time grows faster than linearly with a kernel's size: 200 fused
#    tanh/mul nodes took 1.4 s, 400 took 3.8 s, 800 took 17 s).           (_bound_kernels)
#    a. a kernel computes at most `max_ops` nodes and reads at most `max_inputs` buffers
#       (OpenCL limits a kernel's parameters); past that, its largest inlined source is stored;
#    b. an elementwise node of more than `shared_ops` nodes that several nodes read is stored
#       once, not recomputed by each (a backward pass would inline the forward chain again);
#    c. rule 4 merges two kernels only while the merged one stays within a.
#
# An elementwise prologue is therefore fused into a reduce for free (rule 1); matmul operands
# are read through strided views (transposes and broadcasts cost nothing) but must be memory,
# because the fast matmul kernel loads whole rows of them with vector loads.
#
# The work runs on arrays indexed by a node's position in one walk (Node._pos): per node its
# kind, whether it is stored, which kernel computes it; its sources and its uses as
# compressed lists (CSR). No dict or set keyed by id() is built.

from tinygradlike.graph import ELEMENTWISE, Op

cdef object _DETACH = Op.DETACH, _VIEW = Op.VIEW, _CUSTOM = Op.CUSTOM, _CONST = Op.CONST
cdef object _REDUCE = Op.REDUCE, _MATMUL = Op.MATMUL

cdef enum:
    K_VIEW = 0     # an edge (a way of reading its base), never a consumer or a kernel
    K_CONST        # a number, inlined everywhere
    K_MEMORY       # computed or uploaded: read, never computed
    K_ELEMENTWISE
    K_REDUCE       # a kernel core: REDUCE
    K_MATMUL       # a kernel core whose operands must be memory


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


cdef class _Ints:
    """A growable C array of Py_ssize_t, freed with the object."""
    cdef Py_ssize_t* v
    cdef Py_ssize_t n, cap

    def __cinit__(self, Py_ssize_t n, Py_ssize_t fill):
        cdef Py_ssize_t i
        self.cap = n if n > 4 else 4
        self.v = <Py_ssize_t*>malloc(self.cap * sizeof(Py_ssize_t))
        if self.v == NULL:
            raise MemoryError()
        self.n = n
        for i in range(n):
            self.v[i] = fill

    def __dealloc__(self):
        free(self.v)

    cdef int push(self, Py_ssize_t x) except -1:
        cdef Py_ssize_t* grown
        if self.n == self.cap:
            grown = <Py_ssize_t*>realloc(self.v, 2 * self.cap * sizeof(Py_ssize_t))
            if grown == NULL:
                raise MemoryError()
            self.v, self.cap = grown, 2 * self.cap
        self.v[self.n] = x
        self.n += 1
        return 0


cdef inline int _visit(_Ints seen, _Ints stack, Py_ssize_t key, Py_ssize_t stamp) except -1:
    """The cone walks' step: push `key` (2 * node + read in place) unless this walk (`stamp`)
    has seen it."""
    if seen.v[key] != stamp:
        seen.v[key] = stamp
        stack.push(key)
    return 0


cdef class _Graph:
    """One walk of a pending graph as arrays by position: kind, base (the node a VIEW reads,
    else itself), flat (a VIEW that keeps every element in place), sources and uses (CSR)."""
    cdef list order
    cdef Py_ssize_t n
    cdef _Ints kind, base, flat, src_start, srcs, use_start, use_consumer, use_view

    def __cinit__(self, list roots, bint stop_at_memory):
        cdef Node node
        cdef Py_ssize_t i, k, p, b, n, total = 0
        self.order = _node_order(roots, stop_at_memory, False, _new_walk())
        self.n = n = len(self.order)
        self.kind, self.base, self.flat = _Ints(n, 0), _Ints(n, 0), _Ints(n, 0)
        self.src_start, self.srcs = _Ints(n + 1, 0), _Ints(0, 0)
        for i in range(n):
            node = <Node>self.order[i]
            self.kind.v[i] = _kind_of(node)
            self.base.v[i] = _base(node)._pos
            self.flat.v[i] = node.op is _VIEW and _in_place(node)
            if self.kind.v[i] != K_MEMORY:  # a memory node's sources are not in the walk
                for k in range(len(node.srcs)):
                    self.srcs.push((<Node>node.srcs[k])._pos)
            self.src_start.v[i + 1] = self.srcs.n
        # uses: per base, (consumer, view or -1) of every non-VIEW node reading it, in walk
        # order, so the uses by one consumer sit together
        self.use_start = _Ints(n + 1, 0)
        for i in range(n):
            if self.kind.v[i] != K_VIEW:
                for k in range(self.src_start.v[i], self.src_start.v[i + 1]):
                    self.use_start.v[self.base.v[self.srcs.v[k]] + 1] += 1
        for i in range(n):
            self.use_start.v[i + 1] += self.use_start.v[i]
        total = self.use_start.v[n]
        self.use_consumer, self.use_view = _Ints(total, 0), _Ints(total, 0)
        cdef _Ints fill = _Ints(n, 0)
        for i in range(n):
            fill.v[i] = self.use_start.v[i]
        for i in range(n):
            if self.kind.v[i] == K_VIEW:
                continue
            for k in range(self.src_start.v[i], self.src_start.v[i + 1]):
                p = self.srcs.v[k]
                b = self.base.v[p]
                self.use_consumer.v[fill.v[b]] = i
                self.use_view.v[fill.v[b]] = p if self.kind.v[p] == K_VIEW else -1
                fill.v[b] += 1

    cdef inline bint identity(self, Py_ssize_t view):
        """A use through no view (-1), or through one that keeps every element in place."""
        return view < 0 or self.flat.v[view]

    cdef inline bint through_place(self, Py_ssize_t src):
        """Reading source `src` reads its base element for element (not a reshuffling VIEW)."""
        return self.kind.v[src] != K_VIEW or self.flat.v[src]


cdef char _kind_of(Node node):
    if node.op is _VIEW:
        return K_VIEW
    if _is_memory(node):
        return K_MEMORY
    if node.op is _CONST:
        return K_CONST
    if node.op in ELEMENTWISE:
        return K_ELEMENTWISE
    return K_MATMUL if node.op is _MATMUL else K_REDUCE


def group_kernels(list outputs, Py_ssize_t max_ops=128, Py_ssize_t max_inputs=64,
                  Py_ssize_t shared_ops=32) -> list:
    """Split the pending graph behind `outputs` into kernels by rules 1, 2, 3 and 5: a list of
    (root, core) in run order, where `root` is the node the kernel writes and `core` its
    REDUCE/MATMUL (or None). Rule 4 (merge_siblings) then merges elementwise kernels."""
    cdef _Graph g = _Graph(outputs, True)
    cdef Py_ssize_t i, b, n = g.n
    cdef _Ints stored = _Ints(n, 0), requested, owner = _Ints(n, -1), core = _Ints(n, -1)
    for i in range(len(outputs)):
        b = _base(<Node>outputs[i])._pos
        if g.kind.v[b] != K_MEMORY:
            stored.v[b] = 1
    requested = _Ints(n, 0)
    for i in range(n):
        requested.v[i] = stored.v[i]
    _assign_owners(g, stored, owner, core)
    if _store_matmul_epilogues(g, stored, owner, requested):
        _assign_owners(g, stored, owner, core)
    if _bound_kernels(g, stored, max_ops, max_inputs, shared_ops):
        # new stored nodes change which kernel each inlined node and each reduce belongs to;
        # `stored` only grew, so a reduce stored before stays stored
        _assign_owners(g, stored, owner, core)
    cdef list groups = []
    for i in range(n):
        if stored.v[i] and g.kind.v[i] != K_MEMORY:
            if core.v[i] >= 0:
                groups.append((g.order[i], g.order[core.v[i]]))
            elif g.kind.v[i] == K_REDUCE or g.kind.v[i] == K_MATMUL:
                groups.append((g.order[i], g.order[i]))
            else:
                groups.append((g.order[i], None))
    return groups


cdef Py_ssize_t _common_owner(_Graph g, Py_ssize_t node, _Ints owner):
    """The one stored elementwise node all uses of `node` flow into in place, or -1."""
    cdef Py_ssize_t u, consumer, target = -1
    for u in range(g.use_start.v[node], g.use_start.v[node + 1]):
        consumer = g.use_consumer.v[u]
        if g.kind.v[consumer] != K_ELEMENTWISE or not g.identity(g.use_view.v[u]):
            return -1
        if owner.v[consumer] < 0 or (target >= 0 and owner.v[consumer] != target):
            return -1
        target = owner.v[consumer]
    return target


cdef int _assign_owners(_Graph g, _Ints stored, _Ints owner, _Ints core) except -1:
    """Rules 1 and 2, consumers before sources: each elementwise node gets the stored node whose
    kernel computes it (owner -1: it is inlined into several kernels); each REDUCE/MATMUL is
    fused into the one stored elementwise node its uses flow into (core[that node] = it), or
    stored itself. An elementwise node a MATMUL reads is stored (a matmul operand is memory)."""
    cdef Py_ssize_t i, u, target
    cdef char kind
    for i in range(g.n):
        owner.v[i] = -1
        core.v[i] = -1
    for i in range(g.n - 1, -1, -1):
        kind = g.kind.v[i]
        if kind == K_VIEW or kind == K_CONST or kind == K_MEMORY:
            continue
        if kind == K_ELEMENTWISE:
            for u in range(g.use_start.v[i], g.use_start.v[i + 1]):
                if g.kind.v[g.use_consumer.v[u]] == K_MATMUL:
                    stored.v[i] = 1
            owner.v[i] = i if stored.v[i] else _common_owner(g, i, owner)
            continue
        target = -1 if stored.v[i] else _common_owner(g, i, owner)
        if target >= 0 and core.v[target] < 0:
            core.v[target] = i
            owner.v[i] = target
        else:
            stored.v[i] = 1
    return 0


cdef bint _store_matmul_epilogues(_Graph g, _Ints stored, _Ints owner, _Ints requested) except -1:
    """Rule 2b: a MATMUL stored on its own whose one use is an elementwise node of its shape
    (the bias add of a linear layer, read by several kernels) stores that node instead. Its
    kernel is the same matmul kernel, writing the epilogue's value; the kernels that read it
    read memory instead of recomputing it, and a later read of it (the logits after a
    training step) needs no kernel. `requested` (the outputs) stay stored. Whether anything
    changed."""
    cdef Py_ssize_t i, u, consumer
    cdef bint changed = False
    for i in range(g.n):
        if g.kind.v[i] != K_MATMUL or owner.v[i] >= 0 or requested.v[i]:
            continue
        u = g.use_start.v[i]
        if g.use_start.v[i + 1] - u != 1:
            continue
        consumer = g.use_consumer.v[u]
        if (g.kind.v[consumer] == K_ELEMENTWISE and not stored.v[consumer] and g.identity(g.use_view.v[u])
                and (<Node>g.order[consumer]).shape == (<Node>g.order[i]).shape):
            stored.v[consumer] = 1
            stored.v[i] = 0  # rule 2 fuses it into the consumer's kernel now
            changed = True
    return changed


cdef inline bint _is_load(_Graph g, Py_ssize_t node, _Ints stored):
    return g.kind.v[node] == K_MEMORY or stored.v[node]


cdef bint _bound_kernels(_Graph g, _Ints stored, Py_ssize_t max_ops, Py_ssize_t max_inputs,
                         Py_ssize_t shared_ops) except -1:
    """Rule 5, sources before consumers: store elementwise nodes (and unfuse reduces) until no
    kernel computes more than `max_ops` nodes or reads more than `max_inputs` buffers, and store
    shared nodes of more than `shared_ops` nodes. Adds to `stored`; True if it added anything.

    ops[i] and loads[i] are upper bounds on the size of a node's inlined cone: nodes computed,
    buffers read. Summing the sources' bounds costs O(1) per node but counts a shared part
    twice; only when that sum is over a limit is the cone walked to count it exactly."""
    cdef _Ints ops = _Ints(g.n, 0), loads = _Ints(g.n, 0), seen = _Ints(2 * g.n, 0), read = _Ints(g.n, 0)
    cdef _Ints stack = _Ints(0, 0)
    cdef Py_ssize_t i, tries, victim, n_ops = 0, n_loads = 0, stamp = 0
    cdef char kind
    cdef bint added = False
    for i in range(g.n):
        kind = g.kind.v[i]
        if kind == K_VIEW or kind == K_CONST or kind == K_MEMORY:
            continue
        for tries in range(4):  # at most 3 sources to store, then the cone is its sources' loads
            n_ops, n_loads = _summed_cone(g, i, stored, ops, loads)
            if n_ops > max_ops or n_loads > max_inputs:
                stamp += 1
                n_ops, n_loads = _exact_cone(g, i, stored, max_ops, max_inputs, seen, read, stack, stamp)
            if n_ops <= max_ops and n_loads <= max_inputs:
                break
            victim = _largest_inlined_source(g, i, stored, ops)
            if victim < 0:
                break
            stored.v[victim] = 1
            added = True
        ops.v[i] = n_ops
        loads.v[i] = n_loads
        if (n_ops > shared_ops and kind == K_ELEMENTWISE and not stored.v[i]
                and _consumer_count(g, i) > 1):
            stored.v[i] = 1
            added = True
    return added


cdef (Py_ssize_t, Py_ssize_t) _summed_cone(_Graph g, Py_ssize_t node, _Ints stored, _Ints ops, _Ints loads):
    """Upper bounds (nodes computed, buffers read) of the kernel computing `node`: one plus the
    sum over its distinct sources (a source read both in place and reshuffled counts twice)."""
    cdef Py_ssize_t n_ops = 1, n_loads = 0, k, j, src, b
    cdef bint flat, repeated
    for k in range(g.src_start.v[node], g.src_start.v[node + 1]):
        src = g.srcs.v[k]
        b, flat = g.base.v[src], g.through_place(src)
        if g.kind.v[b] == K_CONST:
            continue
        repeated = False
        for j in range(g.src_start.v[node], k):  # at most three sources: a scan is enough
            if g.base.v[g.srcs.v[j]] == b and g.through_place(g.srcs.v[j]) == flat:
                repeated = True
        if repeated:
            continue
        if _is_load(g, b, stored):
            n_loads += 1
        else:
            n_ops += ops.v[b]
            n_loads += loads.v[b]
    return n_ops, n_loads


cdef (Py_ssize_t, Py_ssize_t) _exact_cone(_Graph g, Py_ssize_t root, _Ints stored, Py_ssize_t max_ops,
                                          Py_ssize_t max_inputs, _Ints seen, _Ints read, _Ints stack,
                                          Py_ssize_t stamp):
    """(nodes computed, buffers read) by the kernel computing `root`. A node counts once per way
    it is read: in place, or through reshuffling views (codegen computes it once per index
    pattern, so `y + y.T` computes y twice). Stops once a limit is passed: the walk costs
    O(max_ops + max_inputs). seen[2 * node + in place], read[node] and `stack` are scratch,
    marked with `stamp`."""
    cdef Py_ssize_t n_ops = 0, n_read = 0, item, node, k, src, b, key
    cdef bint in_place
    stack.n = 0
    _visit(seen, stack, 2 * root + 1, stamp)
    while stack.n:
        stack.n -= 1
        item = stack.v[stack.n]
        node, in_place = item // 2, item % 2
        n_ops += 1
        if n_ops > max_ops:
            break
        for k in range(g.src_start.v[node], g.src_start.v[node + 1]):
            src = g.srcs.v[k]
            b = g.base.v[src]
            if g.kind.v[b] == K_CONST:
                continue
            if _is_load(g, b, stored):
                if read.v[b] != stamp:
                    read.v[b] = stamp
                    n_read += 1
                    if n_read > max_inputs:
                        break
                continue
            key = 2 * b + (in_place and g.through_place(src))
            _visit(seen, stack, key, stamp)
        if n_read > max_inputs:
            break
    return n_ops, n_read


cdef Py_ssize_t _largest_inlined_source(_Graph g, Py_ssize_t node, _Ints stored, _Ints ops):
    """The computed (not stored) source of `node` with the biggest cone, or -1."""
    cdef Py_ssize_t k, b, best = -1, best_ops = -1
    for k in range(g.src_start.v[node], g.src_start.v[node + 1]):
        b = g.base.v[g.srcs.v[k]]
        if g.kind.v[b] == K_CONST or _is_load(g, b, stored):
            continue
        if ops.v[b] > best_ops:
            best, best_ops = b, ops.v[b]
    return best


cdef Py_ssize_t _consumer_count(_Graph g, Py_ssize_t node):
    """How many nodes read `node` (a consumer's uses are listed together)."""
    cdef Py_ssize_t u, count = 0, last = -1
    for u in range(g.use_start.v[node], g.use_start.v[node + 1]):
        if g.use_consumer.v[u] != last:
            last = g.use_consumer.v[u]
            count += 1
    return count


def merge_siblings(list roots, list elementwise, Py_ssize_t max_ops=128, Py_ssize_t max_inputs=64) -> list:
    """Rule 4: for each kernel of group_kernels (its root, whether it is elementwise), the index
    of the earlier kernel it is merged into, or -1. An elementwise kernel joins the latest
    earlier one of the same shape that can also compute it: everything it reads is memory
    written before that kernel runs, or that kernel's own results read in place. Rule 5c:
    only while the merged kernel computes at most `max_ops` nodes and passes at most
    `max_inputs` + 1 buffers."""
    cdef _Graph g = _Graph(roots, True)
    cdef Py_ssize_t n = g.n, i, j, r, target, count, buffers, stamp = 0
    cdef _Ints stored = _Ints(n, 0), written_at = _Ints(n, -1), read_mark = _Ints(n, 0)
    cdef _Ints read_in_place = _Ints(n, 0), other_mark = _Ints(n, 0), seen = _Ints(2 * n, 0)
    cdef _Ints reads = _Ints(0, 0), stack = _Ints(0, 0), n_ops_of = _Ints(0, 0), n_roots = _Ints(0, 0)
    cdef _Ints kernel_of = _Ints(0, 0)  # kernel i: index of its first group (its root and kind)
    cdef list kernel_reads = [], targets = []
    cdef _Ints mine
    cdef Py_ssize_t n_ops
    cdef bint ready
    for i in range(len(roots)):
        stored.v[(<Node>roots[i])._pos] = 1
    for i in range(len(roots)):
        stamp += 1
        n_ops = _sibling_cone(g, (<Node>roots[i])._pos, stored, reads, read_mark, read_in_place, seen, stack, stamp)
        target = -1
        if elementwise[i]:
            for j in range(len(kernel_reads) - 1, -1, -1):
                ready = True
                for r in range(reads.n):
                    if not (written_at.v[reads.v[r]] < j or (written_at.v[reads.v[r]] == j and read_in_place.v[reads.v[r]])):
                        ready = False
                        break
                if not ready:
                    break  # something it reads is written by kernel j or later: no earlier one can
                if not elementwise[kernel_of.v[j]] or (<Node>roots[kernel_of.v[j]]).shape != (<Node>roots[i]).shape:
                    continue
                mine = <_Ints>kernel_reads[j]
                count = reads.n
                for r in range(mine.n):  # |reads of j  U  reads of this one|
                    if read_mark.v[mine.v[r]] != stamp:
                        count += 1
                buffers = count + n_roots.v[j] + 1
                if n_ops_of.v[j] + n_ops <= max_ops and buffers <= max_inputs + 1:
                    target = j
                    break
        targets.append(kernel_of.v[target] if target >= 0 else -1)
        if target < 0:
            written_at.v[(<Node>roots[i])._pos] = len(kernel_reads)
            mine = _Ints(0, 0)
            for r in range(reads.n):
                mine.push(reads.v[r])
            kernel_reads.append(mine)
            kernel_of.push(i)
            n_ops_of.push(n_ops)
            n_roots.push(1)
        else:
            written_at.v[(<Node>roots[i])._pos] = target
            mine = <_Ints>kernel_reads[target]
            stamp += 1
            for r in range(mine.n):
                other_mark.v[mine.v[r]] = stamp
            for r in range(reads.n):
                if other_mark.v[reads.v[r]] != stamp:
                    mine.push(reads.v[r])
            n_ops_of.v[target] += n_ops
            n_roots.v[target] += 1
    return targets


cdef Py_ssize_t _sibling_cone(_Graph g, Py_ssize_t root, _Ints stored, _Ints reads, _Ints read_mark,
                              _Ints read_in_place, _Ints seen, _Ints stack, Py_ssize_t stamp) except -1:
    """The memory the kernel for `root` reads (into `reads`; read_in_place[b]: read through
    identity views only) and how many nodes it computes (once in place, once more if also
    read reshuffled). Marks with `stamp`."""
    cdef Py_ssize_t n_ops = 0, item, node, k, key
    cdef bint in_place
    reads.n = 0
    stack.n = 0
    _visit(seen, stack, 2 * root + 1, stamp)
    while stack.n:
        stack.n -= 1
        item = stack.v[stack.n]
        node, in_place = item // 2, item % 2
        if node != root and _is_load(g, node, stored):
            if read_mark.v[node] != stamp:
                read_mark.v[node] = stamp
                read_in_place.v[node] = in_place
                reads.push(node)
            elif not in_place:
                read_in_place.v[node] = False
            continue
        if g.kind.v[node] == K_VIEW:
            key = 2 * g.base.v[node] + (in_place and g.flat.v[node])
            _visit(seen, stack, key, stamp)
            continue
        if g.kind.v[node] == K_CONST:
            continue
        n_ops += 1
        for k in range(g.src_start.v[node], g.src_start.v[node + 1]):
            key = 2 * g.srcs.v[k] + in_place
            _visit(seen, stack, key, stamp)
    return n_ops


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

    The key is a bytes string of integers (_words): per pending node its signature id
    (signature_id), its number of sources and their positions; per memory node the negated id
    of its (dtype, shape); then the outputs' positions. A dict hashes it once (bytes keep
    their hash) and compares it with memcmp, so looking up a schedule costs microseconds for
    a graph of hundreds of nodes, where a tuple of tuples took ~20 us to hash and compare."""
    cdef unsigned long long walk = _new_walk()
    cdef list order = _node_order(outputs, True, False, walk)
    cdef Node node
    cdef Py_ssize_t i, k, pending = 0
    cdef _Ints words = _Ints(0, 0)
    for i in range(len(order)):
        node = <Node>order[i]
        if node.buffer is not None:
            if node._mem == 0:
                node._mem = _intern((node.dtype, node.shape))
            words.push(-node._mem)
            continue
        pending += 1
        words.push(signature_id(node))
        words.push(len(node.srcs))
        for k in range(len(node.srcs)):
            words.push((<Node>node.srcs[k])._pos)
    if not pending:
        return None, order
    for k in range(len(outputs)):
        words.push((<Node>outputs[k])._pos)
    return _words(words), order


cdef bytes _words(_Ints words):
    """The integers as one bytes string: a key that hashes and compares in C."""
    return PyBytes_FromStringAndSize(<char*>words.v, words.n * sizeof(Py_ssize_t))


cdef dict _interned = {}
cdef long long _interned_count = 0


cdef long long _intern(object value) except -1:
    """A positive int per distinct (hashable) value while the table lasts. When the table is
    cleared (it is bounded), values get new ids and ids are never reused: a stale id can only
    make a key miss (a schedule built again), never match a different graph. An unhashable
    value gets an id of its own every time."""
    global _interned_count
    try:
        found = _interned.get(value)
    except TypeError:  # unhashable (a list inside): an id of its own, so its key matches nothing
        _interned_count += 1
        return _interned_count
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
    view), as interned ids and positions in a bytes string (_words), like structure(). Two
    backward passes with one key build the same gradient graph on their inputs, so
    gradients.py copies the first one (templates.Template). key is None where a rule could build
    something else: a custom op whose rule has no `replay_key` (a user's backward may read
    Python state that changes between calls)."""
    cdef unsigned long long walk = _new_walk()
    cdef list inputs = []
    cdef _Ints words = _Ints(0, 0)
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
                _gradient_leaf(src, walk, inputs, words)
        if node._walk == walk:  # already a source of an earlier node: not possible sources-first
            return None, inputs
        node._walk, node._pos = walk, len(inputs)
        inputs.append(node)
        words.push(_intern((op, arg, node.dtype, node.shape, node.move, node.requires_grad)))
        words.push(len(srcs))
        for src in srcs:
            words.push(src._pos)
        if grad_srcs is srcs:
            words.push(-1)
        else:
            words.push(len(grad_srcs))
            for src in grad_srcs:
                words.push(src._pos)
    for j in range(len(extra)):
        src = <Node?>extra[j]
        if src._walk != walk:
            _gradient_leaf(src, walk, inputs, words)
    words.push(len(extra))
    for j in range(len(extra)):
        words.push((<Node>extra[j])._pos)
    return _words(words), inputs


cdef int _gradient_leaf(Node node, unsigned long long walk, list inputs, _Ints words) except -1:
    node._walk, node._pos = walk, len(inputs)
    inputs.append(node)
    words.push(-_intern(_input_entry(node)))  # negative: an input, not a node with sources
    return 0


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


def inputs_key(list nodes) -> bytes:
    """The structural key of a graph's inputs (templates.TemplateCache): per node the interned
    id of its _input_entry and the position of its first occurrence, so one tensor passed
    twice and two equal tensors are told apart."""
    cdef unsigned long long walk = _new_walk()
    cdef _Ints words = _Ints(0, 0)
    cdef Node node
    cdef Py_ssize_t i
    for i in range(len(nodes)):
        node = <Node?>nodes[i]
        if node._walk != walk:
            node._walk, node._pos = walk, i
        words.push(_intern(_input_entry(node)))
        words.push(node._pos)
    return _words(words)
