"""Neural network layers and losses, composed from Tensor ops (so differentiable for free).

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    loss = nn.cross_entropy(model(x), labels)

A Module holds tensors and other modules as attributes. Tensors with requires_grad=True are
its parameters (what an optimizer trains); the others (BatchNorm's running statistics) are
buffers. Both go into `state_dict()`, named by their attribute path ("0.weight"), as in torch.
Weights use torch's layouts (Linear: (out, in); Conv2d: (out, in, kh, kw)), so a state dict
moves between the two with `.numpy()` / `torch.from_numpy`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from tinygradlike.dtypes import dtypes
from tinygradlike.graph import Op
from tinygradlike.tensor import Tensor, replayable


# ------------------------------------------------------------------------------ Module

class Module:
    """Base class: subclasses set tensors and modules as attributes and define forward();
    calling a module calls forward.

    >>> class Scale(nn.Module):
    ...     def __init__(self):
    ...         self.k = Tensor([2.0], requires_grad=True)
    ...     def forward(self, x):
    ...         return x * self.k
    >>> Scale()(Tensor([1.0, 3.0])).numpy(), [name for name, _ in Scale().named_parameters()]
    (array([2., 6.], dtype=float32), ['k'])
    """

    training: bool = True

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """This module's output for input x; every subclass defines it (the base raises
        NotImplementedError).

        >>> nn.ReLU().forward(Tensor([1.0, -2.0])).numpy()
        array([1., 0.], dtype=float32)
        """
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct submodules: attributes that are Modules, and Modules in
        list/tuple attributes ("blocks.0"); a Sequential's are named by position.

        >>> [name for name, _ in nn.Sequential(nn.ReLU(), nn.Tanh()).named_children()]
        ['0', '1']
        """
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_modules(self) -> Iterator[tuple[str, Module]]:
        """This module ("") and every submodule, parents before children (an explicit stack:
        a deep model cannot hit the recursion limit).

        >>> [name for name, _ in nn.Sequential(nn.Sequential(nn.ReLU())).named_modules()]
        ['', '0', '0.0']
        """
        stack: list[tuple[str, Module]] = [("", self)]
        while stack:
            prefix, module = stack.pop()
            yield prefix, module
            children = [(f"{prefix}.{name}" if prefix else name, child) for name, child in module.named_children()]
            stack.extend(reversed(children))

    def named_tensors(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) for every tensor attribute of this module and its submodules,
        parameters and buffers alike.

        >>> [name for name, _ in nn.BatchNorm(2).named_tensors()]
        ['weight', 'bias', 'running_mean', 'running_var']
        """
        for prefix, module in self.named_modules():
            for name, value in vars(module).items():
                if isinstance(value, Tensor):
                    yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self) -> list[Tensor]:
        """The trainable tensors (requires_grad=True), each once, in a fixed order (what an
        optimizer takes).

        >>> [p.shape for p in nn.Linear(2, 3).parameters()]
        [(3, 2), (3,)]
        """
        return [t for _, t in self.named_parameters()]

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        """(dotted name, tensor) of each trainable tensor, in parameters() order, with the
        names state_dict() uses (torch's: "1.weight" is the weight of layer 1).

            for name, p in model.named_parameters(): print(name, p.shape)

        >>> [(name, p.shape) for name, p in nn.Sequential(nn.Linear(2, 3)).named_parameters()]
        [('0.weight', (3, 2)), ('0.bias', (3,))]
        """
        seen: set[int] = set()
        named = []
        for name, t in self.named_tensors():
            if t.requires_grad and id(t) not in seen:
                seen.add(id(t))
                named.append((name, t))
        return named

    def buffers(self) -> list[Tensor]:
        """The tensors that are state but not trained (BatchNorm's running statistics).

        >>> [b.shape for b in nn.BatchNorm(3).buffers()]
        [(3,), (3,)]
        """
        return [t for _, t in self.named_tensors() if not t.requires_grad]

    def train(self, mode: bool = True) -> Module:
        """Switch this module and its submodules to training (or, with mode=False, evaluation)
        behaviour, which dropout and batch norm follow; returns self.

        >>> nn.Dropout().train(False).training
        False
        """
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Switch this module and its submodules to evaluation behaviour (train(False)); returns self.

        >>> nn.Sequential(nn.Dropout()).eval()[0].training
        False
        """
        return self.train(False)

    # -- weights ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Tensor]:
        """Parameters and buffers by name ("0.weight", "bn.running_mean", ...): the tensors
        themselves, not copies.

        >>> list(nn.Sequential(nn.Linear(2, 3)).state_dict())
        ['0.weight', '0.bias']
        """
        return dict(self.named_tensors())

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy values (numpy arrays or Tensors) into this module's tensors, by name.

        Checks everything before changing anything: missing or unexpected names (with strict)
        and shape mismatches raise a ValueError that lists them.

        >>> layer = nn.Linear(2, 1)
        >>> layer.load_state_dict({"weight": np.ones((1, 2)), "bias": np.zeros(1)}); layer.weight.numpy()
        array([[1., 1.]], dtype=float32)
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        arrays = {k: _host_array(v) for k, v in state.items() if k in own}
        wrong = [f"{k}: expected {own[k].shape}, got {tuple(a.shape)}" for k, a in arrays.items()
                 if tuple(a.shape) != own[k].shape]
        if wrong:
            problems.append("shape mismatch: " + "; ".join(wrong))
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + ", ".join(problems))
        for name, array in arrays.items():
            _assign(own[name], array)

    def save(self, path: str | Path) -> None:
        """Write the state dict to `path`, a .safetensors or .npz file (state.save_state; any
        other extension is a ValueError).

        >>> nn.Linear(2, 1).save("layer.safetensors")
        """
        from tinygradlike.state import save_state

        save_state(self.state_dict(), path)

    def load(self, path: str | Path, strict: bool = True) -> None:
        """Read weights written by save() (or any .npz/.safetensors with matching names) into
        this module's tensors, as load_state_dict.

        >>> saved = nn.Linear(2, 1); saved.save("layer.npz")
        >>> loaded = nn.Linear(2, 1); loaded.load("layer.npz"); loaded.weight.tolist() == saved.weight.tolist()
        True
        """
        from tinygradlike.state import load_state

        self.load_state_dict(load_state(path), strict)

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): {child!r}".replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        """The settings shown inside this module's repr (subclasses override it; "" here).

        >>> nn.Linear(2, 3).extra_repr()
        'in_features=2, out_features=3, bias=True'
        """
        return ""


def _host_array(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)


def _assign(target: Tensor, array: np.ndarray) -> None:
    """Give `target` new values in place: modules and optimizers holding it see the change, and
    so does a jit recording, which keeps reading the same memory. Lazy results that read the old
    values keep them (Tensor.assign)."""
    fresh = Tensor(np.ascontiguousarray(array, dtype=target.dtype.np).reshape(target.shape))  # keeps 0-d
    target.grad = None
    if target.node.op is Op.BUFFER and target.node.buffer is not None:
        target.assign(fresh)
        return
    requires_grad = target.requires_grad  # a lazy or view tensor owns no memory: replace it
    target.node = fresh.node
    if requires_grad:
        target.requires_grad = True


class Sequential(Module):
    """Layers applied in order; their names in the state dict are their positions ("0.weight").

    >>> nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): ReLU()
    )
    """

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return ((str(i), layer) for i, layer in enumerate(self.layers))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)


# ------------------------------------------------------------------------------ layers

def _uniform(shape: tuple[int, ...], bound: float) -> Tensor:
    return Tensor.uniform(*shape, low=-bound, high=bound, requires_grad=True)


class Linear(Module):
    """y = x @ weight.T + bias, weight (out, in); initialized like torch: U(-1/sqrt(in), 1/sqrt(in)).

    >>> nn.Linear(2, 3)(Tensor.zeros(4, 2)).shape
    (4, 3)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        bound = 1 / math.sqrt(in_features)
        self.weight = _uniform((out_features, in_features), bound)
        self.bias = _uniform((out_features,), bound) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return x.linear(self.weight.T, self.bias)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"in_features={in_features}, out_features={out_features}, bias={self.bias is not None}"


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> list[Tensor]:
    """The kh*kw strided slices of x (N, C, H, W) that a kernel position sees, each (N, C, OH, OW):
    slice (i, j) holds x[n, c, i + s*oh, j + s*ow]. Pure views: no memory is copied.

    >>> slices = nn.windows(Tensor.zeros(1, 1, 3, 3), (2, 2), (1, 1)); len(slices), slices[0].shape
    (4, (1, 1, 2, 2))
    """
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"a {kh}x{kw} window does not fit in an input of shape {x.shape}")
    return [x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] for i in range(kh) for j in range(kw)]


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] = 0) -> Tensor:
    """2-D convolution (cross-correlation, as torch): x (N, C, H, W), weight (O, C, kh, kw).

    im2col from movement ops: pad, take the kh*kw strided windows, stack them into a
    (N*OH*OW, C*kh*kw) matrix (one kernel) and multiply by the flattened weight (one matmul).
    Every step is an op with a gradient rule, so the convolution's gradient comes for free.
    The result is (N, O, OH, OW).

    >>> nn.conv2d(Tensor.ones(1, 1, 3, 3), Tensor.ones(1, 1, 2, 2)).numpy()
    array([[[[4., 4.],
             [4., 4.]]]], dtype=float32)
    """
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d needs x (N, C, H, W) and weight (O, C, kh, kw) with equal C, "
                         f"got {x.shape} and {weight.shape}")
    (ph, pw), (sh, sw) = _pair(padding), _pair(stride)
    out_ch, in_ch, kh, kw = weight.shape
    x = x.pad(((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # channels last inside each window, so the stacked patches are already the im2col layout
    patches = [w.permute(0, 2, 3, 1) for w in windows(x, (kh, kw), (sh, sw))]
    n, oh, ow, _ = patches[0].shape
    cols = Tensor.stack(*patches, dim=-1) if len(patches) > 1 else patches[0].unsqueeze(-1)
    cols = cols.reshape(n * oh * ow, in_ch * kh * kw)  # (N*OH*OW, C*kh*kw), column = (c, i, j)
    out = cols @ weight.reshape(out_ch, in_ch * kh * kw).T
    if bias is not None:
        out = out + bias
    return out.reshape(n, oh, ow, out_ch).permute(0, 3, 1, 2)


class Conv2d(Module):
    """2-D convolution (conv2d) with stride and zero padding; torch's init and weight layout
    (out_channels, in_channels, kh, kw).

    >>> nn.Conv2d(1, 4, 3, padding=1)(Tensor.zeros(2, 1, 8, 8)).shape
    (2, 4, 8, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0, bias: bool = True):
        kh, kw = _pair(kernel_size)
        self.stride, self.padding = _pair(stride), _pair(padding)
        bound = 1 / math.sqrt(in_channels * kh * kw)
        self.weight = _uniform((out_channels, in_channels, kh, kw), bound)
        self.bias = _uniform((out_channels,), bound) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        o, c, kh, kw = self.weight.shape
        return f"{c}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


def max_pool2d(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None) -> Tensor:
    """Max over kh*kw windows of x (N, C, H, W). Non-overlapping windows (stride == kernel) are
    a reshape and one max reduce; other strides take the elementwise maximum of the windows.
    stride defaults to the kernel size; rows and columns no window covers are dropped, as in torch.

    >>> nn.max_pool2d(Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), 2).numpy()
    array([[[[4.]]]], dtype=float32)
    """
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride) if stride is not None else (kh, kw)
    if (sh, sw) == (kh, kw):
        n, c, h, w = x.shape
        oh, ow = h // kh, w // kw
        x = x[:, :, :oh * kh, :ow * kw]  # torch drops the rows and columns no window covers
        return x.reshape(n, c, oh, kh, ow, kw).max(axis=(3, 5))
    out = None
    for window in windows(x, (kh, kw), (sh, sw)):
        out = window if out is None else out.maximum(window)
    return out


class MaxPool2d(Module):
    """max_pool2d as a layer: kernel_size and stride (default: kernel_size) as there.

    >>> nn.MaxPool2d(2)(Tensor.zeros(1, 1, 4, 4)).shape
    (1, 1, 2, 2)
    """
    def __init__(self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None):
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not
    training). The mask comes from Tensor's seeded generator: Tensor.manual_seed repeats it.
    It is uploaded from the host, so a jit-recorded step with dropout is refused by jit.

    >>> nn.dropout(Tensor([1.0, 2.0]), 0.5, training=False).numpy()
    array([1., 2.], dtype=float32)
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    keep = Tensor.rand(*x.shape) >= p
    return keep.where(x * (1 / (1 - p)), 0.0)


class Dropout(Module):
    """dropout as a layer: zeroes elements with probability p while training, the identity
    after eval().

    >>> nn.Dropout(0.5).eval()(Tensor([1.0, 2.0])).numpy()
    array([1., 2.], dtype=float32)
    """
    def __init__(self, p: float = 0.5):
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm(Module):
    """Batch normalization over every axis but the channel axis 1: (N, C) or (N, C, H, W).

    Training: normalize by the batch's mean and (biased) variance, and move the running
    statistics towards them (unbiased variance, as torch). Evaluation: use the running ones.
    As in torch, a training forward updates the running statistics at once: they are computed
    and written into their own memory (Tensor.assign), so they never carry a graph, and a
    jit-recorded step keeps updating them on replay. eps is added to the variance, momentum is
    the weight of the new batch in the running statistics, and affine=False drops the learned
    weight and bias. BatchNorm1d and BatchNorm2d are this class.

    >>> nn.BatchNorm(2, eps=0.0)(Tensor([[1.0, 2.0], [3.0, 6.0]])).numpy()
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        self.eps, self.momentum = eps, momentum
        self.weight = Tensor(np.ones(num_features, np.float32), requires_grad=True) if affine else None
        self.bias = Tensor(np.zeros(num_features, np.float32), requires_grad=True) if affine else None
        self.running_mean = Tensor(np.zeros(num_features, np.float32))
        self.running_var = Tensor(np.ones(num_features, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.running_mean.shape[0]:
            raise ValueError(f"BatchNorm({self.running_mean.shape[0]}) needs input (N, {self.running_mean.shape[0]}, ...), "
                             f"got {x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            mean = x.mean(axis=axes, keepdim=True)
            var = (x - mean).square().mean(axis=axes, keepdim=True)
            self._update_running(mean, var, math.prod(x.shape[a] for a in axes))
        else:
            mean, var = self.running_mean.reshape(shape), self.running_var.reshape(shape)
        out = (x - mean) * (var + self.eps).rsqrt()
        if self.weight is not None:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out

    def _update_running(self, mean: Tensor, var: Tensor, count: int) -> None:
        m = self.momentum
        unbiased = var.detach().flatten() * (count / max(count - 1, 1))
        new_mean = (1 - m) * self.running_mean + m * mean.detach().flatten()
        new_var = (1 - m) * self.running_var + m * unbiased
        new_mean.realize(new_var)  # one schedule for both, then two device copies
        self.running_mean.assign(new_mean)
        self.running_var.assign(new_var)

    def extra_repr(self) -> str:
        return f"{self.running_mean.shape[0]}, eps={self.eps}, momentum={self.momentum}"


BatchNorm1d = BatchNorm2d = BatchNorm


class Flatten(Module):
    """(N, ...) -> (N, prod(...)): every dimension after the first merged into one.

    >>> nn.Flatten()(Tensor.zeros(2, 3, 4)).shape
    (2, 12)
    """

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)


# ------------------------------------------------------------------------------ activations

class ReLU(Module):
    """Tensor.relu as a layer: max(x, 0).

    >>> nn.ReLU()(Tensor([1.0, -2.0])).numpy()
    array([1., 0.], dtype=float32)
    """
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class LeakyReLU(Module):
    """Tensor.leaky_relu as a layer: x where x > 0, else x * negative_slope.

    >>> nn.LeakyReLU(0.5)(Tensor([1.0, -2.0])).numpy()
    array([ 1., -1.], dtype=float32)
    """
    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return x.leaky_relu(self.negative_slope)


class Tanh(Module):
    """Tensor.tanh as a layer.

    >>> nn.Tanh()(Tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    """Tensor.sigmoid as a layer: 1 / (1 + exp(-x)).

    >>> nn.Sigmoid()(Tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class GELU(Module):
    """x * Phi(x); approximate as in Tensor.gelu ("tanh" or the exact "none").

    >>> nn.GELU()(Tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """

    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return x.gelu(self.approximate)


class SiLU(Module):
    """Tensor.silu as a layer: x * sigmoid(x).

    >>> nn.SiLU()(Tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    def forward(self, x: Tensor) -> Tensor:
        return x.silu()


class Softmax(Module):
    """Tensor.softmax along `dim` as a layer.

    >>> nn.Softmax(dim=-1)(Tensor([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """
    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(self.dim)


class LogSoftmax(Softmax):
    """Tensor.log_softmax along `dim` as a layer.

    >>> nn.LogSoftmax(dim=-1)(Tensor([[0.0, 0.0]])).numpy().round(4)
    array([[-0.6931, -0.6931]], dtype=float32)
    """
    def forward(self, x: Tensor) -> Tensor:
        return x.log_softmax(self.dim)


# ------------------------------------------------------------------------------ losses

def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def one_hot(labels: Tensor, classes: int) -> Tensor:
    """(N,) integer labels -> (N, classes) float32 rows with a single 1 (a comparison with
    arange: no gather op needed).

    >>> nn.one_hot(Tensor([0, 2]), 3).numpy()
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    return _one_hot(labels, _arange(classes))


def _one_hot(labels: Tensor, classes_range: Tensor) -> Tensor:
    return (labels.reshape(-1, 1) == classes_range.reshape(1, -1)).cast(dtypes.float32)


_aranges: dict[tuple[int, int], Tensor] = {}


def _arange(n: int) -> Tensor:
    """0..n-1 on the device, uploaded once per device: a training step uploads no host data
    but its batch (and jit refuses uploads inside a recorded step)."""
    from tinygradlike.runtime import get_device

    key = (n, id(get_device()))
    if key not in _aranges:
        _aranges[key] = Tensor.arange(n)
    return _aranges[key]


def cross_entropy(logits: Tensor, labels: Tensor | np.ndarray, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits (N, classes) against integer labels (N,), as torch's
    F.cross_entropy: mean over the batch of -log softmax(logits)[label].

    A label outside [0, classes) is an error: labels given as host data (numpy, a list) raise a
    ValueError here; labels already on the device are checked there, without waiting for them,
    and make their rows' loss (and so the mean) NaN rather than a plausible number.
    reduction is "mean", "sum" or "none" (one loss per row); label_smoothing as torch's.

    >>> round(nn.cross_entropy(Tensor([[0.0, 0.0]]), np.array([1])).item(), 4)
    0.6931
    """
    if not isinstance(labels, Tensor):
        host = np.asarray(labels)
        if host.dtype.kind not in "iu":
            raise ValueError(f"cross_entropy labels must be integers, got {host.dtype}")
        _check_labels(host, logits.shape[-1] if logits.ndim else 0)
        labels = Tensor(host.astype(np.int32))
    if logits.ndim != 2 or labels.shape != logits.shape[:1] or labels.dtype.is_float:
        raise ValueError(f"cross_entropy needs logits (N, classes) and integer labels (N,), "
                         f"got {logits.shape} and {labels.dtype.name}{labels.shape}")
    return _cross_entropy(logits, labels, _arange(logits.shape[1]), reduction, float(label_smoothing))


@replayable
def _cross_entropy(logits: Tensor, labels: Tensor, classes_range: Tensor, reduction: str,
                   label_smoothing: float) -> Tensor:
    """cross_entropy's graph, once its arguments are checked: copied, not rebuilt, from the
    second call on (tensor.replayable). 0..classes-1 comes in as an argument: it is memory."""
    classes = logits.shape[1]
    target = _one_hot(labels, classes_range)
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    # logsumexp - picked logit, rather than -(log_softmax * target): its gradient,
    # softmax - target, needs no reduction over the labels (one kernel less per step)
    rows = logits.logsumexp(axis=1) - (logits * target).sum(axis=1)
    rows = ((labels >= 0) * (labels < classes)).where(rows, math.nan)  # fuses: no extra kernel
    return _reduce(rows, reduction)


def _check_labels(labels: np.ndarray, classes: int) -> None:
    bad = labels[(labels < 0) | (labels >= classes)]
    if bad.size:
        raise ValueError(f"cross_entropy label {bad.flat[0]} is out of range for {classes} classes "
                         f"(labels must be in [0, {classes - 1}])")


def mse(prediction: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (torch's F.mse_loss): reduction "mean", "sum" or "none".

    >>> nn.mse(Tensor([1.0, 2.0]), Tensor([1.0, 4.0])).item()
    2.0
    """
    return _reduce((prediction - target).square(), reduction)


def binary_cross_entropy(probabilities: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """-(t log p + (1-t) log(1-p)) for probabilities p in [0, 1]; each log is clamped at -100,
    as torch does, so p = 0 or 1 gives a large finite loss instead of inf.

    >>> round(nn.binary_cross_entropy(Tensor([0.5]), Tensor([1.0])).item(), 4)
    0.6931
    """
    log_p = probabilities.log().maximum(-100.0)
    log_not_p = (1 - probabilities).log().maximum(-100.0)
    return _reduce(-(target * log_p + (1 - target) * log_not_p), reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """binary_cross_entropy(sigmoid(logits), target), computed stably: max(z,0) - z*t + log(1+exp(-|z|)).

    >>> round(nn.binary_cross_entropy_with_logits(Tensor([0.0]), Tensor([1.0])).item(), 4)
    0.6931
    """
    return _reduce(logits.maximum(0) - logits * target + (-logits.abs()).exp().log1p(), reduction)


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """The fraction of rows whose largest logit is at the label (a lazy 0-d float32 tensor).

    >>> nn.accuracy(Tensor([[0.0, 1.0], [1.0, 0.0]]), Tensor([1, 1])).item()
    0.5
    """
    return (logits.argmax(axis=1) == labels).cast(dtypes.float32).mean()
