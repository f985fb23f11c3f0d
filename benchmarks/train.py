"""Training time per epoch on the digits against PyTorch on the CPU, as a ratio taken in one run.

    python benchmarks/train.py                 # the default MLP job; TGL_DEVICE picks the device
    python benchmarks/train.py --model cnn --epochs 3

Both sides train the same network (same layers, same initial weights, copied from ours), with
the same optimizer, batch size, epochs and batch order, and do the same work per step: forward,
backward, update, then read the loss and the logits (for the running accuracy) on the host.
Ours runs as `python -m tinygradlike train` does (the step replayed by jit); the time without
jit, with the graph rebuilt in Python every step, is shown too.
PyTorch gets as many threads as the machine has cores. The time per epoch is the median of the
epochs after the first (the first includes our compiles; it is reported apart).
Target on a CPU OpenCL device: at most 2x PyTorch's time per epoch.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from tinygradlike import datasets, runtime, train
from tinygradlike.tensor import Tensor

TARGET_RATIO = 2.0


def torch_model(ours) -> torch.nn.Module:
    """The torch twin of one of train.build_model's networks, with our initial weights."""
    from tinygradlike import nn

    layers = []
    for layer in ours.layers:
        if isinstance(layer, nn.Linear):
            layers.append(torch.nn.Linear(*reversed(layer.weight.shape)))
        elif isinstance(layer, nn.Conv2d):
            o, c, kh, kw = layer.weight.shape
            layers.append(torch.nn.Conv2d(c, o, (kh, kw), layer.stride, layer.padding))
        elif isinstance(layer, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(layer.kernel_size, layer.stride))
        else:
            layers.append({nn.ReLU: torch.nn.ReLU, nn.Flatten: torch.nn.Flatten}[type(layer)]())
    model = torch.nn.Sequential(*layers)
    model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    return model


def torch_epochs(model, data, args) -> tuple[list[float], float]:
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train).long()
    rng = np.random.default_rng(args.seed)
    times = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        correct = 0
        for idx in datasets.batches(len(x_train), args.batch_size, rng):
            rows = torch.from_numpy(idx)
            logits = model(x_train[rows])
            loss = torch.nn.functional.cross_entropy(logits, y_train[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
            correct += int((logits.detach().numpy().argmax(axis=1) == data.y_train[idx]).sum())
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(data.x_test)).argmax(1).numpy() == data.y_test).mean())
    return times, accuracy


def argv_of(job: argparse.Namespace) -> list[str]:
    return ["--quiet", "--epochs", str(job.epochs), "--batch-size", str(job.batch_size), "--lr", str(job.lr),
            "--model", job.model, "--seed", str(job.seed)]


def main(argv: list[str] | None = None) -> bool:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--model", choices=train.MODELS, default="mlp")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)

    Tensor.manual_seed(args.seed)
    data = datasets.load_digits()
    twin = torch_model(train.build_model(args.model, data.image_shape, data.classes))
    job = train.parse_args(argv_of(args))
    ours = train.run(job)  # builds the same initial weights: same seed, same order
    plain = train.run(train.parse_args(argv_of(job) + ["--no-jit"]))
    theirs, torch_accuracy = torch_epochs(twin, data, args)

    t_ours = statistics.median(ours.epoch_seconds[1:] or ours.epoch_seconds)
    t_torch = statistics.median(theirs[1:] or theirs)
    ratio = t_ours / t_torch
    steps = len(data.x_train) // args.batch_size
    print(f"device: {runtime.get_device().name}; torch threads: {torch.get_num_threads()}")
    print(f"{args.model} on digits, batch {args.batch_size}, {steps} steps per epoch, {args.epochs} epochs, Adam lr {args.lr}")
    print(f"  ours : {t_ours * 1e3:8.1f} ms per epoch ({t_ours / steps * 1e3:.2f} ms per step; first epoch "
          f"{ours.epoch_seconds[0] * 1e3:.0f} ms), test accuracy {ours.test_accuracy:.2%}")
    print(f"  torch: {t_torch * 1e3:8.1f} ms per epoch ({t_torch / steps * 1e3:.2f} ms per step; first epoch "
          f"{theirs[0] * 1e3:.0f} ms), test accuracy {torch_accuracy:.2%}")
    t_plain = statistics.median(plain.epoch_seconds[1:] or plain.epoch_seconds)
    print(f"  ours without jit (graph rebuilt each step): {t_plain * 1e3:.1f} ms per epoch "
          f"({t_plain / steps * 1e3:.2f} ms per step), {t_plain / t_torch:.2f}x torch")
    print(f"  ratio ours/torch: {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x) {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    print(f"  kernels per step: {ours.kernels_per_step:.0f}; kernels compiled: {ours.kernels_compiled} "
          f"(of {ours.programs_loaded} programs; the rest came from the disk cache); "
          f"compiled after the first step: {ours.compiled_after_first_step}")
    return ratio <= TARGET_RATIO


if __name__ == "__main__":
    main()
