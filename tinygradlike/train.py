"""The training job: `python -m tinygradlike train [options]`.

Trains an MLP (or, with --model cnn, a small conv net) on the handwritten digits bundled with
the package (or on MNIST from --data), with a progress bar, then prints the test accuracy,
the time per epoch, the kernels launched per step and the kernels compiled.

`--model transformer` trains a small GPT (models.GPT) on minGPT's sorting task instead (read 6
digits of 3, write them sorted; datasets.load_sorting), with a warm-up then cosine learning
rate, and reports the exact-match rate of greedy generation on held-out sequences.

Every step has the same shapes (the short last batch is dropped), so the kernels compiled for
the first step serve all the others: from step 2 on nothing compiles. The step is wrapped in
`jit`: from the third step on, its recorded kernels are replayed without rebuilding the graph
in Python (`--no-jit` turns that off, to compare).

Under `mpiexec -n N` the same job trains data parallel (distributed.py): every process draws the
same global batches (same seed, same shuffling) and takes its 1/N slice of each; the gradients
are averaged over the processes between backward and the optimizer step, so the weights follow
one process training on the global batches. Rank 0 alone prints and saves. `--devices 0:0,1:0`
does the same over several devices of one process (parallel.DataParallel), and both combine:
each process splits its slice over its devices.
"""
from __future__ import annotations

import argparse
import math
import os
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np

