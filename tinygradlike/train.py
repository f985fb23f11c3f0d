"""The training job: `python -m tinygradlike train [options]`.

Trains an MLP (or, with --model cnn, a small conv net) on the handwritten digits bundled with
the package (or on MNIST from --data), with a progress bar, then prints the test accuracy,
the time per epoch, the kernels launched per step and the kernels compiled.

Every step has the same shapes (the short last batch is dropped), so the kernels compiled for
the first step serve all the others: from step 2 on nothing compiles. The step is wrapped in
`jit`: from the third step on, its recorded kernels are replayed without rebuilding the graph
in Python (`--no-jit` turns that off, to compare).
"""
from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

MODELS = ("mlp", "cnn")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tinygradlike train",
                                description="Train a small network on handwritten digits.")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.01 for adam/adamw, 0.1 for sgd)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--model", choices=MODELS, default="mlp")
    p.add_argument("--hidden", type=int, default=128, help="hidden units of the MLP")
    p.add_argument("--device", default=None, help="OpenCL device, as TGL_DEVICE: 'P:D' or a name substring")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the shuffling and dropout")
    p.add_argument("--data", default=None, help="MNIST as an .npz (x_train, y_train, x_test, y_test) "
                                                "or a folder of idx files; default: the bundled digits")
    p.add_argument("--save", default=None, help="write the trained weights here (.npz or .safetensors)")
    p.add_argument("--no-jit", action="store_true", help="rebuild every step's graph in Python (no replay)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        p.error("--epochs and --batch-size must be at least 1")
    return args


def build_model(kind: str, image_shape: tuple[int, ...], classes: int, hidden: int = 128):
    """The two networks of the job, sized for (C, H, W) images."""
    from tinygradlike import nn

    channels, height, width = image_shape
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width, hidden), nn.ReLU(),
                             nn.Linear(hidden, classes))
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(8 * (height // 2) * (width // 2), classes))
    raise ValueError(f"unknown model {kind!r}; choose from {MODELS}")


def build_optimizer(name: str, params, lr: float | None):
    from tinygradlike import optim

    if name == "sgd":
        return optim.SGD(params, lr=0.1 if lr is None else lr, momentum=0.9)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=0.001 if lr is None else lr)
    cls = optim.AdamW if name == "adamw" else optim.Adam
    return cls(params, lr=0.01 if lr is None else lr)


@dataclass
class Report:
    """What a run measured."""

    test_accuracy: float = 0.0
    train_accuracy: float = 0.0
    final_loss: float = math.nan
    epoch_seconds: list[float] = field(default_factory=list)
    steps: int = 0
    kernels_per_step: float = 0.0          # launches per step, steps after the first
    kernels_compiled: int = 0              # builds from source in the whole run
    programs_loaded: int = 0               # builds + disk-cache loads: distinct kernels of the run
    compiled_after_first_step: int = 0     # must be 0: every step has the same kernels

    @property
    def seconds_per_epoch(self) -> float:
        """Mean over the epochs after the first (the first pays for compiling), or the first."""
        later = self.epoch_seconds[1:]
        return sum(later) / len(later) if later else self.epoch_seconds[0]

    def summary(self) -> str:
        first = self.epoch_seconds[0] if self.epoch_seconds else math.nan
        return (f"test accuracy {self.test_accuracy:.2%} (train {self.train_accuracy:.2%}, loss {self.final_loss:.4f})\n"
                f"time per epoch {self.seconds_per_epoch:.3f} s (first epoch, with compiles: {first:.2f} s)\n"
                f"kernels per step {self.kernels_per_step:.0f}; kernels compiled {self.kernels_compiled} "
                f"({self.programs_loaded} programs in all, the rest from the disk cache); "
                f"compiled after the first step: {self.compiled_after_first_step}")


def make_train_step(model, opt, use_jit: bool = True):
    """A function (x, y) -> (loss, logits) that takes one optimizer step. With jit, from the
    third call on it replays the recorded kernels without rebuilding the graph in Python."""
    from tinygradlike import nn
    from tinygradlike.jit import jit

    def train_step(x, y):
        logits = model(x)
        loss = nn.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        # the loss and the logits come out of the same schedule (the logits are stored anyway)
        opt.step(loss, logits)
        return loss, logits

    return jit(train_step) if use_jit else train_step


def predict(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class predictions in fixed-size chunks; the last one is padded so no new kernel compiles."""
    from tinygradlike.tensor import Tensor

    model.eval()
    size = min(batch_size, len(x))
    out = []
    for start in range(0, len(x), size):
        chunk = x[start:start + size]
        padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        out.append(model(Tensor(padded)).argmax(axis=1).numpy()[:len(chunk)])
    model.train()
    return np.concatenate(out)


def run(args: argparse.Namespace) -> Report:
    """Train as `args` says and measure. The device must be chosen before this runs."""
    from tqdm import tqdm

    from tinygradlike import datasets, runtime
    from tinygradlike.tensor import Tensor

    data = datasets.load_mnist(args.data) if args.data else datasets.load_digits()
    if args.batch_size > len(data.x_train):
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {len(data.x_train)} training images")
    Tensor.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_model(args.model, data.image_shape, data.classes, args.hidden)
    opt = build_optimizer(args.optimizer, model.parameters(), args.lr)
    step = make_train_step(model, opt, use_jit=not args.no_jit)
    report = Report()
    runtime.reset_stats()
    launched_after_first = 0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        steps = len(data.x_train) // args.batch_size
        bar = tqdm(datasets.batches(len(data.x_train), args.batch_size, rng), total=steps, leave=False,
                   desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.quiet, unit="step")
        correct = seen = 0
        for idx in bar:
            before = runtime.stats()
            loss_t, logits_t = step(Tensor(data.x_train[idx]), Tensor(data.y_train[idx]))
            loss, logits = loss_t.item(), logits_t.numpy()  # read before the next step reuses them
            after = runtime.stats()
            report.steps += 1
            if report.steps > 1:
                launched_after_first += after["kernels_launched"] - before["kernels_launched"]
                report.compiled_after_first_step += after["kernels_compiled"] - before["kernels_compiled"]
            correct += int((logits.argmax(axis=1) == data.y_train[idx]).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
        report.epoch_seconds.append(time.perf_counter() - start)
        report.final_loss, report.train_accuracy = loss, correct / max(seen, 1)
        if not args.quiet:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {loss:.4f}, train accuracy {correct / max(seen, 1):.2%}, "
                  f"{report.epoch_seconds[-1]:.2f} s")
    report.test_accuracy = float((predict(model, data.x_test) == data.y_test).mean())
    totals = runtime.stats()
    report.kernels_per_step = launched_after_first / max(report.steps - 1, 1)
    report.kernels_compiled = int(totals["kernels_compiled"])
    report.programs_loaded = int(totals["kernels_compiled"] + totals["cache_hits_disk"])
    if args.save:
        model.save(args.save)
    return report


def main(argv: list[str] | None = None) -> Report:
    """Entry point of `python -m tinygradlike train`; returns the Report (handy in tests)."""
    args = parse_args(argv)
    if args.device:
        os.environ["TGL_DEVICE"] = args.device  # before the runtime picks its default device
        from tinygradlike import runtime

        runtime.set_device(args.device)
    report = run(args)
    print(report.summary())
    if args.save:
        print(f"weights saved to {args.save}")
    return report


if __name__ == "__main__":
    main()
