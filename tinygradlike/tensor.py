"""Tensor: the lazy n-dimensional array users write with.

Every method builds graph nodes (tinygradlike/graph.py) and returns at once; nothing runs
until `.realize()`, `.numpy()`, `.item()`, `.tolist()` or printing. Shapes and dtypes are
checked here, when the node is built, so a mistake points at the line that made it.

Only a handful of primitive ops exist in the graph; everything else in this file (relu,
softmax, var, cat, slicing, ...) is composed from them.
"""
from __future__ import annotations

import collections
import functools
import inspect
import math
import sys
import weakref
from typing import Any, Iterable, Sequence

import numpy as np

from tinygradlike import sites
from tinygradlike.dtypes import DType, dtypes
from tinygradlike.graph import Node, Op, buffer_node, const_node, memory_under, next_serial, result_dtype
from tinygradlike.scheduler import inputs_key
from tinygradlike.templates import TemplateCache
from tinygradlike.view import ShapeTracker

Scalar = int | float | bool


def _runtime():
    # imported on first use: building graphs needs no device, only realizing does
    from tinygradlike import runtime

    return runtime


def _normalize_axis(axis: int, ndim: int, what: str = "axis") -> int:
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"{what} {axis} is out of range for a tensor with {ndim} dimension(s); "
                         f"use a value in [{-max(ndim, 1)}, {max(ndim, 1) - 1}]")
    return axis % max(ndim, 1) if ndim else 0


def _shape_args(shape: tuple) -> tuple[int, ...]:
    """Accept f(2, 3) and f((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise ValueError(f"shape entries must be integers, got {shape}")
    return tuple(int(s) for s in shape)


def _new_shape(shape: tuple) -> tuple[int, ...]:
    """The shape of a new tensor: integers >= 0 (where reshape and expand read -1 as 'infer')."""
    shape = _shape_args(shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"a new tensor's sizes must be >= 0, got {shape}")
    return shape


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape `shapes` broadcast to, by numpy's rule: align on the right, size-1 dimensions
    stretch; any other mismatch is a ValueError naming the dimension.

    >>> broadcast_shape((2, 1), (3,))
    (2, 3)
    """
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for i, sizes in enumerate(zip(*padded)):
        big = {s for s in sizes if s != 1}
        if len(big) > 1:
            raise ValueError(f"cannot broadcast shapes {' and '.join(str(tuple(s)) for s in shapes)}: "
                             f"dimension {i - ndim} is {' vs '.join(str(s) for s in sizes)}; "
                             f"sizes must match or be 1 (reshape or unsqueeze one operand)")
        out.append(big.pop() if big else 1)
    return tuple(out)


# The losses backward() was called on since the last optimizer step (weakly: a loss nobody
# holds is not computed). The step computes those still pending in its own schedule, with the
# gradients, so `loss.item()` after `opt.step()` (the PyTorch habit) is a read, not another
# schedule: the same values, since the step computes them from the weights they were built on.
_BACKWARD_ROOTS: collections.deque[weakref.ref] = collections.deque(maxlen=64)  # without a step: the last 64


def pending_backward_roots() -> list[Tensor]:
    """Take the losses of the backward passes since the last call that are still held and lazy
    (an optimizer step computes them with its update); the list is emptied.

    >>> x = Tensor([2.0], requires_grad=True); loss = (x * x).sum(); _ = loss.backward()
    >>> any(root.node is loss.node for root in pending_backward_roots())
    True
    """
    roots = [Tensor(node) for ref in _BACKWARD_ROOTS if (node := ref()) is not None and node.buffer is None]
    _BACKWARD_ROOTS.clear()
    if len(_runtime().opened_devices()) > 1:  # several devices: a step computes its own device's losses only
        here = _runtime().get_device()
        elsewhere = [root for root in roots if any(b.device is not here for b in memory_under(root.node))]
        _BACKWARD_ROOTS.extend(weakref.ref(root.node) for root in elsewhere)  # for their own device's step
        roots = [root for root in roots if all(root is not other for other in elsewhere)]
    return roots


_NOT_SEEN = object()


def replayable(fn):
    """For a library composite (cross_entropy, logsumexp, softmax, ...) whose graph depends only
    on the structure of its tensor arguments (op, dtype, shape, view, requires_grad, which
    arguments are the same tensor) and on its other arguments, which must be hashable.

    The first call for a key runs `fn` and keeps its graph as a templates.Template; later calls
    copy it onto their own tensors, one node construction per node, instead of running the
    Python of every op inside. A composite whose graph reads memory that is not an argument
    (an upload inside it) or a user's custom op is not copied: Template.record refuses
    it and every call runs `fn`. Results are the same either way.

    >>> double = replayable(lambda x: x * 2)
    >>> double(Tensor([1.0])).numpy(), double(Tensor([3.0])).numpy()
    (array([2.], dtype=float32), array([6.], dtype=float32))
    """
    templates = TemplateCache(256)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs and any(isinstance(v, Tensor) for v in kwargs.values()):
            return fn(*args, **kwargs)  # tensors passed by keyword: built every time
        nodes = [a.node for a in args if type(a) is Tensor]
        if len(nodes) != sum(isinstance(a, Tensor) for a in args):
            return fn(*args, **kwargs)  # a Tensor subclass: built every time
        rest = tuple(_NOT_SEEN if type(a) is Tensor else a for a in args)
        key = (inputs_key(nodes), rest, tuple(kwargs.items()) if kwargs else None)
        known = templates.find(key)
        if known is None:
            _runtime().count("composite_graphs_built")
            since = next_serial()
            out = fn(*args, **kwargs)
            templates.record(key, nodes, [out.node] if type(out) is Tensor else None, since)
            return out
        _runtime().count("composite_graphs_copied")
        return Tensor(known[0].instantiate(nodes)[0])

    return wrapper



_NO_DIM = object()


def dim_alias(fn):
    """Accept PyTorch's `dim=` where this method takes `axis=` with the same meaning
    (x.sum(dim=1) is x.sum(axis=1)). Giving both, or `dim` beside a positional axis, is a
    TypeError, as a repeated argument is in Python. help() and inspect.signature show `dim`.

    >>> dim_alias(lambda self, axis=None: axis)(None, dim=1)
    1
    """
    @functools.wraps(fn)
    def wrapper(self, *args, dim=_NO_DIM, **kwargs):
        if dim is not _NO_DIM:
            if args or "axis" in kwargs:
                raise TypeError(f"{fn.__name__}() got both an axis and dim={dim!r}; they are the same argument, "
                                f"give one of them")
            kwargs["axis"] = dim
        return fn(self, *args, **kwargs)
    # wraps() makes the signature fn's, which has no `dim`: add it, keyword-only, as it is taken
    signature = inspect.signature(fn)
    dim_param = inspect.Parameter("dim", inspect.Parameter.KEYWORD_ONLY, default=None)
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), dim_param])
    return wrapper


def _refuse_dim(fn):
    """max and min take `axis=` and return the values only; torch's max(dim=) returns the values
    and their indices, so `dim=` is refused rather than silently meaning something else."""
    @functools.wraps(fn)
    def wrapper(self, *args, dim=_NO_DIM, **kwargs):
        if dim is not _NO_DIM:
            raise TypeError(f"Tensor.{fn.__name__}(axis=...) returns the {fn.__name__} values only; torch's "
                            f"{fn.__name__}(dim=...) also returns their indices. Write "
                            f"x.{fn.__name__}(axis={dim!r}) and x.arg{fn.__name__}(axis={dim!r})")
        return fn(self, *args, **kwargs)
    return wrapper

