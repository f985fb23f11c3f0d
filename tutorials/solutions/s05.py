"""Solutions to tutorial 05's exercises."""


def contiguous_strides(shape) -> tuple:
    """Row-major: the last axis moves by 1, each earlier one by the size of everything after it."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def permute_view(shape, strides, order) -> tuple:
    """A transpose moves no data: axis k of the result is axis order[k] of the input."""
    return tuple(shape[k] for k in order), tuple(strides[k] for k in order)


def broadcast_shape(a, b) -> tuple:
    """numpy's rule: align the shapes on the right; each pair must be equal or contain a 1."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"cannot broadcast {a} and {b}")
        out.append(y if x == 1 else x)
    return tuple(out)