MODELS = ("mlp", "cnn", "transformer")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SLOW_FIRST_STEP_SECONDS = 0.25  # a first step slower than this is building its kernels: the bar says so
DESCRIPTION = "Train a small network on handwritten digits (or a small transformer to sort digits)."
# the transformer job: minGPT's sorting demo, at sizes that reach 99% held-out exact-match in a
# few hundred steps (measured: 99.45-100% after 30 epochs of 17 steps, seeds 0-3)
SORT_LENGTH, SORT_DIGITS = 6, 3
GPT_WIDTH, GPT_DEPTH, GPT_HEADS = 32, 2, 4
DEFAULT_EPOCHS = {"mlp": 10, "cnn": 10, "transformer": 30}  # transformer, seeds 0-3: 99.45-100% held-out
WARMUP_FRACTION = 0.1  # of all steps: the transformer's learning rate rises linearly, then follows a cosine to 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The training options in `argv` (sys.argv[1:] if None); argparse exits on a bad one."""
    parser = argparse.ArgumentParser(prog="python -m tinygradlike train", description=DESCRIPTION)
    add_train_arguments(parser)
    return parser.parse_args(argv)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Add the training options to `p` (this module's parser, or the CLI's `train` subcommand).
    Every option is checked while parsing, so a bad one stops the run before any training."""
    p.add_argument("--epochs", type=at_least_one, default=None,
                   help="passes over the training data (default 10; 30 for the transformer, whose epoch is 17 steps)")
    p.add_argument("--batch-size", type=at_least_one, default=32, help="images per step (default 32)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.01 for adam/adamw, 0.1 for sgd)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--model", choices=MODELS, default="mlp")
    p.add_argument("--hidden", type=at_least_one, default=None,
                   help=f"hidden units of the MLP (default 128), or the transformer's width (default {GPT_WIDTH})")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--device", default=None, help="OpenCL device, as TGL_DEVICE: 'P:D' or a name substring")
    where.add_argument("--devices", type=device_list, default=None,
                       help="several OpenCL devices, comma-separated ('0:0,1:0'): the model is copied onto each "
                            "and every batch split across them (data parallel in one process)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the shuffling and dropout")
    p.add_argument("--data", default=None, help="MNIST as an .npz (x_train, y_train, x_test, y_test) "
                                                "or a folder of idx files; default: the bundled digits")
    p.add_argument("--save", type=weights_path, default=None,
                   help="write the trained weights here (.npz or .safetensors)")
    p.add_argument("--no-jit", action="store_true", help="rebuild every step's graph in Python (no replay)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")


def at_least_one(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1, got {text!r}")
    return value


def device_list(text: str) -> list[str]:
    """argparse type: a comma-separated list of device specs ('0:0,1:0'), each named once."""
    specs = [part.strip() for part in text.split(",")]
    if not all(specs):
        raise argparse.ArgumentTypeError(f"expected device specs separated by commas, like 0:0,1:0; got {text!r}")
    if len(set(specs)) != len(specs):
        raise argparse.ArgumentTypeError(f"a device is named twice in {text!r}: each takes its own slice of the batch")
    return specs


def weights_path(text: str) -> str:
    """argparse type: a path save_state accepts, checked before training rather than after it."""
    from tinygradlike.state import check_weights_path

    try:
        check_weights_path(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


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


def build_gpt(task, width: int = GPT_WIDTH):
    """The transformer of the job, sized for a datasets.SortingTask: it reads the task's x rows
    and predicts its y rows at the last `length` positions."""
    from tinygradlike.models import GPT

    return GPT(vocab=task.digits, block_size=task.x_train.shape[1], width=width, depth=GPT_DEPTH, heads=GPT_HEADS,
               outputs=task.length)


def build_schedule(opt, total_steps: int):
    """Warm-up then cosine (lr_scheduler.SequentialLR), stepped once per training step."""
    from tinygradlike.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    warmup = max(1, int(total_steps * WARMUP_FRACTION))
    return SequentialLR(opt, [LinearLR(opt, start_factor=0.1, total_iters=warmup),
                              CosineAnnealingLR(opt, T_max=max(1, total_steps - warmup))], milestones=[warmup])


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
    metric: str = "test accuracy"            # what test_accuracy measures
    train_accuracy: float = 0.0
    first_loss: float = math.nan             # the loss of the first step: with final_loss, did it fall?
    final_loss: float = math.nan
    epoch_seconds: list[float] = field(default_factory=list)
    first_step_seconds: float = 0.0          # wall time of the step that builds the kernels
    first_epoch_compile_seconds: float = 0.0  # stats()["compile_seconds"] in the first epoch: summed
                                              # over builds that run in parallel, so it can exceed the wall time
    steps: int = 0
    kernels_per_step: float = 0.0          # launches per step, steps after the first
    kernels_compiled: int = 0              # builds from source in the whole run
    programs_loaded: int = 0               # builds + disk-cache loads: distinct kernels of the run
    compiled_after_first_step: int = 0     # must be 0: every step has the same kernels
    world_size: int = 1                    # processes training together (mpiexec -n)
    devices: int = 1                       # devices of each process training together (--devices)
    communication_seconds: float = 0.0     # spent in the collectives (distributed.counters)

    @property
    def seconds_per_epoch(self) -> float:
        """Mean over the epochs after the first (the first pays for compiling), or the first."""
        later = self.epoch_seconds[1:]
        return sum(later) / len(later) if later else self.epoch_seconds[0]

    def time_line(self) -> str:
        """The epoch times in words: with several epochs, the steady time per epoch and the
        first epoch's apart; with one, that epoch's time, compiles included. Either way the
        first step (the one that builds the kernels) and the compile time are told apart."""
        if not self.epoch_seconds:
            return "no epoch ran"
        first, epochs = self.epoch_seconds[0], len(self.epoch_seconds)
        compiles = (f"its first step {self.first_step_seconds:.2f} s "
                    f"({self.first_epoch_compile_seconds:.2f} s of kernel compiling, summed over parallel builds)")
        if epochs == 1:
            return (f"time for the one epoch {first:.2f} s, compiles included: {compiles}; "
                    f"run 2 or more epochs to see the steady time per epoch")
        later = "epoch 2" if epochs == 2 else f"the mean of epochs 2-{epochs}"
        return f"time per epoch {self.seconds_per_epoch:.3f} s ({later}); the first epoch {first:.2f} s, {compiles}"

    def summary(self) -> str:
        return (f"{self.metric} {self.test_accuracy:.2%} (train {self.train_accuracy:.2%}, loss {self.final_loss:.4f})\n"
                f"{self.time_line()}\n"
                f"kernels per step {self.kernels_per_step:.0f}; kernels compiled {self.kernels_compiled} "
                f"({self.programs_loaded} programs in all, the rest from the disk cache); "
                f"compiled after the first step: {self.compiled_after_first_step}"
                + (f"\ndata parallel over {self.parallel_words()}: {self.communication_seconds:.2f} s "
                   f"communicating (the train accuracy and loss are over all of them)"
                   if self.world_size * self.devices > 1 else ""))

    def parallel_words(self) -> str:
        """"2 processes", "2 devices", "2 processes of 2 devices each"."""
        processes = f"{self.world_size} processes"
        if self.devices == 1:
            return processes
        each = f"{self.devices} devices"
        return each if self.world_size == 1 else f"{processes} of {each} each"


def compute_loss(model, x, y):
    """(the mean cross-entropy of model(x) against labels y, the logits)."""
    from tinygradlike import nn

    logits = model(x)
    # a sequence model scores several positions per row: each is one classification
    scored = logits.reshape(-1, logits.shape[-1]) if logits.ndim > 2 else logits
    return nn.cross_entropy(scored, y.reshape(-1) if y.ndim > 1 else y), logits


def make_train_step(model, opt, use_jit: bool = True):
    """A function (x, y) -> (loss, logits) that takes one optimizer step. With jit, from the
    third call on it replays the recorded kernels without rebuilding the graph in Python."""
    from tinygradlike.jit import jit

    def train_step(x, y):
        loss, logits = compute_loss(model, x, y)
        opt.zero_grad()
        loss.backward()
        # the loss and the logits come out of the same schedule (the logits are stored anyway)
        opt.step(loss, logits)
        return loss, logits

    return jit(train_step) if use_jit else train_step


def local_slice(idx: np.ndarray, rank: int, size: int) -> np.ndarray:
    """This process's part of a global batch: the rank-th of `size` equal consecutive parts."""
    part = len(idx) // size
    return idx[rank * part:(rank + 1) * part]


