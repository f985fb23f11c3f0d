"""Data-parallel training steps: a model copied onto several devices of this process, and across
processes under mpiexec.

    from tinygradlike import parallel, runtime
    devices = [runtime.open_device("0:0"), runtime.open_device("1:0")]
    models = [model] + [parallel.replicate(model, d) for d in devices[1:]]
    optimizers = [optim.Adam(m.parameters()) for m in models]
    step = parallel.DataParallel(models, optimizers, devices, loss_fn)
    loss, logits = step(x, y)          # x, y: this process's batch, as numpy arrays

Each call gives every device an equal consecutive slice of the batch and runs forward and
backward there (the devices' queues run at the same time: the host only enqueues), sums the
gradients over the devices and, under mpiexec, over the processes (distributed.all_reduce_replicas),
and takes the same optimizer step on every device, so the replicas stay equal to each other and
to one device training on the whole batch. `python -m tinygradlike --devices 0:0,1:0` trains
this way; the job's other options work unchanged.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import numpy as np

from tinygradlike.tensor import Tensor


def replicate(model: Any, device: Any) -> Any:
    """A copy of `model` (any object holding Tensors: a Module, a list of parameters) whose
    tensors hold the same values in new memory on `device` (a runtime.Device or a
    TGL_DEVICE-style spec); copy.deepcopy under runtime.on_device.

    >>> layer = nn.Linear(2, 1); twin = replicate(layer, None)
    >>> bool((twin.weight.numpy() == layer.weight.numpy()).all()), twin.weight is layer.weight
    (True, False)
    """
    from tinygradlike import runtime

    with runtime.on_device(device):
        return copy.deepcopy(model)


class DataParallel:
    """One training step over several replicas of a model: `models[d]` (with its optimizer
    `optimizers[d]`) lives on `devices[d]`, and all of them start with equal weights
    (replicate). A call `step(x, y)` splits the batch into len(models) equal slices, runs
    `loss_fn(model, x, y) -> (loss, logits)` and backward on each device, averages the
    gradients over every device of every process, takes each optimizer's step, and returns the
    batch's mean loss (a float) and its logits (a numpy array), read from every device. With
    use_jit each device's two halves (forward and backward; the update) are recorded and
    replayed apart, because the all-reduce between them is host work a replay cannot repeat;
    with overlap too (the default), a replay hands each bucket of gradients to the all-reduce
    as soon as every device has it (the last layers' first), while the backward pass of the
    first layers still runs.

    >>> model = nn.Linear(3, 2); opt = optim.SGD(model.parameters(), lr=0.1)
    >>> step = DataParallel([model], [opt], loss_fn=lambda m, x, y: (((m(x) - y) ** 2).mean(), m(x)))
    >>> loss, out = step(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)); out.shape
    (4, 2)
    """

    def __init__(self, models: Sequence[Any], optimizers: Sequence[Any], devices: Sequence[Any] | None = None,
                 loss_fn: Callable[..., tuple[Tensor, Tensor]] | None = None, use_jit: bool = True,
                 overlap: bool = True):
        from tinygradlike import distributed, runtime
        from tinygradlike.jit import jit

        if not models or len(models) != len(optimizers):
            raise ValueError(f"DataParallel needs one optimizer per model, got {len(models)} models and "
                             f"{len(optimizers)} optimizers")
        self.devices = list(devices) if devices is not None else [runtime.get_device()] * len(models)
        if len(self.devices) != len(models):
            raise ValueError(f"DataParallel needs one device per model, got {len(models)} models and "
                             f"{len(self.devices)} devices")
        if loss_fn is None:
            from tinygradlike.train import compute_loss as loss_fn
        self.models, self.optimizers = list(models), list(optimizers)
        # every device of every process adds its gradients: the update divides by their count
        self.replicas = len(models) * distributed.world()[1]
        # the gradients travel last layer first, the order backward computes them in: with
        # overlap (and jit), a bucket is all-reduced as soon as every device has computed it
        self.overlap = overlap and use_jit
        self._buckets = distributed._staging_for(list(reversed(self.optimizers[0].params)), len(models)).buckets
        self._bucket_of = {i: k for k, bucket in enumerate(self._buckets) for i in bucket}
        self._forward_backward, self._update = [], []
        for model, opt in zip(self.models, self.optimizers):
            fb, up = _device_halves(model, opt, loss_fn, 1.0 / self.replicas)
            self._forward_backward.append(jit(fb) if use_jit else fb)
            self._update.append(jit(up) if use_jit else up)

    def __call__(self, x: Any, y: Any) -> tuple[float, np.ndarray]:
        from tinygradlike import runtime
        from tinygradlike.distributed import _exchange

        x, y = _host(x), _host(y)
        n = len(self.models)
        if len(x) % n or len(x) != len(y):
            raise ValueError(f"DataParallel needs a batch that splits evenly over its {n} devices, with one target "
                             f"per input: got {len(x)} inputs and {len(y)} targets")
        part = len(x) // n
        outputs = []
        ready = [[None] * n for _ in self._buckets]  # per bucket and device: computed after this event
        for d, (device, forward_backward) in enumerate(zip(self.devices, self._forward_backward)):
            with runtime.on_device(device):  # uploads, kernels and jit keys on device d
                rows = slice(d * part, (d + 1) * part)
                if self.overlap:
                    notify = self._notifier(d, ready)
                    outputs.append(forward_backward.call_notifying(notify, Tensor(x[rows]), Tensor(y[rows])))
                else:
                    outputs.append(forward_backward(Tensor(x[rows]), Tensor(y[rows])))
        grads = [out[:1:-1] for out in outputs]  # the gradients, last parameter first
        replayed = all(event is not None for events in ready for event in events)
        # the update scales the sums by 1 / replicas (fused into its kernels)
        _exchange("all_reduce", grads, "sum", ready if replayed else None)
        for device, update, mine in zip(self.devices, self._update, grads):
            with runtime.on_device(device):
                update(*reversed(mine))
        losses = [out[0].item() for out in outputs]
        logits = np.concatenate([out[1].numpy() for out in outputs])
        return float(np.mean(losses)), logits

    def _notifier(self, d: int, ready: list[list[Any]]) -> Callable:
        """jit.call_notifying's callback for device d: when the last gradient of a bucket is
        enqueued, a marker after it, which the bucket's reads wait for."""
        import pyopencl as cl

        left = [len(bucket) for bucket in self._buckets]
        count = len(self.optimizers[0].params)
        queue = self.devices[d].queue

        def computed(output: int, buffer: Any) -> None:
            if output < 2:
                return  # the loss and the logits
            k = self._bucket_of[count - 1 - (output - 2)]  # the gradients travel last parameter first
            left[k] -= 1
            if left[k] == 0:
                ready[k][d] = cl.enqueue_marker(queue)
                queue.flush()  # so the device starts on it while the host waits for the marker

        return computed


def _device_halves(model: Any, opt: Any, loss_fn: Callable, scale: float) -> tuple[Callable, Callable]:
    """The two device halves of one replica's step: forward and backward, returning (loss,
    logits, *gradients); then the update from the summed gradients, scaled to their mean."""
    params = opt.params

    def forward_backward(x: Tensor, y: Tensor) -> tuple[Tensor, ...]:
        loss, logits = loss_fn(model, x, y)
        opt.zero_grad()
        loss.backward()
        missing = [i for i, p in enumerate(params) if p.grad is None]
        if missing:  # every replica must send the same tensors: an unused parameter would break that
            raise ValueError(f"parameters {missing} got no gradient; data-parallel training needs one for each")
        return (loss, logits, *(p.grad for p in params))

    def update(*grads: Tensor) -> None:
        for p, g in zip(params, grads):
            p.grad = g * scale if scale != 1.0 else g
        opt.step()

    return forward_backward, update


def _host(data: Any) -> np.ndarray:
    """A batch as a host array (a Tensor is read back: pass numpy arrays to save that)."""
    return data.numpy() if isinstance(data, Tensor) else np.asarray(data)
