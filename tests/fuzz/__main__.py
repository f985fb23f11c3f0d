"""Run the differential fuzzer without pytest:

    python -m tests.fuzz --budget 500 [--shrink-seconds 20] [--seed N]

prints the summary and every failure class with its repro; exits 1 if anything failed."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from fuzz_session import DEFAULT_BUDGET, Session  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="programs to run")
    parser.add_argument("--shrink-seconds", type=float, default=20.0, help="per new failure class; 0: off")
    parser.add_argument("--seed", type=int, default=None, help="a fixed hypothesis seed (default: random)")
    args = parser.parse_args()
    session = Session(budget=args.budget, shrink_seconds=args.shrink_seconds, seed=args.seed).run()
    print(session.summary())
    if session.classes:
        print()
        print(session.failure_report())
    return 1 if session.classes else 0


if __name__ == "__main__":
    sys.exit(main())