class Tensor:
    """A lazy n-dimensional array on the OpenCL device.

    Tensor(data, dtype=None, requires_grad=False) takes a number, a nested list, a numpy array
    or another Tensor; Python floats become float32 and ints int32 (the device types; torch's
    int64 default only with dtype=dtypes.int64, and numpy int64 arrays narrow to int32 too),
    numpy arrays of the other supported types keep theirs, and `dtype` converts. Operators:
    + - * / ** and unary -, @ (matmul), the comparisons < <= > >= == != (elementwise, giving
    bool tensors: tensors hash by identity), x[...] (ints, slices, None, ...), len() and
    iteration over the first dimension, and bool(), int(), float() of a one-element tensor.
    Python and numpy numbers and arrays work on either side.

    >>> (Tensor([1.0, 2.0]) * 3).numpy()
    array([3., 6.], dtype=float32)
    >>> Tensor([[1, 2]], dtype=dtypes.float32)  # doctest: +ELLIPSIS
    Tensor([[1., 2.]], dtype=float32, device='...')
    >>> x = Tensor([3.0], requires_grad=True)
    >>> _ = (x * x).sum().backward(); x.grad.numpy(), (x * x).node.op
    (array([6.], dtype=float32), <Op.MUL: 'mul'>)
    """

    # a dict, so that help(Tensor.grad) shows the values as docstrings
    __slots__ = {"node": "The graph node behind this tensor (graph.py): its op, sources, shape, dtype and memory.",
                 "grad": "The gradients backward() accumulated, as a lazy Tensor; None before the first backward().",
                 "__weakref__": None}
    # numpy must not take over `ndarray + tensor` or `np.float64(0.1) * tensor` (it would turn
    # the tensor into an array and drop the graph): its operators defer to ours instead
    __array_ufunc__ = None
    __hash__ = object.__hash__  # == builds a comparison; identity keeps tensors usable as dict keys
    _rng = np.random.default_rng(0)

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False):
        self.grad: Tensor | None = None
        if isinstance(data, Node):
            self.node = data
        elif isinstance(data, Tensor):
            self.node = data.node if dtype is None else data.cast(dtype).node
        else:
            array = _to_numpy(data, dtype)
            dt = dtypes.from_numpy(array.dtype)
            _check_device_dtype(dt)
            self.node = buffer_node(_runtime().Buffer.from_numpy(array), dt, array.shape)
        if requires_grad:
            self.requires_grad = True
        if sites.recording:  # someone is looking (profile(), TGL_DEBUG>=3): note the user's line
            sites.note()

    # -- properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension, as a tuple of ints (() for a 0-d tensor).

        >>> Tensor([[1.0, 2.0, 3.0]]).shape
        (1, 3)
        """
        return self.node.shape

    @property
    def dtype(self) -> DType:
        """The element type, one of `dtypes` (bool, uint8, int32, int64, float16, float32, float64).

        >>> Tensor([1, 2]).dtype, Tensor([1.0, 2.0]).dtype
        (dtypes.int32, dtypes.float32)
        """
        return self.node.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions, len(shape).

        >>> Tensor([[1.0, 2.0]]).ndim
        2
        """
        return len(self.shape)

    def numel(self) -> int:
        """The number of elements, as a Python int (1 for a 0-d tensor).

        >>> Tensor.zeros(2, 3).numel()
        6
        """
        return self.node.size

    @property
    def size(self):
        """The number of elements, as numpy's `.size` (torch's `size()` is `.shape` here).

        >>> Tensor.zeros(2, 3).size
        6
        """
        return self.node.size

    @property
    def device(self) -> str:
        """The name of the device this tensor's memory is on (for a lazy tensor: its inputs').

        >>> Tensor([1.0]).device  # doctest: +ELLIPSIS
        '...'
        """
        stack, seen = [self.node], set()
        while stack:  # iterative: a lazy graph may be deep
            node = stack.pop()
            if node.buffer is not None:
                return node.buffer.device.name
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.srcs)
        return _runtime().get_device().name  # made of constants only: it will run on the default device

    @property
    def requires_grad(self) -> bool:
        """Whether backward() computes a gradient for this tensor. Only float tensors can
        require gradients (setting it on another dtype is a ValueError); set it before building the
        graph that should be differentiated.

        >>> Tensor([1.0], requires_grad=True).requires_grad
        True
        """
        return self.node.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not self.dtype.is_float:
            raise ValueError(f"only float tensors can require gradients, this one is {self.dtype.name}; "
                             f"cast it first with .float()")
        self.node.requires_grad = bool(value)
        if value:
            _GRAD_TENSORS[id(self)] = self
        else:
            _GRAD_TENSORS.pop(id(self), None)

    def requires_grad_(self, value: bool = True) -> Tensor:
        """Set requires_grad in place and return this tensor (torch's spelling).

        >>> Tensor([1.0]).requires_grad_().requires_grad
        True
        """
        self.requires_grad = value
        return self

    # -- autograd ---------------------------------------------------------------------
    def _seed(self, gradient: Tensor | None) -> Tensor:
        if gradient is None:
            if self.numel() != 1:
                raise ValueError(f"backward()/gradient() without a gradient needs a one-element tensor, "
                                 f"this one has shape {self.shape}; reduce it (e.g. .sum()) or pass gradient=")
            return Tensor.full(self.shape, 1.0, self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"gradient shape {gradient.shape} does not match the tensor's shape {self.shape}")
        return gradient.cast(self.dtype)

    def gradient(self, *targets: Tensor, gradient: Tensor | None = None) -> list[Tensor]:
        """d(self)/d(target) for each target, as lazy tensors that can be differentiated again.

        Targets must have requires_grad=True (set before the graph was built). A target
        this tensor does not depend on gets zeros.

        >>> x = Tensor([3.0], requires_grad=True)
        >>> (x * x).sum().gradient(x)[0].numpy()
        array([6.], dtype=float32)
        """
        from tinygradlike.gradients import gradients

        for t in targets:
            if not t.requires_grad:
                raise ValueError(f"gradient() target with shape {t.shape} does not require gradients; "
                                 f"set requires_grad=True on it before building the graph")
        grads = gradients(self.node, self._seed(gradient), [t.node for t in targets])
        return [t.zeros_like() if g is None else g for t, g in zip(targets, grads)]

    def backward(self, gradient: Tensor | None = None) -> Tensor:
        """Accumulate d(self)/d(t) into t.grad for every tensor t with requires_grad=True that
        self depends on. The gradients are lazy: they run with the next realize (an optimizer
        step realizes them all in one schedule). Calling backward twice adds twice, as in torch.
        Returns self.

        >>> x = Tensor([3.0], requires_grad=True)
        >>> _ = (x * x).sum().backward(); x.grad.numpy()
        array([6.], dtype=float32)
        """
        from tinygradlike.gradients import gradients

        if not self.requires_grad:
            raise ValueError("backward() on a tensor that does not depend on any tensor with requires_grad=True")
        targets = [t for t in list(_GRAD_TENSORS.values()) if t.requires_grad]
        grads = gradients(self.node, self._seed(gradient), [t.node for t in targets])
        for t, g in zip(targets, grads):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        if self.node.buffer is None:
            _BACKWARD_ROOTS.append(weakref.ref(self.node))
        return self

    @property
    def lazy(self) -> bool:
        """True until this tensor's value is computed into device memory (by realize(),
        numpy(), item(), ...).

        >>> y = Tensor([1.0]) * 2
        >>> y.lazy, y.realize().lazy
        (True, False)
        """
        return not self.node.base.realized

    # -- creation ---------------------------------------------------------------------
    @staticmethod
    def manual_seed(seed: int = 0) -> None:
        """Make rand/randn/uniform/randint (and everything built on them) reproducible.

        >>> Tensor.manual_seed(1); first = Tensor.rand(2).tolist()
        >>> Tensor.manual_seed(1); Tensor.rand(2).tolist() == first
        True
        """
        Tensor._rng = np.random.default_rng(seed)

    @staticmethod
    def full(shape, fill_value: Scalar, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """A tensor of `shape` (an int or a tuple) filled with `fill_value`. The dtype follows the
        value (bool, int32 or float32) unless given; with requires_grad the tensor gets memory of its
        own, a leaf to train.

        >>> Tensor.full((2,), 0.5).numpy()
        array([0.5, 0.5], dtype=float32)
        """
        shape = _new_shape((shape,) if isinstance(shape, (tuple, list)) else (shape,))
        if dtype is None:
            dtype = dtypes.bool if isinstance(fill_value, bool) else (
                dtypes.int32 if isinstance(fill_value, int) else dtypes.float32)
        dt = dtypes.from_any(dtype)
        if dt == dtypes.uint8 and isinstance(fill_value, (int, np.integer)) and not -128 <= fill_value <= 255:
            # torch refuses these here (its uint8 + 300 wraps; its full does not)
            raise ValueError(f"the number {fill_value} does not fit in uint8 (a fill takes -128..255; "
                             f"negatives wrap, as torch's); use a wider dtype or a smaller number")
        out = _filled(shape, _check_scalar(fill_value, dt), dt)  # 2**40 as int32 is refused, as torch
        if requires_grad:
            out = out.contiguous()
            out.realize()
            out.requires_grad = True
        return out

    @staticmethod
    def zeros(*shape, dtype: Any = dtypes.float32, requires_grad: bool = False) -> Tensor:
        """A float32 (or `dtype`) tensor of zeros; the shape as f(2, 3) or f((2, 3)).

        >>> Tensor.zeros(2).numpy()
        array([0., 0.], dtype=float32)
        """
        return Tensor.full(_new_shape(shape), 0, dtype, requires_grad)

    @staticmethod
    def ones(*shape, dtype: Any = dtypes.float32, requires_grad: bool = False) -> Tensor:
        """A float32 (or `dtype`) tensor of ones; the shape as f(2, 3) or f((2, 3)).

        >>> Tensor.ones(2).numpy()
        array([1., 1.], dtype=float32)
        """
        return Tensor.full(_new_shape(shape), 1, dtype, requires_grad)

    def zeros_like(self) -> Tensor:
        """Zeros of this tensor's shape and dtype.

        >>> Tensor([1, 2]).zeros_like().numpy()
        array([0, 0], dtype=int32)
        """
        return Tensor.full(self.shape, 0, self.dtype)

    def ones_like(self) -> Tensor:
        """Ones of this tensor's shape and dtype.

        >>> Tensor([1.0, 2.0]).ones_like().numpy()
        array([1., 1.], dtype=float32)
        """
        return Tensor.full(self.shape, 1, self.dtype)

    def full_like(self, fill_value: Scalar) -> Tensor:
        """`fill_value` in this tensor's shape and dtype (the value is converted to it).

        >>> Tensor([1.0, 2.0]).full_like(0.5).numpy()
        array([0.5, 0.5], dtype=float32)
        """
        return Tensor.full(self.shape, fill_value, self.dtype)

    @staticmethod
    def arange(start, stop=None, step=1, dtype: Any = None) -> Tensor:
        """start, start + step, ... up to but excluding stop (arange(n) counts from 0), as numpy's.
        int32 when start, stop and step are all ints, else float32, unless `dtype` is given.

        >>> Tensor.arange(1, 7, 2).numpy()
        array([1, 3, 5], dtype=int32)
        """
        if stop is None:
            start, stop = 0, start
        if dtype is None:
            dtype = dtypes.int32 if all(isinstance(v, int) for v in (start, stop, step)) else dtypes.float32
        dt = dtypes.from_any(dtype)
        return Tensor(np.arange(start, stop, step, dtype=np.float64).astype(dt.np))

    @staticmethod
    def eye(n: int, m: int | None = None, dtype: Any = dtypes.float32) -> Tensor:
        """The (n, m) identity matrix (m defaults to n): ones on the diagonal, zeros elsewhere.

        >>> Tensor.eye(2).numpy()
        array([[1., 0.],
               [0., 1.]], dtype=float32)
        """
        return Tensor(np.eye(n, n if m is None else m, dtype=dtypes.from_any(dtype).np))

    @staticmethod
    def rand(*shape, dtype: Any = dtypes.float32, requires_grad: bool = False) -> Tensor:
        """Uniform on [0, 1), float32 unless `dtype` is given; reproducible after manual_seed.

        >>> Tensor.rand(2, 3).shape
        (2, 3)
        """
        values = Tensor._rng.random(_new_shape(shape))
        return Tensor(values.astype(dtypes.from_any(dtype).np), requires_grad=requires_grad)

    @staticmethod
    def randn(*shape, dtype: Any = dtypes.float32, requires_grad: bool = False) -> Tensor:
        """Standard normal (mean 0, variance 1), float32 unless `dtype` is given; reproducible
        after manual_seed.

        >>> Tensor.randn(2, 3).shape
        (2, 3)
        """
        values = Tensor._rng.standard_normal(_new_shape(shape))
        return Tensor(values.astype(dtypes.from_any(dtype).np), requires_grad=requires_grad)

    @staticmethod
    def uniform(*shape, low: float = 0.0, high: float = 1.0, dtype: Any = dtypes.float32,
                requires_grad: bool = False) -> Tensor:
        """Uniform on [low, high), float32 unless `dtype` is given; reproducible after manual_seed.

        >>> Tensor.uniform(2, 3, low=-1.0, high=1.0).shape
        (2, 3)
        """
        values = Tensor._rng.uniform(low, high, _new_shape(shape))
        return Tensor(values.astype(dtypes.from_any(dtype).np), requires_grad=requires_grad)

    @staticmethod
    def randint(*shape, low: int = 0, high: int = 10) -> Tensor:
        """int32 integers drawn uniformly from [low, high), from the generator manual_seed seeds.
        (torch's randint takes low and high first: here they are keywords after the shape.)

        >>> Tensor.randint(2, 3, high=5).dtype
        dtypes.int32
        """
        return Tensor(Tensor._rng.integers(low, high, _new_shape(shape)).astype(np.int32))

    # -- realizing and reading ----------------------------------------------------------
    def realize(self, *others: Tensor) -> Tensor:
        """Compute this tensor (and `others`, in the same schedule) into device memory; returns self.

        >>> (Tensor([1.0, 2.0]) * 2).realize().lazy
        False
        """
        from tinygradlike.realize import realize

        realize([self.node, *(o.node for o in others)])
        return self

    def assign(self, value: Tensor) -> Tensor:
        """Write `value` into this tensor's own memory, in place (an optimizer's update).

        The memory stays the same, so a jit recording that reads this tensor sees the new
        values on replay. The tensor becomes a leaf again (no history), keeping requires_grad.
        Returns self.

        >>> Tensor([1.0, 2.0]).assign(Tensor([3.0, 4.0])).numpy()
        array([3., 4.], dtype=float32)
        """
        if not isinstance(value, Tensor) or value.shape != self.shape:
            raise ValueError(f"assign needs a Tensor of shape {self.shape}, got "
                             f"{getattr(value, 'shape', type(value).__name__)}")
        node = self.node
        if node.op is not Op.BUFFER or node.buffer is None:
            raise ValueError("assign writes into memory: the target must be a realized tensor with "
                             "its own buffer (e.g. a parameter), not a lazy result or a view")
        value = value.cast(self.dtype).contiguous()
        value.realize()
        memory = node.buffer
        _keep_old_values(node)
        memory.copy_from(value.node.base.buffer)
        self.node = buffer_node(memory, self.dtype, self.shape, requires_grad=node.requires_grad)
        return self

    def _claim_memory(self):
        """This tensor's own memory (a realized tensor with its own buffer, as assign needs),
        made safe to overwrite in place: what else reads the old values keeps them
        (_keep_old_values), and the tensor becomes a leaf. Returns the runtime.Buffer."""
        node = self.node
        memory = node.buffer
        _keep_old_values(node)
        self.node = buffer_node(memory, self.dtype, self.shape, requires_grad=node.requires_grad)
        return memory

    def __deepcopy__(self, memo: dict) -> Tensor:
        """copy.deepcopy: a tensor with this one's values in new memory on the default device
        (runtime.on_device picks another), the same dtype and requires_grad, and no history or
        .grad. copy.deepcopy(model) inside on_device(d) is the model's replica on d.

        >>> import copy; t = Tensor([1.0, 2.0], requires_grad=True); c = copy.deepcopy(t)
        >>> c.numpy(), c.requires_grad, c.node.buffer is t.node.buffer
        (array([1., 2.], dtype=float32), True, False)
        """
        return Tensor(self.numpy(), dtype=self.dtype, requires_grad=self.requires_grad)

    def contiguous(self) -> Tensor:
        """A tensor with its own row-major memory (a copy kernel if this one is a view).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).T.contiguous().numpy()
        array([[1., 3.],
               [2., 4.]], dtype=float32)
        """
        if self.node.op is not Op.VIEW and self.node.op is not Op.CONST:
            return self
        return Tensor(Node(Op.COPY, (self.node,), None, self.dtype, self.shape))

    def numpy(self) -> np.ndarray:
        """The values as a new numpy array of this shape and dtype (bool, uint8, int32, int64,
        float16, float32, float64), computing the tensor first if it is lazy.

        >>> Tensor([1.0, -2.0]).numpy()
        array([ 1., -2.], dtype=float32)
        """
        node = self.node
        if node.op is Op.VIEW and not node.arg.is_contiguous or node.op is Op.CONST:
            node = Node(Op.COPY, (node,), None, self.dtype, self.shape, requires_grad=False)
        from tinygradlike.realize import realize

        realize([node])
        base = node.base
        data = base.buffer.to_numpy(self.dtype.np, (base.size,))
        return data[:self.numel()].reshape(self.shape)  # a contiguous view may be a prefix

    def __array__(self, dtype=None, copy=None):
        out = self.numpy()
        return out if dtype is None else out.astype(dtype)

    def item(self) -> Scalar:
        """The one element as a Python float, int or bool; any other number of elements is a
        ValueError.

        >>> Tensor([[2.5]]).item()
        2.5
        """
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}; "
                             f"index it or reduce it first")
        return self.numpy().reshape(()).item()

    def tolist(self):
        """The values as nested Python lists of floats, ints or bools (a number for a 0-d tensor).

        >>> Tensor([[1, 2], [3, 4]]).tolist()
        [[1, 2], [3, 4]]
        """
        return self.numpy().tolist()

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.dtype.name}, device={self.device!r}{grad})"

    def to_dot(self, names: dict[Tensor, str] | None = None, kernels: bool = False) -> str:
        """The lazy graph behind this tensor in Graphviz DOT (pipe it into `dot -Tsvg`).

        names: {tensor: "name"} labels those tensors' nodes. kernels=True frames the nodes of
        each kernel that computing this tensor would run (the fusion, drawn).

            print(y.to_dot(names={x: "x", y: "y"}, kernels=True))

        >>> Tensor([1.0]).to_dot().splitlines()[0]
        'digraph G {'
        """
        from tinygradlike.graph import to_dot
        from tinygradlike.schedule import kernel_clusters

        labels = {t.node: name for t, name in (names or {}).items()}
        return to_dot([self.node], labels, kernel_clusters([self.node]) if kernels else None)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- graph building blocks ----------------------------------------------------------
    def _view(self, name: str, param: Any) -> Tensor:
        """One movement (reshape, permute, expand, pad, shrink, flip, stride): a new view of the
        same memory, never a copy. The node records the movement for the gradient rules."""
        node = self.node
        new_st = _moved(node.arg if node.op is Op.VIEW else node.shape, name, param)
        base = node.base
        if new_st.is_contiguous and new_st.shape == base.shape and node.requires_grad == base.requires_grad:
            return Tensor(base)  # x.T.T is x (unless requires_grad was set on a view in between)
        return Tensor(Node(Op.VIEW, (node,), new_st, self.dtype, new_st.shape, move=(name, param)))

    def _op(self, op: Op, *others: Tensor, arg: Any = None) -> Tensor:
        srcs = (self.node, *(o.node for o in others))
        return Tensor(Node(op, srcs, arg, result_dtype(op, srcs), self.shape))

    def _const_like(self, value: Scalar, dtype: DType | None = None) -> Tensor:
        return Tensor.full(self.shape, value, dtype or self.dtype)

    def _broadcasted(self, other: Any, reverse: bool = False) -> tuple[Tensor, Tensor]:
        """Both operands as tensors of one shape and one dtype (numpy/torch rules)."""
        if type(other) is Tensor and other.node.shape == self.node.shape and other.node.dtype is self.node.dtype:
            _check_same_device(self, other)  # the common case (h * mask): nothing to broadcast or cast
            return (other, self) if reverse else (self, other)
        if isinstance(other, np.ndarray):
            other = Tensor(other)
        if isinstance(other, Tensor):
            dt = _promote_tensors(self, other)
        elif _is_scalar(other):  # the common case (x * 0.9), built directly: one node for the constant
            dt = _scalar_with(other, self.dtype)
            a, b = self.cast(dt), _filled(self.shape, _check_scalar(other, dt), dt)
            return (b, a) if reverse else (a, b)
        else:
            raise TypeError(f"cannot combine a Tensor with {type(other).__name__} {other!r}; "
                            f"use a Tensor or a Python number")
        _check_same_device(self, other)
        shape = broadcast_shape(self.shape, other.shape)
        a, b = self.cast(dt)._expand_to(shape), other.cast(dt)._expand_to(shape)
        return (b, a) if reverse else (a, b)

    def _expand_to(self, shape: tuple[int, ...]) -> Tensor:
        if self.shape == shape:
            return self
        padded = (1,) * (len(shape) - self.ndim) + self.shape
        return self.reshape(padded).expand(shape)

    # -- elementwise: unary --------------------------------------------------------------
    def _float(self) -> Tensor:
        return self if self.dtype.is_float else self.cast(dtypes.float32)

    def neg(self) -> Tensor:
        """-x elementwise, in the same dtype; a bool tensor is a ValueError (use logical_not).

        >>> Tensor([1.0, -2.0]).neg().numpy()
        array([-1.,  2.], dtype=float32)
        """
        if self.dtype == dtypes.bool:
            raise ValueError("negation of a bool tensor is ambiguous; use logical_not() or cast first")
        return self._op(Op.NEG)

    def logical_not(self) -> Tensor:
        """Elementwise not, as a bool tensor (any nonzero value counts as true).

        >>> Tensor([True, False]).logical_not().numpy()
        array([False,  True])
        """
        return self.cast(dtypes.bool)._op(Op.NEG)

    def exp(self) -> Tensor:
        """e ** x elementwise; bool and int32 inputs give float32.

        >>> Tensor([0.0]).exp().numpy()
        array([1.], dtype=float32)
        """
        return self._float()._op(Op.EXP)

    def log(self) -> Tensor:
        """The natural logarithm elementwise (log(0) is -inf, a negative x is nan, no error);
        bool and int32 inputs give float32.

        >>> Tensor([1.0]).log().numpy()
        array([0.], dtype=float32)
        """
        return self._float()._op(Op.LOG)

    def exp2(self) -> Tensor:
        """2 ** x elementwise, in float32 for bool and int32 inputs.

        >>> Tensor([0.0, 3.0]).exp2().numpy().round(4)
        array([1., 8.], dtype=float32)
        """
        return self._float()._op(Op.EXP2)

    def log2(self) -> Tensor:
        """The base-2 logarithm elementwise, in float32 for bool and int32 inputs.

        >>> Tensor([1.0, 8.0]).log2().numpy().round(4)
        array([0., 3.], dtype=float32)
        """
        return self._float()._op(Op.LOG2)

    def sqrt(self) -> Tensor:
        """The square root elementwise (nan below 0); bool and int32 inputs give float32.

        >>> Tensor([4.0, 0.25]).sqrt().numpy()
        array([2. , 0.5], dtype=float32)
        """
        return self._float()._op(Op.SQRT)

    def rsqrt(self) -> Tensor:
        """1 / sqrt(x) elementwise, in float32 for bool and int32 inputs.

        >>> Tensor([4.0]).rsqrt().numpy()
        array([0.5], dtype=float32)
        """
        return self.sqrt().reciprocal()

    def sin(self) -> Tensor:
        """The sine (radians) elementwise, in float32 for bool and int32 inputs.

        >>> Tensor([0.0]).sin().numpy()
        array([0.], dtype=float32)
        """
        return self._float()._op(Op.SIN)

    def cos(self) -> Tensor:
        """The cosine (radians) elementwise, in float32 for bool and int32 inputs.

        >>> Tensor([0.0]).cos().numpy()
        array([1.], dtype=float32)
        """
        return self._float()._op(Op.COS)

    def tan(self) -> Tensor:
        """The tangent (radians) elementwise, sin(x) / cos(x), in float32 for bool and int32 inputs.

        >>> Tensor([0.0]).tan().numpy()
        array([0.], dtype=float32)
        """
        return self.sin() / self.cos()

    def tanh(self) -> Tensor:
        """The hyperbolic tangent elementwise, in float32 for bool and int32 inputs.

        >>> Tensor([0.0]).tanh().numpy()
        array([0.], dtype=float32)
        """
        return self._float()._op(Op.TANH)

    def sigmoid(self) -> Tensor:
        """1 / (1 + exp(-x)) elementwise, computed without overflow at either end (float32 for
        bool and int32 inputs).

        >>> Tensor([0.0]).sigmoid().numpy()
        array([0.5], dtype=float32)
        """
        # Through exp(-|x|) <= 1 on both sides, so no branch ever holds an inf: 1/(1+exp(-x))
        # alone has gradient 0 * inf = NaN at x = -3e38 (torch: 0), and loses digits below -88
        x = self._float()
        positive = x >= 0
        e = positive.where(-x, x).exp()  # not -x.abs(): abs'(0) = 0 would zero sigmoid'(0)
        return positive.where((1 + e).reciprocal(), e / (1 + e))

    @replayable
    def relu(self) -> Tensor:
        """max(x, 0) elementwise, with torch's gradient relu'(0) = 0; NaN stays NaN.

        >>> Tensor([1.0, -2.0]).relu().numpy()
        array([1., 0.], dtype=float32)
        """
        # `where`, not maximum(x, 0): max splits a tie's gradient, relu'(0) is 0 in torch;
        # `x <= 0` (not `x > 0`) keeps NaN: relu(nan) is nan
        return (self <= 0).where(0, self)

    def leaky_relu(self, neg_slope: float = 0.01, *, negative_slope: float | None = None) -> Tensor:
        """x where x > 0, else x * neg_slope, elementwise (torch's slope at 0); torch's name
        for the slope, negative_slope=, is taken too.

        >>> Tensor([1.0, -2.0]).leaky_relu(0.5).numpy()
        array([ 1., -1.], dtype=float32)
        """
        if negative_slope is not None:
            neg_slope = negative_slope
        return (self > 0).where(self, self * neg_slope)  # slope at 0, as torch; NaN stays NaN

    def erf(self) -> Tensor:
        """The error function, 2/sqrt(pi) * integral of exp(-t^2) from 0 to x, elementwise.

        >>> Tensor([0.0]).erf().numpy()
        array([0.], dtype=float32)
        """
        return self._float()._op(Op.ERF)

    def gelu(self, approximate: str = "tanh") -> Tensor:
        """x * Phi(x). approximate="tanh" (the default here; torch's is "none") is the tanh
        formula; "none" is exact, 0.5 * x * (1 + erf(x / sqrt(2))).

        >>> Tensor([0.0, 10.0]).gelu().numpy()
        array([ 0., 10.], dtype=float32)
        """
        if approximate not in ("tanh", "none"):
            raise ValueError(f"gelu approximate must be 'tanh' or 'none', got {approximate!r}")
        return self._with_gradient_rule(_Gelu.value(self.detach(), approximate), _Gelu(approximate))

    def softplus(self) -> Tensor:
        """log(1 + exp(x)) elementwise, computed without overflow; its gradient is sigmoid(x)
        everywhere, as torch's.

        >>> Tensor([0.0]).softplus().numpy().round(4)
        array([0.6931], dtype=float32)
        """
        # max(x, 0) + log1p(exp(-|x|)), with the branches chosen by `where` so that, as in torch,
        # softplus'(x) = sigmoid(x) everywhere: at 0 (abs'(0) = 0 would lose half) and at NaN
        x = self._float()
        positive = x > 0
        return positive.where(x, 0.0) + positive.where(-x, x).exp().log1p()

    def log1p(self) -> Tensor:
        """log(1 + x) elementwise, accurate for tiny x; float32 for bool and int32 inputs.

        >>> Tensor([0.0]).log1p().numpy()
        array([0.], dtype=float32)
        """
        return self._float()._op(Op.LOG1P)

    def silu(self) -> Tensor:
        """x * sigmoid(x) elementwise (also called swish).

        >>> Tensor([0.0]).silu().numpy()
        array([0.], dtype=float32)
        """
        return self * self.sigmoid()

    def abs(self) -> Tensor:
        """|x| elementwise, in the same dtype; abs'(0) is 0 and NaN stays NaN, as in torch.

        >>> Tensor([1.0, -2.0]).abs().numpy()
        array([1., 2.], dtype=float32)
        """
        # max splits the tie at 0 between x and -x, so abs'(0) = 0.5 - 0.5 = 0 (torch's sign(0));
        # NaN stays NaN. A tie gives max's second operand, -0.0 for x = +0.0: adding 0 makes
        # every zero +0.0 (1 / abs(0) is +inf)
        if self.dtype == dtypes.uint8:  # (-x wraps: max(x, -x) would be wrong)
            return self
        out = self.maximum(-self)
        return out + 0 if out.dtype.is_float else out

    def sign(self) -> Tensor:
        """-1, 0 or 1 elementwise, in the same dtype (int32 and float tensors; 0 for NaN, as torch).

        >>> Tensor([1.0, -2.0, 0.0]).sign().numpy()
        array([ 1., -1.,  0.], dtype=float32)
        """
        if self.dtype == dtypes.bool:
            return Tensor(self.node)  # True is 1 and False 0 already: torch returns them as they are
        return (self > 0).cast(self.dtype) - (self < 0).cast(self.dtype)

    def reciprocal(self) -> Tensor:
        """1 / x elementwise (1 / 0 is inf); bool and int32 inputs give float32.

        >>> Tensor([2.0, 4.0]).reciprocal().numpy()
        array([0.5 , 0.25], dtype=float32)
        """
        return self._float()._op(Op.RECIP)

    def square(self) -> Tensor:
        """x * x elementwise, in the same dtype.

        >>> Tensor([1.0, -2.0]).square().numpy()
        array([1., 4.], dtype=float32)
        """
        return self * self

    def clip(self, min_: Scalar | Tensor | None = None, max_: Scalar | Tensor | None = None, *,
             min: Scalar | Tensor | None = None, max: Scalar | Tensor | None = None) -> Tensor:  # noqa: A002
        """Limit to [min_, max_] (either may be None; torch's keywords min= and max= work too). As
        in torch: NaN stays NaN; the gradient reaches x where min_ <= x <= max_, bounds included
        (not at NaN), and a tensor bound where it is the value taken; with min_ > max_ every
        element is max_. `clamp` is the same.

        >>> Tensor([1.0, -2.0]).clip(-1.0, 0.5).numpy()
        array([ 0.5, -1. ], dtype=float32)
        >>> Tensor([1.0, -2.0]).clamp(min=0).numpy()
        array([1., 0.], dtype=float32)
        """
        if (min is not None and min_ is not None) or (max is not None and max_ is not None):
            raise TypeError("clip got a bound twice (min_ and min=, or max_ and max=); give each once")
        min_ = min_ if min is None else min
        max_ = max_ if max is None else max
        if min_ is None and max_ is None:
            return self
        held = self.detach()  # the clipped value; x itself is only seen inside the bounds
        out = held if min_ is None else (held < min_).where(min_, held)
        out = out if max_ is None else (out > max_).where(max_, out)
        inside = None if min_ is None else self >= min_
        if max_ is not None:
            inside = self <= max_ if inside is None else inside * (self <= max_)
        return inside.where(self, out)

    clamp = clip

    def to(self, target: Any) -> Tensor:
        """torch's .to: with a dtype, cast(target); with a device (a runtime.Device, or a spec as
        for TGL_DEVICE: "P:D" or a name substring), the values in memory on that device, as a
        new leaf with this tensor's dtype and requires_grad (no history: gradients do not flow
        back across devices, unlike torch's), or this tensor itself when it is already there.
        Computations run on the default device (runtime.on_device), so the copy is what another
        device's kernels can read.

        >>> t = Tensor([1.5, 2.0]); t.to(t.node.buffer.device) is t, t.to("int32").numpy()
        (True, array([1, 2], dtype=int32))
        """
        from tinygradlike import runtime

        if not isinstance(target, runtime.Device):
            try:
                dt = dtypes.from_any(target)
            except (TypeError, ValueError, KeyError):
                dt = None  # not a dtype: a device spec (open_device says what is wrong with it)
            if dt is not None:
                return self.cast(dt)
        device = target if isinstance(target, runtime.Device) else runtime.open_device(target)
        here = {id(b.device): b.device for b in memory_under(self.node)}
        source = next(iter(here.values())) if len(here) == 1 else runtime.get_device()
        if source is device:
            return self
        with runtime.on_device(source):
            values = self.numpy()
        with runtime.on_device(device):
            return Tensor(values, dtype=self.dtype, requires_grad=self.requires_grad)

    def cast(self, dtype: Any) -> Tensor:
        """The values converted to `dtype` (a DType, a numpy dtype, a name or float/int/bool):
        float to int truncates towards zero, nonzero becomes True. float64 on a device without
        cl_khr_fp64 is a ValueError.

        >>> Tensor([1.5, -2.0]).cast(dtypes.int32).numpy()
        array([ 1, -2], dtype=int32)
        """
        dt = dtypes.from_any(dtype)
        if dt == self.dtype:
            return self
        _check_device_dtype(dt)
        return Tensor(Node(Op.CAST, (self.node,), dt, dt, self.shape))

    def half(self) -> Tensor:
        """cast(dtypes.float16), rounded to the nearest half (ties to even), as torch's .half().

        >>> Tensor([1.0, 1/3]).half().numpy()
        array([1.    , 0.3333], dtype=float16)
        """
        return self.cast(dtypes.float16)

    def long(self) -> Tensor:
        """cast(dtypes.int64): floats are truncated towards zero.

        >>> Tensor([1.5, -2.0]).long().numpy()
        array([ 1, -2])
        """
        return self.cast(dtypes.int64)

    def byte(self) -> Tensor:
        """cast(dtypes.uint8): integers wrap modulo 256, as torch's .byte().

        >>> Tensor([1, 257, -1]).byte().numpy()
        array([  1,   1, 255], dtype=uint8)
        """
        return self.cast(dtypes.uint8)

    def float(self) -> Tensor:
        """cast(dtypes.float32).

        >>> Tensor([1, 2]).float().numpy()
        array([1., 2.], dtype=float32)
        """
        return self.cast(dtypes.float32)

    def double(self) -> Tensor:
        """cast(dtypes.float64): a ValueError on a device without cl_khr_fp64.

        >>> Tensor([1.0, 2.0]).double().dtype
        dtypes.float64
        """
        return self.cast(dtypes.float64)

    def int(self) -> Tensor:
        """cast(dtypes.int32): floats are truncated towards zero.

        >>> Tensor([1.5, -2.0]).int().numpy()
        array([ 1, -2], dtype=int32)
        """
        return self.cast(dtypes.int32)

    def bool(self) -> Tensor:
        """cast(dtypes.bool): nonzero becomes True.

        >>> Tensor([0.0, 2.0]).bool().numpy()
        array([False,  True])
        """
        return self.cast(dtypes.bool)

    def detach(self) -> Tensor:
        """The same values, cut off from gradient tracking (requires_grad is False; no gradient
        flows through it).

        >>> Tensor([1.0], requires_grad=True).detach().requires_grad
        False
        """
        return Tensor(Node(Op.DETACH, (self.node,), None, self.dtype, self.shape, requires_grad=False))

    # -- elementwise: binary -------------------------------------------------------------
    def _binary(self, op: Op, other: Any, reverse: bool = False) -> Tensor:
        a, b = self._broadcasted(other, reverse)
        return a._op(op, b)

    def add(self, other, reverse=False) -> Tensor:
        """self + other elementwise, broadcasting shapes and promoting dtypes as torch does (a
        Python number takes the tensor's dtype unless it needs a wider kind: an int32 tensor +
        0.5 is float32). reverse=True computes other + self.

        >>> Tensor([1.0, 2.0]).add(1).numpy()
        array([2., 3.], dtype=float32)
        """
        return self._binary(Op.ADD, other, reverse)

    def sub(self, other, reverse=False) -> Tensor:
        """self - other elementwise (other - self with reverse=True), broadcasting as add; a bool
        operand is a ValueError, as in torch.

        >>> Tensor([1.0, 2.0]).sub(0.5).numpy()
        array([0.5, 1.5], dtype=float32)
        """
        if self.dtype == dtypes.bool or isinstance(other, (bool, np.bool_)) or \
                isinstance(other, Tensor) and other.dtype == dtypes.bool:
            raise ValueError("subtraction with a bool operand is not defined (as in torch); to invert a mask "
                             "use logical_not(), to count use .int() first")
        a, b = self._broadcasted(other, reverse)
        return a._op(Op.ADD, b._op(Op.NEG))

    def mul(self, other, reverse=False) -> Tensor:
        """self * other elementwise, broadcasting as add.

        >>> Tensor([1.0, 2.0]).mul(3).numpy()
        array([3., 6.], dtype=float32)
        """
        return self._binary(Op.MUL, other, reverse)

    def div(self, other, reverse=False) -> Tensor:
        """self / other elementwise (other / self with reverse=True), broadcasting as add. True
        division: integer operands give float32, as in numpy and torch.

        >>> Tensor([1, 2]).div(4).numpy()
        array([0.25, 0.5 ], dtype=float32)
        """
        a, b = self._broadcasted(other, reverse)
        return a._float()._op(Op.DIV, b._float())

    def pow(self, exponent, reverse=False) -> Tensor:
        """self ** exponent with torch's types: integer ** integer stays an integer (computed
        exactly through float64 where the device has it), anything with a float is float. An
        integer tensor to a negative Python int is a ValueError, as in torch.

        >>> (Tensor([2, 3]) ** 2).numpy()
        array([4, 9], dtype=int32)
        """
        a, b = self._broadcasted(exponent, reverse)
        scalar = not reverse and _is_scalar(exponent) and not isinstance(exponent, (bool, np.bool_))
        if scalar and exponent in (1, 2, 3):  # exact and cheaper as products, for every type
            return a if exponent == 1 else a * a if exponent == 2 else a * a * a
        if a.dtype.is_float:
            if scalar and exponent == 0 and not a.requires_grad:
                return a._const_like(1.0)  # (with requires_grad, POW keeps x's zero gradient)
            if scalar and exponent == 0.5:
                return a.sqrt()
            if scalar and exponent == -1:
                return a.reciprocal()
            return a._op(Op.POW, b)
        if scalar and exponent < 0:
            raise ValueError(f"integers to negative integer powers are not allowed (** {exponent}, as in torch); "
                             f"use a float: .float() ** {exponent}")
        wide = dtypes.float64 if _runtime().get_device().has_fp64 else dtypes.float32
        power = a.cast(wide)._op(Op.POW, b.cast(wide))
        # torch's integer power of a negative exponent truncates to 0 (1/base**k), inf included;
        # INT_MIN itself (INT_MIN ** 1) is in range; uint8 wraps (through int32, where the cast
        # from an integer is defined)
        signed = dtypes.int64 if a.dtype == dtypes.int64 else dtypes.int32
        low, high = signed.limits
        return ((power >= low) * (power <= high)).where(power, 0).cast(signed).cast(a.dtype)

    def maximum(self, other) -> Tensor:
        """The larger of self and other elementwise, broadcasting as add (logical or for bool);
        NaN wins, as in torch.

        >>> Tensor([1.0, -2.0]).maximum(0.0).numpy()
        array([1., 0.], dtype=float32)
        """
        a, b = self._broadcasted(other)
        if a.dtype == dtypes.bool:
            return a._op(Op.ADD, b)  # logical or
        return a._op(Op.MAX, b)

    def minimum(self, other) -> Tensor:
        """The smaller of self and other elementwise, broadcasting as add (logical and for bool);
        NaN wins, as in torch.

        >>> Tensor([1.0, -2.0]).minimum(0.0).numpy()
        array([ 0., -2.], dtype=float32)
        """
        a, b = self._broadcasted(other)
        if a.dtype == dtypes.bool:
            return a._op(Op.MUL, b)  # logical and
        return a._op(Op.MIN, b)

    def where(self, x, y) -> Tensor:
        """Elementwise `x if self else y` (x and y Tensors or numbers), broadcasting all three;
        the result has the promoted dtype of x and y.

        >>> (Tensor([1.0, -2.0]) > 0).where(1.0, -1.0).numpy()
        array([ 1., -1.], dtype=float32)
        """
        for v in (x, y):
            if not isinstance(v, Tensor) and not _is_scalar(v):
                raise TypeError(f"where() branches must be Tensors or Python numbers, got {type(v).__name__} {v!r}")
        x = x if isinstance(x, Tensor) else Tensor.full((), _check_scalar(x, dt := _scalar_dtype(x, y)), dt)
        y = y if isinstance(y, Tensor) else Tensor.full((), _check_scalar(y, dt := _scalar_dtype(y, x)), dt)
        dt = _promote_tensors(x, y)
        shape = broadcast_shape(self.shape, x.shape, y.shape)
        cond = self.cast(dtypes.bool)._expand_to(shape)
        return cond._op(Op.WHERE, x.cast(dt)._expand_to(shape), y.cast(dt)._expand_to(shape))

    def __lt__(self, other) -> Tensor:
        """self < other elementwise as a bool tensor, broadcasting as add (also `x.lt(other)`).

        >>> (Tensor([1.0, -2.0]) < 0).numpy()
        array([False,  True])
        """
        return self._binary(Op.CMPLT, other)

    def __gt__(self, other) -> Tensor:
        """self > other elementwise as a bool tensor, broadcasting as add (also `x.gt(other)`).

        >>> (Tensor([1.0, -2.0]) > 0).numpy()
        array([ True, False])
        """
        return self._binary(Op.CMPLT, other, reverse=True)

    def __le__(self, other) -> Tensor:
        """self <= other elementwise as a bool tensor, broadcasting as add (also `x.le(other)`).

        >>> (Tensor([1.0, 0.0]) <= 0).numpy()
        array([False,  True])
        """
        a, b = self._broadcasted(other)
        return a._op(Op.CMPLT, b)._op(Op.ADD, a._op(Op.CMPEQ, b))

    def __ge__(self, other) -> Tensor:
        """self >= other elementwise as a bool tensor, broadcasting as add (also `x.ge(other)`).

        >>> (Tensor([1.0, -2.0]) >= 1).numpy()
        array([ True, False])
        """
        a, b = self._broadcasted(other)
        return b._op(Op.CMPLT, a)._op(Op.ADD, a._op(Op.CMPEQ, b))

    def __eq__(self, other) -> Tensor:  # type: ignore[override]
        """self == other elementwise as a bool tensor, broadcasting as add (also `x.eq(other)`).
        It builds a tensor, not a Python bool: compare values with .tolist() or numpy.

        >>> (Tensor([1.0, 2.0]) == 2).numpy()
        array([False,  True])
        """
        if other is None:
            return False  # `x == None` asks whether x is missing, as in torch
        return self._binary(Op.CMPEQ, other)

    def __ne__(self, other) -> Tensor:  # type: ignore[override]
        """self != other elementwise as a bool tensor, broadcasting as add (also `x.ne(other)`).

        >>> (Tensor([1.0, 2.0]) != 2).numpy()
        array([ True, False])
        """
        if other is None:
            return True
        return self._binary(Op.CMPEQ, other)._op(Op.NEG)

    lt, gt, le, ge, eq, ne = __lt__, __gt__, __le__, __ge__, __eq__, __ne__

    def __neg__(self) -> Tensor:
        return self.neg()

    def __add__(self, other) -> Tensor:
        return self.add(other)

    def __radd__(self, other) -> Tensor:
        return self.add(other, reverse=True)

    def __sub__(self, other) -> Tensor:
        return self.sub(other)

    def __rsub__(self, other) -> Tensor:
        return self.sub(other, reverse=True)

    def __mul__(self, other) -> Tensor:
        return self.mul(other)

    def __rmul__(self, other) -> Tensor:
        return self.mul(other, reverse=True)

    def __truediv__(self, other) -> Tensor:
        return self.div(other)

    def __rtruediv__(self, other) -> Tensor:
        return self.div(other, reverse=True)

    def __pow__(self, other) -> Tensor:
        return self.pow(other)

    def __rpow__(self, other) -> Tensor:
        return self.pow(other, reverse=True)

    def __matmul__(self, other) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other) -> Tensor:
        return Tensor(other).matmul(self)

    # -- reductions -----------------------------------------------------------------------
    def _axes(self, axis) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        normalized = tuple(sorted({_normalize_axis(a, self.ndim) for a in axes}))
        if len(normalized) != len(axes):
            raise ValueError(f"axis {axis} names a dimension twice")
        return normalized if self.ndim else ()

    def _reduce(self, op: Op, axis, keepdim: bool) -> Tensor:
        axes = self._axes(axis)
        if op is not Op.ADD and any(self.shape[a] == 0 for a in axes):
            raise ValueError(f"{op.value}() over an empty dimension of {self.shape} has no value (axis {axis}); "
                             f"as in torch, reduce over non-empty dimensions only, or use sum()")
        kept = tuple(1 if i in axes else s for i, s in enumerate(self.shape))
        out = Tensor(Node(Op.REDUCE, (self.node,), (op, axes), self.dtype, kept)) if axes else self
        if keepdim:
            return out
        return out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    @dim_alias
    def sum(self, axis=None, keepdim: bool = False) -> Tensor:
        """The sum over `axis` (an int, a tuple of ints, or None for every axis; `dim=` is the
        same argument), the reduced dimensions dropped unless keepdim. Same dtype; a bool or
        uint8 tensor sums as int32 (torch: int64); float16 sums in float, rounded once.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=0).numpy()
        array([4., 6.], dtype=float32)
        """
        src = self.cast(dtypes.int32) if self.dtype in (dtypes.bool, dtypes.uint8) else self
        return src._reduce(Op.ADD, axis, keepdim)

    @_refuse_dim
    def max(self, axis=None, keepdim: bool = False) -> Tensor:
        """The largest value over `axis` (an int, a tuple, or None for all), NaN if the reduced
        values hold one. Values only: `dim=` is refused, since torch's max(dim=) also returns indices
        (use argmax).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).max(axis=1).numpy()
        array([2., 4.], dtype=float32)
        """
        src = self.cast(dtypes.int32) if self.dtype == dtypes.bool else self
        out = src._extreme(Op.MAX, axis, keepdim)
        return out.cast(dtypes.bool) if self.dtype == dtypes.bool else out

    @_refuse_dim
    def min(self, axis=None, keepdim: bool = False) -> Tensor:
        """The smallest value over `axis` (an int, a tuple, or None for all), NaN if the reduced
        values hold one. Values only: `dim=` is refused, as for max (use argmin).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).min().item()
        1.0
        """
        src = self.cast(dtypes.int32) if self.dtype == dtypes.bool else self
        out = src._extreme(Op.MIN, axis, keepdim)
        return out.cast(dtypes.bool) if self.dtype == dtypes.bool else out

    def _extreme(self, op: Op, axis, keepdim: bool) -> Tensor:
        if self.ndim == 0:  # a real reduction of one element, so its gradient is torch.amax's
            _normalize_axis(axis or 0, 0)  # (NaN at a NaN), not the identity's
            return self.reshape(1)._reduce(op, 0, False)
        return self._reduce(op, axis, keepdim)

    @dim_alias
    def mean(self, axis=None, keepdim: bool = False) -> Tensor:
        """The mean over `axis` (int, tuple or None for all; `dim=` alike), in float32 for bool
        and int32 inputs; a mean over zero elements is nan.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).mean(dim=0).numpy()
        array([2., 3.], dtype=float32)
        """
        count = math.prod(self.shape[a] for a in self._axes(axis))
        return self._float().sum(axis, keepdim) * (1.0 / count if count else math.nan)

    def _scaled_variance(self, axis, correction: int) -> tuple[Tensor, Tensor]:
        """(scale, m) with var = m * scale**2, keepdim shape. The centred values are divided by a
        power of two near the row's largest magnitude before they are squared, so squares neither
        overflow (values of 1e20 have a variance of 1e40, past float32, but a std of 1e20) nor
        underflow (a std of 1e-30 survives); a power of two, so that dividing by it rounds nothing
        where exp2 of an integer is exact (it is on PoCL). The scale is detached:
        the variance does not depend on it, so its gradient is exactly that of the plain formula."""
        count = math.prod(self.shape[a] for a in self._axes(axis))
        x = self._float()
        scale = x._row_scale(axis)
        centered = _centered(x / scale, axis)  # scaled first: the sum of two 3e38s is inf
        # torch divides by max(0, n - correction): inf past it, nan for a row of equal values
        m = centered.square().sum(axis, keepdim=True) * (1.0 / (count - correction) if count > correction else math.inf)
        return scale, m

    def _row_scale(self, axis) -> Tensor:
        """2**int(log2(peak)) per reduced row (keepdim, detached), peak its largest magnitude,
        kept inside float32's normal range: a row of zeros gets 2**-126, a row with inf or nan
        gets 1 (its result is nan whatever the scale)."""
        count = math.prod(self.shape[a] for a in self._axes(axis))
        peak = self.abs().max(axis, keepdim=True) if count else self.sum(axis, keepdim=True)
        peak = peak.detach()
        exponent = (peak < math.inf).where(peak, 1.0).log2().clip(-126, 126).cast(dtypes.int32)
        return exponent.cast(dtypes.float32).exp2()

    def _drop_axes(self, out: Tensor, axis, keepdim: bool) -> Tensor:
        axes = self._axes(axis)
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    @dim_alias
    @replayable
    def var(self, axis=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        """The variance over `axis` (int, tuple or None for all; `dim=` alike): the sum of squared
        deviations divided by n - correction (1, unbiased, as torch's default); when n <=
        correction, by 0 as torch (inf, or nan for equal values). Computed scaled, so values near float32's limits neither overflow nor underflow.

        >>> Tensor([0.0, 2.0, 4.0]).var().item()
        4.0
        """
        return self._moment("var", axis, keepdim, correction)

    @dim_alias
    @replayable
    def std(self, axis=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        """sqrt(var(axis, keepdim, correction)), computed without forming the variance where it
        would overflow; its gradient at a constant row is 0, as torch's.

        >>> Tensor([0.0, 2.0, 4.0]).std().item()
        2.0
        """
        return self._moment("std", axis, keepdim, correction)

    def _moment(self, kind: str, axis, keepdim: bool, correction: int) -> Tensor:
        """var or std, computed scaled (_scaled_variance) with the gradient registered, not
        derived: derived through the scaling, it would pass through scale**2 (inf for a
        row of 1e30s, whose std and gradient are finite). The registered gradient is a graph of
        x again, so second derivatives work."""
        moment = _Moment(kind, axis, keepdim, correction)
        held = self.detach()
        scale, m = held._scaled_variance(axis, correction)
        if kind == "var":
            value = m * scale * scale
        else:  # a constant row has std 0 (its gradient too, see _Moment); sqrt(m) * scale
            zero = m == 0  # never forms scale**2, which can overflow where std does not
            value = zero.where(0.0, zero.where(1.0, m).sqrt() * scale)
        value = value.cast(self._float().dtype)  # float16 rounds once: its scale (to 2**-126) needs float32
        return self._with_gradient_rule(held._drop_axes(value, axis, keepdim), moment)

    def _with_gradient_rule(self, value: Tensor, rule) -> Tensor:
        """`value` (computed from self.detach()) as a function of self whose gradient is
        rule.gradients(g, [self]): an Op.CUSTOM node, as a CustomOp makes, for the few
        composite ops whose derived gradient would be wrong at the edges of float32."""
        node = Node(Op.CUSTOM, (value.node,), (rule, (self.node,)), value.dtype, value.shape,
                    requires_grad=self.node.requires_grad)
        rule.output = weakref.ref(node)  # a rule may use the value it differentiates (alive while it is)
        return Tensor(node)

    @dim_alias
    def argmax(self, axis: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the first maximum (of the flattened tensor when axis is None); a NaN counts
        as the maximum, as in torch. int32; `dim=` is the same as axis.

        >>> Tensor([1.0, 3.0, 3.0]).argmax().item()
        1
        """
        return self._arg_extreme(Tensor.max, axis, keepdim)

    @dim_alias
    def argmin(self, axis: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the first minimum (of the flattened tensor when axis is None), as int32; a
        NaN counts as the minimum, as in torch. `dim=` is the same as axis.

        >>> Tensor([3.0, 1.0, 1.0]).argmin().item()
        1
        """
        return self._arg_extreme(Tensor.min, axis, keepdim)

    def _arg_extreme(self, extreme, axis: int | None, keepdim: bool) -> Tensor:
        if self.ndim == 0:
            _normalize_axis(axis or 0, 0)  # axis 0 or -1 only, as torch
            return Tensor.full((), 0, dtypes.int32)  # the one element is the extreme
        if axis is None:
            flat = self.flatten()._arg_extreme(extreme, 0, False)
            return flat.reshape((1,) * self.ndim) if keepdim else flat
        axis = _normalize_axis(axis, self.ndim)
        n = self.shape[axis]
        shape = [1] * self.ndim
        shape[axis] = n
        countdown = (n - device_arange(n)).reshape(shape)  # n..1: the first hit counts most
        hit = self == extreme(self, axis, keepdim=True)
        if self.dtype.is_float:
            hit = hit + (self != self)  # the extreme is NaN exactly when there is a NaN
        return n - (hit.cast(dtypes.int32) * countdown).max(axis, keepdim)

    @dim_alias
    @replayable
    def logsumexp(self, axis=None, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))) without overflow; its gradient is exp(x - logsumexp), as torch's
        (derived through the shift it would be inf/inf = nan beside an inf element). `axis` and
        `dim=` as in sum.

        >>> round(Tensor([0.0, 0.0]).logsumexp().item(), 4)
        0.6931
        """
        held = self._float().detach()
        m = held.max(axis, keepdim=True)
        m = (m.abs() == math.inf).where(0.0, m)  # keep -inf rows -inf rather than nan
        out = (held - m).exp().sum(axis, keepdim=True).log() + m
        return self._with_gradient_rule(held._drop_axes(out, axis, keepdim), _LogSumExp(axis))

    @dim_alias
    @replayable
    def softmax(self, axis: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along `axis` (`dim=` alike), shifted by the maximum so that it
        never overflows; float32 for bool and int32 inputs.

        >>> Tensor([0.0, 0.0]).softmax().numpy()
        array([0.5, 0.5], dtype=float32)
        """
        shifted = self._float() - self._float().max(axis, keepdim=True).detach()
        e = shifted.exp()
        return e / e.sum(axis, keepdim=True)

    @dim_alias
    @replayable
    def log_softmax(self, axis: int = -1) -> Tensor:
        """log(softmax(x)) along `axis` (`dim=` alike), computed as x - logsumexp(x) without
        overflow.

        >>> Tensor([0.0, 0.0]).log_softmax().numpy().round(4)
        array([-0.6931, -0.6931], dtype=float32)
        """
        shifted = self._float() - self._float().max(axis, keepdim=True).detach()
        return shifted - shifted.exp().sum(axis, keepdim=True).log()

    # -- movement ---------------------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        """The same elements in row-major order with a new shape (f(2, 3) or f((2, 3)); one size
        may be -1, inferred). A view: no memory is copied. `view` is the same method.

        >>> Tensor([1.0, 2.0, 3.0, 4.0]).reshape(2, -1).numpy()
        array([[1., 2.],
               [3., 4.]], dtype=float32)
        """
        shape = _shape_args(shape) if not (len(shape) == 1 and isinstance(shape[0], (tuple, list))) else tuple(shape[0])
        if shape.count(-1) > 1:
            raise ValueError(f"reshape to {shape}: only one dimension can be -1")
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if known == 0 or self.numel() % known:
                raise ValueError(f"cannot reshape {self.shape} ({self.numel()} elements) to {shape}")
            shape = tuple(self.numel() // known if s == -1 else s for s in shape)
        if any(s < 0 for s in shape) or math.prod(shape) != self.numel():
            raise ValueError(f"cannot reshape {self.shape} ({self.numel()} elements) to {shape} "
                             f"({math.prod(shape)} elements); the sizes must match")
        if shape == self.shape:
            return self
        return self._view("reshape", shape)

    view = reshape

    def permute(self, *order) -> Tensor:
        """The axes reordered: dimension i of the result is dimension order[i] of this tensor.
        A view: no memory is copied.

        >>> Tensor.zeros(2, 3, 4).permute(2, 0, 1).shape
        (4, 2, 3)
        """
        order = tuple(order[0]) if len(order) == 1 and isinstance(order[0], (tuple, list)) else order
        normalized = tuple(_normalize_axis(o, self.ndim) for o in order)
        if sorted(normalized) != list(range(self.ndim)):
            raise ValueError(f"permute order {order} is not a permutation of the {self.ndim} axes of {self.shape}")
        if normalized == tuple(range(self.ndim)):
            return self
        return self._view("permute", normalized)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Dimensions dim0 and dim1 swapped (the last two by default), as a view.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).transpose(0, 1).numpy()
        array([[1., 3.],
               [2., 4.]], dtype=float32)
        """
        order = list(range(self.ndim))
        a, b = _normalize_axis(dim0, self.ndim), _normalize_axis(dim1, self.ndim)
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self) -> Tensor:
        """Every axis reversed (the transpose of a matrix), as a view.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).T.numpy()
        array([[1., 3.],
               [2., 4.]], dtype=float32)
        """
        return self.permute(tuple(reversed(range(self.ndim))))

    def expand(self, *shape) -> Tensor:
        """A broadcast view to `shape`: size-1 dimensions repeat (stride 0, no copy), new ones are
        added on the left, -1 keeps a size. Any other size change is a ValueError.

        >>> Tensor([[1.0], [2.0]]).expand(2, 3).numpy()
        array([[1., 1., 1.],
               [2., 2., 2.]], dtype=float32)
        """
        shape = _shape_args(shape) if not (len(shape) == 1 and isinstance(shape[0], (tuple, list))) else tuple(shape[0])
        if len(shape) < self.ndim:
            raise ValueError(f"cannot expand {self.shape} to {shape}: fewer dimensions")
        if -1 in shape[:len(shape) - self.ndim]:
            raise ValueError(f"cannot expand {self.shape} to {shape}: -1 keeps an existing size, and the "
                             f"new leading dimensions have none; give their sizes")
        src = self.reshape((1,) * (len(shape) - self.ndim) + self.shape) if len(shape) > self.ndim else self
        shape = tuple(s if n == -1 else n for s, n in zip(src.shape, shape))
        for s, n in zip(src.shape, shape):
            if s != n and s != 1:
                raise ValueError(f"cannot expand {self.shape} to {shape}: only size-1 dimensions can grow")
        if shape == src.shape:
            return src
        return src._view("expand", shape)

    def squeeze(self, dim: int | None = None) -> Tensor:
        """Size-1 dimensions removed: all of them, or only `dim` (left alone if its size is not 1).

        >>> Tensor.zeros(1, 2, 1).squeeze().shape
        (2,)
        """
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dim = _normalize_axis(dim, self.ndim, "dim")
        if not self.ndim or self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def unsqueeze(self, dim: int) -> Tensor:
        """A size-1 dimension inserted at position `dim` (negative counts from the end of the result).

        >>> Tensor.zeros(2, 3).unsqueeze(1).shape
        (2, 1, 3)
        """
        dim = _normalize_axis(dim, self.ndim + 1, "dim")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dimensions start_dim..end_dim (inclusive) merged into one; a 0-d tensor becomes (1,).

        >>> Tensor.zeros(2, 3, 4).flatten(1).shape
        (2, 12)
        """
        if self.ndim == 0:
            return self.reshape((1,))
        start, end = _normalize_axis(start_dim, self.ndim, "dim"), _normalize_axis(end_dim, self.ndim, "dim")
        if start > end:
            raise ValueError(f"flatten(start_dim={start_dim}, end_dim={end_dim}) on shape {self.shape}: the start "
                             f"comes after the end")
        return self.reshape(self.shape[:start] + (math.prod(self.shape[start:end + 1]),) + self.shape[end + 1:])

    def pad(self, padding: Sequence, value: Scalar = 0) -> Tensor:
        """The tensor surrounded by `value`: `padding` gives (before, after) per dimension, or
        None to leave one alone. Negative amounts are a ValueError (cut with shrink or slicing).

        >>> Tensor([1.0, 2.0]).pad([(1, 0)]).numpy()
        array([0., 1., 2.], dtype=float32)
        """
        if len(padding) != self.ndim:
            raise ValueError(f"pad needs one (before, after) pair per dimension of {self.shape}, got {padding}")
        pads = tuple((0, 0) if p is None else (int(p[0]), int(p[1])) for p in padding)
        if any(b < 0 or a < 0 for b, a in pads):
            raise ValueError(f"pad amounts must be >= 0, got {padding}; use shrink or slicing to cut")
        if all(p == (0, 0) for p in pads):
            return self
        out = self._view("pad", pads)
        if value == 0:
            return out
        inside = Tensor.full(self.shape, True, dtypes.bool)._view("pad", pads)
        return inside.where(out, value)

    def shrink(self, bounds: Sequence) -> Tensor:
        """The view [lo, hi) of each dimension, from one (lo, hi) pair per dimension (None keeps one
        whole); bounds outside the shape are a ValueError.

        >>> Tensor([1.0, 2.0, 3.0]).shrink([(1, 3)]).numpy()
        array([2., 3.], dtype=float32)
        """
        bounds = tuple((0, s) if b is None else (int(b[0]), int(b[1])) for b, s in zip(bounds, self.shape))
        for (lo, hi), s in zip(bounds, self.shape):
            if not 0 <= lo <= hi <= s:
                raise ValueError(f"shrink bounds {bounds} do not fit inside {self.shape}")
        if all(b == (0, s) for b, s in zip(bounds, self.shape)):
            return self
        return self._view("shrink", bounds)

    def flip(self, axis) -> Tensor:
        """The elements in reverse order along `axis` (an int or a tuple), as a view.

        >>> Tensor([1.0, 2.0, 3.0]).flip(0).numpy()
        array([3., 2., 1.], dtype=float32)
        """
        axes = self._axes(axis)
        if not axes:
            return self
        return self._view("flip", axes)

    def _stride(self, steps: tuple[int, ...]) -> Tensor:
        if all(s == 1 for s in steps):
            return self
        return self._view("stride", steps)

    def __getitem__(self, key) -> Tensor:
        """Basic indexing, as a view: ints, slices (with steps, negative too), None and Ellipsis.
        Advanced indexing, as numpy and torch: integer Tensors (int32), lists and numpy arrays
        pick elements (x[idx], x[rows, cols], mixed with slices; negative values count from the
        end; one reduce kernel, see tinygradlike/indexing.py), and a boolean mask (host data, or
        a Tensor, which is computed to read it) picks its True positions, so the result's shape
        depends on the mask's values. Host indices out of range are an IndexError; device ones
        are not checked and give 0. Python bools as indices are a TypeError.

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]])[:, 1].numpy()
        array([2., 4.], dtype=float32)
        >>> Tensor([10.0, 20.0, 30.0])[Tensor([2, -3])].numpy()
        array([30., 10.], dtype=float32)
        >>> Tensor([10.0, 20.0, 30.0])[np.array([True, False, True])].numpy()
        array([10., 30.], dtype=float32)
        """
        from tinygradlike import indexing

        if indexing.is_advanced(key):
            return indexing.advanced_getitem(self, key)
        key = key if isinstance(key, tuple) else (key,)
        for k in key:
            if not (k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) and not isinstance(k, bool)):
                raise TypeError(f"tensor index {k!r} is not supported: use ints, slices, None or ...")
        key = expand_ellipsis(key, self.shape)
        bounds, steps, flips, squeeze, new_shape_plan = [], [], [], [], []
        dim = 0
        for k in key:
            if k is None:
                new_shape_plan.append(None)
                continue
            size = self.shape[dim]
            if isinstance(k, (int, np.integer)):
                i = int(k)
                if not -size <= i < size:
                    raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
                i %= size
                bounds.append((i, i + 1))
                steps.append(1)
                squeeze.append(dim)
            else:
                start, stop, step = k.indices(size)
                count = len(range(start, stop, step))
                if step < 0:
                    flips.append(dim)
                    start = size - 1 - start
                if count == 0:
                    bounds.append((0, 0))
                else:
                    bounds.append((start, start + (count - 1) * abs(step) + 1))
                steps.append(abs(step))
            new_shape_plan.append(dim)
            dim += 1
        out = self.flip(tuple(flips)) if flips else self
        out = out.shrink(bounds)._stride(tuple(steps))
        final = []
        for entry in new_shape_plan:
            if entry is None:
                final.append(1)
            elif entry not in squeeze:
                final.append(out.shape[entry])
        return out.reshape(tuple(final))

    def cat(self, *others: Tensor, dim: int = 0) -> Tensor:
        """Join tensors along an existing dimension (Tensor.cat(a, b) or a.cat(b)); the other
        sizes must match, dtypes are promoted.

        >>> Tensor([1.0]).cat(Tensor([2.0, 3.0])).numpy()
        array([1., 2., 3.], dtype=float32)
        >>> Tensor.cat([Tensor([1.0]), Tensor([2.0])]).numpy()  # torch.cat's list
        array([1., 2.], dtype=float32)
        """
        if isinstance(self, (list, tuple)) and not others:  # Tensor.cat([a, b]), as torch.cat takes them
            if not self:
                raise ValueError("cat needs at least one tensor")
            self, others = self[0], tuple(self[1:])
        tensors = [self, *others]
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"cat joins Tensors; argument {i} is a {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError(f"cat joins along an existing dimension, and tensor {i} is 0-d; "
                                 f"use Tensor.stack, or reshape it to (1,)")
        dim = _normalize_axis(dim, self.ndim, "dim")
        for t in tensors:
            if t.ndim != self.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, self.shape)) if i != dim):
                raise ValueError(f"cat along dim {dim} needs equal shapes elsewhere, got "
                                 f"{', '.join(str(x.shape) for x in tensors)}")
        dt = tensors[0].dtype
        for t in tensors[1:]:
            dt = dtypes.promote(dt, t.dtype)
        total = sum(t.shape[dim] for t in tensors)
        out, start = None, 0
        for t in tensors:
            pads = [(0, 0)] * self.ndim
            pads[dim] = (start, total - start - t.shape[dim])
            piece = t.cast(dt).pad(pads)
            out = piece if out is None else out + piece
            start += t.shape[dim]
        return out

    def stack(self, *others: Tensor, dim: int = 0) -> Tensor:
        """Join tensors of one shape along a new dimension `dim` (Tensor.stack(a, b) or a.stack(b)).

        >>> Tensor.stack(Tensor([1.0, 2.0]), Tensor([3.0, 4.0])).numpy()
        array([[1., 2.],
               [3., 4.]], dtype=float32)
        """
        if isinstance(self, (list, tuple)) and not others:  # Tensor.stack([a, b]), as torch.stack takes them
            if not self:
                raise ValueError("stack needs at least one tensor")
            self, others = self[0], tuple(self[1:])
        tensors = [self, *others]
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"stack joins Tensors; argument {i} is a {type(t).__name__}")
            if t.shape != self.shape:
                raise ValueError(f"stack needs equal shapes, got {', '.join(str(x.shape) for x in tensors)}")
        dim = _normalize_axis(dim, self.ndim + 1, "dim")
        return tensors[0].unsqueeze(dim).cat(*(t.unsqueeze(dim) for t in tensors[1:]), dim=dim)

    def repeat(self, *repeats) -> Tensor:
        """The tensor tiled repeats[i] times along dimension i, as torch's repeat (numpy's tile);
        extra leading repeats add dimensions.

        >>> Tensor([1.0, 2.0]).repeat(2).numpy()
        array([1., 2., 1., 2.], dtype=float32)
        """
        repeats = _new_shape(repeats)
        if len(repeats) < self.ndim:
            raise ValueError(f"repeat needs a count for each of the {self.ndim} dimensions of {self.shape} "
                             f"(more add dimensions), got {repeats}")
        base = self.reshape((1,) * (len(repeats) - self.ndim) + self.shape)
        expanded = base.reshape(tuple(x for s in base.shape for x in (1, s)))
        expanded = expanded.expand(tuple(x for r, s in zip(repeats, base.shape) for x in (r, s)))
        return expanded.reshape(tuple(r * s for r, s in zip(repeats, base.shape)))

    # -- matmul -------------------------------------------------------------------------------
    def matmul(self, other: Tensor) -> Tensor:
        """The matrix product (the @ operator), numpy matmul semantics: 1-D operands are vectors,
        leading dims broadcast; integer and bool operands give float32. `dot` is the same method
        (also for 2-D operands, unlike torch.dot).

        >>> (Tensor([[1.0, 2.0], [3.0, 4.0]]) @ Tensor([1.0, 1.0])).numpy()
        array([3., 7.], dtype=float32)
        """
        if not isinstance(other, Tensor):
            raise TypeError(f"matmul needs a Tensor on both sides, got {type(other).__name__}")
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul needs at least 1-D operands, got shapes {self.shape} and {other.shape}; "
                             f"use * to scale by a scalar")
        a = self.unsqueeze(0) if self.ndim == 1 else self
        b = other.unsqueeze(-1) if other.ndim == 1 else other
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul shape mismatch: {self.shape} @ {other.shape}: the inner dimensions "
                             f"{a.shape[-1]} and {b.shape[-2]} must be equal")
        try:
            batch = broadcast_shape(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul cannot broadcast the batch dimensions of {self.shape} and {other.shape}") from None
        dt = dtypes.promote(a.dtype, b.dtype)
        dt = dt if dt.is_float else dtypes.float32  # float16 @ float16 reads half, sums in float
        a = _matmul_operand(a.cast(dt)._expand_to(batch + a.shape[-2:]))
        b = _matmul_operand(b.cast(dt)._expand_to(batch + b.shape[-2:]))
        out = Tensor(Node(Op.MATMUL, (a.node, b.node), None, dt, batch + (a.shape[-2], b.shape[-1])))
        if self.ndim == 1:
            out = out.squeeze(-2)
        if other.ndim == 1:
            out = out.squeeze(-1)
        return out

    dot = matmul

    @replayable
    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """self @ weight + bias, with weight of shape (in, out). (torch's F.linear takes weight as
        (out, in) and transposes it; nn.Linear passes its weight.T here.)

        >>> Tensor([[1.0, 2.0]]).linear(Tensor([[1.0], [1.0]]), Tensor([0.5])).numpy()
        array([[3.5]], dtype=float32)
        """
        out = self @ weight
        return out if bias is None else out + bias

    # -- composites kept in their own modules (indexing, reductions, convolution) -------------
    def clone(self) -> Tensor:
        """A copy with its own memory once computed, differentiable (the gradient passes through):
        assigning to this tensor later does not change the clone.

        >>> x = Tensor([1.0, 2.0]); y = x.clone(); _ = x.assign(Tensor([5.0, 6.0])); y.numpy()
        array([1., 2.], dtype=float32)
        """
        return Tensor(Node(Op.COPY, (self.node,), None, self.dtype, self.shape))

    def elu(self, alpha: float = 1.0) -> Tensor:
        """x where x > 0, alpha * (exp(x) - 1) elsewhere, as torch's F.elu.

        >>> Tensor([1.0, 0.0]).elu().numpy()
        array([1., 0.], dtype=float32)
        """
        x = self._float()
        # exp of min(x, 0): the branch not taken must not overflow, or its gradient is 0 * inf
        return (x > 0).where(x, (x.minimum(0.0).exp() - 1) * alpha)

    def selu(self) -> Tensor:
        """scale * elu(x, alpha) with torch's self-normalizing constants (F.selu).

        >>> round(Tensor([1.0]).selu().item(), 4)
        1.0507
        """
        return self.elu(1.6732632423543772848170429916717) * 1.0507009873554804934193349852946

    def hardtanh(self, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
        """x clipped to [min_val, max_val], as torch's F.hardtanh: the gradient is 1 strictly
        inside and 0 elsewhere, at the bounds too (as torch).

        >>> Tensor([-2.0, 0.5, 2.0]).hardtanh().numpy()
        array([-1. ,  0.5,  1. ], dtype=float32)
        """
        if min_val > max_val:
            raise ValueError(f"hardtanh: min_val {min_val} is larger than max_val {max_val}")
        inside = (self > min_val) * (self < max_val)
        return inside.where(self, self.clip(min_val, max_val).detach())

    def cumsum(self, dim: int) -> Tensor:
        """Running sums along `dim`, as torch.cumsum (bool sums as int32); one reduce kernel
        doing n*n additions along the axis (see tinygradlike/reductions.py).

        >>> Tensor([1, 2, 3]).cumsum(0).numpy()
        array([1, 3, 6], dtype=int32)
        """
        from tinygradlike import reductions

        return reductions.cumsum(self, dim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """The product over `dim` (None: all elements), as torch.prod; its gradient is exact with
        zeros and negative values (a tree of multiplies, not exp(sum(log x))).

        >>> Tensor([[1.0, 2.0], [3.0, 0.0]]).prod(1).numpy()
        array([2., 0.], dtype=float32)
        """
        from tinygradlike import reductions

        return reductions.prod(self, dim, keepdim)

    def any(self, dim=None, keepdim: bool = False) -> Tensor:
        """Whether any element over `dim` (int, tuple or None for all) is nonzero, as a bool tensor.

        >>> Tensor([[0.0, 1.0], [0.0, 0.0]]).any(1).numpy()
        array([ True, False])
        """
        from tinygradlike import reductions

        return reductions.any_true(self, dim, keepdim)

    def all(self, dim=None, keepdim: bool = False) -> Tensor:
        """Whether every element over `dim` (int, tuple or None for all) is nonzero, as a bool tensor.

        >>> Tensor([[1.0, 1.0], [0.0, 1.0]]).all(1).numpy()
        array([ True, False])
        """
        from tinygradlike import reductions

        return reductions.all_true(self, dim, keepdim)

    def masked_fill(self, mask: Tensor, value: Scalar | Tensor) -> Tensor:
        """`value` where the bool `mask` (broadcast to this shape) is True, self elsewhere, as
        torch's masked_fill (out of place); the dtype stays self's.

        >>> Tensor([1.0, 2.0]).masked_fill(Tensor([True, False]), 0.0).numpy()
        array([0., 2.], dtype=float32)
        """
        from tinygradlike import indexing

        return indexing.masked_fill(self, mask, value)

    def one_hot(self, num_classes: int = -1) -> Tensor:
        """For an integer tensor: its shape plus a last axis of num_classes, 1 at each value, as
        int32 (torch's F.one_hot; -1 reads the values to use max + 1).

        >>> Tensor([0, 2]).one_hot(3).numpy()
        array([[1, 0, 0],
               [0, 0, 1]], dtype=int32)
        """
        from tinygradlike import indexing

        return indexing.one_hot(self, num_classes)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """Values picked along `dim` by an integer `index` of the same rank, as torch.gather:
        `out[i][j] = self[index[i][j]][j]` for dim=0. One reduce kernel; device indices out of
        range give 0 (they are not checked).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, Tensor([[1], [0]])).numpy()
        array([[2.],
               [3.]], dtype=float32)
        """
        from tinygradlike import indexing

        return indexing.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        """A copy of self with src added at the positions `index` names along `dim`, as torch's
        (out-of-place) scatter_add: `self[index[i][j]][j] += src[i][j]` for dim=0.

        >>> Tensor.zeros(3).scatter_add(0, Tensor([0, 2, 0]), Tensor([1.0, 2.0, 3.0])).numpy()
        array([4., 0., 2.], dtype=float32)
        """
        from tinygradlike import indexing

        return indexing.scatter_add(self, dim, index, src)

    def split(self, split_size: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """Views along `dim` of split_size each (the last smaller), or of the listed sizes, as torch.split.

        >>> [t.tolist() for t in Tensor([1, 2, 3]).split(2)]
        [[1, 2], [3]]
        """
        from tinygradlike import indexing

        return indexing.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """`chunks` views along `dim` of ceil(n / chunks) each (fewer if n is small), as torch.chunk.

        >>> [t.tolist() for t in Tensor([1, 2, 3, 4]).chunk(2)]
        [[1, 2], [3, 4]]
        """
        from tinygradlike import indexing

        return indexing.chunk(self, chunks, dim)

    def tril(self, diagonal: int = 0) -> Tensor:
        """The last two axes' lower triangle (on and below the `diagonal`-th diagonal), 0 elsewhere.

        >>> Tensor.ones(2, 2).tril().numpy()
        array([[1., 0.],
               [1., 1.]], dtype=float32)
        """
        from tinygradlike import indexing

        return indexing.triangle(self, diagonal, lower=True)

    def triu(self, diagonal: int = 0) -> Tensor:
        """The last two axes' upper triangle (on and above the `diagonal`-th diagonal), 0 elsewhere.

        >>> Tensor.ones(2, 2).triu(1).numpy()
        array([[0., 1.],
               [0., 0.]], dtype=float32)
        """
        from tinygradlike import indexing

        return indexing.triangle(self, diagonal, lower=False)

    def interpolate(self, size=None, scale_factor=None, mode: str = "nearest") -> Tensor:
        """Nearest-neighbour resize of (N, C, L) or (N, C, H, W), as torch's F.interpolate default
        mode (tinygrad's default is linear, which is not implemented: mode must be "nearest").

        >>> Tensor([[[1.0, 2.0]]]).interpolate(scale_factor=2).numpy()
        array([[[1., 1., 2., 2.]]], dtype=float32)
        """
        from tinygradlike import convolution

        return convolution.interpolate(self, size, scale_factor, mode)

    def conv2d(self, weight: Tensor, bias: Tensor | None = None, *, stride=1, padding=0, dilation=1,
               groups: int = 1) -> Tensor:
        """nn.conv2d(self, weight, bias, ...): weight (O, C/groups, kh, kw). The options are
        keyword-only because tinygrad and torch order them differently.

        >>> Tensor.ones(1, 1, 3, 3).conv2d(Tensor.ones(1, 1, 2, 2), padding=1).shape
        (1, 1, 4, 4)
        """
        from tinygradlike import convolution

        return convolution.conv2d(self, weight, bias, stride, padding, dilation, groups)

    def conv_transpose2d(self, weight: Tensor, bias: Tensor | None = None, *, stride=1, padding=0,
                         output_padding=0, groups: int = 1, dilation=1) -> Tensor:
        """nn.conv_transpose2d(self, weight, bias, ...): weight (C, O/groups, kh, kw); keyword-only options.

        >>> Tensor.ones(1, 1, 2, 2).conv_transpose2d(Tensor.ones(1, 1, 2, 2), stride=2).shape
        (1, 1, 4, 4)
        """
        from tinygradlike import convolution

        return convolution.conv_transpose2d(self, weight, bias, stride, padding, output_padding, groups, dilation)

    def max_pool2d(self, kernel_size=(2, 2), stride=None, *, padding=0, dilation=1) -> Tensor:
        """nn.max_pool2d of this (N, C, H, W) tensor (tinygrad's default 2x2 kernel).

        >>> Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]).max_pool2d().item()
        4.0
        """
        from tinygradlike import convolution

        return convolution.max_pool2d(self, kernel_size, stride, padding, dilation)

    def avg_pool2d(self, kernel_size=(2, 2), stride=None, *, padding=0, count_include_pad: bool = True) -> Tensor:
        """nn.avg_pool2d of this (N, C, H, W) tensor (tinygrad's default 2x2 kernel).

        >>> Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]).avg_pool2d().item()
        2.5
        """
        from tinygradlike import convolution

        return convolution.avg_pool2d(self, kernel_size, stride, padding, count_include_pad)


# (tracker or plain shape, movement, parameter) -> the moved tracker. Trackers are immutable and
# a movement is a pure function of them, and a training step makes the same few movements
# every step: a lookup instead of building Views. Bounded like _BROADCAST.
_MOVES: dict[tuple, ShapeTracker] = {}


def _moved(st: ShapeTracker | tuple[int, ...], name: str, param: Any) -> ShapeTracker:
    # keyed by repr: (3.0, 2.0) == (3, 2) in Python, but only ints are a shape (the tracker
    # refuses floats, and a memo hit must not skip that check)
    key = (st, name, repr(param))
    moved = _MOVES.get(key)
    if moved is None:
        tracker = ShapeTracker.from_shape(st) if isinstance(st, tuple) else st
        moved = getattr(tracker, name)(param)
        if len(_MOVES) > 16384:
            _MOVES.clear()
        _MOVES[key] = moved
    return moved


def _centered(x: Tensor, axis) -> Tensor:
    return x - x.mean(axis, keepdim=True)


class _Moment:
    """The gradient rule of var and std (their Op.CUSTOM node's argument, as a CustomOp's):
    var' = 2 (x - mean) / (n - correction), std' = (x - mean) / ((n - correction) std), and 0
    for a constant row, where torch defines std' as 0 too."""

    def __init__(self, kind: str, axis, keepdim: bool, correction: int):
        self.kind, self.axis, self.keepdim, self.correction = kind, axis, keepdim, correction
        # the gradient graph depends on these only: a backward pass may be replayed (gradients.py)
        self.replay_key = ("moment", kind, axis, keepdim, correction)

    def gradients(self, g: Tensor, inputs: list[Tensor]) -> list[Tensor | None]:
        x = inputs[0]
        if not x.dtype.is_float:
            return [None]
        axis, c = self.axis, self.correction
        n = math.prod(x.shape[a] for a in x._axes(axis))
        g = g.reshape(tuple(1 if i in x._axes(axis) else s for i, s in enumerate(x.shape)))
        scale = x._float()._row_scale(axis)  # centred in scaled units, as the forward
        # the derivative of the mean's term, -mean(centered), is 0 in exact arithmetic but not
        # after the mean rounds: a constant row of -1.74 centres to 1.2e-7 everywhere, and
        # only this term brings its gradient back to 0, as torch's
        centered = _centered(_centered(x / scale, axis), axis)
        per = 1.0 / (n - c) if n > c else math.inf  # as the forward: 1 / max(0, n - c)
        if self.kind == "var":
            return [g * (2 * per) * centered * scale]
        std = x.std(axis, keepdim=True, correction=c)
        zero = std == 0
        # the upstream gradient is masked inside the branch too: at a constant row it may be
        # inf (sqrt(std) above it), and a second derivative would meet it as 0 * inf = nan
        return [zero.where(0.0, zero.where(0.0, g) * per * centered / zero.where(1.0, std / scale))]

    def __repr__(self) -> str:
        return f"{self.kind}(axis={self.axis}, correction={self.correction})"


