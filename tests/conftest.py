"""Hypothesis profiles: 'ci' (CI=true) keeps example counts and OpenCL compiles down and is
derandomized, so a rerun on the same machine hits PoCL's and our program caches."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("TGL_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    """Options of the differential fuzzer (tests/fuzz): here, because pytest only reads
    pytest_addoption from conftest files it loads at startup."""
    group = parser.getgroup("fuzz", "differential fuzzer (tests/fuzz)")
    group.addoption("--fuzz-budget", type=int, default=None,
                    help="how many random programs tests/fuzz runs (default 60, or $TGL_FUZZ_BUDGET)")
    group.addoption("--fuzz-shrink-seconds", type=float, default=None,
                    help="seconds to shrink the first failing program of each failure class (default 20; 0: off)")
