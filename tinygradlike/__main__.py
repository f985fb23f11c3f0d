"""`python -m tinygradlike [command] [options]`: the main job and a few tools.

  train     train a small network on the handwritten digits (the default command)
  demo      a scalar autograd demo: a tiny neuron, its gradients, its graph
  devices   list the OpenCL devices and which one TGL_DEVICE / the default picks
  bench     portable benchmarks against numpy and PyTorch, written as tables and a plot

`python -m tinygradlike --epochs 2` is `python -m tinygradlike train --epochs 2`;
`python -m tinygradlike COMMAND --help` shows a command's options. The console script
`tinygradlike` (pyproject's [project.scripts]) is the same main().
"""
from __future__ import annotations

import argparse
import os
import sys

from tinygradlike import __version__

TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")


def demo(args: argparse.Namespace | None = None) -> None:
    """A neuron of scalars: its value, its gradients and its graph in DOT, with names."""
    from tinygradlike import Value

    x1, x2 = Value(2.0), Value(0.0)
    w1, w2, b = Value(-3.0), Value(1.0), Value(6.8813735870195432)
    out = (x1 * w1 + x2 * w2 + b).tanh()
    out.backward()
    names = {x1: "x1", x2: "x2", w1: "w1", w2: "w2", b: "b", out: "out"}  # keyed by the Values themselves
    print("a neuron: out = tanh(x1*w1 + x2*w2 + b)")
    print(f"  out = {out.data:.6f}")
    for v, name in names.items():
        if v is not out:
            print(f"  d out / d {name} = {v.grad:+.6f}")
    print("\nits graph in Graphviz DOT (pipe into `dot -Tpng`):")
    print(out.to_dot(names=names))


def devices(args: argparse.Namespace | None = None) -> None:
    """The OpenCL devices found, '*' on the one that would be used."""
    from tinygradlike import runtime

    print(runtime.describe_devices())


def train(args: argparse.Namespace) -> None:
    from tinygradlike import train as job

    job.run_job(args)


def bench(args: argparse.Namespace) -> None:
    from tinygradlike import bench as benchmarks

    benchmarks.run_bench(args)


COMMANDS = {
    "train": (train, "train a small network on the handwritten digits (the default command)"),
    "demo": (demo, "scalar autograd: a tiny neuron, its gradients and its graph in Graphviz DOT"),
    "devices": (devices, "list the OpenCL devices and which one TGL_DEVICE or the default picks"),
    "bench": (bench, "benchmarks against numpy and PyTorch on one device or all, as Markdown, JSON and a plot"),
}


def build_parser(prog: str = "python -m tinygradlike") -> argparse.ArgumentParser:
    """The command line: one subcommand per job; each job's module adds its own options."""
    from tinygradlike import bench as benchmarks
    from tinygradlike import train as job

    parser = argparse.ArgumentParser(
        prog=prog, description="tinygradlike: a small, readable autograd engine on OpenCL.",
        epilog=f"With no command, {prog} trains: `{prog} --epochs 2` is `{prog} train --epochs 2`.")
    parser.add_argument("--version", action="version", version=f"tinygradlike {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        if name == "train":
            job.add_train_arguments(sub)
        elif name == "bench":
            benchmarks.add_bench_arguments(sub)
    return parser


def with_default_command(argv: list[str]) -> list[str]:
    """`argv` with "train" in front when it starts with no command (only options, or nothing)."""
    starts_with_option = argv and argv[0].startswith("-") and argv[0] not in TOP_LEVEL_OPTIONS
    return ["train", *argv] if not argv or starts_with_option else argv


def program_name() -> str:
    # the console script's usage lines say `tinygradlike`, `python -m`'s say what was typed
    return "tinygradlike" if os.path.basename(sys.argv[0]) == "tinygradlike" else "python -m tinygradlike"


def main(argv: list[str] | None = None) -> None:
    """Parse `argv` (default: sys.argv[1:]) and run the command; argparse exits on bad options."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(program_name()).parse_args(with_default_command(argv))
    run, _ = COMMANDS[args.command]
    run(args)


if __name__ == "__main__":
    main()