class _Gelu:
    """The gradient rule of gelu: g * gelu'(x), with the local derivative formed first, as
    torch's. Derived through the composition instead, a large upstream gradient (1/x**2 for a
    tiny x) met the factors 0.5 * x * k * (1 + 3 * 0.044715 * x**2) before tanh's 1 - t**2,
    which is exactly 0 once tanh saturates (x < -10): inf * 0 gave nan where torch gives 0."""

    K = math.sqrt(2 / math.pi)

    def __init__(self, approximate: str):
        self.approximate = approximate
        self.replay_key = ("gelu", approximate)  # see _Moment

    @staticmethod
    def value(x: Tensor, approximate: str) -> Tensor:
        if approximate == "none":
            return 0.5 * x * (1 + (x * (1 / math.sqrt(2))).erf())
        return 0.5 * x * (1 + (_Gelu.K * (x + 0.044715 * x * x * x)).tanh())

    def gradients(self, g: Tensor, inputs: list[Tensor]) -> list[Tensor | None]:
        x = inputs[0]
        # gelu'(x), a function of x whose own gradient is registered too (_GeluSlope): a
        # second derivative under a huge upstream gradient must not overflow either
        slope = x._with_gradient_rule(_GeluSlope.value(x.detach(), self.approximate), _GeluSlope(self.approximate))
        return [g * slope]

    def __repr__(self) -> str:
        return f"gelu(approximate={self.approximate!r})"


