"""`python -m tinygradlike [command]`: the main job and a few tools.

  train     train a small network on the handwritten digits (the default; --help for options)
  demo      a scalar autograd demo: a tiny neuron, its gradients, its graph
  devices   list the OpenCL devices and which one TGL_DEVICE / the default picks
"""
from __future__ import annotations

import sys


def demo() -> None:
    from tinygradlike import Value

    x1, x2 = Value(2.0), Value(0.0)
    w1, w2, b = Value(-3.0), Value(1.0), Value(6.8813735870195432)
    out = (x1 * w1 + x2 * w2 + b).tanh()
    out.backward()
    print("a neuron: out = tanh(x1*w1 + x2*w2 + b)")
    print(f"  out = {out.data:.6f}")
    for name, v in [("x1", x1), ("x2", x2), ("w1", w1), ("w2", w2), ("b", b)]:
        print(f"  d out / d {name} = {v.grad:+.6f}")
    print("\nits graph in Graphviz DOT (pipe into `dot -Tpng`):")
    print(out.to_dot(names={id(x1): "x1", id(x2): "x2", id(w1): "w1", id(w2): "w2", id(b): "b"}))


def devices() -> None:
    from tinygradlike import runtime

    print(runtime.describe_devices())


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and not argv[0].startswith("-") else "train"
    if command in ("-h", "--help", "help"):
        print(__doc__)
    elif command == "demo":
        demo()
    elif command == "devices":
        devices()
    elif command == "train":
        from tinygradlike import train

        train.main(argv)
    else:
        sys.exit(f"unknown command {command!r}\n{__doc__}")


if __name__ == "__main__":
    main()
