"""Weight initializers with torch.nn.init's names and formulas, reached as `nn.init`.

Each fills a tensor in place and returns it: the values are drawn on the host from the generator
Tensor.manual_seed seeds and written into the tensor's memory (as Module.load_state_dict does), so
a module or optimizer holding the tensor sees them.

    layer = nn.Linear(64, 32)
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu"); nn.init.zeros_(layer.bias)
"""
from __future__ import annotations

import math

import numpy as np

from tinygradlike.tensor import Tensor

# nonlinearity -> its gain (torch's calculate_gain); leaky_relu and selu are computed below
_GAINS = {"linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
          "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
          "relu": math.sqrt(2.0), "selu": 3.0 / 4}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor torch scales an initializer's std by for `nonlinearity` (param: leaky_relu's
    negative slope, default 0.01).

    >>> round(nn.init.calculate_gain("relu"), 4), nn.init.calculate_gain("tanh")
    (1.4142, 1.6666666666666667)
    """
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"unsupported nonlinearity {nonlinearity!r}; known: {sorted([*_GAINS, 'leaky_relu'])}")
    return _GAINS[nonlinearity]


def fans(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight as torch counts them: (size(1), size(0)) times the product of
    the remaining (kernel) dimensions; a weight needs at least 2 dimensions.

    >>> nn.init.fans(Tensor.zeros(8, 3, 5, 5))
    (75, 200)
    """
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fans(tensor)[0 if mode == "fan_in" else 1]


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    from tinygradlike.nn import _assign  # nn imports this module

    _assign(tensor, values)
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with values drawn uniformly from [a, b); returns the tensor.

    >>> w = nn.init.uniform_(Tensor.zeros(1000), -1.0, 1.0); bool(w.numpy().min() >= -1 and w.numpy().max() < 1)
    True
    """
    return _fill(tensor, Tensor._rng.uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with values drawn from a normal distribution N(mean, std**2); returns the tensor.

    >>> Tensor.manual_seed(0); round(float(nn.init.normal_(Tensor.zeros(10000), 3.0, 0.5).numpy().mean()), 1)
    3.0
    """
    return _fill(tensor, Tensor._rng.normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, value: float) -> Tensor:
    """Fill with `value`; returns the tensor.

    >>> nn.init.constant_(Tensor.zeros(2), 0.5).numpy()
    array([0.5, 0.5], dtype=float32)
    """
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros; returns the tensor.

    >>> nn.init.zeros_(Tensor.ones(2)).numpy()
    array([0., 0.], dtype=float32)
    """
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones; returns the tensor.

    >>> nn.init.ones_(Tensor.zeros(2)).numpy()
    array([1., 1.], dtype=float32)
    """
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)); returns the tensor.

    >>> w = nn.init.xavier_uniform_(Tensor.zeros(3, 5)); bool(abs(w.numpy()).max() <= 0.75 ** 0.5)
    True
    """
    fan_in, fan_out = fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out)); returns the tensor.

    >>> Tensor.manual_seed(0); round(float(nn.init.xavier_normal_(Tensor.zeros(200, 200)).numpy().std()), 2)
    0.07
    """
    fan_in, fan_out = fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain from `nonlinearity`
    (with negative slope `a` for leaky_relu) and fan from `mode` ("fan_in" or "fan_out"), as torch;
    returns the tensor.

    >>> w = nn.init.kaiming_uniform_(Tensor.zeros(4, 6), nonlinearity="relu"); bool(abs(w.numpy()).max() <= 1.0)
    True
    """
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He normal: N(0, std**2) with std = gain / sqrt(fan), gain and fan as in kaiming_uniform_;
    returns the tensor.

    >>> Tensor.manual_seed(0); round(float(nn.init.kaiming_normal_(Tensor.zeros(300, 200), nonlinearity="relu").numpy().std()), 2)
    0.1
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)