class _GeluSlope:
    """The derivative of gelu as a value, with the second derivative as its registered gradient
    (each formed before the upstream gradient multiplies it, for the reason _Gelu gives).
    Third derivatives are derived from the composition of the second."""

    def __init__(self, approximate: str):
        self.approximate = approximate
        self.replay_key = ("gelu slope", approximate)  # see _Moment

    @staticmethod
    def value(x: Tensor, approximate: str) -> Tensor:
        if approximate == "none":  # Phi(x) + x * phi(x)
            return 0.5 * (1 + (x * (1 / math.sqrt(2))).erf()) + x * _normal_density(x)
        t = (_Gelu.K * (x + 0.044715 * x * x * x)).tanh()
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_Gelu.K * (1 + 3 * 0.044715 * x * x))

    def gradients(self, g: Tensor, inputs: list[Tensor]) -> list[Tensor | None]:
        x = inputs[0]
        if self.approximate == "none":  # phi(x) * (2 - x^2)
            return [g * (_normal_density(x) * (2 - x * x))]
        # with u = k (x + 0.044715 x^3), t = tanh(u), u' = k (1 + 3 * 0.044715 x^2):
        # the second derivative is (1 - t^2) (u' - x t u'^2 + 3 * 0.044715 k x^2)
        t = (_Gelu.K * (x + 0.044715 * x * x * x)).tanh()
        du = _Gelu.K * (1 + 3 * 0.044715 * x * x)
        return [g * ((1 - t * t) * (du - x * t * du * du + (3 * 0.044715 * _Gelu.K) * x * x))]

    def __repr__(self) -> str:
        return f"gelu_slope(approximate={self.approximate!r})"


