"""Learning-rate schedules with torch's formulas: StepLR, CosineAnnealingLR, OneCycleLR,
LinearLR (warm-up), LambdaLR, and SequentialLR to chain them (warm-up, then cosine).

    opt = optim.AdamW(model.parameters(), lr=1e-3)
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=100)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=900)
    schedule = lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[100])
    for x, y in batches: step(x, y); schedule.step()

A schedule writes each parameter group's "lr", as torch's does. Here that rate lives in a
one-element device buffer (optim.ParamGroup), so a new rate every step rebuilds no kernel and a
`jit`-recorded training step replays with the new rate. The formulas are torch's recursive
("chainable") forms, in the same order of operations, so the rates match torch's to the last
bit; `step(epoch)` uses the closed forms, as torch's.
"""
from __future__ import annotations

import math
import types
from bisect import bisect_right
from typing import Any, Callable, Sequence

from tinygradlike.optim import Optimizer


class LRScheduler:
    """Base class: sets each group's "initial_lr" (from its "lr", unless resuming) and takes the
    first step, as torch's. A subclass defines get_lr() (the next rates, from `last_epoch` and the
    groups' current rates) and may define _closed_form_lr() for step(epoch).

    >>> from tinygradlike import Tensor, optim
    >>> class Halving(LRScheduler):
    ...     def get_lr(self):
    ...         return [base * 0.5 ** self.last_epoch for base in self.base_lrs]
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0); schedule = Halving(opt)
    >>> schedule.step(); schedule.step(); schedule.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"a schedule takes a tinygradlike optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param_groups[{i}] has no 'initial_lr' to resume a schedule at last_epoch="
                                   f"{last_epoch}: load the optimizer's state dict first, or start at -1")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for `last_epoch`, one per parameter group (subclasses define it).

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> StepLR(opt, step_size=2).get_lr()
        [0.5]
        """
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (call it after opt.step()) and write the new rates into the
        optimizer's groups; with `epoch`, jump there by the closed form, as torch's.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = StepLR(opt, step_size=1, gamma=0.5); schedule.step(); opt.lr
        0.5
        """
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._closed_form_lr() if hasattr(self, "_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr  # ParamGroup writes it to the device: no kernel is rebuilt
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates the last step() set, one per parameter group.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> LinearLR(opt, start_factor=0.5, total_iters=4).get_last_lr()
        [0.25]
        """
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as torch's (numbers and lists: save it as you like).

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> StepLR(opt, step_size=3).state_dict()["last_epoch"]
        0
        """
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state of state_dict(): the next step() goes on from there. (The rates
        themselves are in the optimizer's state dict; load both.)

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> schedule = StepLR(opt, step_size=3); schedule.load_state_dict({"last_epoch": 5}); schedule.last_epoch
        5
        """
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); one function for every group, or one per group.

    >>> from tinygradlike import Tensor, optim
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = LambdaLR(opt, lambda epoch: 1 / (epoch + 1)); schedule.step(); opt.lr
    0.5
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1):
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"expected {groups} lr_lambdas (one per parameter group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """initial_lr * lr_lambda(last_epoch) for each group.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> LambdaLR(opt, lambda epoch: 0.5).get_lr()
        [0.5]
        """
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """As torch's: the functions are left out (plain functions cannot be saved), the
        attributes of callable objects are kept.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> LambdaLR(opt, lambda epoch: 1.0).state_dict()["lr_lambdas"]
        [None]
        """
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if _is_plain_function(fn) else dict(vars(fn)) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state of state_dict(), the functions' saved attributes included.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0); schedule = LambdaLR(opt, lambda e: 1.0)
        >>> schedule.load_state_dict({"last_epoch": 3, "lr_lambdas": [None]}); schedule.last_epoch
        3
        """
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(state)
        for fn, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                vars(fn).update(attributes)


def _is_plain_function(fn: Any) -> bool:
    return isinstance(fn, (types.FunctionType, types.BuiltinFunctionType))  # torch saves only objects' attributes


