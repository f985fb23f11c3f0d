"""Optimizers: SGD (momentum, Nesterov, weight decay), Adam, AdamW and RMSprop, with torch's
update rules, parameter groups and state dicts.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad(); loss.backward(); opt.step()

    opt = optim.SGD([{"params": model[0].parameters(), "lr": 0.01},   # per-group settings,
                     {"params": model[2].parameters()}], lr=0.1, momentum=0.9)  # as torch's

One `step()` builds the new value of every parameter and of the optimizer's state as lazy
tensors and realizes them all, with the gradients they read, in ONE schedule. Each result then
becomes the content of the memory its tensor already owns, by trading storage, not copying
(see _store); the parameter becomes a leaf again with no history, so nothing grows from step
to step, and the memory object stays put, so a `jit`-recorded training step keeps reading
the right buffers when it is replayed.

Nothing that changes between steps is a Python number inside the graph: a changing number
would make a new schedule every step (and a jit replay would freeze it). Each group's learning
rate lives in a one-element device buffer (`opt.param_groups[0]["lr"] = 0.01` or `opt.lr =
0.01` rewrites it), and Adam's bias corrections are optimizer state on the device, updated by
the step. The other settings (momentum, betas, ...) are constants of the update graph: changing
one builds the update graph anew at the next step.

State is kept per parameter, as torch keeps it (`opt.state[i]`, named as torch names it:
"momentum_buffer", "exp_avg", ...), and made at the first step that has a gradient for the
parameter. `state_dict()` / `load_state_dict()` use torch's layout, and `save(path)` /
`load(path)` write and read it as .npz or .safetensors (no pickle), so training can stop and
resume on the same trajectory.
"""
from __future__ import annotations

from numbers import Real
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from tinygradlike import runtime
from tinygradlike.graph import Op, buffer_node, next_serial
from tinygradlike.scheduler import inputs_key
from tinygradlike.templates import TemplateCache
from tinygradlike.tensor import Tensor, pending_backward_roots


