"""Kernel grouping: which nodes of a lazy graph get their own memory, and which are fused.

The rules (tests/test_fusion.py pins them down by kernel counts):

1. Elementwise nodes are inlined into every kernel that reads them (recomputed, never
   stored), unless they are an output or a matmul operand.
2. A REDUCE or MATMUL node is stored, unless all its uses flow, through identity views and
   inlined elementwise nodes, into exactly one stored elementwise node: then that node's
   kernel *is* the reduce/matmul kernel, with the elementwise chain as its epilogue.
3. Everything a kernel reads that is not inlined is memory: a realized buffer, or a node
   stored by an earlier kernel of the same schedule.

An elementwise prologue is therefore fused into a reduce for free (rule 1); matmul operands
are read through strided views (transposes and broadcasts cost nothing) but must be memory,
because the fast kernel loads whole rows of them with vector loads.
"""
from __future__ import annotations

from dataclasses import dataclass

from tinygradlike.graph import ELEMENTWISE, Node, Op


@dataclass
class KernelGroup:
    """One kernel: it computes `root` into new memory.

    `core` is the REDUCE or MATMUL node the kernel is built around (the root itself, or an
    ancestor whose elementwise consumers form the epilogue); None for an elementwise kernel.
    """

    root: Node
    core: Node | None

    @property
    def kind(self) -> str:
        if self.core is None:
            return "elementwise"
        return "reduce" if self.core.op is Op.REDUCE else "matmul"


def is_memory(node: Node) -> bool:
    """Nodes the scheduler never looks behind: computed buffers and uploads."""
    return node.buffer is not None


def toposort_pending(outputs: list[Node]) -> list[Node]:
    """Every node the outputs need that is not yet memory, sources first (iterative DFS)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(n, False) for n in reversed(outputs)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if is_memory(node):
            continue
        for src in reversed(node.srcs):
            if id(src) not in seen:
                stack.append((src, False))
    return order


def _is_identity_view(view: Node | None) -> bool:
    """A use through no view, or through a view that keeps every element in place."""
    return view is None or (view.arg.is_contiguous and view.arg.size == view.base.size)


def group_kernels(outputs: list[Node]) -> list[KernelGroup]:
    """Split the pending part of the graph behind `outputs` into kernels, in run order."""
    order = toposort_pending(outputs)
    # uses[id(base)] = list of (consumer, view-or-None); VIEW nodes are edges, not consumers
    uses: dict[int, list[tuple[Node, Node | None]]] = {}
    for node in order:
        if node.op is Op.VIEW or is_memory(node):
            continue
        for src in node.srcs:
            base, view = (src.base, src) if src.op is Op.VIEW else (src, None)
            uses.setdefault(id(base), []).append((node, view))

    stored: set[int] = {id(o.base) for o in outputs if not is_memory(o.base)}
    # owner[id(n)]: the single stored elementwise node that n's value flows into through identity
    # views only, or None when n's value reaches several kernels or is reshuffled on the way.
    owner: dict[int, Node | None] = {}
    fused_core: dict[int, Node] = {}
    for node in reversed(order):  # consumers before their sources
        if node.op is Op.VIEW or is_memory(node) or node.op is Op.CONST:
            continue
        node_uses = uses.get(id(node), [])
        if node.op in ELEMENTWISE:
            if any(consumer.op is Op.MATMUL for consumer, _ in node_uses):
                stored.add(id(node))
            owner[id(node)] = node if id(node) in stored else _common_owner(node_uses, owner)
            continue
        # REDUCE or MATMUL: fuse into the one kernel that consumes it, if there is one
        target = None if id(node) in stored else _common_owner(node_uses, owner)
        if target is not None and id(target) not in fused_core:
            fused_core[id(target)] = node
            owner[id(node)] = target
        else:
            stored.add(id(node))
            owner[id(node)] = None

    groups = []
    for node in order:
        if id(node) in stored and not is_memory(node):
            core = fused_core.get(id(node))
            if core is None and node.op in (Op.REDUCE, Op.MATMUL):
                core = node
            groups.append(KernelGroup(node, core))
    return groups


def _common_owner(node_uses, owner) -> Node | None:
    target = None
    for consumer, view in node_uses:
        if consumer.op not in ELEMENTWISE or not _is_identity_view(view):
            return None
        consumer_owner = owner.get(id(consumer))
        if consumer_owner is None or (target is not None and consumer_owner is not target):
            return None
        target = consumer_owner
    return target


def stored_nodes(groups: list[KernelGroup]) -> set[int]:
    """ids of the nodes this schedule writes to memory (codegen loads them, never inlines)."""
    return {id(g.root) for g in groups}
