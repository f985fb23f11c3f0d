"""Build script: compiles the Cython scheduler and ships the OpenCL templates.

Metadata lives in pyproject.toml; this file only says what setuptools cannot say
declaratively: which .pyx to cythonize and that kernels/ installs as package data.
"""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class cythonize_then_build_ext(build_ext):
    """Cythonizes each extension just before compiling it, so `sdist` ships scheduler.pyx (the source
    a wheel is built from) and never writes the generated scheduler.c into the checkout."""

    def build_extension(self, ext: Extension) -> None:
        from Cython.Build import cythonize

        (cythonized,) = cythonize(
            [ext],
            language_level=3,
            compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
            quiet=True,
        )
        ext.sources = cythonized.sources
        super().build_extension(ext)


setup(
    packages=["tinygradlike", "tinygradlike.kernels"],
    package_dir={"tinygradlike": "tinygradlike", "tinygradlike.kernels": "kernels"},
    package_data={
        "tinygradlike": ["data/*.npz", "data/README.md", "py.typed"],
        "tinygradlike.kernels": ["*.cl"],
    },
    # Only package_data goes into the wheel, not every file of the sdist under tinygradlike/: the
    # compiled extension ships, the 0.8 MB of C (and the .pyx) it was compiled from stay out.
    include_package_data=False,
    ext_modules=[
        Extension("tinygradlike.scheduler", ["tinygradlike/scheduler.pyx"], extra_compile_args=["-O3"]),
    ],
    cmdclass={"build_ext": cythonize_then_build_ext},
    zip_safe=False,
)
