"""Custom ops: your own forward, your own gradient.

A custom op is a function of tensors whose gradient you register instead of letting autograd
derive it from the forward graph. The classic example is gradient reversal (domain-adversarial
training): the identity going forward, the negated gradient going back.

    negate_gradient = CustomOp("negate_gradient",
                               forward=lambda x: x,
                               backward=lambda g, x: [-g])
    y = negate_gradient(features)

`forward` and `backward` are written with Tensor ops, so a custom op runs on every OpenCL
device and fuses into kernels like any other op (in the graph it is a free identity of its
forward value), and its backward is a lazy graph too, differentiable again if you like.
Check a registered gradient with tinygradlike.testing.grad_check.
"""
from __future__ import annotations

from typing import Callable, Sequence

from tinygradlike.graph import Node, Op
from tinygradlike.tensor import Tensor


class CustomOp:
    """`forward(*inputs) -> Tensor`; `backward(grad_of_output, *inputs) -> one gradient (or
    None) per input`, each of its input's shape. Calling the op takes Tensors and returns its
    forward's value, whose gradient is the registered backward.

    >>> negate_gradient = CustomOp("negate_gradient", forward=lambda x: x, backward=lambda g, x: [-g])
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> negate_gradient(x).sum().gradient(x)[0].numpy()
    array([-1., -1.], dtype=float32)
    """

    def __init__(self, name: str, forward: Callable[..., Tensor], backward: Callable[..., Sequence[Tensor | None]]):
        self.name, self.forward, self.backward = name, forward, backward

    def __call__(self, *inputs: Tensor) -> Tensor:
        for x in inputs:
            if not isinstance(x, Tensor):
                raise TypeError(f"custom op {self.name!r} takes Tensors, got {type(x).__name__}")
        # autograd must not see through the forward graph: the registered backward replaces it
        value = self.forward(*(x.detach() for x in inputs))
        if not isinstance(value, Tensor):
            raise TypeError(f"custom op {self.name!r}: forward must return a Tensor, got {type(value).__name__}")
        nodes = tuple(x.node for x in inputs)
        return Tensor(Node(Op.CUSTOM, (value.node,), (self, nodes), value.dtype, value.shape,
                           requires_grad=any(n.requires_grad for n in nodes)))

    def gradients(self, g: Tensor, inputs: list[Tensor]) -> list[Tensor | None]:
        """Run the registered backward and check what it returned against the inputs: one
        gradient (or None) per input, each of its input's shape, else a ValueError.

        >>> double = CustomOp("double", forward=lambda x: x * 2, backward=lambda g, x: [g * 2])
        >>> double.gradients(Tensor([1.0]), [Tensor([3.0])])[0].numpy()
        array([2.], dtype=float32)
        """
        grads = list(self.backward(g, *inputs))
        if len(grads) != len(inputs):
            raise ValueError(f"custom op {self.name!r}: backward returned {len(grads)} gradients "
                             f"for {len(inputs)} inputs")
        for i, (grad, x) in enumerate(zip(grads, inputs)):
            if grad is not None and grad.shape != x.shape:
                raise ValueError(f"custom op {self.name!r}: gradient {i} has shape {grad.shape}, "
                                 f"its input has shape {x.shape}")
        return grads

    def __repr__(self) -> str:
        return f"CustomOp({self.name!r})"