def sum_over_processes(*numbers: float) -> list[float]:
    """The sums over every process of a few host numbers (the epoch's accuracy counts)."""
    from tinygradlike.distributed import all_reduce
    from tinygradlike.tensor import Tensor

    totals = Tensor(np.array(numbers, np.float32))  # exact for counts below 2**24
    all_reduce([totals], "sum")
    return [float(v) for v in totals.numpy()]


def cold_start_message() -> str:
    """What a slow first step is doing, and whether the next run will be faster."""
    from tinygradlike import runtime

    later = ("later runs load them from the disk cache" if runtime.cache_dir() is not None
             else "the disk cache is off (TGL_CACHE_DIR), so later runs build them again")
    return f"building the kernels for the first step (cold start; {later})"


@contextmanager
def explain_if_slow(bar, message: str, after: float | None = None):
    """While the block runs for longer than `after` seconds (default SLOW_FIRST_STEP_SECONDS),
    the tqdm bar's description is `message`; then it is the bar's own again. A timer thread
    shows it: the main thread is busy in the block (PoCL lets go of the GIL while it builds,
    and Python switches threads anyway)."""
    own = bar.desc
    delay = SLOW_FIRST_STEP_SECONDS if after is None else after
    timer = threading.Timer(delay, bar.set_description_str, (f"{own}, {message}",))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()  # a message being drawn right now is drawn before the bar gets its own back
        if bar.desc != own:
            bar.set_description_str(own)


def padded_chunks(x: np.ndarray, batch_size: int):
    """(chunk padded with zeros to one fixed size, its real length) over x: every chunk has the
    same shape, so evaluating the last one compiles no new kernel."""
    size = min(batch_size, len(x))
    for start in range(0, len(x), size):
        chunk = x[start:start + size]
        yield np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)]), len(chunk)


