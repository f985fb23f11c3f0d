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
