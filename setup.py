"""Build the C core of the MRT decoder; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "transitwatch.sources._mrt",
            sources=["src/transitwatch/sources/_mrt.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wno-unused-function"],
        )
    ]
)