class ParamGroup(dict):
    """One entry of `opt.param_groups`: the group's "params" (its tensors) and its settings
    ("lr", "momentum", ...), as torch's. A new setting takes effect at the next step(); a new
    "lr" is written into the group's one-element device buffer, so no kernel is rebuilt.

    >>> from tinygradlike import Tensor, optim
    >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
    >>> opt.param_groups[0]["lr"] = 0.25
    >>> opt.param_groups[0]["lr"]
    0.25
    """

    def __init__(self, settings: dict[str, Any], params: list[Tensor]):
        super().__init__(params=params)
        with runtime.on_device(params[0].node.buffer.device if params else None):  # beside the parameters
            self.lr_tensor = Tensor(np.zeros((), dtype=np.float32))
        for key, value in settings.items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "params" and "params" in self:
            raise ValueError("a group's parameters are fixed once the optimizer holds them (their state is "
                             "kept by position); add others with opt.add_param_group({'params': [...]})")
        if key == "lr":
            if not isinstance(value, Real) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"a learning rate is a number >= 0, got {value!r}")
            value = float(value)
            self.lr_tensor.node.buffer.copyin(np.array(value, dtype=np.float32))
        elif isinstance(value, list):
            value = tuple(value)  # betas=[0.9, 0.99] must key the update graph like (0.9, 0.99)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set several settings at once, each as group[key] = value would (dict.update would
        skip that, and a new "lr" would not reach the device).

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> opt.param_groups[0].update(lr=0.25, momentum=0.5); opt.lr
        0.25
        """
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """group[key], set to `default` first if missing (as group[key] = default would set it).

        >>> from tinygradlike import Tensor, optim
        >>> optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5).param_groups[0].setdefault("initial_lr", 0.5)
        0.5
        """
        if key not in self:
            self[key] = default
        return self[key]


class Optimizer:
    """The parameters, in groups with their own settings, and each parameter's state.

    A subclass passes its settings' defaults to __init__ and defines `new_state` (the state a
    parameter needs, as zeros) and `update` (the new parameter and state values, as lazy
    tensors). `params` are tensors, or dicts with "params" and settings (torch's parameter
    groups); index i of `params`, `state` and state_dict() counts every group's parameters
    in order.

    >>> from tinygradlike import Tensor, optim
    >>> class SignSGD(optim.Optimizer):  # p -= lr * sign(g)
    ...     def __init__(self, params, lr=0.1):
    ...         super().__init__(params, dict(lr=lr))
    ...     def update(self, p, g, group, state):
    ...         return p - group.lr_tensor * g.sign(), []
    >>> w = Tensor([1.0, -1.0], requires_grad=True); opt = SignSGD([w], lr=0.5)
    >>> _ = (w * 3).sum().backward(); opt.step(); w.numpy()
    array([ 0.5, -1.5], dtype=float32)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]):
        if isinstance(params, Tensor):
            raise TypeError("an optimizer takes an iterable of tensors (model.parameters()) or of parameter "
                            "groups, not one Tensor: wrap it in a list")
        self.defaults = dict(defaults)
        self.param_groups: list[ParamGroup] = []
        self.params: list[Tensor] = []
        self.state: list[dict[str, Tensor]] = []
        self._group_of: list[int] = []
        self._setting_names = tuple(sorted(k for k in self.defaults if k != "lr"))
        self._templates = TemplateCache(16)  # settings changed every step must not grow it
        self._prepared: tuple | None = None  # what _prepare last made state for
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        kinds = {isinstance(g, dict) for g in groups}
        if kinds == {True}:
            for group in groups:
                self.add_param_group(group)
        elif kinds == {False}:
            self.add_param_group({"params": groups})
        else:
            raise TypeError("give an optimizer tensors or parameter groups (dicts with 'params'), not both")

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add parameters with settings of their own (the optimizer's defaults for the rest),
        as torch's: a pretrained layer at a smaller learning rate, say.

        >>> from tinygradlike import Tensor, optim
        >>> a, b = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
        >>> opt = optim.SGD([a], lr=0.1)
        >>> opt.add_param_group({"params": [b], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a parameter group is a dict with a 'params' entry, got {type(group).__name__}")
        params = group["params"]
        members: list[Tensor] = []
        for p in [params] if isinstance(params, Tensor) else list(params):
            _check_parameter(p)
            if any(p is q for q in members):
                continue  # listed twice: still one parameter
            if any(p is q for q in self.params):
                raise ValueError(f"a parameter of shape {p.shape} is in two parameter groups; each parameter "
                                 f"belongs to one group")
            members.append(p)
        if not members:
            raise ValueError("a parameter group has no parameters")
        settings = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self.check_settings(settings)
        for p in members:
            self.params.append(_own_memory(p))
            self.state.append({})
            self._group_of.append(len(self.param_groups))
        self.param_groups.append(ParamGroup(settings, members))

    @property
    def lr(self) -> float:
        """The learning rate of every group. Setting it sets each group's on the device: nothing
        recompiles. With groups of different rates, read `opt.param_groups[i]["lr"]`.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.Adam([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> opt.lr = 0.125
        >>> opt.lr
        0.125
        """
        rates = sorted({g["lr"] for g in self.param_groups})
        if len(rates) > 1:
            raise ValueError(f"the parameter groups have different learning rates {rates}; "
                             f"read opt.param_groups[i]['lr']")
        return rates[0]

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.param_groups:
            group["lr"] = value

    def __getattr__(self, name: str) -> Any:
        """opt.momentum, opt.betas, ...: a setting every group shares (as opt.lr)."""
        defaults = self.__dict__.get("defaults")
        if defaults is None or name not in defaults:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        values = [g[name] for g in self.param_groups]
        if any(v != values[0] for v in values):
            raise ValueError(f"the parameter groups have different {name} values {values}; "
                             f"read opt.param_groups[i][{name!r}]")
        return values[0]

    def __setattr__(self, name: str, value: Any) -> None:
        """opt.momentum = 0.5 sets every group's momentum, from the next step on (as opt.lr)."""
        if name != "lr" and name in self.__dict__.get("defaults", ()):
            for group in self.param_groups:
                group[name] = value
        else:
            super().__setattr__(name, value)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (and, with them, the graph of the last forward pass); with
        set_to_none=False they become zeros instead, which step() still applies, as torch's.

        >>> from tinygradlike import Tensor, optim
        >>> w = Tensor([1.0], requires_grad=True); opt = optim.SGD([w])
        >>> _ = (w * 3).sum().backward(); opt.zero_grad()
        >>> print(w.grad)
        None
        """
        for p in self.params:
            p.grad = None if set_to_none or p.grad is None else Tensor.zeros(*p.shape, dtype=p.dtype)

    def step(self, *also: Tensor) -> None:
        """Update every parameter that has a gradient, in one schedule.

        `also`: tensors to compute in the same schedule, such as the loss or the logits you
        want to read afterwards (`opt.step(loss)`): they cost no second pass over the graph.

        >>> from tinygradlike import Tensor, optim
        >>> w = Tensor([1.0, 2.0], requires_grad=True); opt = optim.SGD([w], lr=0.5)
        >>> _ = (w * w).sum().backward(); opt.step()
        >>> w.numpy()
        array([0., 0.], dtype=float32)
        """
        stepping = tuple(i for i, p in enumerate(self.params) if p.grad is not None)
        pairs, grads = self._update_graph(stepping) if stepping else ([], [])
        # the losses backward() ran on, if still lazy: computed here, from the weights they
        # were built on, so reading one after the step costs a read and no second schedule.
        # Not while a jit records: every replay would compute them again (a jit step passes
        # its loss to step() instead)
        roots = [] if runtime.capturing() else pending_backward_roots()
        outputs = [new for _, new in pairs] + grads + list(also) + roots
        if outputs:
            outputs[0].realize(*outputs[1:])
        taken: set[int] = set()
        for target, new in pairs:
            _store(target, new, taken)
        for i, g in zip(stepping, grads):
            self.params[i].grad = g  # the realized gradient this step used

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch's layout: {"state": {i: {name: Tensor}}, "param_groups": [{settings...,
        "params": [i, ...]}]}. The tensors are snapshots: a later step() does not change them
        (it trades storage, it never writes over them), so a checkpoint can be kept in memory.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5, momentum=0.5)
        >>> opt.state_dict()["param_groups"]
        [{'lr': 0.5, 'momentum': 0.5, 'weight_decay': 0.0, 'nesterov': False, 'params': [0]}]
        """
        state = {i: {name: Tensor(t.node) for name, t in entries.items()}
                 for i, entries in enumerate(self.state) if entries}
        groups, start = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(start, start + count))})
            start += count
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the settings and state of `state_dict()` (from this optimizer or one built the
        same way): training goes on as if it had never stopped. Values may be Tensors or numpy
        arrays. Everything is checked before anything changes; a mismatch (group count, group
        sizes, unknown state, shapes) raises a ValueError that says which.

        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.25, "params": [0]}]}); opt.lr
        0.25
        """
        from tinygradlike.state import _host_array

        groups, state = state_dict.get("param_groups"), state_dict.get("state")
        if not isinstance(groups, list) or not isinstance(state, dict):
            raise ValueError("an optimizer state dict has 'state' (a dict) and 'param_groups' (a list), as "
                             "state_dict() returns")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(groups)} parameter groups, this optimizer "
                             f"{len(self.param_groups)}")
        for k, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved.get("params", ())) != len(own["params"]):
                raise ValueError(f"parameter group {k} has {len(saved.get('params', ()))} parameters in the "
                                 f"state dict and {len(own['params'])} here")
        settings = [{**own, **{k: v for k, v in saved.items() if k != "params"}}
                    for saved, own in zip(groups, self.param_groups)]
        for s in settings:
            self.check_settings(s)
        arrays: dict[int, dict[str, np.ndarray]] = {}
        for key, entries in state.items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise ValueError(f"the state dict has state for parameter {i}; this optimizer has "
                                 f"{len(self.params)} parameters")
            p = self.params[i]
            expected = self.new_state(p, settings[self._group_of[i]])
            arrays[i] = {}
            for name, value in entries.items():
                if name not in expected:
                    raise ValueError(f"parameter {i}: {type(self).__name__} with these settings keeps no state "
                                     f"named {name!r} (it keeps {sorted(expected)})")
                array = _host_array(value)
                if array.shape != expected[name].shape:
                    raise ValueError(f"parameter {i}: state {name!r} has shape {array.shape} in the state dict, "
                                     f"{expected[name].shape} here")
                arrays[i][name] = array.astype(expected[name].dtype)
        for saved, own in zip(groups, self.param_groups):
            own.update({k: v for k, v in saved.items() if k != "params"})
        for i, entries in enumerate(self.state):
            loaded = arrays.get(i, {})
            for name, array in loaded.items():
                if name in entries:  # into the same memory: a jit recording that reads it stays right
                    entries[name].assign(Tensor(array))
            merged = sorted((name, entries[name] if name in entries else Tensor(array)) for name, array in loaded.items())
            entries.clear()
            entries.update(merged)  # state a parameter has no saved entry for is dropped, as torch does
        self._prepared = None

    def save(self, path: str | Path) -> None:
        """Write state_dict() to `path` (.npz or .safetensors; no pickle): each state tensor as
        "state.<i>.<name>", each group setting as "param_groups.<k>.<setting>".

        >>> import os, tempfile
        >>> from tinygradlike import Tensor, optim
        >>> opt = optim.Adam([Tensor([1.0], requires_grad=True)], lr=0.5)
        >>> path = os.path.join(tempfile.mkdtemp(), "opt.safetensors"); opt.save(path); opt.load(path)
        """
        from tinygradlike.state import save_state

        saved = self.state_dict()
        flat: dict[str, Any] = {f"state.{i}.{name}": t for i, entries in saved["state"].items()
                                for name, t in entries.items()}
        for k, group in enumerate(saved["param_groups"]):
            for key, value in group.items():
                array = np.asarray(value)
                if array.dtype.kind not in "biuf":
                    raise ValueError(f"parameter group {k}: setting {key!r} = {value!r} is not a number, so it "
                                     f"cannot be saved; keep only numbers, booleans and tuples of numbers there")
                flat[f"param_groups.{k}.{key}"] = array
        save_state(flat, path)

    def load(self, path: str | Path) -> None:
        """Read what save() wrote and load_state_dict() it.

        >>> import os, tempfile
        >>> from tinygradlike import Tensor, optim
        >>> path = os.path.join(tempfile.mkdtemp(), "opt.npz")
        >>> optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.25).save(path)
        >>> opt = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.5); opt.load(path); opt.lr
        0.25
        """
        from tinygradlike.state import load_state

        state: dict[int, dict[str, np.ndarray]] = {}
        groups: dict[int, dict[str, Any]] = {}
        for name, array in load_state(path).items():
            kind, index, key = (name.split(".", 2) + ["", ""])[:3]
            if kind == "state" and index.isdigit() and key:
                state.setdefault(int(index), {})[key] = array
            elif kind == "param_groups" and index.isdigit() and key:
                value = array.tolist()
                groups.setdefault(int(index), {})[key] = tuple(value) if isinstance(value, list) and key != "params" else value
            else:
                raise ValueError(f"{path}: {name!r} is not an optimizer entry (state.<i>.<name> or "
                                 f"param_groups.<k>.<setting>); was it written by Optimizer.save?")
        self.load_state_dict({"state": state, "param_groups": [groups[k] for k in sorted(groups)]})

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            lines += [f"    {key}: {value}" for key, value in group.items() if key != "params"]
        return "\n".join(lines + [")"])

    # -- what a subclass defines -------------------------------------------------------------
    def check_settings(self, settings: dict[str, Any]) -> None:
        """Raise a ValueError for settings the update rule cannot use (when a group is made,
        loaded, or changed before a step).

        >>> from tinygradlike import Tensor, optim
        >>> optim.SGD([Tensor([1.0], requires_grad=True)], lr=-1.0)
        Traceback (most recent call last):
        ValueError: a learning rate is a number >= 0, got -1.0
        """
        lr = settings.get("lr")
        if not isinstance(lr, Real) or isinstance(lr, bool) or not lr >= 0:
            raise ValueError(f"a learning rate is a number >= 0, got {lr!r}")

    def new_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, np.ndarray]:
        """The state parameter `p` needs under `group`'s settings, by name, as zeros.

        >>> from tinygradlike import Tensor, optim
        >>> w = Tensor([1.0, 2.0], requires_grad=True)
        >>> optim.SGD([w]).new_state(w, {"momentum": 0.9})
        {'momentum_buffer': array([0., 0.], dtype=float32)}
        """
        return {}

    def settings_changed(self, group: ParamGroup, state: dict[str, Tensor]) -> None:
        """Bring a parameter's state in line with its group's new settings (before the next
        step). Adam restarts its bias corrections from the new betas, as torch corrects:

        >>> from tinygradlike import Tensor, optim
        >>> w = Tensor([1.0], requires_grad=True); opt = optim.Adam([w], betas=(0.5, 0.5))
        >>> _ = w.sum().backward(); opt.step(); opt.param_groups[0]["betas"] = (0.75, 0.75)
        >>> _ = w.sum().backward(); opt.step(); opt.state[0]["bias_corrections"].numpy()
        array([0.4375, 0.4375, 2.    ], dtype=float32)
        """

    def update(self, p: Tensor, g: Tensor, group: ParamGroup,
               state: dict[str, Tensor]) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """The new value of a parameter (from detached p and g) and (state tensor, new value)
        pairs; the learning rate is group.lr_tensor, the other settings group[name].

        >>> from tinygradlike import Tensor, optim
        >>> w = Tensor([1.0], requires_grad=True); opt = optim.SGD([w], lr=0.5)
        >>> new, state = opt.update(w, Tensor([2.0]), opt.param_groups[0], {}); new.numpy()
        array([0.], dtype=float32)
        """
        raise NotImplementedError

    # -- the update graph --------------------------------------------------------------------
    def _prepare(self, stepping: tuple[int, ...], settings: tuple) -> None:
        """Check changed settings and make the state the stepping parameters lack (zeros: real
        memory, not lazy zeros, so the first step reads memory like every later one and step 2
        compiles nothing new). Nothing to do while stepping and settings stay the same."""
        if self._prepared == (stepping, settings):
            return
        for group in self.param_groups:
            self.check_settings(group)
        if self._prepared is not None:
            changed = {k for k, (old, new) in enumerate(zip(self._prepared[1], settings)) if old != new}
            for i, entries in enumerate(self.state):
                if self._group_of[i] in changed and entries:
                    self.settings_changed(self.param_groups[self._group_of[i]], entries)
        for i in stepping:
            entries = self.state[i]
            missing = {name: zeros for name, zeros in self.new_state(self.params[i], self.param_groups[self._group_of[i]]).items()
                       if name not in entries}
            if missing:
                merged = sorted({**entries, **{name: Tensor(z) for name, z in missing.items()}}.items())
                entries.clear()
                entries.update(merged)  # by name: the update graph's inputs come in a fixed order
        self._prepared = (stepping, settings)

    def _build_update(self, stepping: tuple[int, ...]) -> tuple[list[tuple[Tensor, Tensor]], list[Tensor]]:
        """(tensor that owns memory, its new value) pairs and the detached gradients, built
        by running update for each stepping parameter."""
        pairs, grads = [], []
        for i in stepping:
            p = self.params[i]
            g = p.grad.detach()  # one node for all its uses: computed once, stored once
            new_p, state = self.update(p.detach(), g, self.param_groups[self._group_of[i]], self.state[i])
            pairs += [(p, new_p), *state]
            grads.append(g)
        return pairs, grads

    def _update_graph(self, stepping: tuple[int, ...]) -> tuple[list[tuple[Tensor, Tensor]], list[Tensor]]:
        """The update graph of this step: built by _build_update the first time for its
        structure, and from then on copied from that first build (templates.Template), which
        skips the Python of every Tensor op in update(). The update is the same graph every
        step as long as its inputs (the optimizer's tensors and the gradients) keep their
        shapes, dtypes and views, and its settings (momentum, betas, ...) stay put: all of
        that is the key. The learning rates are not in it: they live on the device."""
        settings = self._settings()
        self._prepare(stepping, settings)
        tensors = self._tensors()
        inputs = [t.node for t in tensors] + [self.params[i].grad.node for i in stepping]
        key = (stepping, settings, inputs_key(inputs))
        known = self._templates.find(key)
        if known is None:
            since = next_serial()
            pairs, grads = self._build_update(stepping)
            runtime.count("update_graphs_built")
            where = {id(t): k for k, t in enumerate(tensors)}
            targets = tuple(where.get(id(t), -1) for t, _ in pairs)
            outputs = None if -1 in targets else [new.node for _, new in pairs] + [g.node for g in grads]
            self._templates.record(key, inputs, outputs, since, targets)
            return pairs, grads
        template, targets = known
        runtime.count("update_graphs_copied")
        nodes = template.instantiate(inputs)
        pairs = [(tensors[k], Tensor(node)) for k, node in zip(targets, nodes)]
        return pairs, [Tensor(node) for node in nodes[len(targets):]]

    def _tensors(self) -> list[Tensor]:
        """Every tensor the optimizer holds (parameters, learning rates, state), in a fixed order."""
        return (self.params + [group.lr_tensor for group in self.param_groups]
                + [t for entries in self.state for t in entries.values()])

    def _settings(self) -> tuple:
        """What the update graph depends on besides its tensors: each group's size and settings."""
        names = self._setting_names
        return tuple((len(g["params"]),) + tuple(g[name] for name in names) for g in self.param_groups)


def _check_parameter(p: Any) -> None:
    if not isinstance(p, Tensor):
        raise TypeError(f"an optimizer parameter must be a Tensor, got {type(p).__name__}")
    if not p.requires_grad:
        raise ValueError(f"optimizer parameter of shape {p.shape} does not require gradients; "
                         f"create it with requires_grad=True")
    if any(src.requires_grad for src in p.node.srcs):
        raise ValueError(f"optimizer parameter of shape {p.shape} is not a leaf: it is computed from "
                         f"other tensors that require gradients, so an update could not change it. "
                         f"Optimize the tensors it is made from, or make it a leaf with "
                         f".detach().requires_grad_()")


def _store(target: Tensor, new: Tensor, taken: set[int]) -> None:
    """Make `target` (a parameter or a state tensor) hold the realized value `new`, in the
    memory object it already owns (a jit recording that read it keeps reading it).

    Eager code trades storage instead of copying: `new` was computed into fresh memory, so the
    target's memory object takes that storage, and the target's old node (which a lazy loss,
    the logits or a backward through the old graph may still read) takes the old storage, with
    the old values. No bytes move. While a jit records, the value is copied (Tensor.assign),
    so the recording holds the copy a replay must repeat. `taken`: values already stored."""
    old, node = target.node, new.node
    memory, fresh = old.buffer, node.buffer
    if (runtime.capturing() or fresh is None or node.op in (Op.VIEW, Op.BUFFER) or id(node) in taken
            or new.dtype != target.dtype or fresh.nbytes != memory.nbytes or fresh.device is not memory.device):
        target.assign(new)
        return
    taken.add(id(node))
    memory.exchange(fresh)  # memory now holds the new values, fresh the old ones
    old.buffer, node.buffer = fresh, memory
    target.node = buffer_node(memory, target.dtype, target.shape, requires_grad=old.requires_grad)


def _own_memory(p: Tensor) -> Tensor:
    """Make p a realized leaf with its own buffer (what assign writes into), in place."""
    if p.node.op is not Op.BUFFER or p.node.buffer is None:
        p.node = buffer_node(p.contiguous().realize().node.base.buffer, p.dtype, p.shape, requires_grad=True)
    return p


class SGD(Optimizer):
    """torch.optim.SGD: g += weight_decay * p; buf = momentum * buf + g;
    p -= lr * (g + momentum * buf if nesterov else buf)  (buf = g at its first step).

    >>> from tinygradlike import Tensor, optim
    >>> optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9).param_groups[0]["momentum"]
    0.9
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))

    def check_settings(self, settings):
        super().check_settings(settings)
        if settings["nesterov"] and settings["momentum"] <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")

    def new_state(self, p, group):
        # zeros make the first step buf = g, exactly torch's first step (dampening is not offered)
        return {"momentum_buffer": np.zeros(p.shape, p.dtype.np)} if group["momentum"] else {}

    def update(self, p, g, group, state):
        momentum = group["momentum"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        if not momentum:
            return p - group.lr_tensor * g, []
        buf = state["momentum_buffer"] * momentum + g
        direction = g + momentum * buf if group["nesterov"] else buf
        return p - group.lr_tensor * direction, [(state["momentum_buffer"], buf)]


class Adam(Optimizer):
    """torch.optim.Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). weight_decay adds weight_decay*p to g
    (L2, as torch's Adam); AdamW decays the weights directly instead. State: "exp_avg" (m),
    "exp_avg_sq" (v) and "bias_corrections" (1 - b1^t, 1 - b2^t, t), t counting this
    parameter's steps (torch's "step").

    >>> from tinygradlike import Tensor, optim
    >>> optim.Adam([Tensor([1.0], requires_grad=True)], lr=0.01).param_groups[0]["betas"]
    (0.9, 0.999)
    """

    decoupled = False

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def check_settings(self, settings):
        super().check_settings(settings)
        betas = settings["betas"]
        if len(betas) != 2 or not all(isinstance(b, Real) and 0 <= b < 1 for b in betas):
            raise ValueError(f"betas are two numbers in [0, 1), got {betas!r}")

    def new_state(self, p, group):
        # "bias_corrections" is (1 - b1^t, 1 - b2^t, t), kept as c <- c*b + (1-b) from c = 0
        # and t <- t + 1: accurate in float32 (1 - 0.999^t itself would cancel), on the device,
        # so they advance on a jit replay too, and per parameter, as torch counts steps: one
        # that had no gradient in a step (a frozen layer) does not advance
        zeros = np.zeros(p.shape, p.dtype.np)
        return {"exp_avg": zeros, "exp_avg_sq": zeros.copy(), "bias_corrections": np.zeros(3, np.float32)}

    def settings_changed(self, group, state):
        # torch corrects by 1 - b^t with the betas of now: new betas restart the recurrence there
        t = float(state["bias_corrections"].numpy()[2])
        b1, b2 = group["betas"]
        state["bias_corrections"].assign(Tensor(np.array([1 - b1 ** t, 1 - b2 ** t, t], dtype=np.float32)))

    def update(self, p, g, group, state):
        b1, b2 = group["betas"]
        lr, weight_decay = group.lr_tensor, group["weight_decay"]
        c = state["bias_corrections"] * _three(b1, b2, 1.0) + _three(1 - b1, 1 - b2, 1.0)  # this step's
        c1, c2 = c[0], c[1]
        if weight_decay and self.decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay:
            g = g + weight_decay * p
        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        new_p = p - (lr / c1) * (m / (v.sqrt() / c2.sqrt() + group["eps"]))
        return new_p, [(state["exp_avg"], m), (state["exp_avg_sq"], v), (state["bias_corrections"], c)]


def _three(a: float, b: float, c: float) -> Tensor:
    """(a, b, c) as a lazy constant tensor (made of constants: no upload, so a jit can record it)."""
    return Tensor.full((1,), a).cat(Tensor.full((1,), b), Tensor.full((1,), c))


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, p *= 1 - lr * weight_decay first.

    >>> from tinygradlike import Tensor, optim
    >>> optim.AdamW([Tensor([1.0], requires_grad=True)]).param_groups[0]["weight_decay"]
    0.01
    """

    decoupled = True

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """torch.optim.RMSprop: s = alpha*s + (1-alpha)*g^2 (g += weight_decay*p first);
    centered: a = alpha*a + (1-alpha)*g and the denominator uses s - a^2;
    d = g / (sqrt(...) + eps); with momentum, buf = momentum*buf + d and p -= lr*buf,
    else p -= lr*d. State: "square_avg", "grad_avg" (centered), "momentum_buffer".

    >>> from tinygradlike import Tensor, optim
    >>> optim.RMSprop([Tensor([1.0], requires_grad=True)]).param_groups[0]["alpha"]
    0.99
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def new_state(self, p, group):
        zeros = np.zeros(p.shape, p.dtype.np)
        names = ["square_avg"] + ["grad_avg"] * bool(group["centered"]) + ["momentum_buffer"] * bool(group["momentum"])
        return {name: zeros.copy() for name in names}

    def update(self, p, g, group, state):
        alpha, momentum = group["alpha"], group["momentum"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        square_avg = alpha * state["square_avg"] + (1 - alpha) * g * g
        pairs = [(state["square_avg"], square_avg)]
        if group["centered"]:
            grad_avg = alpha * state["grad_avg"] + (1 - alpha) * g
            pairs.append((state["grad_avg"], grad_avg))
            denominator = (square_avg - grad_avg * grad_avg).sqrt() + group["eps"]
        else:
            denominator = square_avg.sqrt() + group["eps"]
        direction = g / denominator
        if momentum:
            direction = momentum * state["momentum_buffer"] + direction
            pairs.append((state["momentum_buffer"], direction))
        return p - group.lr_tensor * direction, pairs
from tinygradlike import lr_scheduler  # noqa: E402  (optim.lr_scheduler, as torch.optim.lr_scheduler; it imports Optimizer from here)
