"""Solutions to tutorial 03's exercises."""


def topo_sort(root) -> list:
    """Depth-first, with an explicit stack of (node, sources done?) pairs: a node is emitted when
    it is popped the second time, after everything pushed above it (its sources)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for src in node.srcs:
            if id(src) not in seen:
                stack.append((src, False))
    return order