def _normal_density(x: Tensor) -> Tensor:
    return (-0.5 * x * x).exp() * (1 / math.sqrt(2 * math.pi))


class _LogSumExp:
    """The gradient rule of logsumexp: g * exp(x - logsumexp(x)), 0 beside an inf element."""

    def __init__(self, axis):
        self.axis = axis
        self.replay_key = ("logsumexp", axis)  # see _Moment

    def gradients(self, g: Tensor, inputs: list[Tensor]) -> list[Tensor | None]:
        x = inputs[0]
        if not x.dtype.is_float:
            return [None]
        axes = x._axes(self.axis)
        kept = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        # the forward's own value, itself differentiable (second derivatives), not a second
        # logsumexp: the backward then costs no extra reductions
        lse = Tensor(self.output()).reshape(kept)
        return [g.reshape(kept) * (x - lse).exp()]

    def __repr__(self) -> str:
        return f"logsumexp(axis={self.axis})"


# shape -> the tracker that broadcasts a 0-d constant to it; a training step asks for the same
# few shapes every time, and building a tracker costs more than the rest of a constant
_BROADCAST: dict[tuple[int, ...], ShapeTracker] = {}


_ARANGES: dict[tuple[int, int], Tensor] = {}


def device_arange(n: int) -> Tensor:
    """0..n-1 (int32) on the device, uploaded once per length and device: argmax, indexing,
    one-hot labels and causal masks compare with it, and a jit-recorded step must upload
    nothing (a recording refuses host data).

    >>> from tinygradlike.tensor import device_arange
    >>> device_arange(4).numpy(), device_arange(4) is device_arange(4)
    (array([0, 1, 2, 3], dtype=int32), True)
    """
    from tinygradlike.runtime import get_device

    key = (n, id(get_device()))
    if key not in _ARANGES:
        if len(_ARANGES) > 256:
            _ARANGES.clear()
        _ARANGES[key] = Tensor(np.arange(n, dtype=np.int32))
    return _ARANGES[key]