def predict(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class predictions in fixed-size chunks (padded_chunks)."""
    from tinygradlike.tensor import Tensor

    model.eval()
    out = [model(Tensor(padded)).argmax(axis=1).numpy()[:n] for padded, n in padded_chunks(x, batch_size)]
    model.train()
    return np.concatenate(out)


def generate_sorted(model, x: np.ndarray, length: int, batch_size: int = 512) -> np.ndarray:
    """Greedy generation for the sorting task: the answer's tokens one at a time, each fed back
    as the next input (the model never sees the held-out answer). Fixed-size chunks, the last
    one padded, as predict's; the tokens not yet generated are zeros, which the causal mask
    keeps from every position that reads them too early."""
    from tinygradlike.tensor import Tensor

    model.eval()
    out = []
    for tokens, n in padded_chunks(x, batch_size):
        tokens[:, length:] = 0
        for i in range(length):
            predicted = model(Tensor(tokens)).argmax(axis=-1).numpy()[:, i]
            if i < length - 1:
                tokens[:, length + i] = predicted
        out.append(np.concatenate([tokens[:n, length:], predicted[:n, None]], axis=1))
    model.train()
    return np.concatenate(out)


def load_task(args: argparse.Namespace):
    """The data of the job: a datasets.Dataset of images, or the sorting task for the transformer."""
    from tinygradlike import datasets

    if args.model == "transformer":
        if args.data:
            raise ValueError("--data is for the image models; the transformer trains on the generated sorting task")
        return datasets.load_sorting(SORT_LENGTH, SORT_DIGITS)
    return datasets.load_mnist(args.data) if args.data else datasets.load_digits()


def evaluate(model, data) -> tuple[str, float]:
    """(what is measured, its value) on the held-out data: the exact-match rate of generated
    answers for the sorting task, the accuracy of the predicted classes for images."""
    from tinygradlike.datasets import SortingTask

    if isinstance(data, SortingTask):
        return "held-out exact match", float((generate_sorted(model, data.x_test, data.length) == data.y_test).all(axis=1).mean())
    return "test accuracy", float((predict(model, data.x_test) == data.y_test).mean())


def run(args: argparse.Namespace) -> Report:
    """Train as `args` says and measure. The device must be chosen before this runs."""
    from tqdm import tqdm

    from tinygradlike import datasets, distributed, parallel, runtime
    from tinygradlike.tensor import Tensor

    rank, size = distributed.world()
    devices = [runtime.open_device(spec) for spec in args.devices] if args.devices else [runtime.get_device()]
    data = load_task(args)
    if args.batch_size > len(data.x_train):
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {len(data.x_train)} training examples")
    if args.batch_size % size:
        raise ValueError(f"--batch-size {args.batch_size} is not a multiple of the {size} processes: "
                         f"each takes an equal slice of every batch")
    if args.batch_size // size % len(devices):
        raise ValueError(f"--batch-size {args.batch_size} does not split evenly over {len(devices)} devices"
                         f"{f' in each of {size} processes' if size > 1 else ''}: each takes an equal slice of every batch")
    runtime.set_device(devices[0])  # the model is built, evaluated and saved there
    Tensor.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    steps = len(data.x_train) // args.batch_size
    if args.model == "transformer":
        model = build_gpt(data, args.hidden or GPT_WIDTH)
    else:
        model = build_model(args.model, data.image_shape, data.classes, args.hidden or 128)
    distributed.broadcast_parameters(model)  # after checking every rank built the same one
    models = [model] + [parallel.replicate(model, device) for device in devices[1:]]
    optimizers = [build_optimizer(args.optimizer, m.parameters(), args.lr) for m in models]
    epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    schedules = [build_schedule(opt, steps * epochs) for opt in optimizers] if args.model == "transformer" else []
    if size == 1 and len(devices) == 1:
        one_step = make_train_step(model, optimizers[0], use_jit=not args.no_jit)

        def step(x, y):
            loss_t, logits_t = one_step(Tensor(x), Tensor(y))
            return loss_t.item(), logits_t.numpy()  # read before the next step reuses them
    else:
        step = parallel.DataParallel(models, optimizers, devices, use_jit=not args.no_jit)
    quiet = args.quiet or rank != 0  # rank 0 alone shows the bar and the epochs
    report = Report(world_size=size, devices=len(devices))
    communicated_before = distributed.counters["seconds"]
    runtime.reset_stats()
    launched_after_first = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        bar = tqdm(datasets.batches(len(data.x_train), args.batch_size, rng), total=steps, leave=False,
                   desc=f"epoch {epoch + 1}/{epochs}", disable=quiet, unit="step")
        correct = seen = 0
        for idx in bar:
            if size > 1:
                idx = local_slice(idx, rank, size)  # the same global batch everywhere, a slice each
            before, step_start = runtime.stats(), time.perf_counter()
            first = report.steps == 0
            with explain_if_slow(bar, cold_start_message()) if first and not quiet else nullcontext():
                loss, logits = step(data.x_train[idx], data.y_train[idx])
            after = runtime.stats()
            if first:
                report.first_step_seconds = time.perf_counter() - step_start
                report.first_loss = loss
            report.steps += 1
            if report.steps > 1:
                launched_after_first += after["kernels_launched"] - before["kernels_launched"]
                report.compiled_after_first_step += after["kernels_compiled"] - before["kernels_compiled"]
            for schedule in schedules:
                schedule.step()  # the rate is a device buffer: the jit replay reads the new one
            correct += int((logits.argmax(axis=-1) == data.y_train[idx]).sum())
            seen += data.y_train[idx].size  # examples, or for a sequence model answer tokens
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
        report.epoch_seconds.append(time.perf_counter() - start)
        if epoch == 0:
            report.first_epoch_compile_seconds = runtime.stats()["compile_seconds"]
        if size > 1:  # the epoch's figures over every process (the loss: the mean of their last ones)
            correct, seen, loss = sum_over_processes(correct, seen, loss)
            loss /= size
        report.final_loss, report.train_accuracy = loss, correct / max(seen, 1)
        if not quiet:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss:.4f}, train accuracy {correct / max(seen, 1):.2%}, "
                  f"{report.epoch_seconds[-1]:.2f} s")
    report.metric, report.test_accuracy = evaluate(model, data)
    totals = runtime.stats()
    report.kernels_per_step = launched_after_first / max(report.steps - 1, 1)
    report.kernels_compiled = int(totals["kernels_compiled"])
    report.programs_loaded = int(totals["kernels_compiled"] + totals["cache_hits_disk"])
    report.communication_seconds = distributed.counters["seconds"] - communicated_before
    if args.save and rank == 0:  # every rank holds the same weights
        model.save(args.save)
    return report


def main(argv: list[str] | None = None) -> Report:
    """Entry point of `python -m tinygradlike train`; returns the Report (handy in tests)."""
    return run_job(parse_args(argv))


def run_job(args: argparse.Namespace) -> Report:
    """Choose the device `args` names, train, print the summary; returns the Report."""
    if args.device:
        os.environ["TGL_DEVICE"] = args.device  # before the runtime picks its default device
        from tinygradlike import runtime

        runtime.set_device(args.device)
    from tinygradlike.distributed import world

    report = run(args)
    if world()[0] == 0:  # under mpiexec, one summary for the job
        print(report.summary())
        if args.save:
            print(f"weights saved to {args.save}")
    return report


if __name__ == "__main__":
    main()
