"""Grad mode: `no_grad()` turns gradient tracking off, as torch.no_grad does.

Inside `with no_grad():` (or a function decorated with `@no_grad()` or `@no_grad`), every
tensor computed requires no gradient, whatever it is computed from: it keeps no sources once
computed (no graph held for a backward that will not come), and `backward()` through it is
refused. Tensors made from data with `requires_grad=True` stay trainable leaves, as in torch.
Evaluation loops and hand-written parameter updates use it.

The mode is one flag in the compiled core (every node constructor reads it): it is per
process, not per thread as torch's is.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from tinygradlike.scheduler import is_grad_enabled, set_grad_enabled as _set_mode

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class _GradMode:
    """A context manager and decorator that holds grad mode at `_mode` while it is active."""

    _mode: bool

    def __new__(cls, fn: Callable | None = None):
        self = super().__new__(cls)
        self._previous = []
        return self(fn) if callable(fn) else self  # `@no_grad` as well as `@no_grad()`

    def __enter__(self) -> None:
        self._previous.append(_set_mode(self._mode))

    def __exit__(self, *exc: Any) -> None:
        _set_mode(self._previous.pop())

    def __call__(self, fn: Callable) -> Callable:
        mode = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Compute without tracking gradients inside the block or the decorated function.

    >>> from tinygradlike import Tensor, no_grad
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    _mode = False


class enable_grad(_GradMode):
    """Track gradients inside the block or the decorated function, even within no_grad().

    >>> from tinygradlike import Tensor, no_grad, enable_grad
    >>> w = Tensor([1.0], requires_grad=True)
    >>> with no_grad(), enable_grad():
    ...     (w * 2).requires_grad
    True
    """
    _mode = True


class set_grad_enabled:
    """Set grad mode to `mode` now; used as a context manager, restore the previous mode at exit.

    >>> from tinygradlike import set_grad_enabled, is_grad_enabled
    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    >>> is_grad_enabled()
    True
    """

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._previous = _set_mode(self._mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _set_mode(self._previous)

    def __call__(self, fn: Callable) -> Callable:
        """As a decorator (`@set_grad_enabled(False)`): the mode holds while `fn` runs only."""
        _set_mode(self._previous)  # undo what __init__ set: decorating must change nothing now
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