def expand_ellipsis(key: tuple, shape: tuple[int, ...]) -> tuple:
    """An index tuple with its Ellipsis (or the missing trailing dimensions) written out as full
    slices, one per dimension not indexed otherwise (None adds a dimension, indexes none).

    >>> from tinygradlike.tensor import expand_ellipsis
    >>> expand_ellipsis((0, Ellipsis, None), (2, 3, 4))
    (0, slice(None, None, None), slice(None, None, None), None)
    """
    if sum(k is Ellipsis for k in key) > 1:
        raise ValueError("an index can only have one Ellipsis (...)")
    n_real = sum(k is not None and k is not Ellipsis for k in key)
    if n_real > len(shape):
        raise IndexError(f"too many indices ({n_real}) for a tensor of shape {shape}")
    i = next((j for j, k in enumerate(key) if k is Ellipsis), len(key))
    return key[:i] + (slice(None),) * (len(shape) - n_real) + key[i + 1:]


def _filled(shape: tuple[int, ...], value: Scalar, dtype: DType) -> Tensor:
    """A constant of `shape`: one CONST node seen through one broadcasting view."""
    node = const_node(value, dtype)
    if not shape:
        return Tensor(node)
    st = _BROADCAST.get(shape)
    if st is None:
        if len(_BROADCAST) > 4096:
            _BROADCAST.clear()
        st = _BROADCAST[shape] = ShapeTracker.from_shape(()).reshape((1,) * len(shape)).expand(shape)
    return Tensor(Node(Op.VIEW, (node,), st, dtype, shape, move=("expand", shape)))