class StepLR(LRScheduler):
    """Multiply the rate by gamma every step_size steps.

    >>> from tinygradlike import Tensor, optim
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0); schedule = StepLR(opt, step_size=2)
    >>> rates = []
    >>> for _ in range(4): rates.append(opt.lr); schedule.step()
    >>> [round(r, 6) for r in rates]
    [1.0, 1.0, 0.1, 0.1]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current rates, times gamma at each non-zero multiple of step_size.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> StepLR(opt, step_size=2, gamma=0.5).get_lr()
        [1.0]
        """
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Warm-up: the factor on initial_lr goes linearly from start_factor to end_factor over
    total_iters steps, then stays.

    >>> from tinygradlike import Tensor, optim
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = LinearLR(opt, start_factor=0.25, total_iters=3); rates = []
    >>> for _ in range(5): rates.append(opt.lr); schedule.step()
    >>> rates
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"end_factor must be in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The next rates of the linear ramp (torch's recursive form, from the groups' current
        rates: step() calls it; read the rates with get_last_lr()).

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = LinearLR(opt, start_factor=0.5, total_iters=2); schedule.step(); schedule.get_last_lr()
        [0.75]
        """
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * factor for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)
                for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (torch's
    recursive form, which keeps rising again past T_max).

    >>> from tinygradlike import Tensor, optim
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = CosineAnnealingLR(opt, T_max=2); rates = []
    >>> for _ in range(3): rates.append(round(opt.lr, 6)); schedule.step()
    >>> rates
    [1.0, 0.5, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The next rates on the cosine (torch's recursive form, from the groups' current rates:
        step() calls it; read the rates with get_last_lr()).

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = CosineAnnealingLR(opt, T_max=2); schedule.step(); schedule.get_last_lr()
        [0.5]
        """
        lrs = self._current_lrs()
        if self._is_initial:
            return lrs
        if self._step_count == 1 and self.last_epoch > 0:
            return self._closed_form_lr()
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [lr + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for lr, base_lr in zip(lrs, self.base_lrs)]
        ratio = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
        return [ratio * (lr - self.eta_min) + self.eta_min for lr in lrs]

    def _closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                for base_lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: from max_lr/div_factor up to max_lr over pct_start of total_steps,
    then down to initial_lr/final_div_factor (cosine or linear), as torch's.

    cycle_momentum (torch's default True) also cycles the momentum (SGD) or beta1 (Adam) between
    base_momentum and max_momentum. Here those are constants of the update kernels, so cycling
    them builds a new update graph, and compiles, at every step: the default is False.

    >>> from tinygradlike import Tensor, optim
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = OneCycleLR(opt, max_lr=1.0, total_steps=10); round(opt.lr, 6)  # max_lr / div_factor
    0.04
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = False,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not all(isinstance(n, int) and n > 0 for n in (epochs, steps_per_epoch)):
                raise ValueError(f"epochs and steps_per_epoch must be positive integers, got {epochs!r}, {steps_per_epoch!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("give total_steps, or epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self._phases = _one_cycle_phases(self.total_steps, pct_start, three_phase)
        self.optimizer = optimizer
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("cycle_momentum needs an optimizer with momentum or betas")
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for group, top, bottom in zip(optimizer.param_groups, _per_group("max_momentum", optimizer, max_momentum),
                                              _per_group("base_momentum", optimizer, base_momentum)):
                    self._set_momentum(group, top)
                    group["max_momentum"] = top
                    group["base_momentum"] = bottom
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self) -> list[float]:
        """The rates at step last_epoch of the cycle (and, with cycle_momentum, the momentum
        written into each group); past total_steps is a ValueError, as torch's.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = OneCycleLR(opt, max_lr=2.0, total_steps=10); schedule.step(); schedule.step()
        >>> schedule.get_last_lr()  # at the top after pct_start * total_steps - 1 = 2 steps
        [2.0]
        """
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"stepped {step} times; this OneCycleLR has total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._phases):
                end_step = phase["end_step"]
                if step <= end_step or i == len(self._phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[phase["start_momentum"]],
                                                               group[phase["end_momentum"]], pct))
                    break
                start_step = end_step
        return lrs


def _one_cycle_phases(total_steps: int, pct_start: float, three_phase: bool) -> list[dict[str, Any]]:
    """torch's phases: where each ends and which group settings it goes between."""
    up = {"end_step": float(pct_start * total_steps) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
          "start_momentum": "max_momentum", "end_momentum": "base_momentum"}
    if not three_phase:
        return [up, {"end_step": total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                     "start_momentum": "base_momentum", "end_momentum": "max_momentum"}]
    return [up,
            {"end_step": float(2 * pct_start * total_steps) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
             "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            {"end_step": total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
             "start_momentum": "max_momentum", "end_momentum": "max_momentum"}]


def _per_group(name: str, optimizer: Optimizer, value: float | Sequence[float]) -> list[float]:
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"expected {groups} values of {name} (one per parameter group), got {len(value)}")
        return list(value)
    return [value] * groups


class SequentialLR(LRScheduler):
    """Run schedules one after another: schedulers[i] from milestones[i-1] on (each later one
    restarts at its epoch 0), e.g. warm-up then cosine, as torch's.

    >>> from tinygradlike import Tensor, optim
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> warmup = LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> decay = StepLR(opt, step_size=1, gamma=0.5)
    >>> schedule = SequentialLR(opt, [warmup, decay], milestones=[2]); rates = []
    >>> for _ in range(5): rates.append(opt.lr); schedule.step()
    >>> rates
    [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1):
        if not schedulers:
            raise ValueError("SequentialLR needs at least one schedule")
        for i, schedule in enumerate(schedulers):
            if getattr(schedule, "optimizer", None) is not optimizer:
                raise ValueError(f"schedule {i} ({type(schedule).__name__}) drives another optimizer; "
                                 f"every schedule of a SequentialLR must drive the same one")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{len(schedulers)} schedules need {len(schedulers) - 1} milestones, got {len(milestones)}")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]  # undo what the schedules' own first steps wrote
        for schedule in self._schedulers:
            schedule.last_epoch -= 1
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        """Advance the schedule whose turn it is; at a milestone, the next one starts at its
        epoch 0 (its closed form), as torch's.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = SequentialLR(opt, [StepLR(opt, 1, 0.5)], milestones=[]); schedule.step(); opt.lr
        0.5
        """
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        schedule = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            schedule._update_lr(0)
        else:
            schedule.step()
        self._last_lr = schedule.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """Its own state and each schedule's state_dict(), as torch's.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> len(SequentialLR(opt, [StepLR(opt, 1)], milestones=[]).state_dict()["_schedulers"])
        1
        """
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [schedule.state_dict() for schedule in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state of state_dict(), each schedule's included.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = SequentialLR(opt, [StepLR(opt, 1)], milestones=[])
        >>> schedule.load_state_dict(schedule.state_dict()); schedule.last_epoch
        0
        """
        state = dict(state_dict)
        saved = state.pop("_schedulers")
        self.__dict__.update(state)
        for schedule, entries in zip(self._schedulers, saved):
            schedule.load_state_dict(entries)
