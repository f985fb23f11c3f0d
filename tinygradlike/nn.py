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

import functools
import math
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from tinygradlike import state  # nn.state.get_parameters, safe_save, ...: tinygrad's names
from tinygradlike import init  # nn.init, as torch.nn.init
from tinygradlike import convolution
from tinygradlike.dtypes import dtypes
from tinygradlike.graph import Op
from tinygradlike.tensor import Tensor, device_arange, replayable


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
    fresh = Tensor(np.ascontiguousarray(array, dtype=target.dtype.np).reshape(target.shape), dtype=target.dtype)  # keeps 0-d, and int64
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
    return convolution.pair(v)


def windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> list[Tensor]:
    """The kh*kw strided slices of x (N, C, H, W) that a kernel position sees, each (N, C, OH, OW):
    slice (i, j) holds x[n, c, d*i + s*oh, d*j + s*ow]. Pure views: no memory is copied.

    >>> slices = nn.windows(Tensor.zeros(1, 1, 3, 3), (2, 2), (1, 1)); len(slices), slices[0].shape
    (4, (1, 1, 2, 2))
    """
    return convolution.windows(x, kernel, stride, dilation)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as torch's F.conv2d): x (N, C, H, W), weight
    (O, C/groups, kh, kw), with zero padding, stride, dilation and groups.

    im2col from movement ops: pad, take the kh*kw strided windows, stack them into a
    (N*OH*OW, C*kh*kw) matrix (one kernel) and multiply by the flattened weight (one matmul;
    a batch of `groups` matmuls with groups). Every step is an op with a gradient rule, so the
    convolution's gradient comes for free. The result is (N, O, OH, OW).

    >>> nn.conv2d(Tensor.ones(1, 1, 3, 3), Tensor.ones(1, 1, 2, 2)).numpy()
    array([[[[4., 4.],
             [4., 4.]]]], dtype=float32)
    """
    return convolution.conv2d(x, weight, bias, stride, padding, dilation, groups)


class Conv2d(Module):
    """2-D convolution (conv2d) with stride, zero padding, dilation and groups; torch's init and
    weight layout (out_channels, in_channels/groups, kh, kw).

    >>> nn.Conv2d(1, 4, 3, padding=1)(Tensor.zeros(2, 1, 8, 8)).shape
    (2, 4, 8, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0, bias: bool = True,
                 dilation: int | Sequence[int] = 1, groups: int = 1):
        kh, kw = _pair(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.stride, self.padding, self.dilation, self.groups = _pair(stride), _pair(padding), _pair(dilation), groups
        bound = 1 / math.sqrt(in_channels // groups * kh * kw)
        self.weight = _uniform((out_channels, in_channels // groups, kh, kw), bound)
        self.bias = _uniform((out_channels,), bound) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        o, c, kh, kw = self.weight.shape
        return (f"{c * self.groups}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"
                + (f", dilation={self.dilation}" if self.dilation != (1, 1) else "")
                + (f", groups={self.groups}" if self.groups != 1 else ""))


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
                     padding: int | Sequence[int] = 0, output_padding: int | Sequence[int] = 0, groups: int = 1,
                     dilation: int | Sequence[int] = 1) -> Tensor:
    """The transposed convolution, as torch's F.conv_transpose2d (same argument order): x
    (N, C, H, W), weight (C, O/groups, kh, kw); the gradient of conv2d with respect to its input,
    computed as a conv2d of the input spread out by the stride with the flipped kernel.

    >>> nn.conv_transpose2d(Tensor.ones(1, 1, 2, 2), Tensor.ones(1, 1, 2, 2), stride=2).shape
    (1, 1, 4, 4)
    """
    return convolution.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)


class ConvTranspose2d(Module):
    """conv_transpose2d as a layer (an upsampling convolution), with torch's weight layout
    (in_channels, out_channels/groups, kh, kw) and init: U(-b, b), b = 1/sqrt(out_channels/groups*kh*kw).

    >>> nn.ConvTranspose2d(4, 2, 2, stride=2)(Tensor.zeros(1, 4, 3, 3)).shape
    (1, 2, 6, 6)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                 output_padding: int | Sequence[int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | Sequence[int] = 1):
        kh, kw = _pair(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.stride, self.padding, self.output_padding = _pair(stride), _pair(padding), _pair(output_padding)
        self.dilation, self.groups = _pair(dilation), groups
        bound = 1 / math.sqrt(out_channels // groups * kh * kw)  # torch's fan_in is weight.shape[1] * kh * kw
        self.weight = _uniform((in_channels, out_channels // groups, kh, kw), bound)
        self.bias = _uniform((out_channels,), bound) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation)

    def extra_repr(self) -> str:
        c, o, kh, kw = self.weight.shape
        return (f"{c}, {o * self.groups}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, groups={self.groups}, dilation={self.dilation}")


def max_pool2d(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> Tensor:
    """Max over kh*kw windows of x (N, C, H, W), as torch's F.max_pool2d. Non-overlapping windows
    (stride == kernel) are a reshape and one max reduce; other strides take the elementwise
    maximum of the windows. stride defaults to the kernel size; padding counts as -inf; rows and
    columns no window covers are dropped, as in torch.

    >>> nn.max_pool2d(Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), 2).numpy()
    array([[[[4.]]]], dtype=float32)
    """
    return convolution.max_pool2d(x, kernel_size, stride, padding, dilation)


class MaxPool2d(Module):
    """max_pool2d as a layer: kernel_size, stride (default: kernel_size), padding and dilation as there.

    >>> nn.MaxPool2d(2)(Tensor.zeros(1, 1, 4, 4)).shape
    (1, 1, 2, 2)
    """
    def __init__(self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1):
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


def avg_pool2d(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, count_include_pad: bool = True) -> Tensor:
    """Mean over kh*kw windows of x (N, C, H, W), as torch's F.avg_pool2d: stride defaults to the
    kernel size, zero padding counts in the mean unless count_include_pad=False. One kernel.

    >>> nn.avg_pool2d(Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), 2).numpy()
    array([[[[2.5]]]], dtype=float32)
    """
    return convolution.avg_pool2d(x, kernel_size, stride, padding, count_include_pad)


class AvgPool2d(Module):
    """avg_pool2d as a layer: kernel_size, stride (default: kernel_size), padding and
    count_include_pad as there.

    >>> nn.AvgPool2d(2)(Tensor.ones(1, 1, 4, 4)).numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    def __init__(self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
                 padding: int | Sequence[int] = 0, count_include_pad: bool = True):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


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