def _keep_old_values(node: Node) -> None:
    """Before memory is overwritten in place, let everything else that reads this node see the
    values it had when it was read, as eager code would: a lazy loss read after opt.step(), the
    logits read for accuracy, a backward() through the old graph, another Tensor made from this one.

    Anything that can still read the node holds a reference to it (a consumer's srcs, another
    Tensor), so its reference count says whether anyone but the owning tensor does: when so,
    the node moves to a device copy of the old values and the owner gets the memory back.
    Counted here: the owner's `node` slot, the caller's local, our argument, getrefcount's own."""
    if sys.getrefcount(node) > 4:
        keep = _runtime().Buffer(node.buffer.nbytes, node.buffer.device)
        keep.copy_from(node.buffer)
        node.buffer = keep


# tensors with requires_grad=True, by id (a WeakSet would compare tensors with ==, which builds
# a graph); backward() fills .grad on those the loss depends on
_GRAD_TENSORS: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def _matmul_operand(t: Tensor) -> Tensor:
    """Matmul reads memory through one plain strided view; anything else is copied first."""
    node = t.node
    if node.op is Op.VIEW:
        plain = len(node.arg.views) == 1 and node.arg.views[0].mask is None
        if plain and node.base.op is not Op.CONST:
            return t
    elif node.op is not Op.CONST:
        return t
    return Tensor(Node(Op.COPY, (node,), None, t.dtype, t.shape))


