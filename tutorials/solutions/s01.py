"""Solutions to tutorial 01's exercises."""


def count_nodes(root) -> int:
    """Every node once: a walk with its own stack and a set of nodes already seen."""
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.srcs)
    return len(seen)


def sub(a, b):
    """a - b from + and * only: a + (-1) * b."""
    return a + b * -1.0
