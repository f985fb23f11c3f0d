"""The package builds anywhere: the sdist carries what a wheel is built from and what the tests
it ships need, and the metadata states the license the way PEP 639 asks.

One sdist is built per run (a few seconds, no compiling). Building the wheel from it, installing
that into a fresh venv and running it from outside the checkout is .ci/package-check's job.
"""
import email.parser
import shutil
import subprocess
import sys
import tarfile
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> tuple[set[str], Message]:
    """The sdist of this checkout: the paths it holds (relative to its top folder) and its PKG-INFO."""
    out = tmp_path_factory.mktemp("sdist")
    # No isolation: the [dev] extra installs the build requirements, so nothing is downloaded here.
    done = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out),
                           str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = out.glob("*.tar.gz")
    with tarfile.open(path) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        top = tar.getnames()[0].split("/")[0]
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode()
    return names, email.parser.Parser().parsestr(pkg_info)


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files to compare with")
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.splitlines()


def test_sdist_carries_the_cython_source_not_the_c_generated_from_it(sdist):
    names, _ = sdist
    assert "tinygradlike/scheduler.pyx" in names
    assert "tinygradlike/scheduler.c" not in names


def test_sdist_carries_the_license_tutorials_kernels_and_type_marker(sdist):
    names, _ = sdist
    expected = {"LICENSE", "tinygradlike/py.typed", "tutorials/checks.py", "tutorials/helpers.py"}
    expected |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py")}
    expected |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "kernels").glob("*.cl")}
    assert len(expected) > 4 + 3, "the globs found no tutorials or kernels: wrong ROOT?"
    assert expected - names == set()


def test_sdist_carries_every_tracked_file_of_the_package_tests_tutorials_and_docs(sdist):
    names, _ = sdist
    wanted = [f for f in tracked_files()
              if f.split("/")[0] in {"tinygradlike", "kernels", "tests", "tutorials", "docs", "benchmarks"}
              or f in {"README.md", "LICENSE", "pyproject.toml", "setup.py", "MANIFEST.in", "mkdocs.yml"}]
    assert "tests/conftest.py" in wanted
    assert sorted(set(wanted) - names) == []


def test_sdist_metadata_states_the_mit_license_as_an_spdx_expression(sdist):
    _, pkg_info = sdist
    assert pkg_info["License-Expression"] == "MIT"
    assert pkg_info.get_all("License-File") == ["LICENSE"]
    # PEP 639: a license classifier beside an expression is an error, so there is none.
    assert not [c for c in pkg_info.get_all("Classifier", []) if c.startswith("License ::")]


def test_license_file_is_the_mit_license_of_the_tinygradlike_developers():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the tinygradlike developers" in text
    assert "Permission is hereby granted, free of charge" in text


def test_build_backend_is_new_enough_for_license_files():
    """setuptools 77.0 is the first that reads `license = "MIT"` and `license-files`."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (setuptools,) = [Requirement(r) for r in pyproject["build-system"]["requires"]
                     if Requirement(r).name == "setuptools"]
    assert not setuptools.specifier.contains("76.1")
    assert setuptools.specifier.contains("77.0")
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