def _check_same_device(a: Tensor, b: Tensor) -> None:
    """Operands in memory on two devices cannot meet in one kernel: say so when the graph is
    built (lazy operands are checked when they run)."""
    ma, mb = a.node.base.buffer, b.node.base.buffer
    if ma is not None and mb is not None and ma.device is not mb.device:
        raise ValueError(f"operands are on different devices: {a.shape} on {ma.device.index} {ma.device.name}, "
                         f"{b.shape} on {mb.device.index} {mb.device.name}; copy one over with t.to(device), or "
                         f"t.to('{ma.device.index}')")


def _is_scalar(value: Any) -> bool:
    """A Python or numpy number (a 0-d numpy array is data, not a scalar)."""
    return isinstance(value, (bool, int, float, np.number, np.bool_))


def _own_dtype(value: Any) -> DType:
    """The device type a lone number would get: bool, int32 or float32 (torch: int64 for ints)."""
    if isinstance(value, (bool, np.bool_)):
        return dtypes.bool
    return dtypes.int32 if isinstance(value, (int, np.integer)) else dtypes.float32


def _scalar_with(value: Any, tensor_dtype: DType) -> DType:
    """The type of `tensor op number`: the number adapts to the tensor unless it is of a higher
    category (int tensor + 0.5 is float32, bool tensor + 2 is int32; uint8 + 300 stays uint8 and
    float16 * 0.1 float16), as in torch."""
    return dtypes.result_type(tensor_dtype, _own_dtype(value))


def _promote_tensors(a: Tensor, b: Tensor) -> DType:
    """The type of `a op b` for tensors, as torch's: a 0-d tensor beside one with dimensions
    counts as a number does (it widens only to a higher category: an int32 vector + a 0-d int64
    tensor is int32, a float16 vector + a 0-d float64 is float16); otherwise the higher type."""
    if (a.node.shape == ()) != (b.node.shape == ()):
        dims, zero = (b, a) if a.node.shape == () else (a, b)
        return dtypes.result_type(dims.dtype, zero.dtype)
    return dtypes.promote(a.dtype, b.dtype)


def _scalar_dtype(value: Any, other: Any) -> DType:
    return _scalar_with(value, other.dtype) if isinstance(other, Tensor) else _own_dtype(value)


def _check_scalar(value: Any, dtype: DType) -> Any:
    """The number as a Python value, refused where it cannot be represented in `dtype` (int32,
    int64); for uint8 an integer wraps modulo 256, as torch's uint8 tensor + 300."""
    value = value.item() if isinstance(value, np.generic) else value
    if dtype == dtypes.uint8 and isinstance(value, int):
        return value % 256
    low, high = dtype.limits
    if dtype.is_int and not low <= value <= high:
        raise ValueError(f"the number {value} does not fit in {dtype.name}; "
                         f"use a float tensor (.float()), int64 (.long()) or a smaller number")
    return value


def _to_numpy(data: Any, dtype: Any) -> np.ndarray:
    """Host data for a new tensor: Python floats become float32, ints int32 (device types)."""
    if isinstance(data, (list, tuple)) or isinstance(data, (int, float, bool, np.generic)):
        for x in _flat_items(data):
            if not isinstance(x, (int, float, bool, np.generic)):
                raise TypeError(f"Tensor data must be numbers, got {type(x).__name__} {x!r}")
        array = np.array(data)
    elif isinstance(data, np.ndarray):
        array = data
    else:
        raise TypeError(f"cannot make a Tensor from {type(data).__name__}; "
                        f"use a list, a number, a numpy array or a Tensor")
    if dtype is not None:
        target = dtypes.from_any(dtype).np
    elif array.dtype == np.uint8 and isinstance(data, np.ndarray):
        target = np.uint8  # bytes (images) stay bytes
    elif array.dtype.kind in "iu":
        # numpy's default int64 (np.array([1, 2]), np.arange) narrows to the device default int32,
        # as Python ints do (range-checked); int64 only when asked for
        target = np.int32
    elif array.dtype == np.float64 and not isinstance(data, np.ndarray):
        target = np.float32  # Python floats: float32, the device default
    else:
        target = dtypes.from_numpy(array.dtype).np  # float16 and float64 kept; complex, ...: a clear ValueError
    if array.dtype.kind in "iu" and target == np.int32 and array.size and (
            array.max() > np.iinfo(np.int32).max or array.min() < np.iinfo(np.int32).min):
        raise ValueError("integer data does not fit in int32, the default device integer type; "
                         "pass dtype=dtypes.int64")
    return np.asarray(array, dtype=target, order="C")  # (ascontiguousarray would make 0-d into 1-d)


def _flat_items(data) -> Iterable:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            yield item


def _check_device_dtype(dt: DType) -> None:
    if dt == dtypes.float64 and not _runtime().get_device().has_fp64:
        raise ValueError(f"float64 is not supported by the OpenCL device {_runtime().get_device().name} "
                         f"(no cl_khr_fp64); use float32 or pick another device with TGL_DEVICE")