_arange = device_arange  # 0..n-1 kept on the device: a step uploads no host data but its batch


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


# ------------------------------------------------------------------------------ normalization, embedding, attention

def _last_axes(x: Tensor, normalized_shape: int | Sequence[int], what: str) -> tuple[int, ...]:
    """The axes of x that `normalized_shape` names: its last len(normalized_shape) dimensions."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(x.shape[x.ndim - len(shape):]) != shape or len(shape) > x.ndim:
        raise ValueError(f"{what} over normalized_shape {shape} needs an input ending in {shape}, got {x.shape}")
    return tuple(range(x.ndim - len(shape), x.ndim))


def _standardize(x: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps) over `axes`, with the biased variance, as torch's norms.
    Centred before squaring (not E[x^2] - E[x]^2): one reduce more, no cancellation."""
    x = x._float()
    centered = x - x.mean(axes, keepdim=True)
    return centered * (centered.square().mean(axes, keepdim=True) + eps).rsqrt()


@replayable
def _layer_norm(x: Tensor, axes: tuple[int, ...], weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    out = _standardize(x, axes, eps)
    out = out if weight is None else out * weight
    return out if bias is None else out + bias


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last dimensions (those of `normalized_shape`) to mean 0 and variance 1
    (biased, eps added), then scale by weight and shift by bias (both of normalized_shape), as
    torch's F.layer_norm. Three kernels: the mean, the variance, the output.

    >>> nn.layer_norm(Tensor([[1.0, 3.0]]), 2).numpy().round(4)
    array([[-1.,  1.]], dtype=float32)
    """
    return _layer_norm(x, _last_axes(x, normalized_shape, "layer_norm"), weight, bias, float(eps))


class LayerNorm(Module):
    """layer_norm as a layer, with torch's parameters: weight (ones) and bias (zeros) of
    normalized_shape when elementwise_affine (bias=False drops the bias).

    >>> nn.LayerNorm(2)(Tensor([[1.0, 3.0], [2.0, 2.0]])).numpy().round(4)
    array([[-1.,  1.],
           [ 0.,  0.]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = _filled_parameter(self.normalized_shape, 1.0) if elementwise_affine else None
        self.bias = _filled_parameter(self.normalized_shape, 0.0) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


def _filled_parameter(shape: tuple[int, ...], value: float) -> Tensor:
    return Tensor(np.full(shape, value, np.float32), requires_grad=True)


@replayable
def _group_norm(x: Tensor, groups: int, weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    out = _standardize(x.reshape(x.shape[0], groups, -1), (2,), eps).reshape(x.shape)
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    out = out if weight is None else out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Split the channels of x (N, C, ...) into num_groups groups and normalize each group of each
    sample (over its channels and positions) to mean 0 and variance 1, then scale and shift per
    channel by weight and bias (C,), as torch's F.group_norm.

    >>> nn.group_norm(Tensor([[1.0, 3.0, 5.0, 5.0]]), 2).numpy().round(4)
    array([[-1.,  1.,  0.,  0.]], dtype=float32)
    """
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm needs input (N, C, ...) with C divisible by num_groups={num_groups}, got {x.shape}")
    return _group_norm(x, num_groups, weight, bias, float(eps))


class GroupNorm(Module):
    """group_norm as a layer, with torch's parameters: weight (ones) and bias (zeros) of
    num_channels when affine.

    >>> nn.GroupNorm(1, 2)(Tensor([[1.0, 3.0]])).numpy().round(4)
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True):
        if num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = _filled_parameter((num_channels,), 1.0) if affine else None
        self.bias = _filled_parameter((num_channels,), 0.0) if affine else None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}) needs input (N, {self.num_channels}, ...), "
                             f"got {x.shape}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.weight is not None}"


@replayable
def _rms_norm(x: Tensor, axes: tuple[int, ...], weight: Tensor | None, eps: float) -> Tensor:
    x = x._float()
    out = x * (x.square().mean(axes, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def rms_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x**2) + eps) over the last dimensions (those of normalized_shape), times
    weight, as torch's F.rms_norm; eps None means float32's machine epsilon, as torch. Two
    kernels: the mean square, the output.

    >>> nn.rms_norm(Tensor([[3.0, 4.0]]), 2, eps=0.0).numpy().round(4)
    array([[0.8485, 1.1314]], dtype=float32)
    """
    eps = float(np.finfo(np.float32).eps) if eps is None else float(eps)
    return _rms_norm(x, _last_axes(x, normalized_shape, "rms_norm"), weight, eps)


class RMSNorm(Module):
    """rms_norm as a layer, with torch's parameter: weight (ones) of normalized_shape when
    elementwise_affine.

    >>> nn.RMSNorm(2, eps=0.0)(Tensor([[1.0, 1.0]])).numpy()
    array([[1., 1.]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None, elementwise_affine: bool = True):
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = _filled_parameter(self.normalized_shape, 1.0) if elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


def embedding(indices: Tensor | np.ndarray, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """The rows of weight (num_embeddings, dim) at `indices` (int32, any shape): a result of shape
    indices.shape + (dim,), as torch's F.embedding. The gradient flows to weight (rows used
    twice add up), except to row padding_idx, as torch.

    A one-hot matrix (a comparison with 0..num_embeddings-1) times the weight: two kernels (the
    one-hot matrix, then the matmul), and the weight's gradient is the one-hot matrix transposed
    times the upstream gradient, a matmul again. A select-and-sum (where + sum over the rows) is
    one kernel fewer each way, but a reduce kernel: on PoCL it was 3x slower for 768 lookups in
    16 x 64 and 50x slower for 2048 in 512 x 128 (forward and backward: 0.94 vs 0.30 ms,
    139 vs 2.8 ms). Indices given as host data are checked here (an IndexError); indices on the
    device out of range give NaN rows instead of a wait for them.

    >>> nn.embedding(Tensor([[2, 0]]), Tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])).numpy()
    array([[[4., 5.],
            [0., 1.]]], dtype=float32)
    """
    if weight.ndim != 2:
        raise ValueError(f"embedding needs a weight (num_embeddings, dim), got shape {weight.shape}")
    vocab = weight.shape[0]
    if not isinstance(indices, Tensor):
        host = np.asarray(indices)
        if host.dtype.kind not in "iu":
            raise TypeError(f"embedding indices must be integers, got {host.dtype}")
        bad = host[(host < 0) | (host >= vocab)]
        if bad.size:
            raise IndexError(f"embedding index {bad.flat[0]} is out of range for {vocab} embeddings")
        indices = Tensor(host.astype(np.int32))
    if indices.dtype.is_float or indices.dtype == dtypes.bool:
        raise TypeError(f"embedding indices must be an integer tensor, got {indices.dtype.name}")
    if padding_idx is not None:
        if not -vocab <= padding_idx < vocab:
            raise ValueError(f"padding_idx {padding_idx} is out of range for {vocab} embeddings")
        padding_idx %= vocab
    rows = _embedding(indices.reshape(-1), weight, _arange(vocab), padding_idx)
    return rows.reshape(*indices.shape, weight.shape[1])


@replayable
def _embedding(flat: Tensor, weight: Tensor, vocab_range: Tensor, padding_idx: int | None) -> Tensor:
    vocab = weight.shape[0]
    if padding_idx is not None:  # the padding row is read, but no gradient reaches it
        weight = (vocab_range == padding_idx).reshape(vocab, 1).where(weight.detach(), weight)
    rows = _one_hot(flat, vocab_range).cast(weight.dtype) @ weight
    return ((flat >= 0) * (flat < vocab)).reshape(-1, 1).where(rows, math.nan)  # the matmul's epilogue


class Embedding(Module):
    """A table of num_embeddings vectors of embedding_dim, looked up by int32 index tensors of any
    shape (embedding); weight initialized N(0, 1) as torch, the padding_idx row zero.

    >>> nn.Embedding(10, 3)(Tensor([[1, 2], [3, 4]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None):
        values = Tensor._rng.standard_normal((num_embeddings, embedding_dim)).astype(np.float32)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} is out of range for {num_embeddings} embeddings")
            padding_idx %= num_embeddings
            values[padding_idx] = 0
        self.padding_idx = padding_idx
        self.weight = Tensor(values, requires_grad=True)

    def forward(self, x: Tensor) -> Tensor:
        return embedding(x, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        vocab, dim = self.weight.shape
        return f"{vocab}, {dim}" + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


def causal_mask(rows: int, cols: int) -> Tensor:
    """The (rows, cols) bool mask that lets query i see keys 0..i (torch's is_causal: the lower
    triangle, aligned at the top left). Compared from 0..n-1 kept on the device, so a training
    step uploads nothing for it and a jit recording can replay it.

    >>> nn.causal_mask(2, 3).numpy()
    array([[ True, False, False],
           [ True,  True, False]])
    """
    return _arange(rows).reshape(rows, 1) >= _arange(cols).reshape(1, cols)


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v, as torch's F.scaled_dot_product_attention: q (..., L, E),
    k (..., S, E), v (..., S, Ev) -> (..., L, Ev), leading dimensions broadcast. scale defaults to
    1/sqrt(E). attn_mask broadcasts to (..., L, S): a bool mask keeps the scores where True, a
    float mask is added to them; is_causal masks key j > query i (not with attn_mask, as torch).
    dropout_p drops attention weights (always: as torch's functional form, the caller decides
    when). Five kernels: the scores with scale and mask, their max, the sum of exponentials, the
    weights, and their product with v (the last matmul's operand must be memory).

    >>> q = Tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> nn.scaled_dot_product_attention(q, q, q, is_causal=True).numpy().round(4)
    array([[[1.    , 0.    ],
            [0.3302, 0.6698]]], dtype=float32)
    """
    return _attention(q, k, v, attn_mask, dropout_p, is_causal, scale)[0]


def _attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None, dropout_p: float, is_causal: bool,
               scale: float | None) -> tuple[Tensor, Tensor]:
    """(output, attention weights) of scaled_dot_product_attention."""
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention needs q (..., L, E), k (..., S, E) and v (..., S, Ev), "
                         f"got {q.shape}, {k.shape} and {v.shape}")
    if is_causal and attn_mask is not None:
        raise ValueError("attention takes is_causal=True or an attn_mask, not both (as torch): "
                         "combine them into one mask, e.g. nn.causal_mask(L, S) * mask")
    if not 0 <= dropout_p < 1:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    rows, cols = q.shape[-2], k.shape[-2]
    if is_causal:
        attn_mask = causal_mask(rows, cols)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    weights = _attention_weights(q, k, attn_mask, scale)
    if dropout_p:
        weights = dropout(weights, dropout_p)
    return weights @ v, weights


@replayable
def _attention_weights(q: Tensor, k: Tensor, mask: Tensor | None, scale: float) -> Tensor:
    scores = (q @ k.transpose(-2, -1)) * scale  # the scale and the mask are the matmul's epilogue
    if mask is not None:
        scores = mask.where(scores, -math.inf) if mask.dtype == dtypes.bool else scores + mask
    return scores.softmax(-1)


class MultiheadAttention(Module):
    """Multi-head attention with torch's parameters and layout: in_proj_weight (3E, E) holding the
    query, key and value projections, in_proj_bias (3E,), out_proj a Linear(E, E), so torch's
    state dict loads as it is. Call it as torch's: mha(query, key, value, key_padding_mask=None,
    need_weights=True, attn_mask=None, average_attn_weights=True, is_causal=False) returns
    (output, weights), weights None unless need_weights (they cost no kernel if never read).

    As torch: inputs (L, N, E) unless batch_first, where they are (N, L, E); (L, E) unbatched;
    a bool attn_mask (L, S) or (N*num_heads, L, S) or key_padding_mask (N, S) marks with True the
    keys NOT to attend to (the opposite of scaled_dot_product_attention's), a float one is added;
    dropout applies to the weights while training. is_causal=True without an attn_mask applies
    the causal mask (torch asks for the mask too).

    >>> mha = nn.MultiheadAttention(4, 2, batch_first=True); x = Tensor.randn(3, 5, 4)
    >>> out, weights = mha(x, x, x); out.shape, weights.shape
    ((3, 5, 4), (3, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False):
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.in_proj_weight = init.xavier_uniform_(Tensor.zeros(3 * embed_dim, embed_dim, requires_grad=True))
        self.in_proj_bias = Tensor.zeros(3 * embed_dim, requires_grad=True) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if bias:
            init.zeros_(self.out_proj.bias)

    def __call__(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                 **kwargs: Any) -> tuple[Tensor, Tensor | None]:
        return self.forward(query, key, value, **kwargs)

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """(output, weights) for query attending to key and value (key and value default to query:
        self-attention, whose three projections are then one matmul). weights are averaged over
        the heads (N, L, S) unless average_attn_weights=False (N, num_heads, L, S).

        >>> mha = nn.MultiheadAttention(2, 1); x = Tensor.zeros(4, 1, 2)
        >>> [t.shape for t in mha.forward(x, need_weights=True)]
        [(4, 1, 2), (1, 4, 4)]
        """
        key = query if key is None else key
        value = key if value is None else value
        unbatched, batch_axis = query.ndim == 2, 0 if self.batch_first else 1
        if unbatched:
            query, key, value = (t.unsqueeze(batch_axis) for t in (query, key, value))
        if not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        q, k, v = self._project(query, key, value)
        mask = self._merged_mask(attn_mask, key_padding_mask, q.shape[0], q.shape[2], k.shape[2])
        out, weights = _attention(q, k, v, mask, self.dropout if self.training else 0.0,
                                  is_causal and mask is None, None)
        n, heads, length, head_dim = out.shape
        out = self.out_proj(out.permute(0, 2, 1, 3).reshape(n, length, heads * head_dim))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if unbatched:
            out = out.squeeze(batch_axis)
        if not need_weights:
            return out, None
        weights = weights.mean(axis=1) if average_attn_weights else weights
        return out, (weights.squeeze(0) if unbatched else weights)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v as (N, heads, length, head_dim)."""
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if key is query and value is query:
            qkv = query.linear(w.T, b)  # one matmul for all three; q, k, v are views of it
            projected = [qkv[..., i * e:(i + 1) * e] for i in range(3)]
        else:
            projected = [x.linear(w[i * e:(i + 1) * e].T, None if b is None else b[i * e:(i + 1) * e])
                         for i, x in enumerate((query, key, value))]
        heads = self.num_heads
        return tuple(p.reshape(p.shape[0], p.shape[1], heads, e // heads).permute(0, 2, 1, 3) for p in projected)

    def _merged_mask(self, attn_mask: Tensor | None, key_padding_mask: Tensor | None, n: int, rows: int,
                     cols: int) -> Tensor | None:
        """torch's two masks (True = do not attend, or added floats) as one mask in
        scaled_dot_product_attention's meaning, broadcastable to (N, heads, L, S)."""
        merged = None
        for mask, shape in ((attn_mask, None), (key_padding_mask, (n, 1, 1, cols))):
            if mask is None:
                continue
            if shape is None:  # (L, S) or (N*heads, L, S)
                shape = (rows, cols) if mask.ndim == 2 else (n, self.num_heads, rows, cols)
            mask = mask.reshape(shape)
            bias = mask.where(-math.inf, 0.0) if mask.dtype == dtypes.bool else mask
            merged = bias if merged is None else merged + bias
        return merged

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


# ------------------------------------------------------------------------------ gradient clipping

def clip_grad_norm_(parameters: Tensor | Sequence[Tensor], max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale the gradients of `parameters` together so that their total norm (the norm of all
    their elements as one vector; norm_type inf: the largest magnitude) is at most max_norm, as
    torch: each gradient is multiplied by min(1, max_norm / (total + 1e-6)). Returns the total
    norm before clipping, a 0-d Tensor. Nothing waits: the norm and the scale are lazy, computed
    on the device with the gradients they scale (no read per parameter); parameters without a
    gradient are skipped.

    >>> w = Tensor([3.0, 4.0], requires_grad=True); w.grad = Tensor([3.0, 4.0])
    >>> nn.clip_grad_norm_([w], 1.0).item(), w.grad.numpy().round(4)
    (5.0, array([0.6, 0.8], dtype=float32))
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor.full((), 0.0)
    norm_type = float(norm_type)
    # one reduce per gradient, joined by elementwise ops that fuse into a single last kernel
    if norm_type == math.inf:
        total = functools.reduce(Tensor.maximum, [g.abs().max() for g in grads])
    else:
        total = functools.reduce(Tensor.add, [g.abs().pow(norm_type).sum() for g in grads]).pow(1 / norm_type)
    scale = (max_norm / (total.detach() + 1e-6)).minimum(1.0)
    for p in params:
        if p.grad is not None:
            p.grad = p.grad * scale
    return total


def clip_grad_value_(parameters: Tensor | Sequence[Tensor], clip_value: float) -> None:
    """Clamp every gradient of `parameters` to [-clip_value, clip_value] (lazily), as torch.

    >>> w = Tensor([1.0, 1.0], requires_grad=True); w.grad = Tensor([-3.0, 0.5])
    >>> nn.clip_grad_value_([w], 1.0); w.grad.numpy()
    array([-1. ,  0.5], dtype=float32)
    """
    for p in [parameters] if isinstance(parameters, Tensor) else parameters:
        if p.grad is not None:
            p.grad = p.grad.clip(-clip_value, clip_value)


class _Utils:
    """nn.utils, as torch.nn.utils: the gradient clipping functions."""
    clip_grad_norm_ = staticmethod(clip_grad_norm_)
    clip_grad_value_ = staticmethod(clip_grad_value_)


utils = _Utils()
