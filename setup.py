"""Build script: compiles the Cython scheduler and ships the OpenCL templates.

Metadata lives in pyproject.toml; this file only says what setuptools cannot say
declaratively: which .pyx to cythonize and that kernels/ installs as package data.
"""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension("tinygradlike.scheduler", ["tinygradlike/scheduler.pyx"], extra_compile_args=["-O3"]),
]

setup(
    packages=["tinygradlike", "tinygradlike.kernels"],
    package_dir={"tinygradlike": "tinygradlike", "tinygradlike.kernels": "kernels"},
    package_data={"tinygradlike": ["data/*.npz", "data/README.md"], "tinygradlike.kernels": ["*.cl"]},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
    zip_safe=False,
)
